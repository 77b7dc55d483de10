"""The slurm profile against a real SLURM scheduler (.ci/slurm-up.sh starts a single-node one).

- the embedded default's depth table (quick setting) through `--profile slurm`, every job but the
  local `tables` rule going through sbatch, checked in the plugin's logs and SLURM's job
  completion log;
- a small workflow with the same profile: a job failing on its first attempt is retried, a job
  cancelled with scancel is resubmitted, and the train rule's `--signal=TERM@120` reaches the
  python process inside the job step, which checkpoints (writes a state file) before exiting.

Only SITE keys of the profile are adapted to this machine (`site_profile`): no conda, cores and
memory of the node. Skipped when no cluster answers `sinfo`, failed instead when
VLM3_REQUIRE_SLURM=1 (CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import run

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

JOBCOMP = Path("/var/log/slurm/jobcomp.log")
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


def _cluster_problem() -> str | None:
    if shutil.which("sinfo") is None:
        return "sinfo is not installed"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%P|%T"], text=True, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s"
    if proc.returncode != 0:
        return f"sinfo failed: {proc.stderr.strip()}"
    states = {line.split("|")[1] for line in proc.stdout.split()}
    if not states & {"idle", "mixed", "allocated", "completing"}:
        return f"no usable node (states {sorted(states)})"
    return None


@pytest.fixture(scope="module")
def cluster() -> dict:
    """Node facts of the running cluster; skip (or fail under VLM3_REQUIRE_SLURM=1) without one."""
    problem = _cluster_problem()
    if problem:
        if os.environ.get("VLM3_REQUIRE_SLURM") == "1":
            pytest.fail(f"VLM3_REQUIRE_SLURM=1 but no SLURM cluster: {problem}")
        pytest.skip(f"no SLURM cluster ({problem}); start one with `bash .ci/slurm-up.sh`")
    out = run(["sinfo", "-h", "-N", "-o", "%c|%m|%P"], cwd=Path("/"), timeout=20).stdout.split()
    cpus = min(int(line.split("|")[0]) for line in out)
    mem = min(int(line.split("|")[1]) for line in out)
    partitions = {line.split("|")[2].rstrip("*") for line in out}
    return {"cpus": cpus, "mem_mb": mem, "partitions": partitions}


def site_profile(profile: dict, cluster: dict) -> dict:
    """The profile with its SITE keys set for this machine; every other key is left as it is."""
    p = yaml.safe_load(yaml.safe_dump(profile))
    # Rules run in the current Python environment (requirements.txt), no conda here.
    p.pop("software-deployment-method", None)  # (commented out in the profile by default)
    p.pop("conda-prefix", None)
    p["cores"] = cluster["cpus"]
    p["set-threads"] = {rule: min(n, cluster["cpus"]) for rule, n in p["set-threads"].items()}
    for rule in ("train", "predict"):
        p["set-resources"].setdefault(rule, {})["mem_mb"] = min(6000, cluster["mem_mb"] // 2)
    used = {p["default-resources"]["slurm_partition"]}
    used |= {r["slurm_partition"] for r in p["set-resources"].values() if "slurm_partition" in r}
    missing = used - cluster["partitions"]
    if missing:
        pytest.fail(f"the cluster lacks the profile's partitions {sorted(missing)}; "
                    "`bash .ci/slurm-up.sh` creates them")
    return p


def write_site_profile(repo_profile: Path, dst_dir: Path, cluster: dict) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    prof = site_profile(yaml.safe_load(repo_profile.read_text()), cluster)
    (dst_dir / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    return dst_dir


def submissions(log: str) -> list[tuple[str, str, Path]]:
    """(slurm job id, rule, plugin log file) of every sbatch submission the log reports."""
    out = []
    for jobid, path in SUBMITTED.findall(log):
        rule = next(part[len("rule_"):] for part in Path(path).parts if part.startswith("rule_"))
        out.append((jobid, rule, Path(path)))
    return out


def jobcomp(jobids) -> dict[str, dict[str, str]]:
    """Fields (JobState, EndTime, WorkDir, ...) of each job id in SLURM's job completion log."""
    entries = {}
    for line in JOBCOMP.read_text().splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if fields.get("JobId") in jobids:
            entries[fields["JobId"]] = fields  # a requeued id appears again: the last entry wins
    return entries


def jobcomp_states(jobids) -> dict[str, str]:
    return {i: f["JobState"] for i, f in jobcomp(jobids).items()}


