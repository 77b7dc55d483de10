"""Every prompt and answer string of the four tasks, in one place.

Released formats (facebookresearch/VLM3 `sample_data/*_labels.json` and `inference.ipynb`) are
reproduced exactly; the tests compare them with the released label files:
- depth question/answer ("How far is the pixel at (x, y) ..." / "3.52 meters") and the
  `<answer> </answer>` variant of the release notebook;
- SpatialRGPT-Bench questions with `<mask>` / `Region [i]` replaced by
  "bounding box region (x1, y1, x2, y2)";
- correspondence template 0 and its answer;
- the four pose questions and answers.
The other object-level paraphrases, the four extra correspondence paraphrases and the answer
sentences of generated object questions are OURS, written in the style of SpatialRGPT's
templates ("Correct, ..." / "Incorrect, ...", "[B] is roughly at [X] o'clock from [A].").

Coordinates in text are already normalised by the caller (`vlm3.geometry.normalize_point` /
`normalize_box`): depth pixels in [0, 2000), correspondence pixels in [0, 1000], boxes in
[0, 1000]. Lengths are metres, angles degrees.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ANSWER_STYLES = ("paper", "fixed")
# How object answers name their regions: "filled" restates each box ("bounding box region (x1, y1,
# x2, y2) is 1.20 meters wide.", our default, in the style of the released benchmark answers);
# "index" keeps SpatialRGPT's own answer convention "Region [0]" / "Region [1]" (the first / second
# region the question names), so a small model chooses one token instead of copying four numbers.
ANSWER_REGIONS = ("filled", "index")
DEFAULT_FIXED_WIDTH = 5  # "03.52": 2 integer digits, the point, 2 decimals

# ----------------------------------------------------------------------------- numbers


def format_meters_number(value: float, style: str = "paper", width: int = DEFAULT_FIXED_WIDTH) -> str:
    """A length in metres with 2 decimals: "3.52" (paper) or zero-padded "03.52" (fixed, `width`).

    The fixed style gives every answer the same number of digit tokens, which a tiny CPU model
    with per-digit tokenisation learns far more easily; the paper style is the default.
    """
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"length must be finite, got {value!r}")
    if style == "paper":
        return f"{value:.2f}"
    if style == "fixed":
        if int(width) < 4:
            raise ValueError(f"fixed answer width must be >= 4, got {width!r}")
        return f"{value:0{int(width)}.2f}"
    raise ValueError(f"answer_style must be one of {ANSWER_STYLES}, got {style!r}")


def format_meters(value: float, style: str = "paper", width: int = DEFAULT_FIXED_WIDTH) -> str:
    """"3.52 meters" (paper) or "03.52 meters" (fixed)."""
    return f"{format_meters_number(value, style, width)} meters"


# ----------------------------------------------------------------------------- depth

DEPTH_QUESTION = (
    "How far is the pixel at ({x}, {y}) from the camera? "
    "Both x and y are normalized to between [0, 2000)."
)
# The release notebook's variant: the number only (no unit) inside <answer> </answer> tags.
DEPTH_QUESTION_TAGGED = (
    "Given this image, how far is the point at coordinates ({x}, {y}) from the camera? "
    "The coordinates are in normalised [0, 2000] format relative to image width and height. "
    "Output the thinking process in <think> </think> and final answer (the meter number only, "
    "without the unit) in <answer> </answer> tags."
)
DEPTH_VARIANTS = ("paper", "tagged")


def depth_question(x_n: int, y_n: int, variant: str = "paper") -> str:
    """Depth question for a pixel given in [0, 2000) normalised coordinates."""
    if variant == "paper":
        return DEPTH_QUESTION.format(x=int(x_n), y=int(y_n))
    if variant == "tagged":
        return DEPTH_QUESTION_TAGGED.format(x=int(x_n), y=int(y_n))
    raise ValueError(f"depth variant must be one of {DEPTH_VARIANTS}, got {variant!r}")


def depth_answer(value: float, style: str = "paper", width: int = DEFAULT_FIXED_WIDTH,
                 variant: str = "paper") -> str:
    """"3.52 meters"; tagged variant "<answer>3.52</answer>" (number only, as the prompt asks)."""
    if variant == "paper":
        return format_meters(value, style, width)
    if variant == "tagged":
        return f"<answer>{format_meters_number(value, style, width)}</answer>"
    raise ValueError(f"depth variant must be one of {DEPTH_VARIANTS}, got {variant!r}")


# ----------------------------------------------------------------------------- regions

MASK = "<mask>"
_REGION_RE = re.compile(r"Region \[(\d+)\]")


def region_text(box: Sequence[int]) -> str:
    """"bounding box region (x1, y1, x2, y2)" for a box already in [0, 1000] integers."""
    if len(box) != 4:
        raise ValueError(f"a box needs 4 numbers (x1, y1, x2, y2), got {list(box)!r}")
    x1, y1, x2, y2 = (int(v) for v in box)
    return f"bounding box region ({x1}, {y1}, {x2}, {y2})"


def clean_user_msg(raw: str) -> str:
    """Drop SpatialRGPT's "<image>" token and surrounding whitespace: "<image>\\n Can ..." -> "Can ..."."""
    return raw.replace("<image>", "").strip()


