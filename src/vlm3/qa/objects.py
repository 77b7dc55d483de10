"""Object-level QA in SpatialRGPT-Bench's 24 categories, from the objects of the resized index.

Each object needs `box2d` (resized pixels), `center` (camera frame, m) and `size` [w, h, l] (m).
Regions are named by `normalize_box(box2d, W, H, 1000)` (truncation). Ground truths (ours; SpatialRGPT
computes them on canonicalised point clouds, we have exact 3D boxes):
- gravity: "down" in camera coordinates is R_c2w^T @ (-up_world). `world_up="auto"` uses world +Z
  (the synthetic benchmark, ScanNet) for rows with a pose and the camera's +Y axis for rows without
  one (counted in the log); "camera" always uses camera +Y; "+z", "-z", "+y", "-y" name the world up.
- height of a point = its coordinate along -down; vertical distance = |height difference| of the
  centres; horizontal distance = centre distance with the vertical part removed; distance = centre
  distance; width = size[0], height = size[1]; big/small compare volumes w*h*l.
- above/below compare centre heights; left/right compare camera X; behind/front compare camera Z.
- direction ("If you are at A, where will you find B?"): clock hour of B - A in the horizontal plane,
  12 o'clock = the camera's forward direction, 3 o'clock = the camera's right.
Comparisons closer than TIE (1 mm or 1e-3 m^3) and lengths under MIN_LENGTH are not asked. Objects
without a usable box/center/size, behind the camera, or with `visible_px` 0 (when present) are ignored.

Benchmark rows (the SpatialRGPT-Bench loader's `conversations`, `qa_category` columns) keep their
own question and answer instead: `<mask>` / `Region [i]` become "bounding box region (...)" and the
target is the ground-truth answer read with `vlm3.qa.parse` (id = the row's image_id).

Generated questions: one question per record; per image `questions_per_image` records, choosing each time the category
used least so far in this file among those the image supports (ties in a per-image random order),
so categories stay balanced.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterator

import numpy as np
from tqdm import tqdm

from vlm3.geometry import normalize_box
from vlm3.qa import templates as T
from vlm3.qa.parse import parse, resolve_choice
from vlm3.qa.resized import Resized, cam_to_world, objects
from vlm3.utils import rng_for

log = logging.getLogger(__name__)

TIE = 1e-3
MIN_LENGTH = 0.05  # metres; shorter quantitative answers print as ~0 and have no usable ratio
WORLD_UP = {"+z": (0, 0, 1), "-z": (0, 0, -1), "+y": (0, 1, 0), "-y": (0, -1, 0)}
WORLD_UP_CHOICES = ("auto", "camera", *WORLD_UP)


def gravity_down(row: dict, world_up: str = "auto") -> tuple[np.ndarray, bool]:
    """Unit "down" vector in camera coordinates, and whether it came from the pose."""
    if world_up not in WORLD_UP_CHOICES:
        raise ValueError(f"world_up must be one of {WORLD_UP_CHOICES}, got {world_up!r}")
    has_pose = row.get("cam_to_world") is not None
    if world_up == "camera" or (world_up == "auto" and not has_pose):
        return np.array([0.0, 1.0, 0.0]), False
    up = np.array(WORLD_UP["+z" if world_up == "auto" else world_up], dtype=np.float64)
    R = cam_to_world(row)[:3, :3]
    return -(R.T @ up), True


class _Obj:
    def __init__(self, o: dict, w: int, h: int):
        self.name = str(o.get("name", ""))
        self.c = np.asarray(o["center"], dtype=np.float64)
        self.s = np.asarray(o["size"], dtype=np.float64)
        self.box = list(normalize_box(o["box2d"], w, h, scale=1000))


def _valid_objects(objs: list[dict], w: int, h: int) -> list[_Obj]:
    out = []
    for o in objs:
        if o.get("visible_px") is not None and o["visible_px"] <= 0:  # synthetic data: fully hidden
            continue
        try:
            ob = _Obj(o, w, h)
        except (KeyError, TypeError, ValueError):
            continue
        if (ob.c.shape == (3,) and ob.s.shape == (3,) and np.all(np.isfinite(ob.c)) and ob.c[2] > 0
                and np.all(ob.s > 0) and ob.box[2] > ob.box[0] and ob.box[3] > ob.box[1]):
            out.append(ob)
    return out


def clock_hour(d: np.ndarray, down: np.ndarray) -> int | None:
    """Clock hour (1-12) of camera-frame displacement d: 12 = camera forward, 3 = camera right,
    measured in the plane perpendicular to `down`. None when d is (nearly) vertical."""
    fwd = np.array([0.0, 0.0, 1.0]) - down[2] * down
    fwd /= np.linalg.norm(fwd)
    right = np.cross(down, fwd)
    x, z = float(d @ right), float(d @ fwd)
    if math.hypot(x, z) < MIN_LENGTH:
        return None
    hour = round(math.degrees(math.atan2(x, z)) / 30.0) % 12
    return 12 if hour == 0 else hour


def truths(a: _Obj, b: _Obj | None, down: np.ndarray) -> dict[str, object]:
    """Every category's ground truth for the ordered pair (a, b) (b None: single-object ones)."""
    out: dict[str, object] = {}
    if a.s[0] >= MIN_LENGTH:
        out["width_data"] = float(a.s[0])
    if a.s[1] >= MIN_LENGTH:
        out["height_data"] = float(a.s[1])
    if b is None:
        return out
    d = b.c - a.c
    dv = float(d @ down)
    vert, horiz, dist = abs(dv), float(np.linalg.norm(d - dv * down)), float(np.linalg.norm(d))
    for cat, v in (("distance_data", dist), ("horizontal_distance_data", horiz),
                   ("vertical_distance_data", vert)):
        if v >= MIN_LENGTH:
            out[cat] = v
    hour = clock_hour(d, down)
    if hour is not None:
        out["direction"] = hour
    ha, hb = -float(a.c @ down), -float(b.c @ down)
    va, vb = float(np.prod(a.s)), float(np.prod(b.s))
    # (predicate, value of a, value of b, True when a's value is larger)
    comps = {"above": (ha, hb, True), "below": (ha, hb, False), "left": (a.c[0], b.c[0], False),
             "right": (a.c[0], b.c[0], True), "behind": (a.c[2], b.c[2], True),
             "front": (a.c[2], b.c[2], False), "big": (va, vb, True), "small": (va, vb, False),
             "tall": (a.s[1], b.s[1], True), "short": (a.s[1], b.s[1], False),
             "wide": (a.s[0], b.s[0], True), "thin": (a.s[0], b.s[0], False)}
    for pred, (x, y, larger) in comps.items():
        if abs(x - y) > TIE:
            out[f"{pred}_predicate"] = bool((x > y) == larger)
            if f"{pred}_choice" in T.OBJECT_CATEGORIES:
                out[f"{pred}_choice"] = 0 if (x > y) == larger else 1
    return out


