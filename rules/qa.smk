# Stage qa + mix: question/answer records per task, then the weighted training mixture.


rule qa:
    input:
        "results/resized/{dataset}/{split}",
    output:
        "results/qa/{task}/{dataset}/{split}.jsonl",
    params:
        seed=SEED,
        flags=qa_flags,
    log:
        "results/logs/qa/{task}_{dataset}_{split}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.qa.build --task {wildcards.task} --resized {input} --out {output}"
        " --seed {params.seed} {params.flags} > {log} 2>&1"


rule mix:
    input:
        mix_sources,
    output:
        "results/qa/{task}/train.jsonl",
    params:
        seed=SEED,
        inputs=lambda w: " ".join(
            f"results/qa/{w.task}/{ds}/train.jsonl:{wt}"
            for ds, wt in config["mixtures"][w.task]["sources"].items()
        ),
        n=lambda w: config["mixtures"][w.task]["n"],
    log:
        "results/logs/qa/{task}_mix.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.qa.mix --inputs {params.inputs} --n {params.n} --seed {params.seed}"
        " --out {output} > {log} 2>&1"