def fill_regions(text: str, boxes: Sequence[Sequence[int]]) -> str:
    """Replace the i-th `<mask>` and every `Region [i]` with box i's "bounding box region (...)".

    Raises ValueError when the text names more masks or a higher region index than boxes given.
    """
    n_masks = text.count(MASK)
    if n_masks > len(boxes):
        raise ValueError(f"text has {n_masks} {MASK} but only {len(boxes)} boxes: {text!r}")
    parts = text.split(MASK)
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        out += region_text(boxes[i]) + part

    def sub(m: re.Match) -> str:
        i = int(m.group(1))
        if i >= len(boxes):
            raise ValueError(f"text names Region [{i}] but only {len(boxes)} boxes: {text!r}")
        return region_text(boxes[i])

    return _REGION_RE.sub(sub, out)


# ----------------------------------------------------------------------------- object level
# Question templates use <mask> (first = region 0, second = region 1); answers use Region [i].
# SpatialRGPT-Bench's wording is the model for these; the sentences themselves are ours, except
# "Can you confirm if <mask> is smaller than <mask>?" and its "Incorrect, ..." answer (released).

_QUANT_ANSWERS = {
    "distance_data": (
        ["What is the distance between <mask> and <mask>?",
         "How far apart are <mask> and <mask>?",
         "How far is <mask> from <mask>?"],
        ["Region [0] and Region [1] are {X} apart.",
         "The distance between Region [0] and Region [1] is {X}.",
         "Region [0] is {X} away from Region [1]."]),
    "horizontal_distance_data": (
        ["What is the horizontal distance between <mask> and <mask>?",
         "How far apart are <mask> and <mask> horizontally?",
         "Measure the horizontal distance from <mask> to <mask>."],
        ["Region [0] and Region [1] are {X} apart horizontally.",
         "The horizontal distance between Region [0] and Region [1] is {X}.",
         "Horizontally, Region [0] is {X} away from Region [1]."]),
    "vertical_distance_data": (
        ["What is the vertical distance between <mask> and <mask>?",
         "How far apart are <mask> and <mask> vertically?",
         "How big is the vertical gap between <mask> and <mask>?"],
        ["Region [0] and Region [1] are {X} apart vertically.",
         "The vertical distance between Region [0] and Region [1] is {X}.",
         "Vertically, Region [0] is {X} away from Region [1]."]),
    "width_data": (
        ["How wide is <mask>?",
         "What is the width of <mask>?",
         "Tell me the width of <mask>."],
        ["Region [0] is {X} wide.",
         "The width of Region [0] is {X}.",
         "Region [0] is {X} in width."]),
    "height_data": (
        ["How tall is <mask>?",
         "What is the height of <mask>?",
         "Tell me the height of <mask>."],
        ["Region [0] is {X} tall.",
         "The height of Region [0] is {X}.",
         "Region [0] is {X} in height."]),
}

_DIRECTION = (
    ["If you are at <mask>, where will you find <mask>?",
     "Standing at <mask>, in which clock direction is <mask>?",
     "From the position of <mask>, at what o'clock is <mask>?"],
    ["Region [1] is roughly at {hour} o'clock from Region [0].",
     "From Region [0], Region [1] is at about {hour} o'clock.",
     "Region [1] is in the {hour} o'clock direction from Region [0]."])

