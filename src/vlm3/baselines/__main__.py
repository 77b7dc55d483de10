"""Baselines CLI: QA file -> predictions JSONL in the models' format (scored like a model).

    python -m vlm3.baselines --kind {constant,median,mean,expert} --task T
        --qa results/qa/T/D/test.jsonl --train-qa results/qa/T/train.jsonl
        --out results/predictions/{name}/T/{bench}.jsonl [--seed 0]

`constant` = `median` (training median / majority / zero motion / most common motion), `mean` the same with
training means, `expert` the OpenCV classical expert (correspondence, pose). Output lines:
`{"id", "turn", "question", "prediction", "target"}`, in QA order, as `vlm3.predict` writes them.
"""

from __future__ import annotations

import argparse
import logging

from tqdm import tqdm

from vlm3.baselines.constant import ConstantBaseline
from vlm3.baselines.experts import OpenCVExpert
from vlm3.records import prediction_line, prediction_row, questions, read_qa
from vlm3.tasks import TASKS
from vlm3.utils import atomic_path

log = logging.getLogger("vlm3.baselines")

KINDS = ("constant", "median", "mean", "expert")


def run(kind: str, task: str, qa_path: str, train_path: str, out: str, seed: int = 0) -> int:
    """Write the predictions file; returns the number of questions answered."""
    if kind not in KINDS:
        raise ValueError(f"--kind {kind!r}: must be one of {', '.join(KINDS)}")
    if task not in TASKS:
        raise ValueError(f"--task {task!r}: must be one of {', '.join(TASKS)}")
    recs = read_qa(qa_path, "--qa")
    train = read_qa(train_path, "--train-qa")
    rows = []
    if kind == "expert":
        expert = OpenCVExpert(task, train, seed)
        for rec in tqdm(recs, desc=f"expert {task}", unit="rec"):
            rows += [(q, a) for q, a in expert.answer_record(rec)]
        if expert.n_failed:
            log.warning("%d of %d pairs: no essential matrix, constant answers used",
                        expert.n_failed, len(recs))
    else:
        base = ConstantBaseline(task, train, "mean" if kind == "mean" else "median")
        rows = [(q, base.answer(q)) for rec in recs for q in questions(rec)]
    with atomic_path(out) as tmp:
        with open(tmp, "w") as f:
            for q, a in rows:
                f.write(prediction_line(prediction_row(q, a), ensure_ascii=False))
    log.info("%s %s: %d questions -> %s", kind, task, len(rows), out)
    return len(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--qa", required=True, help="QA JSONL to answer")
    p.add_argument("--train-qa", required=True, help="training QA JSONL (statistics, fallbacks)")
    p.add_argument("--out", required=True, help="predictions JSONL to write")
    p.add_argument("--seed", type=int, default=0, help="RANSAC seed (expert)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run(a.kind, a.task, a.qa, a.train_qa, a.out, a.seed)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.baselines")
