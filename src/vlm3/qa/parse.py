"""Deterministic answer parsers: model text -> structured value, or None for garbage.

`PARSERS[kind](text)` / `parse(kind, text)`; kinds match `meta.targets[i]["kind"]` of the QA files:

| kind | returns |
|---|---|
| depth, distance | metres (float); units m/meters/metres, cm, mm, km, ft/feet/foot, in/inch/inches converted; no unit = metres |
| point | (x, y) ints, the last "(x, y)" pair in the text (floats are rounded) |
| rotation_angle | degrees (float); "rad"/"radians" converted |
| euler | (yaw, pitch, roll) degrees, labelled "Yaw=..., Pitch=..., Roll=..." or exactly 3 bare numbers |
| direction | (words, (x, y, z)): the direction words in order and the last 3-vector |
| clock | hour 1-12 ("3 o'clock", "three o'clock", or a lone number) |
| yesno | bool: the earliest polarity word (yes/correct/true/indeed vs no/not/incorrect/false/wrong) |
| choice | int region index ("Region [1]", "the second") or the first "bounding box region (...)"'s 4 ints; see `resolve_choice` |

Every parser first drops `<think>...</think>` and, when the text holds `<answer>...</answer>`, reads
only the inside of the last one. Written by hand because no library parses free-form VLM answers;
the rules follow what the released VLM3 notebook accepts, widened to units and extra words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_RE = re.compile(NUM)

# unit -> metres per unit; longer spellings first so the alternation takes them
_UNITS = [
    ("millimeters", 1e-3), ("millimetres", 1e-3), ("millimeter", 1e-3), ("millimetre", 1e-3), ("mm", 1e-3),
    ("centimeters", 1e-2), ("centimetres", 1e-2), ("centimeter", 1e-2), ("centimetre", 1e-2), ("cm", 1e-2),
    ("kilometers", 1e3), ("kilometres", 1e3), ("kilometer", 1e3), ("kilometre", 1e3), ("km", 1e3),
    ("meters", 1.0), ("metres", 1.0), ("meter", 1.0), ("metre", 1.0), ("m", 1.0),
    ("feet", 0.3048), ("foot", 0.3048), ("ft", 0.3048),
    ("inches", 0.0254), ("inch", 0.0254), ("in", 0.0254),
]
_UNIT_SCALE = dict(_UNITS)
_LENGTH_RE = re.compile(
    rf"({NUM})\s*(" + "|".join(u for u, _ in _UNITS) + r")(?![A-Za-z])", re.IGNORECASE)
_DEG_RE = re.compile(rf"({NUM})\s*(°|degrees?\b|deg\b|radians?\b|rad\b)", re.IGNORECASE)

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_BOX_RE = re.compile(rf"(?:bounding box region\s*)?[\(\[]\s*({NUM})\s*,\s*({NUM})\s*,\s*({NUM})\s*,\s*({NUM})\s*[\)\]]",
                     re.IGNORECASE)
_REGION_RE = re.compile(r"region\s*\[\s*(\d+)\s*\]", re.IGNORECASE)
_PAIR_RE = re.compile(rf"[\(\[]\s*({NUM})\s*,\s*({NUM})\s*[\)\]]")
_BARE_PAIR_RE = re.compile(rf"({NUM})\s*,\s*({NUM})")
_VEC3_RE = re.compile(rf"[\(\[]\s*({NUM})\s*,\s*({NUM})\s*,\s*({NUM})\s*[\)\]]")


def _clean(text) -> str | None:
    """Drop think blocks; keep the inside of the last <answer> tag when there is one."""
    if not isinstance(text, str):
        return None
    text = _THINK_RE.sub(" ", text)
    if "</think>" in text.lower():  # an unopened/unclosed think block: keep what follows it
        text = re.split(r"</think>", text, flags=re.IGNORECASE)[-1]
    answers = _ANSWER_RE.findall(text)
    if answers:
        text = answers[-1]
    elif "<answer>" in text.lower():
        text = re.split(r"<answer>", text, flags=re.IGNORECASE)[-1]
    text = text.strip()
    return text or None


def _strip_regions(text: str) -> str:
    """Remove region mentions and coordinate tuples, so their numbers are not read as answers."""
    text = _BOX_RE.sub(" ", text)
    text = _REGION_RE.sub(" ", text)
    text = _VEC3_RE.sub(" ", text)
    return _PAIR_RE.sub(" ", text)


def _float(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v if v == v and abs(v) != float("inf") else None


def parse_length(text) -> float | None:
    """Metres from e.g. "3.52 meters", "3.5m", "350 cm", "about 11 feet", "<answer>03.52</answer>"."""
    t = _clean(text)
    if t is None:
        return None
    t = _strip_regions(t)
    for m in _LENGTH_RE.finditer(t):
        unit = m.group(2).lower()
        # a bare "in" is a unit only at the end of a clause ("12 in."), not in "3.5 in the image"
        if unit == "in" and re.match(r"\s*[A-Za-z0-9]", t[m.end():]):
            continue
        v = _float(m.group(1))
        return None if v is None else v * _UNIT_SCALE[unit]
    m = _NUM_RE.search(t)
    return _float(m.group(0)) if m else None


def parse_point(text) -> tuple[int, int] | None:
    """(x, y) from "The corresponding pixel is (338, 52)"; the last pair wins (models echo the query)."""
    t = _clean(text)
    if t is None:
        return None
    pairs = _PAIR_RE.findall(t) or _BARE_PAIR_RE.findall(t)
    if not pairs:
        return None
    x, y = (_float(v) for v in pairs[-1])
    if x is None or y is None:
        return None
    return int(round(x)), int(round(y))


def parse_rotation_angle(text) -> float | None:
    """Degrees from "Rotation angle: 89.7 degrees", "89.7°", "1.56 rad" or a bare number."""
    t = _clean(text)
    if t is None:
        return None
    m = _DEG_RE.search(t)
    if m:
        v = _float(m.group(1))
        if v is None:
            return None
        return v * 180.0 / 3.141592653589793 if m.group(2).lower().startswith("rad") else v
    m = _NUM_RE.search(t)
    return _float(m.group(0)) if m else None


def parse_euler(text) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) degrees from "Yaw=+89.6°, Pitch=+2.6°, Roll=+6.1°"."""
    t = _clean(text)
    if t is None:
        return None
    vals = []
    for name in ("yaw", "pitch", "roll"):
        m = re.search(rf"\b{name}\b\s*(?:[=:]|is|of)?\s*({NUM})", t, re.IGNORECASE)
        if not m:
            break
        vals.append(_float(m.group(1)))
    if len(vals) == 3 and None not in vals:
        return tuple(vals)  # type: ignore[return-value]
    nums = [_float(n) for n in _NUM_RE.findall(t)]
    if len(nums) == 3 and None not in nums:
        return tuple(nums)  # type: ignore[return-value]
    return None