# --- the real workflow --------------------------------------------------------------------------

# Jobs of results/tables/depth.tex in the quick setting; `tables` is a localrule (no sbatch).
# The tokenizer reads every mixture's training QA, so the pair dataset's train split is built too;
# the depth run fine-tunes the pre-trained base (skills corpus, pre-training).
EXPECTED_SUBMISSIONS = {
    "generate_synthetic": 3, "index": 3, "calibrate": 3, "resize": 3, "qa": 5, "mix": 4,
    "build_tiny_model": 1, "skills_corpus": 1, "pretrain_base": 1, "train": 1, "predict": 2, "baseline": 1,
    "score": 3, "eval_manifest": 1, "leak_check": 1,
}


def test_depth_table_through_slurm(cluster, clone, quick_yaml, snakemake_exe):
    write_site_profile(clone / "profiles" / "slurm" / "config.yaml", clone / "profiles" / "slurm", cluster)
    proc = run([snakemake_exe, "--profile", "slurm", f"--configfile={quick_yaml}",
                "results/tables/depth.tex", "--slurm-init-seconds-before-status-checks", "5"],
               cwd=clone, timeout=2400)
    log = proc.stdout + proc.stderr
    table = (clone / "results" / "tables" / "depth.tex").read_text()
    assert "Tiny Qwen3-VL, fine-tuned" in table and "\\bottomrule" in table

    subs = submissions(log)
    assert Counter(rule for _, rule, _ in subs) == EXPECTED_SUBMISSIONS
    assert "localrule tables:" in log and "localrule train_config:" in log
    assert not (clone / ".snakemake" / "slurm_logs" / "rule_tables").exists()
    for jobid, rule, path in subs:
        assert path.is_relative_to(clone / ".snakemake" / "slurm_logs" / f"rule_{rule}"), path
        assert path.name == f"{jobid}.log"
    ids = {jobid for jobid, _, _ in subs}
    assert len(ids) == len(subs)
    assert jobcomp_states(ids) == {i: "COMPLETED" for i in ids}
    # squeue answered the status queries: no fallback to sacct (accounting is off here).
    assert "Falling back to 'sacct'" not in log
    # The trainer ran inside the SLURM allocation with the profile's threads.
    train_cmd = re.search(r"python -m vlm3\.train .*", log).group(0)
    assert f"--threads {min(32, cluster['cpus'])}" in train_cmd


# --- a small workflow with the same profile: retry, scancel, SIGTERM ----------------------------

PROBE = '''\
"""Stands in for the trainer: on SIGTERM take 10 s to "checkpoint", write the state, exit 143."""
import os, signal, sys, time
state, out = sys.argv[1], sys.argv[2]
if os.path.exists(state):  # the resubmitted job resumes from the checkpoint and finishes
    with open(out, "w") as f:
        f.write(open(state).read())
    sys.exit(0)
t0 = time.time()
def on_term(*_):
    time.sleep(10)
    with open(state, "w") as f:
        f.write(f"SIGTERM after {time.time() - t0:.0f} s in pid {os.getpid()}\\n")
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
while time.time() - t0 < 900:
    time.sleep(1)
sys.exit(1)
'''

SNAKEFILE = '''\
shell.prefix("set -euo pipefail; ")

rule all:
    input: "out/flaky.txt", "out/cancelled.txt", "out/train.txt"

rule flaky:
    output: "out/flaky.txt"
    resources: runtime=5
    shell: "if [ ! -e state/flaky ]; then touch state/flaky; echo failing on purpose >&2; exit 3; fi;"
           " echo second try > {output}"

rule cancelled:
    output: "out/cancelled.txt"
    resources: runtime=30
    shell: "if [ ! -e state/cancelled ]; then touch state/cancelled; sleep 900; fi;"
           " echo second try > {output}"

# Named `train` so that the profile's set-resources for training (the SIGTERM) apply; its shell
# has the form of the real train rule's (exec python ... > log).
rule train:
    output: "out/train.txt"
    resources: runtime=4, gpu=0
    shell: "exec python probe.py state/train.txt {output} > logs/train.log 2>&1"
'''


