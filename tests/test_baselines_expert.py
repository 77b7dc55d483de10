"""OpenCV expert end to end on a tiny ray-cast scene (three textured planes, two cameras)."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from vlm3 import score
from vlm3.baselines.__main__ import run
from vlm3.geometry.coords import normalize_point
from vlm3.geometry.pose import rotation_angle_deg, rotation_to_ypr, translation_direction, ypr_to_rotation
from vlm3.qa import templates as T
from vlm3.records import read_predictions

W, H, F = 256, 192, 200.0
_NOISE = np.random.default_rng(3).uniform(0, 255, (2, 512, 512)).astype(np.float32)
TEX = cv2.GaussianBlur(_NOISE[0], (0, 0), 2.0) + 0.5 * cv2.GaussianBlur(_NOISE[1], (0, 0), 6.0)  # two scales
TEX = cv2.normalize(TEX, None, 0, 255, cv2.NORM_MINMAX)
# planes (normal, offset d: n.X = d, texture axes, bounds on those axes or None) in camera-1 =
# world coordinates: a back wall, a floor and two floating panels, so the scene is not planar
PLANES = [((0, 0, 1), 6.0, (0, 1), None), ((0, 1, 0), 1.2, (0, 2), None),
          ((0, 0, 1), 2.5, (0, 1), ((-1.2, -0.1), (-0.9, 0.6))),
          ((0, 0, 1), 4.0, (0, 1), ((0.4, 2.0), (-1.5, 0.2)))]


def K_of(cx, cy):
    return np.array([[F, 0, cx], [0, F, cy], [0, 0, 1.0]])


def render(R, c, K):
    """Image and world points of a camera with axes R (columns, world frame) and centre c."""
    u, v = np.meshgrid(np.arange(W, dtype=float), np.arange(H, dtype=float))
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T @ R.T
    best_t, best_uv = np.full((H, W), np.inf), np.zeros((H, W, 2), np.float32)
    for k, (n, d, axes, bounds) in enumerate(PLANES):
        n = np.array(n, float)
        denom = rays @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (d - c @ n) / denom
        t[~(t > 0)] = np.inf
        X = c + np.where(np.isfinite(t), t, 0.0)[..., None] * rays
        if bounds is not None:
            for ax, (lo, hi) in zip(axes, bounds):
                t[(X[..., ax] < lo) | (X[..., ax] > hi)] = np.inf
        tex_uv = (X[..., list(axes)] * 50.0 + 97.0 * k) % 511
        closer = t < best_t
        best_t[closer] = t[closer]
        best_uv[closer] = tex_uv[closer]
    img = cv2.remap(TEX, best_uv[..., 0], best_uv[..., 1], cv2.INTER_LINEAR).astype(np.uint8)
    return np.dstack([img] * 3), c + np.where(np.isfinite(best_t), best_t, 0.0)[..., None] * rays


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("resized") / "synthetic" / "test"
    (root / "images").mkdir(parents=True)
    R2 = ypr_to_rotation(8.0, -3.0, 2.0)
    c2 = np.array([0.8, 0.05, 0.5])
    K1, K2 = K_of(128.0, 96.0), K_of(120.0, 100.0)
    img1, X1 = render(np.eye(3), np.zeros(3), K1)
    img2, X2 = render(R2, c2, K2)
    for name, img in (("v1", img1), ("v2", img2)):
        cv2.imwrite(str(root / "images" / f"{name}.png"), img)
    pd.DataFrame({"image_id": ["v1", "v2"], "width": [W, W], "height": [H, H], "fx": [F, F], "fy": [F, F],
                  "cx": [128.0, 120.0], "cy": [96.0, 100.0]}).to_parquet(root / "index.parquet")
    return root, R2, c2, K2, X1, visible_queries(X1, X2, R2, c2, K2)


def visible_queries(X1, X2, R2, c2, K2, n=6):
    """Grid pixels of view 1 seen in view 2 (inside, unoccluded), away from depth edges; with
    their exact position in view 2."""
    out = []
    for v in range(16, H - 16, 16):
        for u in range(16, W - 16, 16):
            if np.ptp(X1[v - 6:v + 7, u - 6:u + 7, 2]) > 0.5:
                continue  # a depth discontinuity nearby
            p = K2 @ (R2.T @ (X1[v, u] - c2))
            u2, v2 = p[0] / p[2], p[1] / p[2]
            if not (8 <= u2 <= W - 9 and 8 <= v2 <= H - 9):
                continue
            if np.linalg.norm(X2[int(round(v2)), int(round(u2))] - X1[v, u]) > 0.1:
                continue  # occluded in view 2
            out.append((u, v, u2, v2))
    assert len(out) >= n
    return [out[i] for i in np.linspace(0, len(out) - 1, n).astype(int)]


def _records(root, R2, c2, K2, X1, queries):
    imgs = [str(root / "images" / "v1.png"), str(root / "images" / "v2.png")]
    turns, targets = [], []
    for u, v, u2, v2 in queries:
        q, a = normalize_point(u, v, W, H, 1000), normalize_point(u2, v2, W, H, 1000)
        turns.append((T.correspondence_question(*q), T.correspondence_answer(*a)))
        targets.append({"kind": "point", "value": list(a), "scale": 1000, "query": list(q), "image_size_2": [W, H]})
    corr = T.make_record("synthetic/test/p0", "correspondence", "synthetic", "test", imgs, turns, targets,
                         image_ids=["v1", "v2"])
    words, unit = translation_direction(c2)
    pose_t = [{"kind": "rotation_angle", "value": rotation_angle_deg(R2)},
              {"kind": "euler", "value": list(rotation_to_ypr(R2))},
              {"kind": "direction", "value": unit.tolist(), "words": words},
              {"kind": "distance", "value": float(np.linalg.norm(c2))}]
    pose = T.make_record("synthetic/test/p0", "pose", "synthetic", "test", imgs,
                         [(T.POSE_QUESTIONS[k], "x") for k in T.POSE_QUESTIONS], pose_t, image_ids=["v1", "v2"])
    return corr, pose


def test_expert_correspondence_and_pose(scene, tmp_path):
    corr, pose = _records(*scene)
    qa = {}
    for name, rec in (("corr", corr), ("pose", pose)):
        qa[name] = tmp_path / f"{name}.jsonl"
        qa[name].write_text(json.dumps(rec) + "\n")
    out = tmp_path / "pred" / "opencv" / "correspondence" / "synthetic_test.jsonl"
    assert run("expert", "correspondence", qa["corr"], qa["corr"], out, seed=0) == 6
    body, _ = score.score_records(read_predictions(out, "correspondence"), "correspondence", n_boot=10)
    assert body["n_unparsed"] == 0
    assert body["metrics"]["epe_px"] < 1.5 and body["metrics"]["pck_3"] == 1.0
    first = out.read_bytes()
    run("expert", "correspondence", qa["corr"], qa["corr"], out, seed=0)
    assert out.read_bytes() == first

    out = tmp_path / "pred" / "opencv" / "pose" / "synthetic_test.jsonl"
    assert run("expert", "pose", qa["pose"], qa["pose"], out, seed=0) == 4
    preds = [json.loads(x) for x in out.read_text().splitlines()]
    assert preds[3]["prediction"] == "Translation distance: 0.94 meters"  # training median (scale-free)
    body, det = score.score_records(read_predictions(out, "pose"), "pose", n_boot=10)
    assert body["n_unparsed"] == 0
    # a sign or transpose error would give >= 17 degrees here
    assert det["pair_err"][0] < 5.0 and body["metrics"]["rotation_angle_err"] < 2.0


def test_expert_needs_resized_index(scene, tmp_path):
    corr, _ = _records(*scene)
    bad = tmp_path / "elsewhere" / "images"
    bad.mkdir(parents=True)
    corr["images"] = [str(bad / "v1.png"), str(bad / "v2.png")]
    qa = tmp_path / "c.jsonl"
    qa.write_text(json.dumps(corr) + "\n")
    with pytest.raises(ValueError, match="no resized index"):
        run("expert", "correspondence", qa, qa, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()
