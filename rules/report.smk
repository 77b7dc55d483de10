# Stage report: LaTeX tables (booktabs, CSV twins) and figures from the metrics files.
# Every file a rule reads is in its input (lists computed from the config), so a stale file of an
# earlier config never reaches a table or figure. Tables and figures are marked with report()
# (captions in report/*.rst): `snakemake -c all --report report.html` collects them on one page.


localrules:
    tables,
    figures,
    worst_cases,


if len(CONFIGFILES) > 1:

    localrules:
        merged_config,

    rule merged_config:
        """The deep merge of several --configfile, as Snakemake merges them, for the report CLIs."""
        input:
            CONFIGFILES,
        output:
            CONFIGFILE,
        log:
            "results/logs/report/merged_config.log",
        conda:
            "../envs/report.yaml"
        shell:
            "python -m vlm3.config --merge {input} --out {output} > {log} 2>&1"


rule tables:
    input:
        metrics=lambda w: expand(
            "results/metrics/{model}/{task}/{bench}.json",
            model=models_for(w.task),
            task=w.task,
            bench=benches(w.task),
        ),
        config=CONFIGFILE,
    output:
        tex="results/tables/{task}.tex",
        csv=report(
            "results/tables/{task}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{task}"},
        ),
    log:
        "results/logs/report/{task}_table.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.tables --task {wildcards.task} --metrics {input.metrics}"
        " --config {input.config} --out {output.tex} > {log} 2>&1"


rule figures:
    """Predicted-vs-true depth, pose error CDF (AUC@30 marked), correspondence pairs, loss curves."""
    input:
        predictions=all_predictions(),
        qa=figure_qa(),
        images=figure_images(),
        checkpoints=used_checkpoints(),
        config=CONFIGFILE,
    output:
        **report_figures(),
    params:
        out=lambda w, output: os.path.dirname(output[0]),
    log:
        "results/logs/report/figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.figures --predictions {input.predictions} --qa {input.qa}"
        " --checkpoints {input.checkpoints} --config {input.config} --out {params.out} > {log} 2>&1"


rule worst_cases:
    """The worst-answered questions of a task over its models and benchmarks (per-question results)."""
    input:
        lambda w: expand(
            "results/metrics/{model}/{task}/{bench}.questions.jsonl",
            model=models_for(w.task),
            task=w.task,
            bench=benches(w.task),
        ),
    output:
        report(
            "results/figures/worst_{task}.png",
            caption="../report/worst.rst",
            category="Figures",
            labels={"figure": "worst answers: {task}"},
        ),
    log:
        "results/logs/report/worst_{task}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.worst --questions {input} --out {output} --title 'worst {wildcards.task} answers'"
        " > {log} 2>&1"
