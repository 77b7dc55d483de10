"""Weighted QA mixture: exact allocation, with/without replacement, determinism, bad input."""

import json
from collections import Counter

import pytest

from vlm3.errors import run_stage
from vlm3.qa.mix import allocate, main, mix, parse_input


def write(path, prefix, n):
    path.write_text("".join(json.dumps({"id": f"{prefix}{i}", "task": "depth"}) + "\n" for i in range(n)))
    return path


def test_allocate_largest_remainder():
    assert allocate([0.7, 0.3], 10) == [7, 3]
    assert allocate([1, 1, 1], 10) == [4, 3, 3]  # 3.33 each, the tie goes to the first source
    assert allocate([2, 1], 1) == [1, 0]
    assert allocate([0.0, 5.0], 7) == [0, 7]
    assert sum(allocate([0.123, 0.456, 0.421], 997)) == 997
    with pytest.raises(ValueError, match="sum to 0"):
        allocate([0.0, 0.0], 3)


def test_mix_counts_replacement_and_shuffle(tmp_path):
    a = write(tmp_path / "a.jsonl", "a", 100)
    b = write(tmp_path / "b.jsonl", "b", 5)
    out = tmp_path / "train.jsonl"
    counts = mix([f"{a}:0.7", f"{b}:0.3"], 40, 0, out)
    assert counts == [28, 12]
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    c = Counter(i[0] for i in ids)
    assert c == {"a": 28, "b": 12}
    assert len({i for i in ids if i[0] == "a"}) == 28  # big source: no repeats
    assert {i for i in ids if i[0] == "b"} <= {f"b{k}" for k in range(5)}  # small: with replacement
    assert ids[:28] != sorted(ids[:28]) and [i[0] for i in ids] != sorted(i[0] for i in ids)  # shuffled
    # lines are copied byte for byte
    src = set(a.read_text().splitlines()) | set(b.read_text().splitlines())
    assert set(out.read_text().splitlines()) <= src


def test_mix_deterministic(tmp_path):
    a = write(tmp_path / "a.jsonl", "a", 50)
    b = write(tmp_path / "b.jsonl", "b", 50)
    o1, o2, o3 = tmp_path / "1.jsonl", tmp_path / "2.jsonl", tmp_path / "3.jsonl"
    mix([f"{a}:1", f"{b}:1"], 30, 7, o1)
    main(["--inputs", f"{a}:1", f"{b}:1", "--n", "30", "--seed", "7", "--out", str(o2)])
    mix([f"{a}:1", f"{b}:1"], 30, 8, o3)
    assert o1.read_bytes() == o2.read_bytes()
    assert o1.read_bytes() != o3.read_bytes()


def test_mix_bad_input(tmp_path, capsys):
    a = write(tmp_path / "a.jsonl", "a", 3)
    out = tmp_path / "o.jsonl"
    assert parse_input("x/y.jsonl:0.5")[1] == 0.5
    for spec, msg in [("a.jsonl", "PATH:WEIGHT"), (f"{a}:x", "not a number"), (f"{a}:-1", ">= 0")]:
        with pytest.raises(ValueError, match=msg):
            mix([spec], 5, 0, out)
    with pytest.raises(ValueError, match="file not found"):
        mix([f"{tmp_path}/missing.jsonl:1"], 5, 0, out)
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not JSON"):
        mix([f"{tmp_path}/bad.jsonl:1"], 5, 0, out)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="no records"):
        mix([f"{tmp_path}/empty.jsonl:1"], 5, 0, out)
    with pytest.raises(ValueError, match="--n"):
        mix([f"{a}:1"], 0, 0, out)
    assert not out.exists()
    with pytest.raises(SystemExit) as e:
        run_stage(main, "vlm3.qa.mix", ["--inputs", f"{a}:-1", "--n", "3", "--out", str(out)])
    assert e.value.code == 1 and ">= 0" in capsys.readouterr().err