_DIR_WORDS = {"left": "left", "right": "right", "up": "up", "upward": "up", "upwards": "up",
              "down": "down", "downward": "down", "downwards": "down", "forward": "forward",
              "forwards": "forward", "backward": "backward", "backwards": "backward", "back": "backward"}
_DIR_RE = re.compile(r"\b(" + "|".join(sorted(_DIR_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def parse_direction(text) -> tuple[tuple[str, ...], tuple[float, float, float]] | None:
    """(("left", "forward"), (-0.69, 0.02, 0.72)) from "The camera moves left, forward, unit
    vector (-0.69, +0.02, +0.72)."; None without a 3-vector."""
    t = _clean(text)
    if t is None:
        return None
    vecs = _VEC3_RE.findall(t)
    if not vecs:
        return None
    vec = tuple(_float(v) for v in vecs[-1])
    if None in vec:
        return None
    words = tuple(_DIR_WORDS[w.lower()] for w in _DIR_RE.findall(_VEC3_RE.sub(" ", t)))
    return words, vec  # type: ignore[return-value]


_HOUR_WORDS = {w: i + 1 for i, w in enumerate(
    "one two three four five six seven eight nine ten eleven twelve".split())}
_CLOCK_RE = re.compile(r"\b(\d{1,2}|" + "|".join(_HOUR_WORDS) + r")(?::00)?\s*(?:o\s*['\u2019`]?\s*clock|oclock)",
                       re.IGNORECASE)


def parse_clock(text) -> int | None:
    """Clock hour 1-12 from "... is roughly at 3 o'clock from ..." or a lone "3"."""
    t = _clean(text)
    if t is None:
        return None
    m = _CLOCK_RE.search(_strip_regions(t))
    if m:
        tok = m.group(1).lower()
        hour = _HOUR_WORDS[tok] if tok in _HOUR_WORDS else int(tok)
    else:
        m = re.fullmatch(r"\s*(\d{1,2})\s*[.!]?\s*", t)
        if not m:
            return None
        hour = int(m.group(1))
    return hour if 1 <= hour <= 12 else None


_POS_RE = re.compile(r"\b(yes|correct|true|indeed|affirmative)\b", re.IGNORECASE)
_NEG_RE = re.compile(r"\b(no|not|incorrect|false|wrong|isn't|aren't|doesn't)\b", re.IGNORECASE)


def parse_yesno(text) -> bool | None:
    """True/False from the earliest polarity word ("Correct, ..." / "Incorrect, ... not ...")."""
    t = _clean(text)
    if t is None:
        return None
    t = _strip_regions(t)
    pos, neg = _POS_RE.search(t), _NEG_RE.search(t)
    if pos and neg:
        return pos.start() < neg.start()
    if pos:
        return True
    if neg:
        return False
    return None


_ORDINAL_RE = re.compile(r"\b(first|second|former|latter)\b", re.IGNORECASE)
_ORDINALS = {"first": 0, "former": 0, "second": 1, "latter": 1}


def parse_choice(text) -> int | tuple[int, int, int, int] | None:
    """The chosen region: its index ("Region [1]", "the second one") or, for answers with filled
    regions, the 4-int box of the first "bounding box region (x1, y1, x2, y2)"."""
    t = _clean(text)
    if t is None:
        return None
    candidates = []
    m = _BOX_RE.search(t)
    if m:
        vals = [_float(v) for v in m.groups()]
        if None not in vals:
            candidates.append((m.start(), tuple(int(round(v)) for v in vals)))
    m = _REGION_RE.search(t)
    if m:
        candidates.append((m.start(), int(m.group(1))))
    m = _ORDINAL_RE.search(t)
    if m:
        candidates.append((m.start(), _ORDINALS[m.group(1).lower()]))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[0])[1]


def resolve_choice(parsed, boxes: Sequence[Sequence[int]]) -> int | None:
    """Map a parsed choice to a region index: an index is checked against len(boxes); a box must
    equal one of `boxes` exactly (the [0, 1000] ints of the question)."""
    if parsed is None:
        return None
    if isinstance(parsed, int):
        return parsed if 0 <= parsed < len(boxes) else None
    for i, b in enumerate(boxes):
        if tuple(int(v) for v in b) == tuple(parsed):
            return i
    return None


PARSERS: dict[str, Callable] = {
    "depth": parse_length,
    "distance": parse_length,
    "point": parse_point,
    "offset": parse_point,  # "(+52, -3)": the shift; score.read_answer adds the query
    "rotation_angle": parse_rotation_angle,
    "euler": parse_euler,
    "direction": parse_direction,
    "clock": parse_clock,
    "yesno": parse_yesno,
    "choice": parse_choice,
}


def parse(kind: str, text):
    """Parse `text` as an answer of `kind` (a key of PARSERS); None when nothing usable is found."""
    if kind not in PARSERS:
        raise ValueError(f"unknown answer kind {kind!r}; known: {sorted(PARSERS)}")
    return PARSERS[kind](text)
