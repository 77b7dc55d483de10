"""Image pairs for the loaders: the pairs table, and covisible pairs of a scene from depth and poses.

Covisibility is `vlm3.geometry.covisibility` (one rule for every dataset; its docstring defines it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vlm3.geometry.covisibility import covisibility
from vlm3.utils import rng_for


def pairs_frame(pairs: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Pairs table (docs/CONTRACTS.md) from (image_id_1, image_id_2, covisibility) tuples."""
    df = pd.DataFrame(pairs, columns=["image_id_1", "image_id_2", "covisibility"])
    df.insert(0, "pair_id", [f"{a}__{b}" for a, b in zip(df["image_id_1"], df["image_id_2"])])
    df["covisibility"] = df["covisibility"].astype("float64")
    return df


def K_of(r: dict, stride: int = 1) -> np.ndarray:
    """Pinhole K of an index row; `stride` > 1 scales it to the grid of every stride-th pixel
    (pixel i of that grid is pixel i * stride of the image, both pixel centres)."""
    return np.array([[r["fx"] / stride, 0, r["cx"] / stride], [0, r["fy"] / stride, r["cy"] / stride],
                     [0, 0, 1]])


def pair_covisibility(depth_a, a: dict, depth_b, b: dict, stride: int = 1) -> float:
    """Covisibility a -> b of two index rows (view-a pixels every `stride` px), rounded to 6 digits."""
    c = covisibility(depth_a, K_of(a), np.reshape(a["cam_to_world"], (4, 4)), depth_b, K_of(b),
                     np.reshape(b["cam_to_world"], (4, 4)), stride=stride)
    return round(c, 6)


def scene_pairs(images: pd.DataFrame, depth_of, min_covisibility: float, max_pairs_per_scene: int | None,
                rng_seed: int, stride: int = 8) -> pd.DataFrame:
    """Ordered pairs (i != j) inside each scene with covisibility computed from depth and poses.

    `depth_of(row) -> (H, W) z-depth` reads a row's depth; only every `stride`-th pixel is kept in
    both views (the view-2 depth test uses that grid too). Pairs below `min_covisibility` or at 0
    are dropped; then at most `max_pairs_per_scene` are drawn per scene with rng_for(seed, scene).
    """
    out = []
    for scene, grp in images.groupby("scene_id", sort=True):
        rows = grp.sort_values("image_id").to_dict("records")
        # keep only every `stride`-th depth pixel (a 6048x4032 ETH3D map is 97 MB) and scale K to
        # that grid
        depths = {r["image_id"]: np.asarray(depth_of(r))[::stride, ::stride] for r in rows}
        cand = []
        for a in rows:
            for b in rows:
                if a["image_id"] == b["image_id"]:
                    continue
                c = covisibility(depths[a["image_id"]], K_of(a, stride), np.reshape(a["cam_to_world"], (4, 4)),
                                 depths[b["image_id"]], K_of(b, stride), np.reshape(b["cam_to_world"], (4, 4)))
                if c >= min_covisibility and c > 0:
                    cand.append((a["image_id"], b["image_id"], round(c, 6)))
        if max_pairs_per_scene is not None and len(cand) > max_pairs_per_scene:
            pick = rng_for(rng_seed, "pairs", scene).choice(len(cand), max_pairs_per_scene, replace=False)
            cand = [cand[i] for i in sorted(pick)]
        out.extend(cand)
    return pairs_frame(out)
