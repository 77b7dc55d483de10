"""The conda env files in envs/ (used with `--sdm conda`, e.g. by the slurm profile) parse, pin
every pip package exactly, and agree with requirements.txt, the environment the tests run in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = sorted((REPO / "envs").glob("*.yaml"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def norm(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = PIN.match(line)
        if not m:
            raise ValueError(f"requirements.txt: {line!r} is not pinned with ==")
        pins[norm(m.group(1))] = m.group(2)
    return pins


def pip_entries(env: dict) -> list[str]:
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            return [str(x) for x in dep["pip"]]
    return []


REQ = requirement_pins((REPO / "requirements.txt").read_text())


def test_requirement_pins_parser():
    assert requirement_pins("# c\nNumPy==2.4.6  # why\n-e .\nopencv_python-headless==5.0.0.93\n") == {
        "numpy": "2.4.6", "opencv-python-headless": "5.0.0.93"}
    with pytest.raises(ValueError, match="not pinned"):
        requirement_pins("torch>=2.9\n")


def test_there_are_env_files():
    assert {p.name for p in ENVS} >= {"data.yaml", "train.yaml", "eval.yaml", "report.yaml"}


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_parses(path):
    env = yaml.safe_load(path.read_text())
    assert set(env) == {"name", "channels", "dependencies"}
    assert env["name"] == f"vlm3-{path.stem}"
    assert "python=3.11" in env["dependencies"] and "pip" in env["dependencies"]


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_pip_pins_agree_with_requirements(path):
    entries = pip_entries(yaml.safe_load(path.read_text()))
    assert entries, f"{path.name} installs nothing with pip"
    for entry in entries:
        if " @ " in entry:  # a direct reference (not on PyPI): must not shadow a requirement
            assert norm(entry.split(" @ ")[0]) not in REQ, entry
            continue
        m = PIN.match(entry)
        assert m, f"{path.name}: {entry!r} is not pinned with =="
        name, version = norm(m.group(1)), m.group(2)
        assert name in REQ, f"{path.name}: {entry} is not in requirements.txt"
        assert version == REQ[name], f"{path.name}: {entry} but requirements.txt pins {REQ[name]}"


def test_data_env_reads_exr():
    entries = pip_entries(yaml.safe_load((REPO / "envs" / "data.yaml").read_text()))
    assert f"OpenEXR=={REQ['openexr']}" in entries


def test_every_rule_env_exists():
    used = set()
    for smk in (REPO / "rules").glob("*.smk"):
        used |= set(re.findall(r'conda:\s*\n\s*"\.\./envs/([\w-]+\.yaml)"', smk.read_text()))
    assert used and used <= {p.name for p in ENVS}
