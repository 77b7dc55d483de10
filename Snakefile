# VLM3 reproduction workflow. Default target: the four LaTeX tables of the configured experiment.
#   snakemake -c all                                   embedded default (config/config.yaml), CPU
#   snakemake --profile slurm results/tables/depth.tex paper config on a SLURM cluster
#   snakemake -c all --configfile config/config.yaml config/ablation_focal.yaml   + focal-unification ablation
# Stages (one file each in rules/): data, calibrate, resize, qa, train, evaluate, report, paper.
# The compiled paper PDF (needs TeX Live) is its own target: `snakemake -c all paper`.

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from vlm3.config import validate  # noqa: E402

# The embedded default, unless --configfile names another (e.g. the slurm profile's paper.yaml):
# loading both would deep-merge the synthetic datasets into the paper's.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


validate(config, source="workflow config")


# The HTML report (`snakemake -c all --report report.html` after a run): this description, then
# the tables, figures and audit the rules mark with report() (captions: report/*.rst).
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/calibrate.smk"
include: "rules/resize.smk"
include: "rules/qa.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report_inputs.smk"
include: "rules/report.smk"
include: "rules/paper.smk"


rule all:
    default_target: True
    input:
        expand("results/tables/{task}.tex", task=TASKS),
        calibration_reports(),
        rules.figures.output,
        expand("results/figures/worst_{task}.png", task=TASKS),
        rules.audit.output,
        rules.paper_tables.output,
        rules.paper_figures.output,
