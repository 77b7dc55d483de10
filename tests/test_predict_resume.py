"""Prediction jobs: resumption after an interruption mid-file, and data-parallel shards (2 CPU
processes through the train launcher) merging into the single-process file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _tiny import build_micro, ground_plane

from vlm3 import predict as P
from vlm3 import predict_files

ARGS = ["--batch-size", "4", "--max-new-tokens", "5", "--threads", "1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    gp = ground_plane()
    build_micro(d, gp.write_dataset(d / "qa", "train", 4, seed=0, n_q=2))
    test = gp.write_dataset(d / "qa", "test", 5, seed=1, n_q=3, focal_range=(60.0, 160.0))
    ref = d / "ref.jsonl"
    P.main(["--model", str(d / "init"), "--qa", str(test), "--out", str(ref), *ARGS])
    return d, test, ref


def test_killed_job_resumes_with_the_missing_questions(setup, tmp_path, monkeypatch, caplog):
    d, test, ref = setup
    out = tmp_path / "pred.jsonl"
    cmd = ["--model", str(d / "init"), "--qa", str(test), "--out", str(out), *ARGS]
    real = P.answers
    asked = []

    def dies_after_two_groups(*a, **kw):
        asked.append(len(a[3]))
        for k, part in enumerate(real(*a, **kw)):
            if k == 2:
                raise RuntimeError("killed")
            yield part

    monkeypatch.setattr(P, "answers", dies_after_two_groups)
    caplog.set_level("INFO", logger="vlm3.predict_files")
    with pytest.raises(RuntimeError, match="killed"):
        P.main(cmd)
    assert "resuming" not in caplog.text  # a fresh job says nothing of resuming
    assert not out.exists()  # never a partial file under the final name
    shard = predict_files.shard_path(out, 0)
    lines = shard.read_text().splitlines()
    assert json.loads(lines[0])["partial_of"]["max_new_tokens"] == 5
    written = len(lines) - 1
    assert 0 < written < 15
    with open(shard, "a") as f:  # a kill in the middle of a write leaves a torn last line
        f.write('{"id": "ground_plane/test/00004", "tu')
    monkeypatch.setattr(P, "answers", lambda *a, **kw: (asked.append(len(a[3])), real(*a, **kw))[1])
    caplog.clear()
    P.main(cmd)
    # said once, when the job starts, not again when its shards are merged
    assert caplog.text.count("resuming") == 1 and f"resuming, {written} questions already answered" in caplog.text
    assert asked == [15, 15 - written]  # the rerun asks only the missing questions
    assert out.read_bytes() == ref.read_bytes()
    assert predict_files.shards(out) == []


def test_shard_of_another_job_is_not_resumed(setup, tmp_path):
    d, test, ref = setup
    out = tmp_path / "pred.jsonl"
    shard = predict_files.shard_path(out, 0)
    fp = predict_files.fingerprint(str(d / "init"), test, max_new_tokens=99)
    first = json.loads(ref.read_text().splitlines()[0])
    shard.write_text(json.dumps({"partial_of": fp}) + "\n" + json.dumps({**first, "prediction": "stale"}) + "\n")
    P.main(["--model", str(d / "init"), "--qa", str(test), "--out", str(out), *ARGS])
    assert out.read_bytes() == ref.read_bytes()
    # merging while a question is unanswered fails and writes nothing
    other = tmp_path / "other.jsonl"
    fp5 = predict_files.fingerprint(str(d / "init"), test, max_new_tokens=5)
    predict_files.shard_path(other, 0).write_text(json.dumps({"partial_of": fp5}) + "\n" + json.dumps(first) + "\n")
    keys = [(json.loads(x)["id"], json.loads(x)["turn"]) for x in ref.read_text().splitlines()]
    with pytest.raises(ValueError, match=r"other\.jsonl: 14 questions have no answer in the shards"):
        predict_files.merge(other, keys, fp5)
    assert not other.exists() and predict_files.shards(other)


def test_two_processes_merge_into_the_single_process_file(setup, tmp_path):
    d, test, ref = setup
    out = tmp_path / "dp.jsonl"
    proc = subprocess.run([sys.executable, "-m", "vlm3.train.launch", "--cpu", "--gpus-per-node", "2", "--",
                           "python", "-m", "vlm3.predict", "--model", str(d / "init"), "--qa", str(test),
                           "--out", str(out), *ARGS], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "predict rank 1" in proc.stderr  # two processes shared the records
    assert out.read_bytes() == ref.read_bytes()
    assert predict_files.shards(out) == []