def _is_benchmark_row(row: dict) -> bool:
    c = row.get("conversations")
    return isinstance(c, str) and bool(c.strip())


def benchmark_record(res: Resized, row: dict, counts: Counter) -> dict | None:
    """A benchmark row (SpatialRGPT-Bench loader: `conversations` JSON, `qa_category`, regions in
    `objects`) -> its own question and answer with regions filled, the truth parsed from the answer."""
    where = f"image {row['image_id']!r}"
    cat = row.get("qa_category")
    if cat not in T.OBJECT_CATEGORIES:
        raise ValueError(f"{where}: qa_category {cat!r} is not a SpatialRGPT category")
    try:
        convs = json.loads(row["conversations"])
        human = next(c["value"] for c in convs if c.get("from") == "human")
        gpt = next(c["value"] for c in convs if c.get("from") == "gpt")
    except (json.JSONDecodeError, TypeError, KeyError, StopIteration) as e:
        raise ValueError(f"{where}: conversations is not a human/gpt JSON list ({e})") from None
    w, h = int(row["width"]), int(row["height"])
    boxes = [list(normalize_box(o["box2d"], w, h, scale=1000)) for o in objects(row)]
    kind = T.OBJECT_CATEGORIES[cat]["kind"]
    value = parse(kind, gpt)
    if kind == "choice":
        value = resolve_choice(value, boxes)
    if value is None:
        counts["benchmark_answers_unparsed"] += 1
        log.warning("%s: ground-truth answer not parseable as %s, question skipped: %r", where, kind, gpt)
        return None
    counts[cat] += 1
    target = {"kind": kind, "value": value, "category": cat, "type": T.OBJECT_CATEGORIES[cat]["type"],
              "boxes": boxes, "objects": [str(o.get("name", "")) for o in objects(row)],
              "answer_text": gpt}
    return T.make_record(f"{res.dataset}/{res.split}/{row['image_id']}", "object", res.dataset, res.split,
                         [row["image_path"]],
                         [(T.fill_regions(T.clean_user_msg(human), boxes), T.fill_regions(gpt, boxes))],
                         [target], image_ids=[row["image_id"]])


