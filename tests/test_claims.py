"""paper/claims.yaml against the reference, stated means, loader validation, model matching."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from vlm3.report.claims import (
    load_claims,
    model_matches,
    models_matching,
    parse_printed,
    same_as_checks,
    stated_mean_checks,
)

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "paper" / "claims.yaml"
SHARED = Path(os.environ.get("VLM3_SHARED", ROOT.parent / "shared"))
REFERENCE = SHARED / "REFERENCE.md"


# ------------------------------------------------------------------ an independent REFERENCE.md parser

def _section(text: str) -> str:
    start = text.index("## Reported numbers")
    end = text.index("\n## ", start + 5)
    return text[start:end]


def _dot_entries(paragraph: str) -> list[tuple[str, list[str]]]:
    """'A 1 2 · B 3 4' -> [('A', ['1', '2']), ('B', ['3', '4'])]; names may contain spaces? no."""
    out = []
    for entry in paragraph.replace("\n", " ").split("·"):
        toks = entry.split()
        if toks:
            out.append((toks[0], toks[1:]))
    return out


def _block_after(sec: str, marker: str) -> str:
    """The lines after the line containing `marker`, up to the next blank line."""
    i = sec.index(marker)
    rest = sec[sec.index("\n", i) + 1:]
    return rest.split("\n\n")[0]


def reference_numbers(text: str) -> dict[str, str]:
    """{claim key: printed string} read straight from REFERENCE.md's "Reported numbers"."""
    sec = _section(text)
    ref: dict[str, str] = {}
    # Table 1: a markdown table
    lines = [ln for ln in sec.splitlines() if ln.startswith("|")]
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    keys = {"Argo2": "argo2", "DDAD": "ddad", "NuSc": "nusc", "ETH3D": "eth3d", "SN++": "snpp", "SUN": "sun",
            "iBims1": "ibims1", "NYUv2": "nyuv2", "mean": "mean"}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        for h, v in zip(header[1:], cells[1:]):
            ref[f"depth/{cells[0]}/{keys[h]}"] = v
    m = re.search(r'headline "(\d*\.\d+) -> (\d*\.\d+)"', sec)
    ref["headline/DepthLM-7B/mean4"], ref["headline/VLM3-4B/mean4"] = m.group(1), m.group(2)

    def dotted(marker: str, table: str, cols: list[str], pair: bool = False):
        for name, vals in _dot_entries(_block_after(sec, marker)):
            if pair:
                vals = [x for v in vals for x in v.split("/")]
            assert len(vals) == len(cols), (table, name, vals)
            for c, v in zip(cols, vals):
                if v != "-":
                    ref[f"{table}/{name}/{c}"] = v

    dotted("Table 2, depth delta1 against expert models", "experts", ["ddad", "nusc", "eth3d", "sun", "ibims1"])
    dotted("SpatialRGPT-Bench qualitative", "spatial_qualitative",
           ["below_above", "left_right", "big_small", "tall_short", "wide_thin", "behind_front", "overall"])
    quant = [f"{c}_{k}" for c in ("direct", "horizontal", "vertical", "width", "height") for k in ("acc", "absrel")]
    dotted("SpatialRGPT-Bench quantitative", "spatial_quantitative",
           quant + ["direction_acc", "direction_deg", "overall_acc", "overall_absrel"], pair=True)
    dotted("Correspondence EPE", "correspondence", ["eth3d", "dtu", "tawb", "mean"])
    dotted("Pose AUC@30", "pose", ["eth3d", "snpp", "mean"])
    abl = sec[sec.index("Table 3 ablations"):].split("\n\n")[0].split("No focal")[0]
    patterns = {"arrow": r"arrow (\.\d+)", "text": r"text (\.\d+)", "uniform": r"uniform (\.\d+)",
                "dataset-size": r"dataset-size weights (\.\d+)", "paper weights": r"paper weights (\.\d+)",
                "32B": r"32B (\.\d+)", "8B": r"8B (\.\d+)", "4B 64M": r"4B on 64M samples (\.\d+)",
                "4B 32M": r"4B on 32M (\.\d+)"}
    for row, pat in patterns.items():
        ref[f"ablations/ablation: {row}/delta1"] = re.search(pat, abl).group(1)
    n_printed = len(re.findall(r"(?<![\w.])\.\d+", abl))
    assert n_printed == len(patterns), "an ablation number in REFERENCE.md has no pattern here"
    return ref


@pytest.fixture(scope="module")
def claims():
    return load_claims(CLAIMS)


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} not found (the shared reference folder is absent)")
    return reference_numbers(REFERENCE.read_text())


