"""The fault corpus: one `Case` per bad input or fault, for every stage.

Each case states the stage, the input (in words, for docs/faults.md), the expected outcome and the
substrings the outcome must show, and builds its input from the session's tiny valid inputs
(`world.World`) in its own folder `d`. Outcomes:
- "error": the stage's CLI exits non-zero with ONE line `<module>: error: ...` on stderr holding
  every `expect` substring ("{d}" is the case folder: the file is named), no traceback, and none of
  the case's outputs (nor any staging beside them) left behind;
- "skip": the stage succeeds, writes its outputs, and reports the counted skip (`expect` is looked
  for in the report file, else in the log).
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tests.faults.world import World, dump_yaml

STAGES = ("config", "download", "index", "calibrate", "resize", "qa", "mix", "train", "predict", "score",
          "report")


@dataclass
class Run:
    module: str                       # the CLI: python -m <module>
    argv: list[str]
    outputs: list[Path]               # must not exist after an error
    patch: Callable | None = None     # patch(monkeypatch): a simulated fault (full disk, ...)
    report: Path | None = None        # skip cases: file holding the reported count (else the log)


@dataclass(frozen=True)
class Case:
    id: str
    stage: str
    input: str
    outcome: str                      # "error" | "skip"
    expect: tuple[str, ...]
    build: Callable[[World, Path], Run] = field(repr=False, compare=False)


# ----------------------------------------------------------------------------- helpers
def set_line(path: Path, n: int, text: str | bytes) -> Path:
    """Replace line `n` (1-based) of `path` with `text`."""
    lines = path.read_bytes().splitlines(keepends=True)
    lines[n - 1] = (text.encode() if isinstance(text, str) else text) + b"\n"
    path.write_bytes(b"".join(lines))
    return path


def edit_record(path: Path, n: int, fn: Callable[[dict], object]) -> Path:
    """Apply `fn` to the JSON object on line `n` of `path` (in place)."""
    rec = json.loads(path.read_text().splitlines()[n - 1])
    fn(rec)
    return set_line(path, n, json.dumps(rec))


def edit_parquet(path: Path, fn: Callable[[pd.DataFrame], object]) -> Path:
    """Apply `fn` to the table of `path` (in place, or the DataFrame it returns)."""
    df = pd.read_parquet(path)
    new = fn(df)
    (new if isinstance(new, pd.DataFrame) else df).to_parquet(path, index=False)
    return path


def _set(d: dict, key: str, value) -> None:
    d[key] = value


class _FullFile:
    """A file object whose writes fail as on a full disk (OSError ENOSPC, no file name, as write(2))."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def full_disk_open(module: str) -> Callable:
    """patch: `open(..., "w" or "a")` inside `module` gives a file on a full disk."""
    import importlib

    def patch(mp):
        mod = importlib.import_module(module)

        def fake(file, mode="r", *a, **k):
            f = open(file, mode, *a, **k)
            return _FullFile(f) if "w" in mode or "a" in mode else f
        mp.setattr(mod, "open", fake, raising=False)
    return patch


