# Stage report: LaTeX tables (booktabs, CSV twins) and figures from the metrics files.


localrules:
    tables,


rule tables:
    input:
        lambda w: expand(
            "results/metrics/{model}/{task}/{bench}.json",
            model=models_for(w.task), task=w.task, bench=benches(w.task),
        ),
    output:
        tex="results/tables/{task}.tex",
        csv="results/tables/{task}.csv",
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
        " --config config/config.yaml --out {output.tex} > {log} 2>&1"
