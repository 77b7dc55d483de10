# Stage paper: tables in the paper's layout, the claims audit, LaTeX macros, a figure and the PDF.
#   snakemake -c1 paper          everything below (results/paper/main.pdf needs latexmk)
# Inputs are every metrics file the config asks for, so the audit always sees the whole run.

from vlm3.report.claims import load_claims

CLAIMS = "paper/claims.yaml"
PAPER_TABLES = list(load_claims(CLAIMS).tables)


localrules:
    paper,
    paper_tables,
    paper_figures,
    paper_macros,
    audit,


# CONFIGFILE (rules/common.smk): the config file this run was started with; the report CLIs read it.
ALL_METRICS = [f"results/metrics/{m}/{t}/{b}.json" for t in TASKS for m in models_for(t) for b in benches(t)]


rule paper_tables:
    """One booktabs table per paper table (claims.yaml), reported rows plus reproduced rows."""
    input:
        metrics=ALL_METRICS,
        claims=CLAIMS,
        config=CONFIGFILE,
    output:
        tex=expand("results/tables/paper_{table}.tex", table=PAPER_TABLES),
        csv=[
            report(f, caption="../report/paper_table.rst", category="Paper", labels={"item": f"table {t}"})
            for t, f in zip(PAPER_TABLES, expand("results/tables/paper_{table}.csv", table=PAPER_TABLES))
        ],
    log:
        "results/logs/report/paper_tables.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.paper_tables --claims {input.claims} --metrics {input.metrics}"
        " --config {input.config} --out {output.tex} > {log} 2>&1"


rule audit:
    """Every claim beside its reproduced value with CI and a verdict; the synthetic replica's claims;
    steps reached by each fine-tuning run the models use (time-capped runs flagged)."""
    input:
        metrics=ALL_METRICS,
        claims=CLAIMS,
        config=CONFIGFILE,
        runs=used_checkpoints(),
    output:
        md=report("results/audit/report.md", caption="../report/audit.rst", category="Audit"),
        json="results/audit/report.json",
    log:
        "results/logs/report/audit.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.audit --claims {input.claims} --metrics {input.metrics}"
        " --config {input.config} --runs {input.runs} --out {output.json} > {log} 2>&1"


rule paper_figures:
    """Depth delta1 per dataset: the paper's bars beside the reproduced ones."""
    input:
        metrics=ALL_METRICS,
        claims=CLAIMS,
        config=CONFIGFILE,
    output:
        png=report(
            "results/figures/paper_depth_delta1.png",
            caption="../report/paper_figure.rst",
            category="Paper",
            labels={"item": "figure depth delta1"},
        ),
        csv="results/figures/paper_depth_delta1.csv",
    log:
        "results/logs/report/paper_figures.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.paper_figures --claims {input.claims} --metrics {input.metrics}"
        " --config {input.config} --out {output.png} > {log} 2>&1"


rule paper_macros:
    """Every claimed/reproduced number and the audit counts as LaTeX \\newcommand macros."""
    input:
        claims=CLAIMS,
        audit="results/audit/report.json",
    output:
        "results/paper/macros.tex",
    log:
        "results/logs/report/paper_macros.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/report.yaml"
    shell:
        "python -m vlm3.report.macros --claims {input.claims} --audit {input.audit} --out {output} > {log} 2>&1"


rule paper_pdf:
    """paper/main.tex -> results/paper/main.pdf with latexmk (pdflatex), fixed dates: reproducible bytes."""
    input:
        tex="paper/main.tex",
        macros="results/paper/macros.tex",
        tables=expand("results/tables/paper_{table}.tex", table=PAPER_TABLES),
        task_tables=expand("results/tables/{task}.tex", task=TASKS),
        figure="results/figures/paper_depth_delta1.png",
    output:
        "results/paper/main.pdf",
    log:
        "results/logs/report/paper_pdf.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/report.yaml"
    shell:
        "tmp=$(mktemp -d); trap 'rm -rf \"$tmp\"' EXIT; "
        "SOURCE_DATE_EPOCH=0 FORCE_SOURCE_DATE=1 latexmk -pdf -interaction=nonstopmode -halt-on-error"
        ' -outdir="$tmp" {input.tex} > {log} 2>&1; mv "$tmp/main.pdf" {output}'


rule paper:
    """Target: the paper PDF, the audit and the figure."""
    input:
        "results/paper/main.pdf",
        "results/audit/report.md",
        "results/figures/paper_depth_delta1.png",
