"""Claims audit, paper-layout tables, macros and the figure on metrics fixtures (score's format)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _audit_metrics import EMBEDDED, embedded_metrics, metrics_file, write_config

from vlm3.report.audit import NO_METRICS, NOT_COMPARABLE, judge, write_audit
from vlm3.report.macros import MacroSet, camel, macro_name, write_macros
from vlm3.report.paper_figures import write_figure
from vlm3.report.paper_tables import write_paper_tables

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "paper" / "claims.yaml"
N_CLAIMS = 282

PAPERLIKE = {
    "seed": 0,
    "datasets": {"eth3d": {"type": "eth3d", "source": "download", "splits": ["test"]},
                 "ibims1": {"type": "ibims1", "source": "download", "splits": ["test"]}},
    "benchmarks": {"depth": [{"dataset": "eth3d", "split": "test"}, {"dataset": "ibims1", "split": "test"}]},
    "base_model": {"hub": "Qwen/Qwen3-VL-4B-Instruct"},
    "runs": {},
    "models": {"vlm3": {"kind": "hub", "hub": "facebook/VLM3-depth", "tasks": ["depth"], "label": "VLM3 released"}},
}


def test_judge_rules():
    # ci_overlap: claimed .904 +- .0005 meets [0.85, 0.9036]
    assert judge(0.904, 0.0005, 0.88, 0.85, 0.9036, "ci_overlap", 0.02)
    assert not judge(0.904, 0.0005, 0.88, 0.85, 0.9034, "ci_overlap", 0.02)
    # no CI: |diff| <= abs + half unit
    nan = math.nan
    assert judge(0.904, 0.0005, 0.8835, nan, nan, "ci_overlap", 0.02)
    assert not judge(0.904, 0.0005, 0.8830, nan, nan, "ci_overlap", 0.02)
    # printed: only the rounding of the claim
    assert judge(0.904, 0.0005, 0.9044, 0.0, 1.0, "printed", 0.02)
    assert not judge(0.904, 0.0005, 0.9046, 0.0, 1.0, "printed", 0.02)


def test_embedded_default_audits_the_synthetic_claims(tmp_path):
    m = embedded_metrics(tmp_path / "metrics")
    rep = write_audit(CLAIMS, [m], write_config(tmp_path, EMBEDDED), tmp_path / "audit" / "report.json")
    assert rep["comparable"] is False and rep["statement"] == NOT_COMPARABLE
    s = rep["summary"]
    # every claim gets one row: VLM3-4B rows stand for tiny-trained (a run), all others have no model
    assert s["paper"] == {"claims": N_CLAIMS, "rows": N_CLAIMS, "reproduced": 0, "not reproduced": 0,
                          "not run": N_CLAIMS}
    rows = {(r["key"], r["model"]): r for r in rep["paper_claims"]}
    assert rows[("depth/VLM3-4B/eth3d", "tiny-trained")]["reason"] == \
        "no configured depth benchmark is one of eth3d"
    assert rows[("depth/Gemini-2.5-Pro/eth3d", None)]["reason"] == \
        "no configured model reproduces the paper row 'Gemini-2.5-Pro'"
    synth = {c["key"]: c for c in rep["synthetic_claims"]}
    th = synth["training_helps_depth"]
    assert th["verdict"] == "reproduced"
    assert [(c["than"], c["holds"]) for c in th["comparisons"]] == [("tiny-untrained", True), ("median", True)]
    assert th["comparisons"][1]["diff"] == pytest.approx(0.6 - 0.375)
    fo = synth["focal_unification_helps"]
    assert fo["verdict"] == "not run"
    assert fo["reason"] == 'no configured model matches {"kind": "run", "unify_focal": false}'
    md = (tmp_path / "audit" / "report.md").read_text()
    assert md.startswith("# Claims audit\n\n## Summary\n\n**This run uses the embedded default")
    assert "### training_helps_depth: **reproduced**" in md
    assert "`depth/Qwen3-VL-4B/mean`: stated .101, mean of printed values 0.0974" in md


def test_synthetic_claim_with_overlapping_ci_is_not_reproduced(tmp_path):
    m = embedded_metrics(tmp_path / "metrics", trained=(0.45, 0.40, 0.50))  # beats median, CIs overlap
    rep = write_audit(CLAIMS, [m], write_config(tmp_path, EMBEDDED), tmp_path / "audit" / "report.json")
    th = {c["key"]: c for c in rep["synthetic_claims"]}["training_helps_depth"]
    assert th["verdict"] == "not reproduced"
    assert [c["holds"] for c in th["comparisons"]] == [True, False]


def test_missing_metrics_are_not_run_with_the_path(tmp_path):
    m = embedded_metrics(tmp_path / "metrics")
    (m / "tiny-trained" / "depth" / "synthetic_test.json").unlink()
    rep = write_audit(CLAIMS, [m], write_config(tmp_path, EMBEDDED), tmp_path / "audit" / "report.json")
    th = {c["key"]: c for c in rep["synthetic_claims"]}["training_helps_depth"]
    assert th["verdict"] == "not run"
    assert th["reason"] == "missing results/metrics/tiny-trained/depth/synthetic_test.json"


def test_focal_claim_runs_when_a_no_unification_run_exists(tmp_path):
    cfg = yaml.safe_load(yaml.safe_dump(EMBEDDED))
    cfg["runs"]["nofocal-depth"] = {"task": "depth", "unify_focal": False}
    cfg["models"]["tiny-nofocal"] = {"kind": "run", "run": "nofocal-{task}", "label": "no focal"}
    m = embedded_metrics(tmp_path / "metrics")
    metrics_file(m, "tiny-nofocal", "depth", "synthetic_test", {"delta1": 0.3}, {"delta1": [0.25, 0.35]})
    rep = write_audit(CLAIMS, [m], write_config(tmp_path, cfg), tmp_path / "audit" / "report.json")
    fo = {c["key"]: c for c in rep["synthetic_claims"]}["focal_unification_helps"]
    assert fo["verdict"] == "reproduced"
    assert [(c["better"], c["than"]) for c in fo["comparisons"]] == [("tiny-trained", "tiny-nofocal")]


ALL_TASKS = {**EMBEDDED,
             "benchmarks": {t: [{"dataset": "synthetic", "split": "test"}]
                            for t in ("depth", "object", "correspondence", "pose")},
             "runs": {f"tiny-{t}": {"task": t} for t in ("depth", "object", "correspondence", "pose")}}


def all_task_metrics(root: Path, object_trained=(0.62, 0.57, 0.67), corr_epe=(40.0, 35.0, 45.0)) -> Path:
    """Metrics of every task: trained, untrained and the constant baseline (score's keys)."""
    embedded_metrics(root)
    v, lo, hi = object_trained
    metrics_file(root, "tiny-trained", "object", "synthetic_test", {"overall_acc": v}, {"overall_acc": [lo, hi]})
    metrics_file(root, "tiny-untrained", "object", "synthetic_test", {"overall_acc": 0.0}, {"overall_acc": [0.0, 0.0]})
    metrics_file(root, "median", "object", "synthetic_test", {"overall_acc": 0.485}, {"overall_acc": [0.437, 0.539]})
    e, elo, ehi = corr_epe
    metrics_file(root, "tiny-trained", "correspondence", "synthetic_test", {"pck_5": 0.30, "epe": e},
                 {"pck_5": [0.26, 0.34], "epe": [elo, ehi]})
    metrics_file(root, "tiny-untrained", "correspondence", "synthetic_test", {"pck_5": 0.0, "epe": None},
                 {"pck_5": [0.0, 0.0], "epe": [None, None]})
    metrics_file(root, "median", "correspondence", "synthetic_test", {"pck_5": 0.095, "epe": 173.0},
                 {"pck_5": [0.07, 0.12], "epe": [160.0, 186.0]})
    metrics_file(root, "tiny-trained", "pose", "synthetic_test", {"auc30": 0.41}, {"auc30": [0.35, 0.47]})
    metrics_file(root, "tiny-untrained", "pose", "synthetic_test", {"auc30": 0.0}, {"auc30": [0.0, 0.0]})
    metrics_file(root, "median", "pose", "synthetic_test", {"auc30": 0.033}, {"auc30": [0.02, 0.05]})
    return root


def test_every_task_has_a_training_helps_claim(tmp_path):
    m = all_task_metrics(tmp_path / "metrics")
    rep = write_audit(CLAIMS, [m], write_config(tmp_path, ALL_TASKS), tmp_path / "audit" / "report.json")
    synth = {c["key"]: c for c in rep["synthetic_claims"]}
    for task, metric in (("depth", "delta1"), ("object", "overall_acc"), ("correspondence", "pck_5"),
                         ("pose", "auc30")):
        c = synth[f"training_helps_{task}"]
        assert (c["task"], c["metric"], c["verdict"]) == (task, metric, "reproduced")
        assert {k["than"] for k in c["comparisons"]} == {"tiny-untrained", "median"}
    # correspondence also needs a lower EPE; the untrained model has none (no answer parsed)
    corr = synth["training_helps_correspondence"]
    assert [(k["metric"], k["than"], k["holds"]) for k in corr["comparisons"]] == [
        ("pck_5", "tiny-untrained", True), ("pck_5", "median", True), ("epe", "median", True)]
    assert corr["skipped"] == ["tiny-untrained (epe): results/metrics/tiny-untrained/correspondence/"
                               "synthetic_test.json has no finite epe"]
    assert corr["reason"].endswith("; not compared: " + corr["skipped"][0])
    assert rep["summary"]["synthetic"] == {"claims": 5, "reproduced": 4, "not reproduced": 0, "not run": 1}
    md = (tmp_path / "audit" / "report.md").read_text()
    assert "Synthetic claims not reproduced" not in md


def test_pair_claims_are_judged_on_the_pan_dataset_where_it_is_configured(tmp_path):
    """The embedded default evaluates correspondence and pose on `synthetic-pan_test`: the claims name
    it first among their benchmarks, so they are judged there (and on synthetic_test without it)."""
    src = all_task_metrics(tmp_path / "m0")
    m = tmp_path / "metrics"
    for f in src.rglob("*.json"):
        name = f.name.replace("synthetic_test", "synthetic-pan_test") if f.parent.name in ("correspondence", "pose") else f.name
        dst = m / f.relative_to(src).parent / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(f.read_text())
    cfg = {**ALL_TASKS, "benchmarks": {**ALL_TASKS["benchmarks"],
                                       "correspondence": [{"dataset": "synthetic-pan", "split": "test"}],
                                       "pose": [{"dataset": "synthetic-pan", "split": "test"}]}}
    rep = write_audit(CLAIMS, [m], write_config(tmp_path, cfg), tmp_path / "audit" / "report.json")
    synth = {c["key"]: c for c in rep["synthetic_claims"]}
    for task in ("correspondence", "pose"):
        c = synth[f"training_helps_{task}"]
        assert (c["bench"], c["verdict"]) == ("synthetic-pan_test", "reproduced")
    assert synth["training_helps_depth"]["bench"] == "synthetic_test"
    # a config that evaluates the task on neither: not run, naming both candidates
    cfg["benchmarks"]["pose"] = [{"dataset": "other", "split": "test"}]
    rep = write_audit(CLAIMS, [m], write_config(tmp_path, cfg), tmp_path / "audit" / "report.json")
    pose = {c["key"]: c for c in rep["synthetic_claims"]}["training_helps_pose"]
    assert pose["verdict"] == "not run"
    assert pose["reason"] == "benchmark synthetic-pan_test or synthetic_test is not configured for pose"


def test_a_task_losing_to_the_constant_answer_is_not_reproduced_and_summarised(tmp_path):
    # object: the trained model below the majority answer (0.283 vs 0.485, as the old default);
    # correspondence: PCK beats zero motion but the EPE does not (the `also` metric fails)
    m = all_task_metrics(tmp_path / "metrics", object_trained=(0.283, 0.235, 0.331),
                         corr_epe=(239.0, 220.0, 258.0))
    rep = write_audit(CLAIMS, [m], write_config(tmp_path, ALL_TASKS), tmp_path / "audit" / "report.json")
    synth = {c["key"]: c for c in rep["synthetic_claims"]}
    ob = synth["training_helps_object"]
    assert ob["verdict"] == "not reproduced"
    assert ob["reason"] == "95 % CIs overlap or are in the wrong order: tiny-trained vs median (overall_acc)"
    assert [k["diff"] for k in ob["comparisons"] if not k["holds"]] == [pytest.approx(0.283 - 0.485)]
    co = synth["training_helps_correspondence"]
    assert co["verdict"] == "not reproduced"
    assert [(k["metric"], k["than"]) for k in co["comparisons"] if not k["holds"]] == [("epe", "median")]
    assert synth["training_helps_pose"]["verdict"] == "reproduced"
    assert rep["summary"]["synthetic"]["not reproduced"] == 2
    md = (tmp_path / "audit" / "report.md").read_text()
    top = md.split("## Synthetic replica's claims")[0]
    assert ("**Synthetic claims not reproduced:** `training_helps_object` (tiny-trained 0.283 vs median "
            "0.485 overall_acc); `training_helps_correspondence` (tiny-trained 239 vs median 173 epe).") in top
    assert "| epe | tiny-trained | 239 [220, 258] | median | 173 [160, 186] | 66 | no |" in md


def test_claims_also_must_name_metric_and_direction(tmp_path):
    doc = yaml.safe_load(CLAIMS.read_text())
    doc["synthetic_claims"]["training_helps_correspondence"]["also"] = [{"metric": "epe"}]
    bad = tmp_path / "claims.yaml"
    bad.write_text(yaml.safe_dump(doc))
    from vlm3.report.claims import load_claims
    with pytest.raises(ValueError, match=r"synthetic_claims\.training_helps_correspondence\.also\[0\]: "
                                         r"needs `metric`"):
        load_claims(bad)


def paperlike(tmp_path, eth3d=(0.805, 0.79, 0.82), ibims=(0.95, 0.94, 0.96)):
    m = tmp_path / "metrics"
    metrics_file(m, "vlm3", "depth", "eth3d_test", {"delta1": eth3d[0]}, {"delta1": list(eth3d[1:])})
    metrics_file(m, "vlm3", "depth", "ibims1_test", {"delta1": ibims[0]}, {"delta1": list(ibims[1:])})
    return m, write_config(tmp_path, PAPERLIKE)


def test_released_checkpoint_audit(tmp_path):
    m, cfg = paperlike(tmp_path, ibims=(0.90, 0.88, 0.92))
    rep = write_audit(CLAIMS, [m], cfg, tmp_path / "audit" / "report.json")
    assert rep["comparable"] is True and rep["statement"] == ""
    rows = {(r["key"], r["model"]): r for r in rep["paper_claims"]}
    eth = rows[("depth/VLM3-4B/eth3d", "vlm3")]
    assert eth["verdict"] == "reproduced" and eth["ci95"] == [0.79, 0.82]
    assert eth["diff"] == pytest.approx(0.805 - 0.810)
    assert eth["source"] == "results/metrics/vlm3/depth/eth3d_test.json"
    ib = rows[("depth/VLM3-4B/ibims1", "vlm3")]
    assert ib["verdict"] == "not reproduced" and ib["diff"] == pytest.approx(-0.06)
    assert rows[("experts/VLM3-4B/ibims1", "vlm3")]["verdict"] == "not reproduced"
    assert rows[("depth/VLM3-4B/mean", "vlm3")]["verdict"] == "not run"
    assert rows[("depth/VLM3-4B/mean", "vlm3")]["reason"].startswith("mean of 8: depth/argo2 not reproduced")
    # Qwen3-VL-4B row: the base model is on the hub but is not a configured model here
    assert rows[("depth/Qwen3-VL-4B/eth3d", None)]["verdict"] == "not run"
    assert rep["summary"]["paper"]["reproduced"] == 2  # depth/VLM3-4B/eth3d, experts/VLM3-4B/eth3d
    assert rep["summary"]["paper"]["not reproduced"] == 2


def test_paper_config_without_metrics_says_so(tmp_path):
    _, cfg = paperlike(tmp_path)
    (tmp_path / "empty").mkdir()
    rep = write_audit(CLAIMS, [tmp_path / "empty"], cfg, tmp_path / "audit" / "report.json")
    assert rep["statement"] == NO_METRICS and rep["summary"]["paper"]["not run"] == N_CLAIMS
    reasons = {r["key"]: r["reason"] for r in rep["paper_claims"] if r["model"] == "vlm3"}
    assert reasons["depth/VLM3-4B/eth3d"] == "missing results/metrics/vlm3/depth/eth3d_test.json"
    assert reasons["depth/VLM3-4B/argo2"] == "no configured depth benchmark is one of argoverse2"


def summary_dir(root: Path, run: str, step: int, max_steps: int, stopped_by: str) -> Path:
    d = root / run
    d.mkdir(parents=True)
    (d / "train_summary.json").write_text(json.dumps({"global_step": step, "max_steps": max_steps,
                                                      "stopped_by": stopped_by, "config": {}}))
    return d


def test_training_runs_section_flags_time_capped_runs(tmp_path):
    m = embedded_metrics(tmp_path / "metrics")
    cfg = write_config(tmp_path, EMBEDDED)
    full = summary_dir(tmp_path / "ck", "tiny-depth", 650, 650, "max_steps")
    rep = write_audit(CLAIMS, [m], cfg, tmp_path / "a1" / "report.json", [full])
    assert rep["training_runs"] == [{"run": "tiny-depth", "global_step": 650, "max_steps": 650,
                                     "stopped_by": "max_steps"}]
    md = (tmp_path / "a1" / "report.md").read_text()
    assert "| tiny-depth | 650 | 650 | max_steps |" in md and "wall-clock cap" not in md
    capped = summary_dir(tmp_path / "ck", "tiny-pose", 44, 150, "max_minutes")
    rep = write_audit(CLAIMS, [m], cfg, tmp_path / "a2" / "report.json", [full, capped])
    assert [r["run"] for r in rep["training_runs"]] == ["tiny-depth", "tiny-pose"]
    md = (tmp_path / "a2" / "report.md").read_text()
    assert ("**Stopped by the wall-clock cap (max_minutes) before max_steps: tiny-pose (step 44 of 150). "
            "These checkpoints") in md
    assert "| tiny-pose | 44 | 150 | max_minutes |" in md
    # without --runs: no section (the audit of hub-only configs)
    write_audit(CLAIMS, [m], cfg, tmp_path / "a3" / "report.json")
    assert "## Training runs" not in (tmp_path / "a3" / "report.md").read_text()
    # a folder without a summary: a clear error naming the file, no report left behind
    (tmp_path / "ck" / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty/train_summary.json: missing"):
        write_audit(CLAIMS, [m], cfg, tmp_path / "a4" / "report.json", [tmp_path / "ck" / "empty"])
    (tmp_path / "ck" / "bad").mkdir()
    (tmp_path / "ck" / "bad" / "train_summary.json").write_text('{"max_steps": 3}')
    with pytest.raises(ValueError, match=r"bad/train_summary.json: not a vlm3.train summary \(KeyError"):
        write_audit(CLAIMS, [m], cfg, tmp_path / "a5" / "report.json", [tmp_path / "ck" / "bad"])
    assert not (tmp_path / "a4").exists() and not (tmp_path / "a5").exists()


def test_audit_is_byte_identical_and_strict_json(tmp_path):
    m = embedded_metrics(tmp_path / "metrics")
    cfg = write_config(tmp_path, EMBEDDED)
    write_audit(CLAIMS, [m], cfg, tmp_path / "a1" / "report.json")
    write_audit(CLAIMS, [m], cfg, tmp_path / "a2" / "report.json")
    for name in ("report.json", "report.md"):
        assert (tmp_path / "a1" / name).read_bytes() == (tmp_path / "a2" / name).read_bytes()
    json.loads((tmp_path / "a1" / "report.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    with pytest.raises(ValueError, match="no such file"):
        write_audit(CLAIMS, [m], tmp_path / "nope.yaml", tmp_path / "a3" / "report.json")
    assert not (tmp_path / "a3").exists()


def test_paper_tables_layout_bold_and_csv(tmp_path):
    m, cfg = paperlike(tmp_path, eth3d=(0.9501, 0.94, 0.96))
    write_paper_tables(CLAIMS, [m], cfg, tmp_path / "tables")
    tex = (tmp_path / "tables" / "paper_depth.tex").read_text()
    lines = tex.splitlines()
    assert r"Model & Argo2 & DDAD & NuSc & ETH3D & SN++ & SUN & iBims1 & NYUv2 & Mean \\" in lines
    # VLM3-4B is the best paper row everywhere but ETH3D, where the reproduced .9501 beats it
    assert r"VLM3-4B$^\dagger$ & \textbf{.896} & \textbf{.818} & \textbf{.970} & .810 & \textbf{.976} & " \
           r"\textbf{.867} & \textbf{.960} & \textbf{.935} & \textbf{.904} \\" in lines
    assert r"VLM3 released (ours) & -- & -- & -- & \textbf{.950} & -- & -- & .950 & -- & -- \\" in lines
    assert tex.index(r"\midrule", tex.index("VLM3-4B$^\\dagger$")) < tex.index("VLM3 released (ours)")
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\label{tab:paper_depth}" in tex
    csv = pd.read_csv(tmp_path / "tables" / "paper_depth.csv")
    ours = csv[csv.kind == "reproduced"].iloc[0]
    assert ours["model"] == "vlm3" and ours["eth3d"] == 0.9501 and math.isnan(ours["argo2"])
    assert csv[csv.model == "Seed1.5-VL"].iloc[0]["nyuv2"] == 0.841
    # every claims table is written; experts table keeps "-" cells empty
    assert sorted(p.name for p in (tmp_path / "tables").glob("*.tex")) == sorted(
        f"paper_{t}.tex" for t in ("depth", "headline", "experts", "spatial_qualitative",
                                   "spatial_quantitative", "correspondence", "pose", "ablations"))
    ex = (tmp_path / "tables" / "paper_experts.tex").read_text()
    assert r"MoGe-2$^\dagger$ & .856 & -- & .908 & -- & .924 \\" in ex.splitlines()
    q = (tmp_path / "tables" / "paper_spatial_quantitative.tex").read_text().splitlines()
    assert r" & \multicolumn{2}{c}{Direct} & \multicolumn{2}{c}{Horizontal} & \multicolumn{2}{c}{Vertical} & " \
           r"\multicolumn{2}{c}{Width} & \multicolumn{2}{c}{Height} & \multicolumn{2}{c}{Direction} & " \
           r"\multicolumn{2}{c}{Overall} \\" in q
    assert r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}" in "\n".join(q)
    # paper rows "Qwen3-VL-4B" etc. have no metrics under this config: no other reproduced row
    pose = (tmp_path / "tables" / "paper_pose.tex").read_text()
    assert " (ours) &" not in pose and pose.count(r"\midrule") == 1  # depth checkpoint: no pose row


def test_paper_tables_bad_input(tmp_path):
    m, cfg = paperlike(tmp_path)
    with pytest.raises(ValueError, match=r"--out: unknown paper table\(s\) \['table9'\]"):
        write_paper_tables(CLAIMS, [m], cfg, tmp_path / "t", ["table9"])
    with pytest.raises(ValueError, match="not a directory or a .json metrics file"):
        write_paper_tables(CLAIMS, [tmp_path / "missing"], cfg, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_macro_names():
    assert camel("VLM3-4B") == "VLMThreeFourB"
    assert camel("ablation: 4B 32M") == "AblationFourBThreeTwoM"
    assert macro_name("claim", "depth", "VLM3-4B", "mean") == "claimDepthVLMThreeFourBMean"
    assert macro_name("repro", "pose", "Qwen2.5-VL-72B", "snpp", "tiny-trained") == \
        "reproPoseQwenTwoFiveVLSevenTwoBSnppTinyTrained"
    ms = MacroSet()
    ms.add("claimX", "1", "a/b/c")
    ms.add("claimX", "1", "a/b/c")  # same origin twice is fine
    with pytest.raises(ValueError, match=r"derived from both 'a/b/c' and 'a/b-c'"):
        ms.add("claimX", "1", "a/b-c")


def test_macros_file(tmp_path):
    m = embedded_metrics(tmp_path / "metrics")
    write_audit(CLAIMS, [m], write_config(tmp_path, EMBEDDED), tmp_path / "audit" / "report.json")
    out = write_macros(CLAIMS, tmp_path / "audit" / "report.json", tmp_path / "macros.tex")
    text = out.read_text()
    defs = dict(line[len("\\newcommand{\\"):-1].split("}{") for line in text.splitlines()[1:])
    assert all(name.isalpha() and name.isascii() for name in defs)
    assert defs["claimDepthVLMThreeFourBMean"] == ".904"
    assert defs["claimHeadlineVLMThreeFourBMeanFour"] == "0.9"
    assert defs["claimSpatialQuantitativeQwenThreeVLFourBDirectionAcc"] == "0"
    assert defs["reproDepthVLMThreeFourBEthThreedTinyTrained"] == "--"
    assert defs["verdictDepthVLMThreeFourBEthThreedTinyTrained"] == "not run"
    # the synthetic claims' numbers by role (whatever the models are called)
    assert defs["synthTrainingHelpsDepthBetter"] == "0.600"
    assert (defs["synthTrainingHelpsDepthThanBaselineLo"], defs["synthTrainingHelpsDepthThanBaselineHi"]) == \
        ("0.317", "0.442")
    assert not any(k.startswith("synthDepth") for k in defs)  # no model-named synthetic macros
    # a claim the config cannot run still defines its role macros, as dashes beside "not run"
    assert defs["synthFocalUnificationHelpsVerdict"] == "not run"
    assert defs["synthFocalUnificationHelpsThanRunUnifyFocalFalse"] == "--"
    assert defs["synthTrainingHelpsDepthVerdict"] == "reproduced"
    assert (defs["auditPaperClaims"], defs["auditPaperNotRun"], defs["auditInconsistentMeans"]) == ("282", "282", "2")
    assert sum(k.startswith("claim") for k in defs) == N_CLAIMS
    with pytest.raises(ValueError, match="not an audit report"):
        (tmp_path / "bad.json").write_text("{}")
        write_macros(CLAIMS, tmp_path / "bad.json", tmp_path / "m2.tex")
    assert not (tmp_path / "m2.tex").exists()


def test_figure_bars_and_determinism(tmp_path):
    m, cfg = paperlike(tmp_path)
    a = write_figure(CLAIMS, [m], cfg, tmp_path / "f1" / "fig.png")
    b = write_figure(CLAIMS, [m], cfg, tmp_path / "f2" / "fig.png")
    assert a.read_bytes() == b.read_bytes() and a.read_bytes()[:4] == b"\x89PNG"
    df = pd.read_csv(a.with_suffix(".csv"))
    assert len(df[df.kind == "claimed"]) == 3 * 8  # VLM3-4B, DepthLM-7B, Qwen3-VL-4B on 8 sets
    rep = df[df.kind == "reproduced"]
    assert list(zip(rep.group, rep.value)) == [("ETH3D", 0.805), ("iBims1", 0.95)]
    # embedded default: synthetic_test has no paper column and goes to the right-hand panel
    m2 = embedded_metrics(tmp_path / "m2")
    c = write_figure(CLAIMS, [m2], write_config(tmp_path, EMBEDDED), tmp_path / "f3" / "fig.png")
    df = pd.read_csv(c.with_suffix(".csv"))
    un = df[df.panel == "unmapped"]
    assert list(un.series) == ["Tiny, untrained", "Tiny, fine-tuned", "Constant"]
    assert list(un.value) == [0.0, 0.6, 0.375]


def test_audit_gives_both_conventions(tmp_path):
    m, cfg = paperlike(tmp_path)
    f = m / "vlm3" / "depth" / "eth3d_test.json"
    rec = json.loads(f.read_text())
    rec.update(n_unparsed=12, n_missing=3, parsed_only={"n": 225, "metrics": {"delta1": 0.86}, "ci95": {}})
    f.write_text(json.dumps(rec))
    rep = write_audit(CLAIMS, [m], cfg, tmp_path / "audit" / "report.json")
    eth = {(r["key"], r["model"]): r for r in rep["paper_claims"]}[("depth/VLM3-4B/eth3d", "vlm3")]
    assert eth["reproduced"] == 0.805 and eth["parsed_only"] == 0.86
    assert eth["counts"] == "n=240, unparsed 12, missing 3"
    md = (tmp_path / "audit" / "report.md").read_text()
    assert "| `depth/VLM3-4B/eth3d` | vlm3 | .810 | 0.805 [0.79, 0.82] | 0.86 | -0.005 | reproduced |" in md
    assert "n=240, unparsed 12, missing 3" in md


def _role_macros(tmp_path, cfg, metrics):
    tmp_path.mkdir(exist_ok=True)
    write_audit(CLAIMS, [metrics], write_config(tmp_path, cfg), tmp_path / "audit" / "report.json")
    text = write_macros(CLAIMS, tmp_path / "audit" / "report.json", tmp_path / "macros.tex").read_text()
    return dict(line[len("\\newcommand{\\"):-1].split("}{") for line in text.splitlines()[1:])


def test_synthetic_macros_follow_a_renamed_model(tmp_path):
    """paper/main.tex prints the replica's numbers through role macros: renaming the trained model
    (config and metrics alike) changes none of them."""
    m = embedded_metrics(tmp_path / "metrics")
    before = _role_macros(tmp_path / "a", EMBEDDED, m)
    (m / "tiny-trained").rename(m / "tiny-ft")
    models = {("tiny-ft" if k == "tiny-trained" else k): v for k, v in EMBEDDED["models"].items()}
    after = _role_macros(tmp_path / "b", {**EMBEDDED, "models": models}, m)
    synth = {k: v for k, v in before.items() if k.startswith("synth")}
    assert {k: after[k] for k in synth} == synth
    assert (synth["synthTrainingHelpsDepthBetter"], synth["synthTrainingHelpsDepthBetterLo"],
            synth["synthTrainingHelpsDepthBetterHi"], synth["synthTrainingHelpsDepthThanBase"]) == \
        ("0.600", "0.550", "0.650", "0.000")


def test_two_models_in_one_role_is_an_error(tmp_path):
    m = embedded_metrics(tmp_path / "metrics")
    metrics_file(m, "mean", "depth", "synthetic_test", {"delta1": 0.3}, {"delta1": [0.25, 0.35]})
    cfg = {**EMBEDDED, "models": {**EMBEDDED["models"], "mean": {"kind": "baseline", "label": "Mean"}}}
    with pytest.raises(ValueError, match=r"training_helps_depth: role ThanBaseline is filled by several "
                                         r"models \['mean', 'median'\]"):
        _role_macros(tmp_path, cfg, m)
    assert not (tmp_path / "macros.tex").exists()


def test_cli_outputs_are_the_given_paths(tmp_path):
    """The paper rules pass their outputs: paper_tables writes exactly the --out tables (each with
    its .csv twin), audit the --out JSON and its .md twin; nothing else."""
    from vlm3.report import audit, paper_tables
    m = embedded_metrics(tmp_path / "metrics")
    cfg = str(write_config(tmp_path, EMBEDDED))
    base = ["--claims", str(CLAIMS), "--metrics", str(m), "--config", cfg]
    paper_tables.main([*base, "--out", str(tmp_path / "t" / "paper_depth.tex"), str(tmp_path / "t" / "paper_pose.tex")])
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == \
        ["paper_depth.csv", "paper_depth.tex", "paper_pose.csv", "paper_pose.tex"]
    with pytest.raises(ValueError, match=r"--out .*depth.tex: not a paper_\{table\}.tex path"):
        paper_tables.main([*base, "--out", str(tmp_path / "u" / "depth.tex")])
    with pytest.raises(ValueError, match=r"--out: tables in several folders"):
        paper_tables.main([*base, "--out", str(tmp_path / "a" / "paper_depth.tex"), str(tmp_path / "b" / "paper_pose.tex")])
    audit.main([*base, "--out", str(tmp_path / "au" / "report.json")])
    assert sorted(p.name for p in (tmp_path / "au").iterdir()) == ["report.json", "report.md"]
    with pytest.raises(ValueError, match=r"--out .*audit: the audit's JSON file"):
        audit.main([*base, "--out", str(tmp_path / "audit")])
    assert not (tmp_path / "u").exists() and not (tmp_path / "a").exists() and not (tmp_path / "audit").exists()
