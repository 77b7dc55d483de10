# Stage qa + mix: question/answer records per task, then the weighted training mixture.


def qa_flags(w):
    t = config["tasks"].get(w.task, {})
    flags = {
        "questions_per_image": "--questions-per-image",
        "answer_style": "--answer-style",
        "border": "--border",
        "min_covisibility": "--min-covisibility",
    }
    return " ".join(f"{flag} {t[k]}" for k, flag in flags.items() if k in t)


rule qa:
    input:
        "results/resized/{dataset}/{split}",
    output:
        "results/qa/{task}/{dataset}/{split}.jsonl",
    params:
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
        " --seed {SEED} {params.flags} > {log} 2>&1"


def mix_sources(w):
    return [f"results/qa/{w.task}/{ds}/train.jsonl" for ds in config["mixtures"][w.task]["sources"]]


rule mix:
    input:
        mix_sources,
    output:
        "results/qa/{task}/train.jsonl",
    params:
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
        "python -m vlm3.qa.mix --inputs {params.inputs} --n {params.n} --seed {SEED}"
        " --out {output} > {log} 2>&1"
