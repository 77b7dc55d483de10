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
        inputs=mix_weighted,
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


# The focal-unification ablation: the same QA and mixture from the native-focal images
# (results/resized_native), read by runs with unify_focal: false and by their predictions.
use rule qa as qa_native with:
    input:
        "results/resized_native/{dataset}/{split}",
    output:
        "results/qa_native/{task}/{dataset}/{split}.jsonl",
    log:
        "results/logs/qa/{task}_{dataset}_{split}_native.log",


use rule mix as mix_native with:
    input:
        lambda w: mix_sources(w, NATIVE_QA),
    output:
        "results/qa_native/{task}/train.jsonl",
    params:
        inputs=lambda w: mix_weighted(w, NATIVE_QA),
    log:
        "results/logs/qa/{task}_mix_native.log",


rule eval_manifest:
    """What a benchmark evaluates (images, scenes, questions and their pixels), hashed; the score
    stage records the hash in every metrics file."""
    input:
        qa="results/{root}/{task}/{dataset}/{split}.jsonl",
        resized=lambda w: f"{'results/resized' if w.root == 'qa' else 'results/resized_native'}/{w.dataset}/{w.split}",
    output:
        "results/manifests/{root}/{task}/{dataset}_{split}.json",
    wildcard_constraints:
        root="qa|qa_native",
    log:
        "results/logs/manifest/{root}_{task}_{dataset}_{split}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.qa.leak manifest --qa {input.qa} --out {output} > {log} 2>&1"


rule leak_check:
    """Fails the workflow when the training mixture of a model answering a task holds an image (pair
    benchmarks: a scene) of one of the task's evaluation splits; the task's metrics wait for it."""
    input:
        mixtures=lambda w: training_mixtures(w.task),
        manifests=lambda w: eval_manifests(w.task),
    output:
        "results/manifests/leak_check_{task}.json",
    log:
        "results/logs/manifest/leak_check_{task}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.qa.leak check --train {input.mixtures} --manifests {input.manifests} --out {output} > {log} 2>&1"
