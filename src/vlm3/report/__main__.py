"""`python -m vlm3.report` = `python -m vlm3.report.tables` (figures: `python -m vlm3.report.figures`)."""

from vlm3.report.tables import main

if __name__ == "__main__":
    from vlm3.errors import run_stage

    run_stage(main, "vlm3.report")
