"""Fixed evaluation splits and the train/eval overlap check.

    python -m vlm3.qa.leak manifest --qa results/qa/depth/eth3d/test.jsonl --out .../test.manifest.json
    python -m vlm3.qa.leak check --train results/qa/depth/train.jsonl ... --manifests M.json ... --out R.json

`manifest`: what a benchmark evaluates, written once: `{"task", "bench", "images": [[dataset,
image_id, scene_id], ...] (sorted, unique), "questions": [[id, turn, [image ids], where], ...]
(where: the target's pixel, query point or boxes), "sha256"}`; the sha256 covers everything else
in the file (canonical JSON), and the score stage records it in each metrics file, so two metrics
of one benchmark can be told apart when they were not computed on the same questions.

`check`: fails (ValueError naming the mixture, the record, the image or scene and the benchmark;
nothing written) when a training mixture holds an image of an evaluation split, or, for pair
benchmarks (correspondence, pose), any image of one of its scenes. Images are `(dataset,
image_id)` (ids are unique within a dataset across splits, docs/CONTRACTS.md "Index"), scenes
`(dataset, scene_id)` read from the resized index beside each image
(`.../{dataset}/{split}/images/x.png` -> `.../{dataset}/{split}/index.parquet`); a record without
`meta.image_ids` is identified by its image paths. Writes `{"mixtures", "manifests", "images",
"scenes", "overlaps": 0}`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from functools import lru_cache
from pathlib import Path

import pandas as pd

from vlm3.records import questions, read_qa, read_qa_lines
from vlm3.tasks import PAIR_TASKS
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.qa.leak")
WHERE_KEYS = ("pixel", "query", "boxes")


@lru_cache(maxsize=None)
def _scenes(index: str) -> dict[str, str]:
    p = Path(index)
    if not p.is_file():
        return {}
    df = pd.read_parquet(p, columns=["image_id", "scene_id"])
    return dict(zip(df["image_id"].astype(str), df["scene_id"].astype(str)))


def record_images(rec: dict) -> list[tuple[str, str, str | None]]:
    """[(dataset, image_id, scene_id or None)] of a QA record's images."""
    ds = str(rec.get("dataset", ""))
    ids = (rec.get("meta") or {}).get("image_ids") or rec["images"]
    out = []
    for path, iid in zip(rec["images"], ids):
        scene = _scenes(str(Path(path).parent.parent / "index.parquet")).get(str(iid))
        out.append((ds, str(iid), scene))
    return out


def _sha(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def manifest(qa: str | Path, task: str | None = None, bench: str | None = None) -> dict:
    """The manifest of a benchmark QA file (module docstring)."""
    recs = read_qa(qa, "--qa")
    images, qs = set(), []
    for rec in recs:
        imgs = record_images(rec)
        images.update((d, i, s or "") for d, i, s in imgs)
        for q in questions(rec):
            where = next((q["target"][k] for k in WHERE_KEYS if k in q["target"]), None)
            qs.append([q["id"], q["turn"], [i for _, i, _ in imgs], where])
    qa = Path(qa)
    body = {"task": task or qa.parent.parent.name, "bench": bench or f"{qa.parent.name}_{qa.stem}",
            "images": sorted([list(x) for x in images]), "questions": qs}
    return {**body, "sha256": _sha(body)}


def read_manifest(path: str | Path) -> dict:
    """A manifest, its hash checked; ValueError names the file."""
    try:
        m = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"manifest {path}: cannot read ({e})") from None
    body = {k: v for k, v in m.items() if k != "sha256"}
    if m.get("sha256") != _sha(body):
        raise ValueError(f"manifest {path}: sha256 does not match its content (edited by hand?)")
    return m


def check(mixtures: list[str | Path], manifests: list[str | Path]) -> dict:
    """Raise ValueError at the first training image (or pair-benchmark scene) of an evaluation split."""
    image_of, scene_of = {}, {}
    for path in manifests:
        m = read_manifest(path)
        for d, i, s in m["images"]:
            image_of.setdefault((d, i), m["bench"])
            if m["task"] in PAIR_TASKS and s:
                scene_of.setdefault((d, s), m["bench"])
    n_images, scenes = 0, set()
    for mix in mixtures:
        for ln, rec in read_qa_lines(mix, "--train", need_targets=False):
            for d, i, s in record_images(rec):
                n_images += 1
                if (d, i) in image_of:
                    raise ValueError(f"training mixture {mix}:{ln} (record {rec['id']}): image {d}/{i} belongs to "
                                     f"the evaluation split {image_of[(d, i)]}: train/eval leak")
                if s and (d, s) in scene_of:
                    raise ValueError(f"training mixture {mix}:{ln} (record {rec['id']}): scene {d}/{s} belongs to "
                                     f"the pair evaluation split {scene_of[(d, s)]}: train/eval leak")
                if s:
                    scenes.add((d, s))
    return {"mixtures": [str(m) for m in mixtures], "manifests": [str(m) for m in manifests],
            "images": n_images, "scenes": len(scenes), "overlaps": 0}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m vlm3.qa.leak", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("manifest")
    m.add_argument("--qa", required=True)
    m.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--train", nargs="*", default=[], help="training mixtures (QA JSONL)")
    c.add_argument("--manifests", nargs="+", required=True)
    c.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = manifest(a.qa) if a.cmd == "manifest" else check(a.train, a.manifests)
    with atomic_path(a.out) as tmp:
        tmp.write_text(json.dumps(out, indent=None if a.cmd == "manifest" else 1) + "\n")
    log.info("%s -> %s", a.cmd, a.out)


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        sys.exit(f"vlm3.qa.leak: {e}")
