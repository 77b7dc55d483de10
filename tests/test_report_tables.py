"""Tables: exact LaTeX/CSV output on small metrics fixtures."""

import json

import pandas as pd
import pytest

from vlm3.report import tables


def _write(root, model, task, bench, metrics, ci95=None):
    p = root / model / task / f"{bench}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"model": model, "task": task, "bench": bench, "n": 10,
                             "n_unparsed": 0, "metrics": metrics, "ci95": ci95 or {}}))


@pytest.fixture
def metrics_root(tmp_path):
    root = tmp_path / "metrics"
    _write(root, "tiny_trained", "depth", "synthetic_test", {"delta1": 0.8125, "abs_rel": 0.1},
           {"delta1": [0.75, 0.875]})
    _write(root, "tiny_trained", "depth", "ibims_test", {"delta1": 0.5, "abs_rel": 0.3})
    _write(root, "tiny_untrained", "depth", "synthetic_test", {"delta1": 0.1, "abs_rel": 0.9})
    _write(root, "median", "depth", "synthetic_test", {"delta1": 0.8125, "abs_rel": 0.25})
    _write(root, "median", "depth", "ibims_test", {"delta1": 0.25, "abs_rel": 0.5})
    _write(root, "zzz_other", "depth", "synthetic_test", {"delta1": 0.0, "abs_rel": 2.0})
    return root


def test_depth_table_exact(metrics_root, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("models:\n  tiny_untrained: {label: Tiny (untrained)}\n  tiny_trained: Tiny_trained & FT\n"
                   "  not_run: Missing model\n")
    out = tmp_path / "tables"
    tables.write_tables(metrics_root, out, cfg, tasks=("depth",))
    tex = (out / "depth.tex").read_text()
    assert tex == "\n".join([
        r"\begin{tabular}{lccccc}",
        r"\toprule",
        r" & \multicolumn{2}{c}{ibims\_test} & \multicolumn{2}{c}{synthetic\_test} & Mean \\",
        r"\cmidrule(lr){2-3} \cmidrule(lr){4-5} \cmidrule(lr){6-6}",
        r"Model & $\delta_1\uparrow$ & AbsRel$\downarrow$ & $\delta_1\uparrow$ & AbsRel$\downarrow$ & $\delta_1\uparrow$ \\",
        r"\midrule",
        r"Tiny (untrained) & -- & -- & 0.100 & 0.900 & -- \\",
        r"Tiny\_trained \& FT & \textbf{0.500} & \textbf{0.300} & \textbf{0.812} {\scriptsize[0.750, 0.875]}"
        r" & \textbf{0.100} & \textbf{0.656} \\",
        r"Constant (train median) & 0.250 & 0.500 & \textbf{0.812} & 0.250 & 0.531 \\",
        r"zzz\_other & -- & -- & 0.000 & 2.000 & -- \\",
        r"\bottomrule",
        r"\end{tabular}",
        ""])
    df = pd.read_csv(out / "depth.csv")
    assert list(df["model"]) == ["tiny_untrained", "tiny_trained", "median", "zzz_other"]
    assert df.loc[1, "synthetic_test:delta1"] == 0.8125
    assert df.loc[1, "synthetic_test:delta1:lo"] == 0.75
    assert df.loc[1, "mean:delta1"] == pytest.approx(0.65625)
    assert pd.isna(df.loc[0, "ibims_test:delta1"])


def test_percent_columns_and_empty_task(tmp_path):
    root = tmp_path / "m"
    _write(root, "a", "pose", "synthetic_test", {"auc30": 0.4567, "auc10": 0.1}, {"auc30": [0.4, 0.5]})
    _write(root, "b", "pose", "synthetic_test", {"auc30": None, "auc10": 0.0}, {"auc30": [None, None]})
    tex, df = tables.build_table("pose", tables.load_metrics(root)["pose"], {})
    assert r"a & \textbf{45.7} {\scriptsize[40.0, 50.0]} & \textbf{10.0} \\" in tex
    assert r"b & -- & 0.0 \\" in tex
    out = tmp_path / "t"
    tables.write_tables(root, out, None, tasks=("pose", "object"))
    assert (out / "object.tex").read_text() == "\n".join(
        [r"\begin{tabular}{l}", r"\toprule", r" \\", r"Model \\", r"\midrule", r"\bottomrule",
         r"\end{tabular}", ""])


def test_deterministic_bytes(metrics_root, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    tables.write_tables(metrics_root, a)
    tables.write_tables(metrics_root, b)
    for name in ("depth.tex", "depth.csv", "pose.tex", "pose.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_bad_inputs(tmp_path):
    root = tmp_path / "m"
    (root / "x" / "depth").mkdir(parents=True)
    (root / "x" / "depth" / "b.json").write_text("{not json")
    with pytest.raises(ValueError, match="b.json"):
        tables.load_metrics(root)
    (root / "x" / "depth" / "b.json").write_text(json.dumps({"task": "pose", "metrics": {}}))
    with pytest.raises(ValueError, match="does not match"):
        tables.load_metrics(root)
    with pytest.raises(ValueError, match="not a directory or a .json"):
        tables.load_metrics(tmp_path / "nope")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [a, b]\n")
    with pytest.raises(ValueError, match="mapping"):
        tables.model_labels(cfg)
    with pytest.raises(ValueError, match="no such file"):
        tables.model_labels(tmp_path / "missing.yaml")


def test_cli(metrics_root, tmp_path):
    tables.main(["--metrics", str(metrics_root), "--out", str(tmp_path / "o"), "--tasks", "depth"])
    assert (tmp_path / "o" / "depth.tex").is_file() and (tmp_path / "o" / "depth.csv").is_file()
    assert not (tmp_path / "o" / "pose.tex").exists()


def test_cli_single_files_and_tex_out(metrics_root, tmp_path):
    files = [str(metrics_root / m / "depth" / "synthetic_test.json") for m in ("tiny_trained", "median")]
    out = tmp_path / "o" / "depth.tex"
    tables.main(["--task", "depth", "--metrics", *files, "--out", str(out)])
    tex = out.read_text()
    assert "ibims" not in tex and "Mean" not in tex
    assert r"tiny\_trained & \textbf{0.812} {\scriptsize[0.750, 0.875]} & \textbf{0.100} \\" in tex
    assert r"Constant (train median) & \textbf{0.812} & 0.250 \\" in tex
    assert (tmp_path / "o" / "depth.csv").is_file()
    with pytest.raises(ValueError, match="exactly one task"):
        tables.write_tables(files, out, tasks=("depth", "pose"))