@pytest.mark.shared_data
def test_every_claim_matches_the_reference(claims, reference):
    ours = {c.key: c.text for c in claims.claims()}
    assert len(ours) == 282
    missing = sorted(set(reference) - set(ours))
    extra = sorted(set(ours) - set(reference))
    assert not missing, f"numbers in REFERENCE.md absent from claims.yaml: {missing}"
    assert not extra, f"claims with no number in REFERENCE.md: {extra}"
    wrong = {k: (ours[k], reference[k]) for k in ours if ours[k] != reference[k]}
    assert not wrong, f"claims.yaml (left) differs from REFERENCE.md (right): {wrong}"


def test_stated_means_equal_row_means_except_the_documented_findings(claims):
    checks = stated_mean_checks(claims)
    by_key = {c["key"]: c for c in checks}
    # 11 Table-1 rows + 2 headline + 4 x 2 SpatialRGPT overall + 6 correspondence + 7 pose
    assert len(checks) == 11 + 2 + 8 + 6 + 7
    assert by_key["depth/VLM3-4B/mean"]["computed"] == pytest.approx(7.232 / 8, abs=1e-12)  # .904
    assert by_key["headline/VLM3-4B/mean4"]["computed"] == pytest.approx(3.607 / 4, abs=1e-12)  # 0.9
    assert by_key["headline/DepthLM-7B/mean4"]["computed"] == pytest.approx(3.362 / 4, abs=1e-12)  # 0.84
    assert by_key["spatial_quantitative/VLM3-4B/overall_absrel"]["computed"] == pytest.approx(1.73 / 5)
    failing = {c["key"] for c in checks if not c["ok"]}
    # findings about the paper/reference, documented in claims.yaml `inconsistent_means`
    assert failing == set(claims.inconsistent_means) == {"depth/Qwen3-VL-4B/mean", "correspondence/DKM/mean"}
    assert by_key["depth/Qwen3-VL-4B/mean"]["computed"] == pytest.approx(0.779 / 8, abs=1e-12)


def test_qualitative_overall_is_not_the_mean_of_its_columns(claims):
    """Reported, not asserted by the paper: 'overall' is over questions, not a mean of the 6 columns."""
    t = claims.tables["spatial_qualitative"]
    cols = [c.key for c in t.columns if c.key != "overall"]
    r = t.rows["VLM3-4B"]
    macro = sum(r[c].value for c in cols) / 6
    assert macro == pytest.approx(91.20166, abs=1e-4) and r["overall"].value == 91.35
    assert not t.column("overall").mean_of


def test_restated_rows_agree(claims):
    checks = same_as_checks(claims)
    assert len(checks) == 5 + 2
    assert all(c["ok"] for c in checks), [c for c in checks if not c["ok"]]


def test_printed_precision(claims):
    c = claims.get("depth/VLM3-4B/mean")
    assert (c.value, c.decimals, c.half_unit) == (0.904, 3, 0.0005)
    assert claims.get("headline/VLM3-4B/mean4").half_unit == pytest.approx(0.05)
    assert claims.get("spatial_quantitative/Qwen3-VL-4B/direction_deg").decimals == 0
    assert claims.get("spatial_qualitative/Qwen3-VL-32B/wide_thin").text == "87.5"
    assert parse_printed(".004") == (0.004, 3)
    assert parse_printed("180") == (180.0, 0)
    for bad in (".", "1e3", "abc", "", "1.2.3"):
        with pytest.raises(ValueError, match="not a printed number"):
            parse_printed(bad)
    with pytest.raises(ValueError, match="quoted strings"):
        parse_printed(0.5)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=4))
def test_parse_printed_round_trip(n, d):
    text = f"{n / 10 ** d:.{d}f}"
    value, decimals = parse_printed(text)
    assert decimals == d
    assert f"{value:.{d}f}" == text


def _write(tmp_path, doc) -> Path:
    p = tmp_path / "claims.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def _minimal():
    return {"tables": {"t": {"title": "T", "task": "depth", "metric": "delta1", "higher_better": True,
                             "tolerance": {"rule": "ci_overlap", "abs": 0.02},
                             "columns": [{"key": "a", "header": "A", "datasets": ["x"]},
                                         {"key": "m", "header": "M", "mean_of": ["a"]}],
                             "rows": {"R": {"a": ".5", "m": ".5"}}}}}


