"""Load and validate paper/claims.yaml: every number the paper reports, keyed table/row/column.

A claim is one printed number. Its value is kept as the printed string (".904", "87.5", "0") so
the printed precision survives: `half_unit` = 0.5 * 10**-decimals is how exactly the paper states
it. Claim keys are `{table}/{row}/{column}`.

Reproduced values are looked up here too, so that paper_tables, audit and paper_figures agree on
one mapping: a column's `datasets` (config dataset names) pick the configured benchmark
(`{dataset}_{split}`, first in config order), a row's `reproduced_by` matchers pick the configured
models, the metrics file gives `metric` * `scale` and its 95 % CI scaled the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from vlm3.config import model_run, models_for
from vlm3.tasks import TASKS
from vlm3.utils import load_mapping

TOLERANCE_RULES = ("printed", "ci_overlap")
SYNTHETIC_RULES = ("ci_disjoint",)
MATCHER_FIELDS = {"kind", "hub_contains", "name", "unify_focal"}
ROW_META = {"setting", "same_as"}  # row entries that are not claims
_NUMBER = re.compile(r"^-?(\d+)?(\.(\d+))?$")


def parse_printed(text: str, where: str = "value") -> tuple[float, int]:
    """Printed number -> (value, decimals). ".904" -> (0.904, 3); "180" -> (180.0, 0)."""
    if not isinstance(text, str):
        raise ValueError(f"{where}: claim values must be quoted strings as printed, got {text!r}")
    m = _NUMBER.match(text.strip())
    if not m or (m.group(1) is None and m.group(3) is None):
        raise ValueError(f"{where}: {text!r} is not a printed number")
    return float(text), len(m.group(3) or "")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    metric: str | None
    scale: float
    higher_better: bool
    rule: str
    abs_tol: float
    datasets: tuple[str, ...] = ()
    mean_of: tuple[str, ...] = ()
    mean_table: str | None = None
    note: str = ""
    group: str = ""  # a header spanning consecutive columns of the same group (paper: "acc / AbsRel")


@dataclass(frozen=True)
class Claim:
    table: str
    row: str
    column: str
    text: str  # as printed
    value: float
    decimals: int

    @property
    def key(self) -> str:
        return f"{self.table}/{self.row}/{self.column}"

    @property
    def half_unit(self) -> float:
        return 0.5 * 10.0 ** -self.decimals


@dataclass
class Table:
    key: str
    title: str
    source: str
    task: str
    columns: list[Column]
    rows: dict[str, dict[str, Claim]]
    row_meta: dict[str, dict[str, str]]
    notes: str = ""

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)

    def decimals(self, col: str) -> int:
        """Most precise printing of a column (reproduced values are printed the same way)."""
        ds = [r[col].decimals for r in self.rows.values() if col in r]
        return max(ds) if ds else 3

    def fmt(self, col: str, value: float) -> str:
        """A reproduced value printed like the column's claims (decimals; ".904" without the 0)."""
        s = f"{value:.{self.decimals(col)}f}"
        texts = [r[col].text for r in self.rows.values() if col in r]
        if texts and all(t.lstrip("-").startswith(".") for t in texts):
            s = re.sub(r"^(-?)0\.", r"\1.", s)
        return s


@dataclass
class SyntheticClaim:
    key: str
    statement: str
    task: str
    bench: str        # the benchmark the claim is judged on: the first of `benches` the config evaluates
    metric: str
    higher_better: bool
    rule: str
    better: dict
    than: list[dict]
    also: tuple[tuple[str, bool], ...] = ()   # further (metric, higher_better) that must hold too
    benches: tuple[str, ...] = ()   # candidate benchmarks in order (`bench` a list in claims.yaml): a task
                                    # may be evaluated on another rendered dataset (the embedded default's synthetic-pan)

    @property
    def checks(self) -> tuple[tuple[str, bool], ...]:
        """Every (metric, higher_better) the claim needs: the headline metric, then `also`."""
        return ((self.metric, self.higher_better), *self.also)


@dataclass
class Claims:
    path: Path
    source: str
    tables: dict[str, Table]
    reproduced_by: dict[str, list[dict]]
    synthetic: dict[str, SyntheticClaim] = field(default_factory=dict)
    inconsistent_means: dict[str, str] = field(default_factory=dict)

    def claims(self) -> list[Claim]:
        """All claims in file order (table, row, column)."""
        out = []
        for t in self.tables.values():
            for cells in t.rows.values():
                out += [cells[c.key] for c in t.columns if c.key in cells]
        return out

    def get(self, key: str) -> Claim:
        table, row, col = split_key(key)
        try:
            return self.tables[table].rows[row][col]
        except KeyError:
            raise KeyError(f"no claim {key!r} in {self.path}") from None


