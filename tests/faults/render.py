"""Write docs/faults.md, the table of the fault corpus (tests/faults/cases.py), so the documented
outcomes cannot drift from the tested ones.

    python -m tests.faults.render          # rewrite docs/faults.md
    python -m tests.faults.render --check  # exit 1 when docs/faults.md is out of date
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from tests.faults.cases import CASES, STAGES

DOC = Path(__file__).resolve().parents[2] / "docs" / "faults.md"

HEADER = """# Faults and bad input: the corpus

Generated from `tests/faults/cases.py` by `python -m tests.faults.render`; do not edit by hand
(`tests/faults/test_render.py` fails when this file is out of date).

Every case runs through its stage's command-line entry (`python -m <module>`). Outcomes:

- **error**: exit status 1 and one line on stderr, `<module>: error: <what>`, naming the file (and
  line or row where there is one), the stage and the problem; no traceback (`--debug`, or
  `VLM3_DEBUG=1`, shows it); none of the stage's outputs and no staging beside them is left behind.
- **skip**: the documented policy is to go on: the stage succeeds, and the skipped items are counted
  and reported (in its log or its output file), never dropped silently.

"Shows" lists what the error line (or the report) must contain; `{d}` is the case's folder.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    counts = Counter(c.stage for c in CASES)
    outcomes = Counter(c.outcome for c in CASES)
    lines = [HEADER, f"{len(CASES)} cases: {outcomes['error']} errors, {outcomes['skip']} counted skips.\n",
             "| stage | cases |", "|---|---|"]
    lines += [f"| {s} | {counts[s]} |" for s in STAGES]
    lines += ["", "| id | stage | input | outcome | shows |", "|---|---|---|---|---|"]
    for c in CASES:
        shows = ", ".join(f"`{_cell(s)}`" for s in c.expect)
        lines.append(f"| {c.id} | {c.stage} | {_cell(c.input)} | {c.outcome} | {shows} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python -m tests.faults.render", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
