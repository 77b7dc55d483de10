"""The tiny valid inputs of every stage (tests/faults/world.py), built once per session."""

import pytest

from tests.faults.world import build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("faults_world"))