def split_key(key: str) -> tuple[str, str, str]:
    parts = key.split("/")
    if len(parts) != 3:
        raise ValueError(f"claim key {key!r} must be table/row/column")
    return parts[0], parts[1], parts[2]


def _check_matcher(m, where: str) -> dict:
    if not isinstance(m, dict) or not m:
        raise ValueError(f"{where}: a matcher must be a non-empty mapping, got {m!r}")
    unknown = set(m) - MATCHER_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown matcher field(s) {sorted(unknown)}; allowed {sorted(MATCHER_FIELDS)}")
    return dict(m)


def load_claims(path: str | Path = "paper/claims.yaml") -> Claims:
    """Parse and validate claims.yaml; ValueError names the file and the key at fault."""
    path = Path(path)
    doc = load_mapping(path, "claims file")
    if not isinstance(doc.get("tables"), dict):
        raise ValueError(f"{path}: needs a `tables` mapping")

    tables: dict[str, Table] = {}
    for tkey, t in doc["tables"].items():
        where = f"{path}: tables.{tkey}"
        if not re.fullmatch(r"[a-z0-9_]+", str(tkey)):
            raise ValueError(f"{where}: table keys are lower-case letters, digits and _")
        for need in ("title", "task", "columns", "rows", "tolerance"):
            if need not in t:
                raise ValueError(f"{where}: missing `{need}`")
        if t["task"] not in TASKS:
            raise ValueError(f"{where}.task: {t['task']!r} is not one of {TASKS}")
        cols = []
        for i, c in enumerate(t["columns"]):
            cw = f"{where}.columns[{i}]"
            if "key" not in c or "header" not in c:
                raise ValueError(f"{cw}: needs `key` and `header`")
            tol = c.get("tolerance", t["tolerance"])
            if tol.get("rule") not in TOLERANCE_RULES:
                raise ValueError(f"{cw}: tolerance rule {tol.get('rule')!r} not in {TOLERANCE_RULES}")
            metric = c.get("metric", t.get("metric"))
            if metric is None:
                raise ValueError(f"{cw}: no `metric` (column or table)")
            hb = c.get("higher_better", t.get("higher_better"))
            if not isinstance(hb, bool):
                raise ValueError(f"{cw}: `higher_better` must be true or false (column or table)")
            if "datasets" not in c and "mean_of" not in c:
                raise ValueError(f"{cw}: needs `datasets` (benchmarks it maps to) or `mean_of`")
            cols.append(Column(
                key=str(c["key"]), header=str(c["header"]), metric=metric,
                scale=float(c.get("scale", t.get("scale", 1.0))), higher_better=hb,
                rule=tol["rule"], abs_tol=float(tol.get("abs", 0.0)),
                datasets=tuple(c.get("datasets", ())), mean_of=tuple(c.get("mean_of", ())),
                mean_table=c.get("mean_table"), note=str(c.get("note", "")), group=str(c.get("group", ""))))
        keys = [c.key for c in cols]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{where}: duplicate column keys {keys}")
        rows: dict[str, dict[str, Claim]] = {}
        meta: dict[str, dict[str, str]] = {}
        for row, cells in t["rows"].items():
            rw = f"{where}.rows.{row}"
            if "/" in str(row):
                raise ValueError(f"{rw}: row names may not contain '/'")
            if not isinstance(cells, dict) or not cells:
                raise ValueError(f"{rw}: must map column keys to printed values")
            bad = set(cells) - set(keys) - ROW_META
            if bad:
                raise ValueError(f"{rw}: unknown column(s) {sorted(bad)}; table columns are {keys}")
            rows[str(row)] = {}
            for col in keys:
                if col in cells:
                    v, d = parse_printed(cells[col], f"{rw}.{col}")
                    rows[str(row)][col] = Claim(str(tkey), str(row), col, cells[col].strip(), v, d)
            meta[str(row)] = {k: str(cells[k]) for k in ROW_META if k in cells}
        tables[str(tkey)] = Table(str(tkey), str(t["title"]), str(t.get("source", "")), t["task"],
                                  cols, rows, meta, str(t.get("notes", "")).strip())

    # cross references: mean_of columns and same_as rows
    for t in tables.values():
        for c in t.columns:
            src = tables.get(c.mean_table or t.key)
            if src is None:
                raise ValueError(f"{path}: tables.{t.key}.{c.key}: mean_table {c.mean_table!r} unknown")
            missing = [k for k in c.mean_of if k not in {x.key for x in src.columns}]
            if missing:
                raise ValueError(f"{path}: tables.{t.key}.{c.key}: mean_of names unknown column(s) {missing} of {src.key}")
        for row, m in t.row_meta.items():
            if "same_as" in m:
                ref = m["same_as"].split("/")
                if not (1 < len(ref) <= 3 and ref[0] in tables and ref[1] in tables[ref[0]].rows):
                    raise ValueError(f"{path}: tables.{t.key}.rows.{row}.same_as: {m['same_as']!r} names no row")

    rb = doc.get("reproduced_by") or {}
    reproduced_by = {}
    for row, ms in rb.items():
        if not isinstance(ms, list):
            raise ValueError(f"{path}: reproduced_by.{row}: must be a list of matchers")
        reproduced_by[str(row)] = [_check_matcher(m, f"{path}: reproduced_by.{row}[{i}]") for i, m in enumerate(ms)]

    synthetic = {}
    for key, s in (doc.get("synthetic_claims") or {}).items():
        where = f"{path}: synthetic_claims.{key}"
        for need in ("statement", "task", "bench", "metric", "higher_better", "rule", "better", "than"):
            if need not in s:
                raise ValueError(f"{where}: missing `{need}`")
        if s["rule"] not in SYNTHETIC_RULES:
            raise ValueError(f"{where}.rule: {s['rule']!r} not in {SYNTHETIC_RULES}")
        if s["task"] not in TASKS:
            raise ValueError(f"{where}.task: {s['task']!r} is not one of {TASKS}")
        also = []
        for i, a in enumerate(s.get("also") or []):
            if not (isinstance(a, dict) and isinstance(a.get("metric"), str) and isinstance(a.get("higher_better"), bool)):
                raise ValueError(f"{where}.also[{i}]: needs `metric` (a name) and `higher_better` (true or false)")
            also.append((a["metric"], a["higher_better"]))
        benches = s["bench"] if isinstance(s["bench"], list) else [s["bench"]]
        if not benches or not all(isinstance(b, str) for b in benches):
            raise ValueError(f"{where}.bench: a benchmark name or a non-empty list of them")
        synthetic[str(key)] = SyntheticClaim(
            str(key), str(s["statement"]), s["task"], benches[0], str(s["metric"]),
            bool(s["higher_better"]), s["rule"], _check_matcher(s["better"], f"{where}.better"),
            [_check_matcher(m, f"{where}.than[{i}]") for i, m in enumerate(s["than"])], tuple(also), tuple(benches))
    out = Claims(path, str(doc.get("source", "")), tables, reproduced_by, synthetic)
    for key, note in (doc.get("inconsistent_means") or {}).items():
        try:
            out.get(key)
        except (KeyError, ValueError) as e:
            raise ValueError(f"{path}: inconsistent_means.{key}: {e}") from None
        out.inconsistent_means[str(key)] = str(note)
    return out


