"""The tiny valid inputs of every stage (tests/faults/world.py), built once per session."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.faults.*` imports work however pytest is started
    sys.path.insert(0, str(ROOT))

from tests.faults.world import build_world  # noqa: E402


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("faults_world"))
