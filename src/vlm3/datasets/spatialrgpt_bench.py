"""SpatialRGPT-Bench (SpatialRGPT-Bench_v1.json + images + Omni3D intrinsics) -> index.

Each benchmark record `{id, image_info{file_path, ...}, text_q, qa_info{type, category},
conversations[{from, value}], rle[COCO RLE], bbox[[x1, y1, x2, y2] px]}` becomes one row
(image_id = record id; several questions may share one image). `objects` lists the regions in
order (`name` "Region [i]", `box2d` px; 3D fields unknown = null); the question and answer stay
in extra columns for the QA stage: `question` (text_q), `conversations` (JSON), `answer` (first
gpt turn), `qa_type`, `qa_category`, and `region_rle` (JSON list of the COCO RLE masks, in the
ORIGINAL image's pixels: resizing does not move them, decode then resample if needed).
Intrinsics: joined from Omni3D's per-image K (Omni3D_json/*.json `images[].K`, `file_path`) by
the longest common path suffix; images without a match keep NaN (the calibrate stage fills them).
COCO RLE is decoded here with numpy (`rle_decode`), so pycocotools is not needed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from vlm3.datasets import register
from vlm3.datasets.rows import NAN, frame, image_size, require, row

log = logging.getLogger(__name__)


def rle_counts(counts: str | bytes | list) -> list[int]:
    """Run lengths of a COCO RLE; a string uses COCO's 6-bit LEB128-like code (maskApi.c rleFrString)."""
    if isinstance(counts, list):
        return [int(c) for c in counts]
    s = counts.decode() if isinstance(counts, bytes) else counts
    out: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                raise ValueError(f"RLE string ends inside a number: {s!r}")
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)  # sign extension
        if len(out) > 2:
            x += out[-2]  # counts from the 4th on are stored as differences
        out.append(x)
    return out


def rle_encode_string(counts: list[int]) -> str:
    """Inverse of `rle_counts` for strings (maskApi.c rleToString); used by fixtures and tools."""
    s = []
    for i, x in enumerate(counts):
        x = int(x) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if c & 0x10 else (x != 0)
            s.append(chr((c | 0x20 if more else c) + 48))
    return "".join(s)


def rle_decode(rle: dict) -> np.ndarray:
    """(H, W) uint8 mask of a COCO RLE {"size": [H, W], "counts": ...} (column-major runs, 0s first)."""
    h, w = (int(v) for v in rle["size"])
    counts = rle_counts(rle["counts"])
    if sum(counts) != h * w or any(c < 0 for c in counts):
        raise ValueError(f"RLE runs sum to {sum(counts)}, expected {h}x{w} = {h * w}")
    vals = np.zeros(len(counts), np.uint8)
    vals[1::2] = 1
    return np.repeat(vals, counts).reshape(w, h).T.copy()


def _suffix_index(k_files: list[Path]) -> dict[str, tuple[list, tuple[int, int]]]:
    idx = {}
    for kf in k_files:
        for im in json.loads(kf.read_text()).get("images", []):
            idx[im["file_path"].replace("\\", "/")] = (im["K"], (im.get("width"), im.get("height")))
    return idx


def _match(path: str, omni: dict, by_name: dict) -> list | None:
    best, best_len = None, 0
    parts = path.split("/")
    for cand in by_name.get(parts[-1], []):
        cp = cand.split("/")
        n = 0
        while n < min(len(cp), len(parts)) and cp[-1 - n] == parts[-1 - n]:
            n += 1
        if n > best_len:
            best, best_len = cand, n
        elif n == best_len:
            best = None  # ambiguous: two Omni3D images share the longest suffix
    return omni[best][0] if best else None


@register("spatialrgpt_bench")
def load(raw: Path, split: str, json_name: str = "SpatialRGPT-Bench_v1.json", images_dir: str = "images"):
    raw = Path(raw)
    if split != "test":
        raise ValueError(f"spatialrgpt_bench: the benchmark is one split 'test', got {split!r}")
    path = require(raw / json_name, "spatialrgpt_bench")
    recs = json.loads(path.read_text())
    omni = _suffix_index(sorted(raw.glob("Omni3D_json/*.json")) + sorted(raw.glob("Omni3D/*.json")))
    by_name: dict[str, list[str]] = {}
    for k in omni:
        by_name.setdefault(k.rsplit("/", 1)[-1], []).append(k)
    rows, unmatched = [], 0
    for rec in recs:
        where = f"{path} record {rec.get('id')!r}"
        try:
            fp, boxes, rles = rec["image_info"]["file_path"], rec["bbox"], rec.get("rle") or []
            convs = rec["conversations"]
            answer = next(c["value"] for c in convs if c["from"] == "gpt")
        except (KeyError, TypeError, StopIteration) as e:
            raise ValueError(f"{where}: not a SpatialRGPT-Bench record ({e})") from None
        if rles and len(rles) != len(boxes):
            raise ValueError(f"{where}: {len(boxes)} boxes but {len(rles)} masks")
        img = raw / images_dir / fp if (raw / images_dir / fp).exists() else require(raw / fp, where)
        W, H = image_size(img)
        objects = []
        for i, b in enumerate(boxes):
            x1, y1, x2, y2 = (float(v) for v in b)
            if not (0 <= x1 <= x2 <= W and 0 <= y1 <= y2 <= H):
                raise ValueError(f"{where}: box {b} is not [x1, y1, x2, y2] inside {W}x{H}")
            objects.append({"name": f"Region [{i}]", "category": None, "box2d": [x1, y1, x2, y2],
                            "center": None, "size": None, "yaw": None, "mask_path": None})
        K = _match(fp.replace("\\", "/"), omni, by_name)
        unmatched += K is None
        K = np.asarray(K, dtype=np.float64) if K is not None else np.full((3, 3), NAN)
        rows.append(row(str(rec["id"]), Path(fp).with_suffix("").as_posix(), img, W, H, fx=K[0, 0],
                        fy=K[1, 1], cx=K[0, 2], cy=K[1, 2], objects=objects, question=rec.get("text_q", ""),
                        conversations=json.dumps(convs), answer=answer,
                        region_rle=json.dumps(rles, sort_keys=True),
                        qa_type=rec.get("qa_info", {}).get("type"),
                        qa_category=rec.get("qa_info", {}).get("category")))
    if unmatched:
        log.warning("spatialrgpt_bench: %d of %d questions have no Omni3D intrinsics (NaN; calibrate fills them)",
                    unmatched, len(rows))
    return frame(rows, f"spatialrgpt_bench {path}"), None