def full_disk_after(n: int) -> Callable:
    """patch: every Path.write_bytes / write_text after the first `n` fails with ENOSPC (half the
    bytes written first, as a filling disk does)."""
    def patch(mp):
        calls = [0]

        def wrap(real, mode):
            def fake(self, data, *a, **k):
                calls[0] += 1
                if calls[0] > n:
                    with open(self, mode) as f:
                        f.write(data[: len(data) // 2])
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real(self, data, *a, **k)
            return fake
        mp.setattr(pathlib.Path, "write_bytes", wrap(pathlib.Path.write_bytes, "wb"))
        mp.setattr(pathlib.Path, "write_text", wrap(pathlib.Path.write_text, "w"))
    return patch


def _yaml_cfg(w: World) -> dict:
    import yaml
    return yaml.safe_load(w.config.read_text())


# ----------------------------------------------------------------------------- config
def _config(mutate=None, text=None):
    def build(w: World, d: Path) -> Run:
        p = d / "config.yaml"
        if text is not None:
            p.write_bytes(text if isinstance(text, bytes) else text.encode())
        else:
            cfg = _yaml_cfg(w)
            mutate(cfg)
            dump_yaml(p, cfg)
        return Run("vlm3.config", ["--merge", str(p), "--out", str(d / "merged.yaml")], [d / "merged.yaml"])
    return build


def _cfg_path(cfg, path, value):
    *head, last = path.split(".")
    for k in head:
        cfg = cfg[k]
    if value is _DEL:
        del cfg[last]
    else:
        cfg[last] = value


_DEL = object()


def _cfgset(path, value):
    return _config(lambda c: _cfg_path(c, path, value))


CONFIG = [
    Case("config-bad-yaml", "config", "config file is not valid YAML (unclosed bracket)", "error",
         ("{d}/config.yaml", "not valid YAML"), _config(text="seed: [0\n")),
    Case("config-non-utf8", "config", "config file holds non-UTF-8 bytes", "error",
         ("{d}/config.yaml", "UTF-8"), _config(text=b"seed: 0\nname: \xff\xfe\n")),
    Case("config-not-mapping", "config", "config file is a YAML list", "error",
         ("{d}/config.yaml", "mapping"), _config(text="- 1\n- 2\n")),
    Case("config-seed-string", "config", "`seed: abc` (a string where a number belongs)", "error",
         ("seed",), _cfgset("seed", "abc")),
    Case("config-n-scenes-negative", "config", "`n_scenes: -5`", "error",
         ("datasets.synthetic.generate.train.n_scenes",),
         _cfgset("datasets.synthetic.generate.train", {"n_scenes": -5})),
    Case("config-views-zero", "config", "`views: 0`", "error", ("views",),
         _cfgset("datasets.synthetic.generate.common.views", 0)),
    Case("config-withheld-3", "config", "`withheld: 3` (a fraction above 1)", "error", ("withheld",),
         _cfgset("datasets.synthetic.generate.common.withheld", 3)),
    Case("config-target-focal-huge", "config", "`target_focal: 1e7` (images of TiB)", "error",
         ("target_focal",), _cfgset("target_focal", 1e7)),
    Case("config-missing-key", "config", "required key `runs` missing", "error", ("runs",),
         _cfgset("runs", _DEL)),
    Case("config-unknown-key", "config", "a misspelt top-level key `sed`", "error", ("sed",),
         _cfgset("sed", 1)),
    Case("config-lr-string", "config", "`runs.tiny-depth.lr: fast`", "error", ("runs.tiny-depth.lr",),
         _cfgset("runs.tiny-depth.lr", "fast")),
    Case("config-unknown-mixture", "config", "`runs.tiny-pairs.mixtures: [pose, corespondence]` (no such mixture)",
         "error", ("runs.tiny-pairs.mixtures", "unknown mixture 'corespondence'"),
         _cfgset("runs.tiny-pairs.mixtures", ["pose", "corespondence"])),
    Case("config-missing-file", "config", "--merge names a file that does not exist", "error",
         ("{d}/nope.yaml", "no such file"),
         lambda w, d: Run("vlm3.config", ["--merge", str(d / "nope.yaml"), "--out", str(d / "m.yaml")],
                          [d / "m.yaml"])),
]


# ----------------------------------------------------------------------------- download
def _registry(files=(), extra=None, text=None, dataset="toy"):
    """A toy registry (tests/datasets/_toy_registry.py) with `files`, or the raw `text` as the
    registry; a file's `_placed` bytes are put where a manual file belongs."""
    def build(w: World, d: Path) -> Run:
        reg = d / "reg.yaml"
        if text is not None:
            reg.write_bytes(text)
        else:
            import sys
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
            from _toy_registry import toy_registry
            toy_registry(d, [{k: v for k, v in f.items() if not k.startswith("_")} for f in files], **(extra or {}))
        for f in files:
            if "_placed" in f:
                (d / "raw").mkdir(exist_ok=True)
                (d / "raw" / f["name"]).write_bytes(f["_placed"])
        return Run("vlm3.download", ["--dataset", dataset, "--registry", str(reg), "--out", str(d / "raw"),
                                     "--lock", str(d / "lock.yaml")], [d / "raw" / ".verified"])
    return build


_SHA0 = "0" * 64
DOWNLOAD = [
    Case("download-registry-missing", "download", "--registry names a file that does not exist", "error",
         ("{d}/none.yaml",),
         lambda w, d: Run("vlm3.download", ["--dataset", "toy", "--registry", str(d / "none.yaml"),
                                            "--out", str(d / "raw")], [d / "raw" / ".verified"])),
    Case("download-registry-bad-yaml", "download", "registry is not valid YAML", "error",
         ("{d}/reg.yaml", "YAML"), _registry(text=b"datasets: {toy: [\n")),
    Case("download-registry-non-utf8", "download", "registry holds non-UTF-8 bytes", "error",
         ("{d}/reg.yaml", "UTF-8"), _registry(text=b"version: 1\ndatasets: {toy: \xff}\n")),
    Case("download-unknown-dataset", "download", "--dataset names no registry entry", "error",
         ("{d}/reg.yaml", "nope"),
         _registry([{"name": "a.bin", "manual": True, "sha256": _SHA0}], dataset="nope")),
    Case("download-gated-not-placed", "download", "a gated (manual) file that was not placed", "error",
         ("a.bin", "{d}/raw/a.bin", "gated"), _registry([{"name": "a.bin", "manual": True, "sha256": _SHA0}],
                                                    {"access": "gated"})),
    Case("download-placed-wrong-hash", "download", "a placed manual file whose sha256 differs", "error",
         ("{d}/raw/a.bin", "sha256"),
         _registry([{"name": "a.bin", "manual": True, "sha256": _SHA0, "_placed": b"not the archive"}],
              {"access": "gated"})),
    Case("download-placeholder-unset", "download",
         "URL placeholder `{TOY_TOKEN}` whose environment variable is not set", "error",
         ("TOY_TOKEN",),
         _registry([{"name": "a.bin", "urls": ["http://127.0.0.1:9/{TOY_TOKEN}/a.bin"], "sha256": _SHA0}])),
    Case("download-connection-refused", "download", "the server refuses the connection", "error",
         ("a.bin", "127.0.0.1"),
         _registry([{"name": "a.bin", "urls": ["http://127.0.0.1:9/a.bin"], "sha256": _SHA0}])),
]


# ----------------------------------------------------------------------------- index
def _index(edit):
    def build(w: World, d: Path) -> Run:
        raw = w.copy(w.raw, d / "raw")
        edit(raw / "test")
        return Run("vlm3.index", ["--type", "synthetic", "--raw", str(raw), "--split", "test",
                                  "--out", str(d / "index.parquet"), "--pairs-out", str(d / "pairs.parquet")],
                   [d / "index.parquet", d / "pairs.parquet"])
    return build


def _meta_edit(fn):
    def edit(split: Path):
        meta = json.loads((split / "meta.json").read_text())
        fn(meta)
        (split / "meta.json").write_text(json.dumps(meta))
    return edit


INDEX = [
    Case("index-meta-bad-json", "index", "meta.json is cut off mid-file", "error",
         ("{d}/raw/test/meta.json", "JSON"),
         _index(lambda s: (s / "meta.json").write_text((s / "meta.json").read_text()[:200]))),
    Case("index-meta-non-utf8", "index", "meta.json holds non-UTF-8 bytes", "error",
         ("{d}/raw/test/meta.json", "UTF-8"),
         _index(lambda s: (s / "meta.json").write_bytes(b'{"format": "\xff"}'))),
    Case("index-meta-missing", "index", "meta.json missing", "error", ("{d}/raw/test/meta.json",),
         _index(lambda s: (s / "meta.json").unlink())),
    Case("index-width-string", "index", "an image's width is the string \"wide\"", "error",
         ("{d}/raw/test/meta.json", "width"),
         _index(_meta_edit(lambda m: _set(m["images"][0], "width", "wide")))),
    Case("index-fx-string", "index", "an image's fx is the string \"abc\"", "error",
         ("{d}/raw/test/meta.json", "fx"),
         _index(_meta_edit(lambda m: _set(m["images"][0]["intrinsics"], "fx", "abc")))),
    Case("index-image-missing", "index", "an image file named in meta.json is missing", "error",
         ("{d}/raw/test", ".png"),
         _index(lambda s: sorted(s.rglob("*.png"))[0].unlink())),
    Case("index-pairs-bad-json", "index", "pairs.json is not JSON", "error",
         ("{d}/raw/test/pairs.json", "JSON"), _index(lambda s: (s / "pairs.json").write_text("[{"))),
    Case("index-images-not-list", "index", "meta.json `images` is a number", "error",
         ("{d}/raw/test/meta.json", "images"), _index(_meta_edit(lambda m: _set(m, "images", 3)))),
]


# ----------------------------------------------------------------------------- calibrate
def _calib(edit=None, providers="metadata", extra=()):
    def build(w: World, d: Path) -> Run:
        idx = w.copy(w.index, d / "index.parquet")
        if edit:
            edit(idx, d)
        return Run("vlm3.calibrate", ["--index", str(idx), "--out", str(d / "calib.parquet"),
                                      "--providers", providers, *extra], [d / "calib.parquet"])
    return build


def _nan_intrinsics(df):
    df.loc[0, ["fx", "fy", "cx", "cy"]] = np.nan


CALIBRATE = [
    Case("calibrate-index-not-parquet", "calibrate", "the index file is text, not parquet", "error",
         ("{d}/index.parquet", "parquet"), _calib(lambda p, d: p.write_text("image_id,width\n"))),
    Case("calibrate-index-missing-column", "calibrate", "the index lacks the `fx` column", "error",
         ("{d}/index.parquet", "fx"), _calib(lambda p, d: edit_parquet(p, lambda df: df.drop(columns="fx")))),
    Case("calibrate-unknown-provider", "calibrate", "--providers names an unknown provider", "error",
         ("nope",), _calib(providers="metadata,nope")),
    Case("calibrate-no-provider-no-fallback", "calibrate",
         "an image without intrinsics, metadata provider only, no --fallback-fov", "error",
         ("{d}/index.parquet", "could calibrate"), _calib(lambda p, d: edit_parquet(p, _nan_intrinsics))),
    Case("calibrate-prior-fallback", "calibrate",
         "an image without intrinsics, --fallback-fov 60: the FOV prior is used, counted and reported",
         "skip", ("'prior': 1",),
         _calib(lambda p, d: edit_parquet(p, _nan_intrinsics), extra=("--fallback-fov", "60"))),
    Case("calibrate-fallback-fov-500", "calibrate", "--fallback-fov 500 (a field of view above 180 degrees)",
         "error", ("--fallback-fov", "500"), _calib(extra=("--fallback-fov", "500"))),
    Case("calibrate-image-corrupt", "calibrate",
         "an image the vanishing-point provider must read is not a PNG", "error",
         ("{d}/bad.png",),
         _calib(lambda p, d: ((d / "bad.png").write_bytes(b"not a png"),
                              edit_parquet(p, lambda df: (_nan_intrinsics(df),
                                                          df.__setitem__("image_path", [str(d / "bad.png")]
                                                                         + list(df["image_path"][1:]))))),
                providers="metadata,vanishing")),
]


# ----------------------------------------------------------------------------- resize
def _resize(edit=None, patch=None, target="60"):
    def build(w: World, d: Path) -> Run:
        calib = w.copy(w.calib, d / "calib.parquet")
        if edit:
            edit(calib, d)
        out = d / "resized" / "test"
        return Run("vlm3.resize", ["--calib", str(calib), "--out", str(out), "--target-focal", target], [out],
                   patch=patch)
    return build


def _col(name, value, row=0):
    def edit(p, d):
        def fn(df):
            v = value(d) if callable(value) else value
            df[name] = df[name].astype(object)
            df.at[row, name] = v
        edit_parquet(p, fn)
    return edit


RESIZE = [
    Case("resize-image-missing", "resize", "an image file of the index is missing", "error",
         ("{d}/missing.png", "not found"), _resize(_col("image_path", lambda d: str(d / "missing.png")))),
    Case("resize-image-corrupt", "resize", "an image file holds garbage bytes", "error",
         ("{d}/bad.png",),
         _resize(lambda p, d: ((d / "bad.png").write_bytes(b"\x89PNG garbage"),
                               _col("image_path", str(d / "bad.png"))(p, d)))),
    Case("resize-depth-corrupt", "resize", "a depth .npy is truncated", "error",
         ("{d}/bad.npy",),
         _resize(lambda p, d: ((d / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00"),
                               _col("depth_path", str(d / "bad.npy"))(p, d)))),
    Case("resize-no-intrinsics", "resize", "an image of the calibrated index has fx NaN", "error",
         ("{d}/calib.parquet", "intrinsics"), _resize(lambda p, d: edit_parquet(p, _nan_intrinsics))),
    Case("resize-objects-bad-json", "resize", "an `objects` cell is not JSON", "error",
         ("{d}/calib.parquet", "objects"), _resize(_col("objects", "[{\"name\": "))),
    Case("resize-full-disk", "resize", "the disk fills up while images are written (ENOSPC)", "error",
         ("{d}/resized/.test.", ".png", "no space left on device"), _resize(patch=full_disk_after(2))),
    Case("resize-target-focal-huge", "resize", "--target-focal 1e7 (a 75 TiB image)", "error",
         ("{d}/calib.parquet", "more than 268435456 pixels"), _resize(target="1e7")),
    Case("resize-calib-missing", "resize", "--calib names a missing file", "error", ("{d}/none.parquet",),
         lambda w, d: Run("vlm3.resize", ["--calib", str(d / "none.parquet"), "--out", str(d / "o")],
                          [d / "o"])),
]


# ----------------------------------------------------------------------------- qa
def _qa(task="depth", edit=None, patch=None, extra=()):
    def build(w: World, d: Path) -> Run:
        res = w.copy(w.resized, d / "resized" / "synthetic" / "test")
        old, new = str(w.resized), str(res)
        edit_parquet(res / "index.parquet", lambda df: [df.__setitem__(c, df[c].str.replace(old, new, regex=False))
                                                        for c in ("image_path", "depth_path", "objects")])
        if edit:
            edit(res, d)
        out = d / "qa.jsonl"
        return Run("vlm3.qa.build", ["--task", task, "--resized", str(res), "--out", str(out), "--border", "2",
                                     "--questions-per-image", "2", "--min-covisibility", "0.05", *extra], [out],
                   patch=patch)
    return build


def _res_col(name, value, row=0):
    def edit(res, d):
        _col(name, value, row)(res / "index.parquet", d)
    return edit


QA = [
    Case("qa-depth-missing", "qa", "a depth .npy of the resized folder is missing", "error",
         ("{d}/resized/synthetic/test/depth", ".npy"),
         _qa(edit=lambda r, d: sorted((r / "depth").glob("*.npy"))[0].unlink())),
    Case("qa-depth-corrupt", "qa", "a depth .npy holds garbage", "error",
         ("{d}/resized/synthetic/test/depth", ".npy"),
         _qa(edit=lambda r, d: sorted((r / "depth").glob("*.npy"))[0].write_bytes(b"garbage"))),
    Case("qa-index-missing", "qa", "the resized folder has no index.parquet", "error",
         ("{d}/resized/synthetic/test", "index.parquet"),
         _qa(edit=lambda r, d: (r / "index.parquet").unlink())),
    Case("qa-objects-bad-json", "qa", "an `objects` cell of the resized index is not JSON", "error",
         ("{d}/resized/synthetic/test/index.parquet", "objects"),
         _qa("object", edit=_res_col("objects", "[{oops"))),
    Case("qa-cam-pose-short", "qa", "a cam_to_world cell has 3 numbers, not 16", "error",
         ("{d}/resized/synthetic/test/index.parquet", "cam_to_world"),
         _qa("pose", edit=_res_col("cam_to_world", [1.0, 0.0, 0.0]))),
    Case("qa-pairs-unknown-image", "qa", "pairs.parquet names an image not in the index", "error",
         ("{d}/resized/synthetic/test/pairs.parquet", "ghost"),
         _qa("correspondence", edit=lambda r, d: edit_parquet(
             r / "pairs.parquet", lambda df: df.__setitem__("image_id_2", ["ghost"] + list(df["image_id_2"][1:]))))),
    Case("qa-full-disk", "qa", "the disk fills up while the QA file is written (ENOSPC)", "error",
         ("{d}/qa.jsonl", "no space left on device"), _qa(patch=full_disk_open("vlm3.qa.build"))),
    Case("qa-depth-out-of-range", "qa",
         "one image's depth x 1e30 (outside the index's depth range): invalid pixels, counted and reported",
         "skip", ("images_with_depth_out_of_range: 1",),
         _qa(edit=lambda r, d: (lambda p: np.save(p, np.load(p) * np.float32(1e30)))(
             sorted((r / "depth").glob("*.npy"))[0]))),
]


# ----------------------------------------------------------------------------- mix
def _mix(edit=None, inputs=None, n="3"):
    def build(w: World, d: Path) -> Run:
        src = w.copy(w.qa["depth"], d / "a.jsonl")
        if edit:
            edit(src, d)
        out = d / "train.jsonl"
        ins = inputs(d) if inputs else [f"{src}:1.0"]
        return Run("vlm3.qa.mix", ["--inputs", *ins, "--n", n, "--out", str(out)], [out])
    return build


MIX = [
    Case("mix-bad-json-line", "mix", "line 2 of a QA source is not JSON", "error", ("{d}/a.jsonl:2", "JSON"),
         _mix(lambda p, d: set_line(p, 2, "{\"id\": "))),
    Case("mix-non-utf8", "mix", "line 3 of a QA source holds non-UTF-8 bytes", "error",
         ("{d}/a.jsonl", "UTF-8"), _mix(lambda p, d: set_line(p, 3, b'{"id": "\xff"}'))),
    Case("mix-no-id", "mix", "line 1 of a QA source is a JSON object without `id`", "error",
         ("{d}/a.jsonl:1", "id"), _mix(lambda p, d: set_line(p, 1, "{\"x\": 1}"))),
    Case("mix-weight-string", "mix", "a weight that is not a number (`a.jsonl:heavy`)", "error",
         ("heavy",), _mix(inputs=lambda d: [f"{d / 'a.jsonl'}:heavy"])),
    Case("mix-source-missing", "mix", "a QA source that does not exist", "error", ("{d}/none.jsonl",),
         _mix(inputs=lambda d: [f"{d / 'none.jsonl'}:1"])),
    Case("mix-n-zero", "mix", "--n 0", "error", ("--n",), _mix(n="0")),
    Case("mix-weights-zero", "mix", "every weight 0", "error", ("weights",),
         _mix(inputs=lambda d: [f"{d / 'a.jsonl'}:0"])),
]


# ----------------------------------------------------------------------------- train
def _train(edit_data=None, cfg=None, text=None, extra=()):
    def build(w: World, d: Path) -> Run:
        data = w.copy(w.qa["depth"], d / "qa.jsonl")
        if edit_data:
            edit_data(data, d)
        run = {"model": str(w.model), "data": [str(data)], "max_steps": 2, "batch_size": 2, "save_steps": 1,
               "threads": 1, **(cfg or {})}
        p = d / "run.yaml"
        if text is not None:
            p.write_bytes(text)
        else:
            dump_yaml(p, run)
        out = d / "ckpt"
        return Run("vlm3.train", ["--config", str(p), "--out", str(out), *extra],
                   [out / "model.safetensors", out / "train_summary.json"])
    return build


def _damaged_checkpoint(w: World, d: Path) -> Run:
    """A checkpoint of this very run (its fingerprint recorded) with weights but no optimizer,
    scheduler or RNG state."""
    from vlm3.train.__main__ import parse_config
    from vlm3.train.trainer import FINGERPRINT, run_fingerprint

    run = _train()(w, d)
    state = d / "ckpt" / "trainer_state"
    c = state / "checkpoint-1"
    c.mkdir(parents=True)
    (c / "trainer_state.json").write_text('{"global_step": 1}')
    (c / "model.safetensors").write_bytes(b"x")
    fp = run_fingerprint(parse_config(run.argv))
    (state / FINGERPRINT).write_text(json.dumps(fp, indent=1, sort_keys=True) + "\n")
    return run


def _qa_file_cases(stage: str, prefix: str, build: Callable, lacks: str,
                   drop: Callable[[dict], object]) -> list[Case]:
    """The bad QA files of a stage that reads one (`vlm3.records.read_qa`; `build(edit)` copies
    the QA file to {d}/qa.jsonl and edits it): not JSON, not UTF-8, a record without the key the
    stage needs (`lacks`, removed by `drop`), and an image file that does not exist."""
    return [
        Case(f"{prefix}-bad-json", stage, "line 2 of the QA file is not JSON", "error",
             ("{d}/qa.jsonl:2", "JSON"), build(lambda p, d: set_line(p, 2, "[1, 2"))),
        Case(f"{prefix}-non-utf8", stage, "line 1 of the QA file holds non-UTF-8 bytes", "error",
             ("{d}/qa.jsonl", "UTF-8"), build(lambda p, d: set_line(p, 1, b'{"id": "\xc3\x28"}'))),
        Case(f"{prefix}-no-{lacks.rpartition('.')[2]}", stage, f"a QA record without `{lacks}`", "error",
             ("{d}/qa.jsonl:1", lacks), build(lambda p, d: edit_record(p, 1, drop))),
        Case(f"{stage}-image-missing", stage, "a QA record's image file is missing", "error",
             ("{d}/nope.png",), build(lambda p, d: edit_record(p, 1, lambda r: _set(r, "images",
                                                                                     [str(d / "nope.png")])))),
    ]


TRAIN = [
    *_qa_file_cases("train", "train-data", _train, "messages", lambda r: r.pop("messages")),
    Case("train-lr-string", "train", "`lr: fast` in the run config", "error", ("lr", "fast"),
         _train(cfg={"lr": "fast"})),
    Case("train-config-unknown-key", "train", "`learning_rate: 0.1` in the run config (not a setting)", "error",
         ("{d}/run.yaml", "unknown key 'learning_rate'"), _train(cfg={"learning_rate": 0.1})),
    Case("train-config-bad-yaml", "train", "the run config is not valid YAML", "error",
         ("{d}/run.yaml", "YAML"), _train(text=b"model: [\n")),
    Case("train-model-missing", "train", "--model names a folder that does not exist", "error",
         ("{d}/none",), lambda w, d: _train(cfg={"model": str(d / "none")})(w, d)),
    Case("train-checkpoint-no-optimizer", "train",
         "the only checkpoint lacks optimizer.pt, scheduler.pt and rng state", "error",
         ("checkpoint-1", "optimizer.pt", "no complete checkpoint"), _damaged_checkpoint),
    Case("train-max-steps-zero", "train", "`max_steps: 0`", "error", ("--max-steps",),
         _train(cfg={"max_steps": 0})),
]


# ----------------------------------------------------------------------------- predict
def _predict(edit=None, model=None, patch=None):
    def build(w: World, d: Path) -> Run:
        qa = w.copy(w.qa["depth"], d / "qa.jsonl")
        if edit:
            edit(qa, d)
        out = d / "pred.jsonl"
        return Run("vlm3.predict", ["--model", str(model(d) if model else w.model), "--qa", str(qa), "--out",
                                    str(out), "--max-new-tokens", "2"], [out], patch=patch)
    return build


PREDICT = [
    *_qa_file_cases("predict", "predict-qa", _predict, "meta.targets", lambda r: r["meta"].pop("targets")),
    Case("predict-qa-empty", "predict", "an empty QA file", "error", ("{d}/qa.jsonl", "no QA records"),
         _predict(lambda p, d: p.write_text(""))),
    Case("predict-model-missing", "predict", "--model names a folder that does not exist", "error",
         ("{d}/none",), _predict(model=lambda d: d / "none")),
    Case("predict-full-disk", "predict", "the disk fills up while predictions are written (ENOSPC)", "error",
         ("{d}/pred.jsonl", "no space left on device"), _predict(patch=full_disk_open("vlm3.predict_files"))),
]


# ----------------------------------------------------------------------------- score
def _score(source="depth", edit=None, patch=None, task=None):
    """Score the world's `source` predictions as `task` (default: the same task)."""
    task = task or source

    def build(w: World, d: Path) -> Run:
        pred = w.copy(w.pred[source], d / "pred.jsonl")
        if edit:
            edit(pred, d)
        out = d / "metrics.json"
        return Run("vlm3.score", ["--pred", str(pred), "--out", str(out), "--task", task, "--n-boot", "20"],
                   [out], patch=patch, report=out)
    return build


SCORE = [
    Case("score-bad-json", "score", "line 2 of the predictions is not JSON", "error", ("{d}/pred.jsonl:2", "JSON"),
         _score(edit=lambda p, d: set_line(p, 2, "{]"))),
    Case("score-non-utf8", "score", "line 1 of the predictions holds non-UTF-8 bytes", "error",
         ("{d}/pred.jsonl", "UTF-8"), _score(edit=lambda p, d: set_line(p, 1, b"\xff"))),
    Case("score-no-target", "score", "a prediction line without `target`", "error", ("{d}/pred.jsonl:1", "target"),
         _score(edit=lambda p, d: edit_record(p, 1, lambda r: r.pop("target")))),
    Case("score-target-value-string", "score", "a depth target value is the string \"far\"", "error",
         ("{d}/pred.jsonl:1", "value"),
         _score(edit=lambda p, d: edit_record(p, 1, lambda r: r["target"].__setitem__("value", "far")))),
    Case("score-prediction-number", "score", "a prediction is the JSON number 3 instead of text", "error",
         ("{d}/pred.jsonl:1", "prediction"), _score(edit=lambda p, d: edit_record(p, 1, lambda r: _set(r, "prediction", 3)))),
    Case("score-unparsable-answer", "score",
         "a model answer with no number (\"I cannot tell\"): counted as wrong and reported", "skip",
         ('"n_unparsed": 1',), _score(edit=lambda p, d: edit_record(p, 1, lambda r: _set(r, "prediction", "I cannot tell")))),
    Case("score-wrong-task-kind", "score", "correspondence predictions scored as depth", "error",
         ("{d}/pred.jsonl:1", "depth"), _score("correspondence", task="depth")),
    Case("score-full-disk", "score", "the disk fills up while metrics are written (ENOSPC)", "error",
         ("{d}/metrics.json", "no space left on device"), _score(patch=full_disk_after(0))),
]


# ----------------------------------------------------------------------------- report
def _report(edit=None, extra=()):
    def build(w: World, d: Path) -> Run:
        m = w.copy(w.metrics, d / "metrics")
        if edit:
            edit(m, d)
        out = d / "tables"
        return Run("vlm3.report.tables", ["--metrics", str(m), "--out", str(out), "--tasks", "depth",
                                   *(a.replace("{d}", str(d)) for a in extra)],
                   [out / "depth.tex", out / "depth.csv"])
    return build


_MJ = "m/depth/synthetic_test.json"
REPORT = [
    Case("report-metrics-bad-json", "report", "a metrics file is not JSON", "error",
         ("{d}/metrics/" + _MJ, "JSON"), _report(lambda m, d: (m / _MJ).write_text("{"))),
    Case("report-metrics-non-utf8", "report", "a metrics file holds non-UTF-8 bytes", "error",
         ("{d}/metrics/" + _MJ, "UTF-8"), _report(lambda m, d: (m / _MJ).write_bytes(b"{\"metrics\": \"\xff\"}"))),
    Case("report-metric-string", "report", "a metric value is the string \"good\"", "error",
         ("{d}/metrics/" + _MJ, "good"),
         _report(lambda m, d: (m / _MJ).write_text(json.dumps(
             {**json.loads((m / _MJ).read_text()), "metrics": {"delta1": "good"}})))),
    Case("report-no-metrics-mapping", "report", "a metrics file without a `metrics` mapping", "error",
         ("{d}/metrics/" + _MJ, "metrics"), _report(lambda m, d: (m / _MJ).write_text("{\"n\": 3}"))),
    Case("report-config-bad-yaml", "report", "--config is not valid YAML", "error", ("{d}/cfg.yaml", "YAML"),
         _report(lambda m, d: (d / "cfg.yaml").write_text("models: [\n"), extra=("--config", "{d}/cfg.yaml"))),
    Case("report-metrics-missing", "report", "--metrics names a path that does not exist", "error",
         ("{d}/none",), lambda w, d: Run("vlm3.report.tables", ["--metrics", str(d / "none"), "--out", str(d / "t")],
                                         [d / "t"])),
]

CASES: list[Case] = [*CONFIG, *DOWNLOAD, *INDEX, *CALIBRATE, *RESIZE, *QA, *MIX, *TRAIN, *PREDICT, *SCORE,
                     *REPORT]
