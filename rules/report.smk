# Stage report: LaTeX tables (booktabs, CSV twins) and figures from the metrics files.


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
        lambda w: expand(
            "results/metrics/{model}/{task}/{bench}.json",
            model=models_for(w.task),
            task=w.task,
            bench=benches(w.task),
        ),
    output:
        tex="results/tables/{task}.tex",
        csv="results/tables/{task}.csv",
    params:
        config=CONFIGFILE,
    log:
        "results/logs/report/{task}_table.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.tables --task {wildcards.task} --metrics {input}"
        " --config {params.config} --out {output.tex} > {log} 2>&1"


rule figures:
    """Predicted-vs-true depth, pose error CDF (AUC@30 marked), correspondence pairs, loss curves."""
    input:
        predictions=all_predictions(),
        checkpoints=used_checkpoints(),
    output:
        **figure_outputs(),
    params:
        config=CONFIGFILE,
    log:
        "results/logs/report/figures.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.figures --predictions results/predictions --qa results/qa"
        " --checkpoints results/checkpoints --config {params.config} --out results/figures > {log} 2>&1"


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
        "results/figures/worst_{task}.png",
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