def test_loader_rejects_bad_files(tmp_path):
    assert len(load_claims(_write(tmp_path, _minimal())).claims()) == 2
    with pytest.raises(ValueError, match="no such file"):
        load_claims(tmp_path / "absent.yaml")
    cases = [
        (lambda d: d["tables"]["t"]["rows"]["R"].update(a=0.5), r"tables\.t\.rows\.R\.a: claim values must be quoted"),
        (lambda d: d["tables"]["t"]["rows"]["R"].update(zz=".1"), r"unknown column\(s\) \['zz'\]"),
        (lambda d: d["tables"]["t"]["tolerance"].update(rule="vibes"), "tolerance rule 'vibes'"),
        (lambda d: d["tables"]["t"]["columns"][1].update(mean_of=["nope"]), r"mean_of names unknown column\(s\) \['nope'\]"),
        (lambda d: d["tables"]["t"].update(task="dance"), "task: 'dance' is not one of"),
        (lambda d: d.update(reproduced_by={"R": [{"colour": "red"}]}), r"reproduced_by\.R\[0\]: unknown matcher field"),
        (lambda d: d.update(inconsistent_means={"t/R/zz": "x"}), r"inconsistent_means\.t/R/zz"),
        (lambda d: d["tables"]["t"].pop("tolerance"), r"tables\.t: missing `tolerance`"),
    ]
    for mutate, msg in cases:
        doc = _minimal()
        mutate(doc)
        with pytest.raises(ValueError, match=msg) as e:
            load_claims(_write(tmp_path, doc))
        assert "claims.yaml" in str(e.value)


CONFIG = {
    "base_model": {"hub": "Qwen/Qwen3-VL-4B-Instruct"},
    "runs": {"vlm3-depth": {"task": "depth"}, "nofocal-depth": {"task": "depth", "unify_focal": False}},
    "models": {"base": {"kind": "base", "label": "b"},
               "ours": {"kind": "run", "run": "vlm3-{task}", "label": "o"},
               "nofocal": {"kind": "run", "run": "nofocal-{task}", "label": "n"},
               "released": {"kind": "hub", "hub": "facebook/VLM3-depth", "tasks": ["depth"], "label": "r"},
               "median": {"kind": "baseline", "label": "m"}},
}


def test_model_matching():
    assert model_matches({"kind": "base", "hub_contains": "Qwen3-VL-4B"}, "base", CONFIG)
    assert not model_matches({"kind": "base", "hub_contains": "Qwen3-VL-32B"}, "base", CONFIG)
    assert model_matches({"kind": "run", "unify_focal": True}, "ours", CONFIG)
    assert not model_matches({"kind": "run", "unify_focal": True}, "nofocal", CONFIG)
    assert model_matches({"unify_focal": False}, "nofocal", CONFIG)
    assert not model_matches({"unify_focal": True}, "median", CONFIG)
    assert model_matches({"name": "med.*"}, "median", CONFIG) and not model_matches({"name": "med"}, "median", CONFIG)
    claims = load_claims(CLAIMS)
    per_task = {**CONFIG, "models": {"rel": {"kind": "hub", "label": "r",
                                             "hub": {"depth": "facebook/VLM3-depth", "pose": "x/other"}}}}
    assert model_matches({"hub_contains": "VLM3"}, "rel", per_task, "depth")
    assert not model_matches({"hub_contains": "VLM3"}, "rel", per_task, "pose")
    assert not model_matches({"hub_contains": "VLM3"}, "rel", per_task, "object")
    assert model_matches({"hub_contains": "VLM3"}, "rel", per_task)  # any task
    assert models_matching(claims.reproduced_by["VLM3-4B"], CONFIG, "depth") == ["ours", "released"]
    assert models_matching(claims.reproduced_by["VLM3-4B"], CONFIG, "pose") == ["ours"]
    assert models_matching(claims.reproduced_by["Qwen3-VL-4B"], CONFIG, "depth") == ["base"]


def test_every_paper_benchmark_maps_to_a_claims_column(claims):
    """config/paper.yaml's benchmarks reach the paper's columns through claims.yaml `datasets`."""
    path = ROOT / "config" / "paper.yaml"
    if not path.is_file():
        pytest.skip("config/paper.yaml not present")
    cfg = yaml.safe_load(path.read_text())
    mapped = {(t.task, d) for t in claims.tables.values() for c in t.columns for d in c.datasets}
    benches = [(task, b["dataset"]) for task, bs in cfg["benchmarks"].items() for b in bs]
    assert benches and not [b for b in benches if b not in mapped]
    # each paper column of Table 1, the SpatialRGPT tables, correspondence and pose is covered
    used = {d for _, d in benches}
    for key in ("depth", "spatial_qualitative", "correspondence", "pose"):
        cols = [c for c in claims.tables[key].columns if c.datasets]
        assert all(set(c.datasets) & used for c in cols), key
