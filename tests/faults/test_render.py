"""docs/faults.md is the rendering of the corpus as it is now."""

from tests.faults.render import DOC, render


def test_docs_faults_md_is_up_to_date():
    assert DOC.read_text() == render(), "docs/faults.md is out of date: run python -m tests.faults.render"
