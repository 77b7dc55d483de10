"""The README's two set-up commands exist, and .ci/run runs exactly the README's test command."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRACT = "awk '/<!-- {tag} -->/{{m=1; next}} m && /^```/{{if (f) exit; f=1; next}} f' README.md"


def block(tag: str) -> str:
    out = subprocess.run(EXTRACT.format(tag=tag), shell=True, cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()


def test_run_and_test_commands_are_single_lines():
    run, test = block("run-command"), block("test-command")
    assert run == "pip install -r requirements.txt && snakemake -c all"
    assert test.startswith("pip install -r requirements.txt && ")
    assert "\n" not in run and "\n" not in test


def test_ci_uses_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert EXTRACT.format(tag="test-command").split(" README.md")[0] in ci
    assert 'bash -c "$cmd"' in ci


def test_requirements_pin_cpu_torch_first():
    lines = [ln for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "torch==2.13.0"
    assert "-e ." in lines