# predicate -> (phrase used in questions, phrase used in answers)
_PREDICATE_PHRASES = {
    "above": ("above", "above"),
    "below": ("below", "below"),
    "left": ("to the left of", "to the left of"),
    "right": ("to the right of", "to the right of"),
    "behind": ("behind", "behind"),
    "front": ("in front of", "in front of"),
    "big": ("bigger than", "bigger in size than"),
    "small": ("smaller than", "smaller in size than"),
    "tall": ("taller than", "taller than"),
    "short": ("shorter than", "shorter than"),
    "wide": ("wider than", "wider than"),
    "thin": ("thinner than", "thinner than"),
}
_PREDICATE_QUESTIONS = ["Can you confirm if <mask> is {q} <mask>?",
                        "Is <mask> {q} <mask>?",
                        "Would you say <mask> is {q} <mask>?"]
_PREDICATE_TRUE = ["Correct, Region [0] is {a} Region [1].",
                   "Correct, Region [0] is indeed {a} Region [1]."]
_PREDICATE_FALSE = ["Incorrect, Region [0] is not {a} Region [1].",
                    "Incorrect, Region [0] is not at all {a} Region [1]."]

# choice -> (question templates, answer templates with {i})
_CHOICES = {
    "left": (["Which is more to the left, <mask> or <mask>?",
              "Between <mask> and <mask>, which one is further left?",
              "Who is positioned more to the left, <mask> or <mask>?"],
             ["Region [{i}] is more to the left.", "Region [{i}] is further left."]),
    "right": (["Which is more to the right, <mask> or <mask>?",
               "Between <mask> and <mask>, which one is further right?",
               "Who is positioned more to the right, <mask> or <mask>?"],
              ["Region [{i}] is more to the right.", "Region [{i}] is further right."]),
    "above": (["Which is higher, <mask> or <mask>?",
               "Between <mask> and <mask>, which one is positioned higher?",
               "Who is higher up, <mask> or <mask>?"],
              ["Region [{i}] is higher.", "Region [{i}] is positioned higher."]),
    "below": (["Which is lower, <mask> or <mask>?",
               "Between <mask> and <mask>, which one is positioned lower?",
               "Who is lower down, <mask> or <mask>?"],
              ["Region [{i}] is lower.", "Region [{i}] is positioned lower."]),
    "tall": (["Who is taller, <mask> or <mask>?",
              "Between <mask> and <mask>, which one is taller?",
              "Which has more height, <mask> or <mask>?"],
             ["Region [{i}] is taller.", "Region [{i}] is the taller one."]),
    "short": (["Who is shorter, <mask> or <mask>?",
               "Between <mask> and <mask>, which one is shorter?",
               "Which has less height, <mask> or <mask>?"],
              ["Region [{i}] is shorter.", "Region [{i}] is the shorter one."]),
}


def _build_object_categories() -> dict[str, dict]:
    cats: dict[str, dict] = {}
    for name, (qs, ans) in _QUANT_ANSWERS.items():
        cats[name] = {"type": "quantitative", "kind": "distance", "n_regions": 2 if "distance" in name else 1,
                      "questions": qs, "answers": ans}
    cats["direction"] = {"type": "quantitative", "kind": "clock", "n_regions": 2,
                         "questions": _DIRECTION[0], "answers": _DIRECTION[1]}
    for pred, (q, a) in _PREDICATE_PHRASES.items():
        cats[f"{pred}_predicate"] = {
            "type": "qualitative", "kind": "yesno", "n_regions": 2,
            "questions": [t.format(q=q) for t in _PREDICATE_QUESTIONS],
            "answers_true": [t.format(a=a) for t in _PREDICATE_TRUE],
            "answers_false": [t.format(a=a) for t in _PREDICATE_FALSE]}
    for ch, (qs, ans) in _CHOICES.items():
        cats[f"{ch}_choice"] = {"type": "qualitative", "kind": "choice", "n_regions": 2,
                                "questions": qs, "answers": ans}
    return cats


OBJECT_CATEGORIES: dict[str, dict] = _build_object_categories()


def _category(category: str) -> dict:
    if category not in OBJECT_CATEGORIES:
        raise ValueError(f"unknown object category {category!r}; known: {sorted(OBJECT_CATEGORIES)}")
    return OBJECT_CATEGORIES[category]


def object_question(category: str, template: int, boxes: Sequence[Sequence[int]]) -> str:
    """Question `template` of `category` with its regions filled from `boxes` ([0, 1000] ints)."""
    c = _category(category)
    if len(boxes) != c["n_regions"]:
        raise ValueError(f"{category} needs {c['n_regions']} boxes, got {len(boxes)}")
    return fill_regions(c["questions"][template % len(c["questions"])], boxes)


