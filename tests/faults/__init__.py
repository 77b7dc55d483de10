"""The fault corpus (issue 17): bad inputs and faults for every stage, their expected outcomes
(`cases.py`), the tiny inputs they start from (`world.py`), the test running each one
(`test_corpus.py`) and the generator of docs/faults.md (`render.py`)."""
