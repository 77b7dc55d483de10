"""vlm3.utils readers: load_mapping (YAML/JSON with clear errors) and read_jsonl (line numbers)."""

from __future__ import annotations

import pytest

from vlm3.utils import load_mapping, read_jsonl


def test_load_mapping_reads_yaml_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text("b: 1\na: [x, 2]\n")
    assert load_mapping(tmp_path / "a.yaml") == {"b": 1, "a": ["x", 2]}
    (tmp_path / "a.json").write_text('{"a": 1.5}')
    assert load_mapping(tmp_path / "a.json", fmt="json") == {"a": 1.5}
    (tmp_path / "empty.yaml").write_text("# only a comment\n")
    assert load_mapping(tmp_path / "empty.yaml", empty_ok=True) == {}


def _msg(fn, *args, **kw) -> str:
    with pytest.raises(ValueError) as e:
        fn(*args, **kw)
    return str(e.value)


def test_load_mapping_errors_name_option_and_file(tmp_path):
    p = tmp_path / "x.yaml"
    assert _msg(load_mapping, p, "--config") == f"--config {p}: no such file"
    p.write_text("- a\n- b\n")
    assert _msg(load_mapping, p) == f"{p}: expected a mapping at top level, got list"
    p.write_text("")
    assert _msg(load_mapping, p, "--params") == f"--params {p}: expected a mapping at top level, got NoneType"
    p.write_text("a: [1, 2\n")
    assert _msg(load_mapping, p, "--config").startswith(f"--config {p}: not valid YAML (while parsing")
    p.write_text("{'a': 1}")
    assert _msg(load_mapping, p, "--audit", fmt="json").startswith(
        f"--audit {p}: not valid JSON (Expecting property name")


def test_read_jsonl_numbers_lines_and_skips_blank_ones(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"id": 1}\n\n  \n{"id": 2, "x": [1]}\n')
    assert read_jsonl(p) == [(1, {"id": 1}), (4, {"id": 2, "x": [1]})]
    p.write_text("")
    assert read_jsonl(p) == []


def test_read_jsonl_errors_name_file_and_line(tmp_path):
    p = tmp_path / "r.jsonl"
    assert _msg(read_jsonl, p, "--qa") == f"--qa {p}: no such file"
    p.write_text('{"id": 1}\n\n{"id": \n')
    assert _msg(read_jsonl, p, "--pred") == f"--pred {p}:3: not valid JSON (Expecting value: line 1 column 8 (char 7))"
    p.write_text('{"id": 1}\n[1, 2]\n')
    assert _msg(read_jsonl, p) == f"{p}:2: not a JSON object"