def object_answer(category: str, template: int, boxes: Sequence[Sequence[int]], value,
                  style: str = "paper", width: int = DEFAULT_FIXED_WIDTH, regions: str = "filled") -> str:
    """Answer sentence: value is metres (quantitative), clock hour 1-12 (direction),
    bool (predicates) or region index 0/1 (choices). `regions` (ANSWER_REGIONS): "filled" names
    regions by their boxes, "index" as "Region [i]"."""
    if regions not in ANSWER_REGIONS:
        raise ValueError(f"answer regions must be one of {ANSWER_REGIONS}, got {regions!r}")
    c = _category(category)
    if len(boxes) != c["n_regions"]:
        raise ValueError(f"{category} needs {c['n_regions']} boxes, got {len(boxes)}")
    kind = c["kind"]
    if kind == "distance":
        ans = c["answers"][template % len(c["answers"])].replace("{X}", format_meters(value, style, width))
    elif kind == "clock":
        hour = int(value)
        if not 1 <= hour <= 12:
            raise ValueError(f"clock hour must be in 1..12, got {value!r}")
        ans = c["answers"][template % len(c["answers"])].replace("{hour}", str(hour))
    elif kind == "yesno":
        pool = c["answers_true"] if bool(value) else c["answers_false"]
        ans = pool[template % len(pool)]
    else:  # choice
        if int(value) not in (0, 1):
            raise ValueError(f"choice value must be region index 0 or 1, got {value!r}")
        ans = c["answers"][template % len(c["answers"])].replace("{i}", str(int(value)))
    return fill_regions(ans, boxes) if regions == "filled" else ans


# ----------------------------------------------------------------------------- correspondence
# Template 0 is the released one; 1-4 are our paraphrases. Both the query pixel and the answer
# are normalised to [0, 1000]: x_n = round(x / W * 1000) clipped to 1000 on each image's own size.

CORRESPONDENCE_QUESTIONS = [
    "Given these two images, what pixel in the second image corresponds to pixel ({x}, {y}) "
    "in the first image? Report the answer as (x, y).",
    "Which pixel of the second image shows the same point as pixel ({x}, {y}) of the first "
    "image? Report the answer as (x, y).",
    "Find the pixel in the second image that matches pixel ({x}, {y}) in the first image. "
    "Report the answer as (x, y).",
    "Pixel ({x}, {y}) in the first image shows a 3D point. Where does that point appear in the "
    "second image? Report the answer as (x, y).",
    "Locate the point at pixel ({x}, {y}) of the first image in the second image. "
    "Report the answer as (x, y).",
]


# How a correspondence answer names the point (`tasks.correspondence.answer_points`): "absolute",
# the released form, gives its (x, y) in the second image; "offset" (OURS) gives its shift (dx, dy)
# from the query's (x, y), so a small model learns the motion without first learning to copy the
# query's digits. The target kind says which ("point" / "offset"); both targets hold the absolute point.
ANSWER_POINTS = ("absolute", "offset")
POINT_KINDS = {"absolute": "point", "offset": "offset"}
_ABSOLUTE_ASK = "Report the answer as (x, y)."
_OFFSET_ASK = "Report the answer as the shift (dx, dy) of the point from (x, y)."


def correspondence_question(x_n: int, y_n: int, template: int = 0, points: str = "absolute") -> str:
    q = CORRESPONDENCE_QUESTIONS[template % len(CORRESPONDENCE_QUESTIONS)].format(x=int(x_n), y=int(y_n))
    if points == "absolute":
        return q
    if points == "offset":
        return q.replace(_ABSOLUTE_ASK, _OFFSET_ASK)
    raise ValueError(f"answer points must be one of {ANSWER_POINTS}, got {points!r}")


def correspondence_answer(x_n: int, y_n: int) -> str:
    """"The corresponding pixel is (x, y)" (released wording, no final period)."""
    return f"The corresponding pixel is ({int(x_n)}, {int(y_n)})"


def correspondence_offset_answer(dx: int, dy: int, style: str = "paper") -> str:
    """"The point moves by (+52, -3)"; fixed style "(+052, -003)" (a sign and at least 3 digits each)."""
    if style not in ANSWER_STYLES:
        raise ValueError(f"answer_style must be one of {ANSWER_STYLES}, got {style!r}")
    fmt = "{:+04d}" if style == "fixed" else "{:+d}"
    return f"The point moves by ({fmt.format(int(dx))}, {fmt.format(int(dy))})"


