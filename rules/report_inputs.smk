# Helpers of the report stage (rules/report.smk): the files rule figures reads, computed from the
# config, and its outputs marked for the HTML report (`snakemake --report`, captions in report/).

import os


def figure_qa():
    """QA files of the correspondence benchmarks (rule figures draws their image pairs)."""
    if "correspondence" not in TASKS:
        return []
    return [
        f"results/qa/correspondence/{b['dataset']}/{b['split']}.jsonl" for b in config["benchmarks"]["correspondence"]
    ]


def figure_images():
    """The resized image folders those QA files point into."""
    if "correspondence" not in TASKS:
        return []
    return [f"results/resized/{b['dataset']}/{b['split']}" for b in config["benchmarks"]["correspondence"]]


# figure_outputs() key -> (caption file in report/, label); other keys are correspondence_{model}.
FIGURE_CAPTIONS = {
    "loss": ("loss", "training loss"),
    "depth": ("depth_scatter", "depth: predicted vs true"),
    "pose": ("pose_cdf", "pose: error CDF"),
}


def report_figures():
    """figure_outputs() (rules/common.smk), each marked for the HTML report with its caption."""
    out = {}
    for key, path in figure_outputs().items():
        caption, label = FIGURE_CAPTIONS.get(key, ("correspondence", f"correspondence: {key[5:]}"))
        out[key] = report(path, caption=f"../report/{caption}.rst", category="Figures", labels={"figure": label})
    return out
