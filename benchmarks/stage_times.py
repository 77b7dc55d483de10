"""Wall time per rule of one Snakemake run, read from its log (`snakemake ... 2>&1 | tee LOG`).

    python benchmarks/stage_times.py LOG [--json OUT.json]

For each rule: jobs, the summed job time and the wall span from its first job's start to its last
job's end (jobs of a rule overlap when they run in parallel). Used for the replica's record in
benchmarks/RESULTS.md; Snakemake's own --stats option no longer exists in Snakemake 8+.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
DONE = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def stage_times(lines) -> dict:
    now, pending, start, rule_of, out = None, None, {}, {}, {}
    first = last = None
    for line in lines:
        line = line.rstrip("\n")
        if m := STAMP.match(line):
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
            first = first or now
            last = now
        elif m := START.match(line):
            pending = m.group(1)
        elif (m := JOBID.match(line)) and pending:
            start[m.group(1)], rule_of[m.group(1)], pending = now, pending, None
        elif m := DONE.match(line):
            jid, rule = m.groups()
            s = start.get(jid, now)
            r = out.setdefault(rule, {"jobs": 0, "job_s": 0.0, "first": s, "last": now})
            r["jobs"] += 1
            r["job_s"] += (now - s).total_seconds()
            r["first"], r["last"] = min(r["first"], s), max(r["last"], now)
    rows = {k: {"jobs": v["jobs"], "job_s": v["job_s"], "span_s": (v["last"] - v["first"]).total_seconds(),
                "start_s": (v["first"] - first).total_seconds()} for k, v in out.items()}
    return {"total_s": (last - first).total_seconds() if first else 0.0,
            "rules": dict(sorted(rows.items(), key=lambda kv: kv[1]["start_s"]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--json")
    a = ap.parse_args()
    with open(a.log, encoding="utf-8", errors="replace") as f:
        res = stage_times(f)
    print(f"total wall {res['total_s']:.0f} s")
    print(f"{'rule':24s} {'jobs':>4s} {'start s':>8s} {'span s':>7s} {'job s':>7s}")
    for k, v in res["rules"].items():
        print(f"{k:24s} {v['jobs']:4d} {v['start_s']:8.0f} {v['span_s']:7.0f} {v['job_s']:7.0f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