def correspondence_answer_for(kind: str, point: Sequence[float], query: Sequence[int], style: str = "paper") -> str:
    """The answer to a correspondence question of target `kind` whose answer is the normalised `point`
    of the second image (rounded), given the question's normalised `query`."""
    x, y = (int(round(float(c))) for c in point)
    if kind == "point":
        return correspondence_answer(x, y)
    if kind == "offset":
        return correspondence_offset_answer(x - int(query[0]), y - int(query[1]), style)
    raise ValueError(f"correspondence target kind must be one of {sorted(POINT_KINDS.values())}, got {kind!r}")


# ----------------------------------------------------------------------------- pose
# Exactly the released questions (pose_labels.json), double spaces included, in the released order.

POSE_QUESTIONS = {
    "rotation_angle": (
        "Given these two images captured from different viewpoints, what is the relative rotation "
        "angle (in degrees) between the two camera poses?"),
    "euler_natural": (
        "Treating the first image as the reference viewpoint, describe the camera's reorientation "
        "needed to reach the second image's viewpoint as yaw, pitch and roll about the first "
        "camera's local axes, applied intrinsically in the order yaw -> pitch -> roll.  "
        "Conventions: yaw is rotation about the vertical (down) axis, positive = turn right; pitch "
        "is about the lateral (right) axis after yaw, positive = look up; roll is about the "
        "optical (forward) axis after yaw and pitch, positive = bank to the right (image content "
        "rotates clockwise from the operator's POV)."),
    "translation_direction": (
        "Where did the camera move, expressed in the first camera's local frame (X right, Y down, "
        "Z forward)?  Give a qualitative direction and the precise unit direction vector (x, y, z)."),
    "translation_distance": (
        "Estimate the magnitude of the camera translation between the two viewpoints."),
}
# question id -> parser kind of its answer
POSE_KINDS = {"rotation_angle": "rotation_angle", "euler_natural": "euler",
              "translation_direction": "direction", "translation_distance": "distance"}


def rotation_angle_answer(angle_deg: float) -> str:
    return f"Rotation angle: {float(angle_deg):.1f} degrees"


def euler_answer(yaw: float, pitch: float, roll: float) -> str:
    return f"Yaw={float(yaw):+.1f}\u00b0, Pitch={float(pitch):+.1f}\u00b0, Roll={float(roll):+.1f}\u00b0"


def format_unit_vector(unit: Sequence[float]) -> str:
    """"(-0.69, +0.02, +0.72)": signed, 2 decimals."""
    if len(unit) != 3:
        raise ValueError(f"unit vector needs 3 components, got {list(unit)!r}")
    return "(" + ", ".join(f"{float(c):+.2f}" for c in unit) + ")"


def direction_answer(words, unit: Sequence[float]) -> str:
    """"The camera moves left, forward, unit vector (-0.69, +0.02, +0.72).";
    `words` is "left, forward" or a sequence of direction words."""
    if not isinstance(words, str):
        words = ", ".join(words)
    if not words:
        raise ValueError("direction words must not be empty")
    return f"The camera moves {words}, unit vector {format_unit_vector(unit)}."


def translation_distance_answer(distance: float, style: str = "paper",
                                width: int = DEFAULT_FIXED_WIDTH) -> str:
    return f"Translation distance: {format_meters(distance, style, width)}"


# ----------------------------------------------------------------------------- chat records


def make_record(rec_id: str, task: str, dataset: str, split: str, images: Sequence[str],
                turns: Sequence[tuple[str, str]], targets: Sequence[dict], **meta) -> dict:
    """A QA record in the HF chat-content form of docs/CONTRACTS.md.

    One {"type": "image"} per image goes into the first user turn, in `images` order;
    `targets[i]` is the ground truth of the i-th assistant turn.
    """
    if not turns or len(turns) != len(targets):
        raise ValueError(f"record {rec_id}: {len(turns)} turns but {len(targets)} targets")
    messages = []
    for i, (question, answer) in enumerate(turns):
        content = [{"type": "image"} for _ in images] if i == 0 else []
        content.append({"type": "text", "text": question})
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return {"id": rec_id, "task": task, "dataset": dataset, "split": split,
            "images": [str(p) for p in images], "messages": messages,
            "meta": {"targets": list(targets), **meta}}
