"""LaTeX macros for the paper: every claimed and reproduced number as a `\\newcommand`.

CLI: `python -m vlm3.report.macros --claims paper/claims.yaml --audit results/audit/report.json
--out results/paper/macros.tex`

Names are derived deterministically from keys, letters only (TeX control words): each key part is
split at non-alphanumerics, digits are spelt out one by one (3 -> Three), and every piece starts
upper case. A collision of two different keys is an error, never a silent overwrite.
- `\\claim{Table}{Row}{Column}` the claim as printed:  depth/VLM3-4B/mean -> \\claimDepthVLMThreeFourBMean = .904
- `\\repro{Table}{Row}{Column}{Model}` reproduced value printed like the column's claims, or -- (not run)
- `\\verdict{Table}{Row}{Column}{Model}` reproduced / not reproduced / not run
- `\\synth{Claim}{Role}` (+ `Lo`, `Hi`): a synthetic claim's numbers on its metric (3 decimals) by
  role, not by model name, so any config's models fill them: `Better` (the claim's `better` model)
  and `Than{Matcher}` for each `than` matcher ({kind: base} -> ThanBase, {kind: run, unify_focal:
  false} -> ThanRunUnifyFocalFalse); -- where the audit compared none. Two models in one role
  are an error (the paper prints one number per role).
- `\\synth{Claim}Verdict`; `\\audit{Paper|Synthetic}{Reproduced|NotReproduced|NotRun|Claims}`;
  `\\auditInconsistentMeans`.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from vlm3.report.claims import load_claims
from vlm3.utils import atomic_path, load_mapping

log = logging.getLogger("vlm3.report.macros")

DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")
DASH = "--"


def camel(part: str) -> str:
    """'VLM3-4B' -> 'VLMThreeFourB'; 'ablation: 4B 32M' -> 'AblationFourBThreeTwoM'."""
    out = []
    for tok in re.split(r"[^A-Za-z0-9]+", str(part)):
        if not tok:
            continue
        tok = "".join(DIGITS[int(ch)] if ch.isdigit() else ch for ch in tok)
        out.append(tok[0].upper() + tok[1:])
    return "".join(out)


def macro_name(prefix: str, *parts: str) -> str:
    name = prefix + "".join(camel(p) for p in parts)
    if not re.fullmatch(r"[A-Za-z]+", name):
        raise ValueError(f"macro name {name!r} from {parts} is not letters only")
    return name


class MacroSet:
    """Ordered name -> (value, origin key); refuses two origins for one name."""

    def __init__(self):
        self.items: dict[str, tuple[str, str]] = {}

    def add(self, name: str, value: str, origin: str) -> None:
        old = self.items.get(name)
        if old is not None and old[1] != origin:
            raise ValueError(f"macro \\{name} derived from both {old[1]!r} and {origin!r}; rename one key")
        self.items[name] = (value, origin)

    def render(self, header: str) -> str:
        lines = [f"% {header}"]
        lines += [f"\\newcommand{{\\{n}}}{{{v}}}" for n, (v, _) in self.items.items()]
        return "\n".join(lines) + "\n"


def _num(x, decimals: int) -> str:
    return DASH if x is None else f"{x:.{decimals}f}"


def role_name(matcher: dict) -> str:
    """A `than` matcher as a role: {kind: base} -> 'Base'; {kind: run, unify_focal: false} -> 'RunUnifyFocalFalse'."""
    return camel(" ".join([str(matcher.get("kind", ""))] + [f"{k} {v}" for k, v in matcher.items() if k != "kind"]))


def synthetic_roles(claims, result: dict) -> list[tuple[str, float | None, float | None, float | None]]:
    """(role, value, CI low, CI high) on the claim's metric for `Better` and each `Than{matcher}` of
    the synthetic claim audited in `result`; None where the audit compared no model in that role."""
    spec = claims.synthetic[result["key"]]
    roles = [("Better", "better", None)] + [("Than" + role_name(m), "than", i) for i, m in enumerate(spec.than)]
    out = []
    for role, side, matcher in roles:
        rows = [k for k in result["comparisons"] if k["metric"] == result["metric"]
                and (matcher is None or k["than_matcher"] == matcher)]
        models = sorted({k[side] for k in rows})
        if len(models) > 1:
            raise ValueError(f"synthetic claim {result['key']}: role {role} is filled by several models {models}; "
                             "the paper prints one number per role (narrow the matcher in claims.yaml)")
        k = rows[0] if rows else None
        out.append((role, *((k[f"{side}_value"], *k[f"{side}_ci"]) if k else (None, None, None))))
    return out


def build_macros(claims_path, audit: dict) -> MacroSet:
    claims = load_claims(claims_path)
    ms = MacroSet()
    for cl in claims.claims():
        ms.add(macro_name("claim", cl.table, cl.row, cl.column), cl.text, cl.key)
    for r in audit["paper_claims"]:
        if r["model"] is None:
            continue
        value = DASH if r["reproduced"] is None else claims.tables[r["table"]].fmt(r["column"], r["reproduced"])
        origin = f"{r['key']}@{r['model']}"
        ms.add(macro_name("repro", r["table"], r["row"], r["column"], r["model"]), value, origin)
        ms.add(macro_name("verdict", r["table"], r["row"], r["column"], r["model"]), r["verdict"], origin)
    for c in audit["synthetic_claims"]:
        ms.add(macro_name("synth", c["key"], "verdict"), c["verdict"], c["key"])
        for role, value, lo, hi in synthetic_roles(claims, c):
            base = macro_name("synth", c["key"], role)
            ms.add(base, _num(value, 3), f"{c['key']}/{role}")
            ms.add(base + "Lo", _num(lo, 3), f"{c['key']}/{role}")
            ms.add(base + "Hi", _num(hi, 3), f"{c['key']}/{role}")
    for part in ("paper", "synthetic"):
        s = audit["summary"][part]
        for key in ("claims", "reproduced", "not reproduced", "not run"):
            ms.add(macro_name("audit", part, key), str(s[key]), f"summary/{part}/{key}")
    ms.add("auditInconsistentMeans", str(len(audit["consistency"]["stated_means_inconsistent"])),
           "consistency/stated_means_inconsistent")
    return ms


def write_macros(claims_path, audit_path, out) -> Path:
    audit_path = Path(audit_path)
    audit = load_mapping(audit_path, "--audit", fmt="json")
    for need in ("paper_claims", "synthetic_claims", "summary", "consistency"):
        if need not in audit:
            raise ValueError(f"--audit {audit_path}: no `{need}` (not an audit report?)")
    ms = build_macros(claims_path, audit)
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(ms.render(f"generated by vlm3.report.macros from {claims_path} and {audit_path}; do not edit"))
    log.info("%d macros -> %s", len(ms.items), out)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claims", default="paper/claims.yaml")
    p.add_argument("--audit", required=True, help="results/audit/report.json")
    p.add_argument("--out", required=True, help="results/paper/macros.tex")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    write_macros(a.claims, a.audit, a.out)


if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.report.macros")
