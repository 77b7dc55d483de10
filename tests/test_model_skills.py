"""vlm3.model.skills: the generic number-skill corpus that pre-trains the tiny base model. Every answer
is recomputed here from the question's numbers; the corpus is deterministic, text-only and free of the
benchmark's words; the CLI writes valid text-only QA records and refuses a bad size in one line."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from _tiny import MICRO, ground_plane

from vlm3.model.build import main as build_main
from vlm3.model.skills import EXERCISES, main, skill_records
from vlm3.records import read_qa
from vlm3.train.trainer import TrainConfig, train

ORD = {"first": 0, "second": 1, "third": 2, "fourth": 3}


def _lists(q: str) -> list[list[int]]:
    return [[int(x) for x in m.split(", ")] for m in re.findall(r"\(([\d, ]+)\)", q)]


def _expected(q: str) -> str:
    """The answer to a skills question, worked out independently of the generator."""
    if m := re.fullmatch(r"Which is (larger|smaller), (\d+) or (\d+)\?", q):
        x, y = int(m[2]), int(m[3])
        return f"{max(x, y) if m[1] == 'larger' else min(x, y)} is {m[1]}."
    if m := re.fullmatch(r"Sort (\d+), (\d+), (\d+) from small to large\.", q):
        return ", ".join(map(str, sorted(int(v) for v in m.groups()))) + "."
    a, b = _lists(q)
    if m := re.fullmatch(r"Is the (\w+) number of .* larger than that of .*\?", q):
        k = ORD[m[1]]
        return "Yes." if a[k] > b[k] else "No."
    if m := re.search(r"which has the (larger|smaller) (\w+) number\?$", q):
        k = ORD[m[2]]
        first = a[k] > b[k] if m[1] == "larger" else a[k] < b[k]
    else:
        m = re.search(r"which has the (larger|smaller) sum of its (\w+) and (\w+) numbers\?$", q)
        i, j = ORD[m[2]], ORD[m[3]]
        first = a[i] + a[j] > b[i] + b[j] if m[1] == "larger" else a[i] + a[j] < b[i] + b[j]
    return "The first list." if first else "The second list."


def _qa(rec: dict) -> tuple[str, str]:
    return rec["messages"][0]["content"][0]["text"], rec["messages"][1]["content"][0]["text"]


def test_every_answer_is_right_and_the_exercises_take_turns():
    recs = list(skill_records(1200, seed=0))
    assert [r["id"] for r in recs[:2]] == ["skills/train/000000", "skills/train/000001"]
    for i, rec in enumerate(recs):
        q, a = _qa(rec)
        assert a == _expected(q), (i, q, a)
        assert rec["images"] == [] and rec["task"] == "skills"
        for lst in _lists(q):  # box-shaped: a < c and b < d
            assert lst[0] < lst[2] and lst[1] < lst[3], q
        if "sum of its" in q:
            assert re.search(r"sum of its (first and third|second and fourth) numbers", q), q
    kinds = [_qa(r)[0].split(" ")[0] for r in recs[:6]]
    assert len(EXERCISES) == 6 and kinds == ["Which", "Which", "Sort", "Of", "Of", "Is"]
    # both answers of every two-way exercise occur, in roughly equal shares
    for start, answers in ((3, ("The first list.", "The second list.")), (4, ("The first list.", "The second list.")),
                           (5, ("Yes.", "No."))):
        got = [_qa(r)[1] for r in recs[start::6]]
        assert 0.35 < got.count(answers[0]) / len(got) < 0.65


def test_same_seed_same_records_other_seed_other_records():
    assert list(skill_records(50, seed=3)) == list(skill_records(50, seed=3))
    assert [_qa(r) for r in skill_records(50, seed=3)] != [_qa(r) for r in skill_records(50, seed=4)]
    # record i does not depend on n: a longer corpus extends a shorter one
    assert list(skill_records(80, seed=3))[:50] == list(skill_records(50, seed=3))


def test_no_image_3d_or_benchmark_word_in_the_corpus():
    words = {w for r in skill_records(3000, seed=0) for w in re.findall(r"[a-z]+", " ".join(_qa(r)).lower())}
    banned = {"left", "right", "region", "box", "bounding", "image", "depth", "above", "below", "front",
              "behind", "meter", "meters", "camera", "pixel", "point", "rotation", "wide", "tall", "width", "height"}
    assert not words & banned
    assert words == {"which", "is", "larger", "smaller", "or", "sort", "from", "small", "to", "large", "of",
                     "the", "lists", "and", "has", "first", "second", "third", "fourth", "number", "numbers",
                     "list", "sum", "its", "than", "that", "yes", "no"}


def test_cli_writes_text_only_qa_records_and_same_bytes_twice(tmp_path):
    out1, out2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    main(["--n", "30", "--seed", "1", "--out", str(out1)])
    main(["--n", "30", "--seed", "1", "--out", str(out2)])
    assert out1.read_bytes() == out2.read_bytes()
    recs = read_qa(out1, need_targets=False)
    assert len(recs) == 30 and recs == [json.loads(ln) for ln in out1.read_text().splitlines()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]


def test_cli_refuses_an_empty_corpus_and_writes_nothing(tmp_path):
    with pytest.raises(SystemExit, match=r"^vlm3\.model\.skills: --n must be >= 1, got 0$"):
        main(["--n", "0", "--out", str(tmp_path / "c.jsonl")])
    assert list(tmp_path.iterdir()) == []


def test_pretrain_on_text_only_records_then_fine_tune_on_images(tmp_path):
    """Rule pretrain_base's path: the micro model, its tokenizer trained on the QA text alone, trains on
    the text-only corpus (packed; the loss falls), and the saved model then fine-tunes on image QA."""
    skills = tmp_path / "skills.jsonl"
    main(["--n", "96", "--seed", "0", "--out", str(skills)])
    qa = ground_plane().write_dataset(tmp_path / "qa", "train", 6, seed=0, n_q=2)
    (tmp_path / "micro.yaml").write_text(yaml.safe_dump(MICRO))
    build_main(["--config", str(tmp_path / "micro.yaml"), "--qa", str(qa), "--seed", "0",
                "--out", str(tmp_path / "init")])
    pre = train(TrainConfig(model=str(tmp_path / "init"), data=[str(skills)], out=str(tmp_path / "pre"), max_steps=30,
                            lr=1e-2, batch_size=8, packing=True, threads=1, save_steps=100))
    assert pre["global_step"] == 30
    losses = [float(ln.split(",")[1]) for ln in (tmp_path / "pre/loss.csv").read_text().splitlines()[1:]]
    assert sum(losses[-3:]) / 3 < 0.6 * losses[0]
    fine = train(TrainConfig(model=str(tmp_path / "pre"), data=[str(qa)], out=str(tmp_path / "fine"), max_steps=2,
                             batch_size=2, packing=True, threads=1, save_steps=100))
    assert fine["global_step"] == 2 and (tmp_path / "fine/model.safetensors").exists()