# ----------------------------------------------------------------------------- consistency checks

def stated_mean_checks(claims: Claims) -> list[dict]:
    """Every stated mean (a `mean_of` column) against the mean of the row's printed values.

    Checked where the row exists in the source table with all the averaged columns. `ok` iff
    |stated - mean| <= half a printed unit of the stated value (plus 1e-9 for float noise).
    """
    out = []
    for t in claims.tables.values():
        for c in t.columns:
            if not c.mean_of:
                continue
            src = claims.tables[c.mean_table or t.key]
            for row, cells in t.rows.items():
                if c.key not in cells or row not in src.rows:
                    continue
                parts = [src.rows[row].get(k) for k in c.mean_of]
                if any(p is None for p in parts):
                    continue
                mean = sum(p.value for p in parts) / len(parts)
                stated = cells[c.key]
                out.append({"key": stated.key, "stated": stated.text, "computed": mean,
                            "of": [p.key for p in parts],
                            "ok": abs(stated.value - mean) <= stated.half_unit + 1e-9})
    return out


def same_as_checks(claims: Claims) -> list[dict]:
    """Rows that restate another table's numbers (`same_as`): each shared value must be equal."""
    out = []
    for t in claims.tables.values():
        for row, m in t.row_meta.items():
            if "same_as" not in m:
                continue
            ref = m["same_as"].split("/")
            ref_cells = claims.tables[ref[0]].rows[ref[1]]
            for col, cl in t.rows[row].items():
                ref_col = ref[2] if len(ref) == 3 else col
                if ref_col in ref_cells:
                    other = ref_cells[ref_col]
                    out.append({"key": cl.key, "ref": other.key, "value": cl.text, "ref_value": other.text,
                                "ok": cl.value == other.value})
    return out


# ----------------------------------------------------------------------------- reproduced values

