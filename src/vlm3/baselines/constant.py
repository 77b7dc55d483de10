"""Trivial baselines fitted on the training QA, answering in the models' text format.

`stat` is "median" (the default constant, model name `median` in config/config.yaml) or "mean":
- depth: the median / mean of every training depth target ("X.XX meters").
- object: per SpatialRGPT category, from the training QA of that category: metric categories
  answer the median / mean training value, direction the most common clock hour, yes/no and
  choice questions the majority answer (ties: the smaller value: False, region 0, the earlier
  hour). A category absent from training falls back to the pooled metric value / 12 o'clock /
  "no" / region 0, and is logged.
- correspondence: zero motion: the query's normalised (x, y) repeated as the answer.
- pose: the training set's most common motion: translation direction = the most common training
  direction words, with the unit vector = the normalised mean of the training unit vectors that
  carry those words; rotation = the mean rotation (chordal L2, scipy) of the training pairs that
  move that way, answered as its angle and its yaw/pitch/roll (identity when no such pair has a
  yaw/pitch/roll target); distance = the median / mean training distance. On an orbit, where
  rotation and translation come together, identity rotation with the common words would be a
  weaker constant than this one (benchmarks/RESULTS.md, "Orbit camera design").
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
from scipy.spatial.transform import Rotation

from vlm3.geometry import rotation_angle_deg, rotation_to_ypr
from vlm3.geometry.pose import translation_direction, ypr_to_rotation
from vlm3.qa import templates as T
from vlm3.records import query_point, question_boxes, questions

log = logging.getLogger("vlm3.baselines.constant")

STATS = {"median": np.median, "mean": np.mean}


def _majority(values) -> object:
    """Most common value; ties go to the smallest (deterministic)."""
    c = Counter(values)
    top = max(c.values())
    return min(v for v, k in c.items() if k == top)


def _direction_unit(target: dict) -> np.ndarray:
    v = target["value"]
    if isinstance(v, dict):
        v = v.get("unit", v.get("vector"))
    v = np.asarray(v, dtype=float).reshape(3)
    return v / np.linalg.norm(v)


def _category(target: dict) -> str:
    cat = target.get("category")
    if cat not in T.OBJECT_CATEGORIES:
        raise ValueError(f"object target needs a known 'category', got {cat!r}")
    return cat


def _common_rotation(qs: list[dict], words: str) -> np.ndarray:
    """Mean rotation of the pairs (questions of one record id) whose direction has `words`;
    identity when none of them has a yaw/pitch/roll target."""
    by_id: dict[str, dict] = {}
    for q in qs:
        by_id.setdefault(q["id"], {})[q["target"]["kind"]] = q["target"]
    rots = [ypr_to_rotation(*p["euler"]["value"]) for p in by_id.values()
            if "euler" in p and "direction" in p and translation_direction(_direction_unit(p["direction"]))[0] == words]
    return Rotation.from_matrix(np.stack(rots)).mean().as_matrix() if rots else np.eye(3)


class ConstantBaseline:
    """Fit on training records of one task, then `answer(question)` -> text."""

    def __init__(self, task: str, train_records: list[dict], stat: str = "median"):
        if stat not in STATS:
            raise ValueError(f"stat must be one of {sorted(STATS)}, got {stat!r}")
        self.task, self.stat = task, stat
        f = STATS[stat]
        qs = [q for r in train_records for q in questions(r)]
        by_kind: dict[str, list[dict]] = {}
        for q in qs:
            by_kind.setdefault(q["target"]["kind"], []).append(q["target"])
        self.params: dict = {}
        if task == "depth":
            vals = [t["value"] for t in by_kind.get("depth", [])]
            if not vals:
                raise ValueError("--train-qa has no depth targets")
            self.params["depth"] = float(f(vals))
        elif task == "object":
            per_cat: dict[str, list] = {}
            for t in qs:
                per_cat.setdefault(_category(t["target"]), []).append(t["target"]["value"])
            pooled = [v for c, vs in per_cat.items() if T.OBJECT_CATEGORIES[c]["kind"] == "distance" for v in vs]
            self.params["pooled_distance"] = float(f(pooled)) if pooled else 1.0
            for c, vs in sorted(per_cat.items()):
                kind = T.OBJECT_CATEGORIES[c]["kind"]
                if kind == "distance":
                    self.params[c] = float(f(vs))
                elif kind == "yesno":
                    self.params[c] = bool(_majority([bool(v) for v in vs]))
                else:  # clock hour or choice index
                    self.params[c] = int(_majority([int(v) for v in vs]))
        elif task == "correspondence":
            pass  # zero motion needs no statistics
        elif task == "pose":
            dists = [t["value"] for t in by_kind.get("distance", [])]
            units = [_direction_unit(t) for t in by_kind.get("direction", [])]
            self.params["distance"] = float(f(dists)) if dists else 1.0
            self.params["rotation"] = np.eye(3)
            if units:
                words = [translation_direction(u)[0] for u in units]
                top = _majority(words)
                mean = np.mean([u for u, w in zip(units, words) if w == top], axis=0)
                self.params["direction"] = translation_direction(mean)
                self.params["rotation"] = _common_rotation(qs, top)
            else:
                self.params["direction"] = translation_direction([0.0, 0.0, 1.0])
        else:
            raise ValueError(f"--task {task!r}: unknown task")

    def answer(self, q: dict) -> str:
        kind = q["target"]["kind"]
        if self.task == "depth":
            return T.depth_answer(self.params["depth"])
        if self.task == "correspondence":
            query = query_point(q)  # zero motion: the query itself
            return T.correspondence_answer_for(kind, query, query)
        if self.task == "pose":
            if kind == "rotation_angle":
                return T.rotation_angle_answer(rotation_angle_deg(self.params["rotation"]))
            if kind == "euler":
                return T.euler_answer(*rotation_to_ypr(self.params["rotation"]))
            if kind == "direction":
                words, unit = self.params["direction"]
                return T.direction_answer(words, unit)
            return T.translation_distance_answer(self.params["distance"])
        cat = _category(q["target"])
        ckind = T.OBJECT_CATEGORIES[cat]["kind"]
        if cat in self.params:
            value = self.params[cat]
        else:
            log.warning("category %s absent from training: fallback answer", cat)
            value = {"distance": self.params["pooled_distance"], "clock": 12, "yesno": False,
                     "choice": 0}[ckind]
        return T.object_answer(cat, 0, question_boxes(q), value)