def object_records(res: Resized, seed: int, questions_per_image: int = 10,
                   answer_style: str = "paper", fixed_width: int = T.DEFAULT_FIXED_WIDTH,
                   world_up: str = "auto", counts: Counter | None = None,
                   answer_regions: str = "filled") -> Iterator[dict]:
    """Yield single-question object records (sorted by image, then question number).
    `answer_regions` ("filled" | "index", templates.ANSWER_REGIONS) applies to generated questions;
    benchmark rows keep their own answers."""
    counts = Counter() if counts is None else counts
    cat_names = list(T.OBJECT_CATEGORIES)
    for row in tqdm(res.images.to_dict("records"), desc="object QA", unit="img", leave=False):
        if _is_benchmark_row(row):
            rec = benchmark_record(res, row, counts)
            if rec is not None:
                yield rec
            continue
        w, h = int(row["width"]), int(row["height"])
        objs = _valid_objects(objects(row), w, h)
        if not objs:
            counts["images_without_objects"] += 1
            continue
        down, from_pose = gravity_down(row, world_up)
        if not from_pose:
            counts["images_with_camera_gravity"] += 1
        rng = rng_for(seed, res.dataset, res.split, row["image_id"])
        # candidates[category] = list of (object indices, truth)
        cands: dict[str, list] = {c: [] for c in cat_names}
        for i, a in enumerate(objs):
            for cat, v in truths(a, None, down).items():
                cands[cat].append(((i,), v))
            for j, b in enumerate(objs):
                if i != j:
                    for cat, v in truths(a, b, down).items():
                        if T.OBJECT_CATEGORIES[cat]["n_regions"] == 2:
                            cands[cat].append(((i, j), v))
        order = {c: k for k, c in enumerate(rng.permutation(cat_names).tolist())}
        for q in range(questions_per_image):
            avail = [c for c in cat_names if cands[c]]
            if not avail:
                break
            cat = min(avail, key=lambda c: (counts[c], order[c]))
            ids, value = cands[cat].pop(int(rng.integers(len(cands[cat]))))
            boxes = [objs[k].box for k in ids]
            spec = T.OBJECT_CATEGORIES[cat]
            question = T.object_question(cat, int(rng.integers(len(spec["questions"]))), boxes)
            answer = T.object_answer(cat, int(rng.integers(6)), boxes, value, answer_style, fixed_width,
                                     answer_regions)
            counts[cat] += 1
            target = {"kind": spec["kind"], "value": value, "category": cat, "type": spec["type"],
                      "boxes": boxes, "objects": [objs[k].name for k in ids]}
            yield T.make_record(f"{res.dataset}/{res.split}/{row['image_id']}/{q:02d}", "object",
                                res.dataset, res.split, [row["image_path"]], [(question, answer)],
                                [target], image_ids=[row["image_id"]])