def _hubs(m: dict, config: dict, task: str | None) -> list[str]:
    """Hub ids of a model: `hub` (a string, or task -> id) or, for kind base, base_model.hub."""
    hub = m.get("hub") if m["kind"] != "base" else (config.get("base_model") or {}).get("hub")
    if isinstance(hub, dict):
        return [str(hub[task])] if task in hub else ([] if task else [str(v) for v in hub.values()])
    return [str(hub)] if hub else []


def model_matches(matcher: dict, name: str, config: dict, task: str | None = None) -> bool:
    """Does config model `name` satisfy every field of `matcher` (see claims.yaml) for `task`?"""
    m = config["models"][name]
    if "kind" in matcher and m["kind"] != matcher["kind"]:
        return False
    if "name" in matcher and not re.fullmatch(matcher["name"], name):
        return False
    if "hub_contains" in matcher:
        if not any(matcher["hub_contains"] in h for h in _hubs(m, config, task)):
            return False
    if "unify_focal" in matcher:
        if m["kind"] != "run":
            return False
        runs = config.get("runs") or {}
        # a run name may be a template over the task: the runs of the tasks the model is evaluated
        # on decide, all alike (same recipe); e.g. tiny-{task} is not tiny-depth-native
        tasks = m.get("tasks") or list(config.get("benchmarks") or {}) or list(TASKS)
        if isinstance(m["run"], dict):  # one run per task: the tasks it names
            tasks = [t for t in tasks if t in m["run"]]
        specs = [runs[r] for r in dict.fromkeys(model_run(m, t) for t in tasks) if r in runs]
        if not specs or any(bool(s.get("unify_focal", True)) != matcher["unify_focal"] for s in specs):
            return False
    return True


def models_matching(matchers: list[dict], config: dict, task: str | None = None) -> list[str]:
    """Config models (config order) matching any of `matchers`, restricted to those that answer
    `task` (vlm3.config.models_for) when it is given."""
    names = models_for(config, task) if task else list(config.get("models") or {})
    return [name for name in names if any(model_matches(mt, name, config, task) for mt in matchers)]


def bench_for(column: Column, task: str, config: dict) -> str | None:
    """The configured benchmark `{dataset}_{split}` of `task` that a paper column maps to."""
    for b in (config.get("benchmarks") or {}).get(task, []):
        if b["dataset"] in column.datasets:
            return f"{b['dataset']}_{b['split']}"
    return None


@dataclass(frozen=True)
class Repro:
    value: float
    lo: float  # NaN where no CI
    hi: float
    source: str  # metrics file(s) or "mean of ..."
    parsed_only: float = math.nan  # the same metric over parsed answers only (VLM3's notebook)
    counts: str = ""  # "n=..., unparsed ..., missing ..." of the metrics file


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def reproduced(claims: Claims, table: str, column: str, model: str, metrics: dict,
               config: dict) -> tuple[Repro | None, str]:
    """(value, reason): the reproduced value of a table column for a model, or None and why not.

    `metrics`: {task: {model: {bench: record}}} as vlm3.report.tables.load_metrics returns.
    """
    t = claims.tables[table]
    c = t.column(column)
    if c.mean_of:
        src = claims.tables[c.mean_table or table]
        parts = []
        for k in c.mean_of:
            r, why = reproduced(claims, src.key, k, model, metrics, config)
            if r is None:
                return None, f"mean of {len(c.mean_of)}: {src.key}/{k} not reproduced ({why})"
            parts.append(r)
        return Repro(sum(p.value for p in parts) / len(parts), math.nan, math.nan,
                     f"mean of {src.key} columns {', '.join(c.mean_of)}",
                     sum(p.parsed_only for p in parts) / len(parts), "; ".join(p.counts for p in parts)), ""
    bench = bench_for(c, t.task, config)
    if bench is None:
        return None, f"no configured {t.task} benchmark is one of {', '.join(c.datasets)}"
    rec = metrics.get(t.task, {}).get(model, {}).get(bench)
    if rec is None:
        return None, f"missing results/metrics/{model}/{t.task}/{bench}.json"
    v = _num(rec["metrics"].get(c.metric))
    if not math.isfinite(v):
        return None, f"results/metrics/{model}/{t.task}/{bench}.json has no finite {c.metric}"
    ci = (rec.get("ci95") or {}).get(c.metric) or [None, None]
    lo, hi = _num(ci[0]), _num(ci[1])
    po = _num(((rec.get("parsed_only") or {}).get("metrics") or {}).get(c.metric))
    counts = (f"n={rec.get('n')}, unparsed {rec.get('n_unparsed')}, missing {rec.get('n_missing', 0)}"
              if "n" in rec else "")
    return Repro(v * c.scale, lo * c.scale, hi * c.scale, f"results/metrics/{model}/{t.task}/{bench}.json",
                 po * c.scale, counts), ""
