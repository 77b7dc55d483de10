"""Stage `index`: raw dataset folder -> results/index/{dataset}/{split}.parquet (+ _pairs)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from vlm3.datasets import load_index
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.index")
PAIR_DTYPES = {"pair_id": "str", "image_id_1": "str", "image_id_2": "str", "covisibility": "float64"}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--type", required=True, help="dataset type (a registered loader)")
    p.add_argument("--raw", required=True, help="raw dataset folder")
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True, help="output parquet")
    p.add_argument("--pairs-out", required=True,
                   help="output pairs parquet (written with zero rows for datasets without pairs)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    images, pairs = load_index(a.type, a.raw, a.split)
    with atomic_path(a.out) as tmp:
        images.to_parquet(tmp, index=False)
    log.info("%s: %d images -> %s", a.type, len(images), a.out)
    if pairs is None:
        pairs = pd.DataFrame({c: pd.Series(dtype=t) for c, t in PAIR_DTYPES.items()})
    with atomic_path(a.pairs_out) as tmp:
        pairs.to_parquet(tmp, index=False)
    log.info("%d pairs -> %s", len(pairs), a.pairs_out)


if __name__ == "__main__":
    main()