def _squeue_job(comment: str, workdir: Path) -> tuple[str, str] | None:
    """(id, state) of this workflow's job whose comment (rule_<name>) is `comment`."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%k|%T|%Z"], text=True, capture_output=True).stdout
    for line in out.splitlines():
        jobid, com, state, wd = line.split("|")
        if com == comment and Path(wd) == workdir:
            return jobid, state
    return None


@pytest.fixture(scope="module")
def small_run(cluster, clone, tmp_path_factory, snakemake_exe):
    """Run the small workflow through the profile, scancel the `cancelled` job once it runs."""
    wd = tmp_path_factory.mktemp("small")
    (wd / "Snakefile").write_text(SNAKEFILE)
    (wd / "probe.py").write_text(PROBE)
    (wd / "empty.yaml").write_text("{}\n")
    for sub in ("state", "logs", "out"):
        (wd / sub).mkdir()
    write_site_profile(clone / "profiles" / "slurm" / "config.yaml", wd / "slurm", cluster)
    cmd = [snakemake_exe, "--profile", "slurm", f"--configfile={wd / 'empty.yaml'}",
           "--slurm-init-seconds-before-status-checks", "5", "--set-threads", "train=1"]
    proc = subprocess.Popen(cmd, cwd=wd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    cancelled = None
    try:
        deadline = time.time() + 300
        while cancelled is None and time.time() < deadline and proc.poll() is None:
            job = _squeue_job("rule_cancelled", wd)
            # The marker shows the rule's shell is running inside the job step.
            if job and job[1] == "RUNNING" and (wd / "state" / "cancelled").exists():
                subprocess.run(["scancel", job[0]], check=True)
                cancelled = job[0]
            time.sleep(1)
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return {"wd": wd, "rc": proc.returncode, "log": out, "cancelled": cancelled}


def _jobs_of(small_run, rule) -> list[str]:
    return [jobid for jobid, r, _ in submissions(small_run["log"]) if r == rule]


def test_small_workflow_finishes(small_run):
    assert small_run["rc"] == 0, small_run["log"][-6000:]


def test_failed_job_is_retried(small_run):
    wd = small_run["wd"]
    assert (wd / "out" / "flaky.txt").read_text() == "second try\n"
    ids = _jobs_of(small_run, "flaky")
    assert len(ids) == 2
    assert jobcomp_states(set(ids)) == {ids[0]: "FAILED", ids[1]: "COMPLETED"}
    first_log = (wd / ".snakemake" / "slurm_logs" / "rule_flaky" / f"{ids[0]}.log")
    assert "failing on purpose" in first_log.read_text()


def test_scancelled_job_is_resubmitted(small_run):
    wd = small_run["wd"]
    assert small_run["cancelled"] is not None, "the `cancelled` job never ran"
    ids = _jobs_of(small_run, "cancelled")
    assert ids[0] == small_run["cancelled"] and len(ids) == 2
    assert jobcomp_states(set(ids)) == {ids[0]: "CANCELLED", ids[1]: "COMPLETED"}
    assert (wd / "out" / "cancelled.txt").read_text() == "second try\n"


def test_sigterm_reaches_the_python_process(small_run):
    """--signal=TERM@120 (the profile's train entry) reaches python inside the srun job step,
    which gets to finish its checkpoint; the resubmitted job resumes from it."""
    wd = small_run["wd"]
    state = (wd / "state" / "train.txt").read_text()
    assert re.fullmatch(r"SIGTERM after \d+ s in pid \d+\n", state)
    assert (wd / "out" / "train.txt").read_text() == state
    ids = _jobs_of(small_run, "train")
    assert len(ids) == 2
    assert jobcomp_states(set(ids)) == {ids[0]: "FAILED", ids[1]: "COMPLETED"}
    # The job ended only after the checkpoint was written (Snakemake waited for the exec'd
    # python). A bash parent dies of the TERM at once, the job ends, and the orphaned python
    # either outlives its allocation (proctrack/linuxproc) or is killed (cgroup).
    end = datetime.fromisoformat(jobcomp({ids[0]})[ids[0]]["EndTime"])
    written = datetime.fromtimestamp((wd / "state" / "train.txt").stat().st_mtime)
    assert written.replace(microsecond=0) <= end


def test_real_train_rule_execs_the_trainer(clone):
    """The property the SIGTERM test relies on, in the real rule: no shell between Snakemake and
    the trainer."""
    text = (clone / "rules" / "train.smk").read_text()
    rule = text[text.index("rule train:"):]
    assert re.search(r'shell:\s*(#[^\n]*\n\s*)*"exec (\{params\.launch\})?python -m vlm3\.train ', rule)
