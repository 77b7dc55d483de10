# Stage evaluate: predictions (models, baselines, classical experts) -> metrics, one code path.


rule predict:
    """Batched greedy generation, one line of raw model text per question: each record's image prefix
    shared by its questions, one process per GPU (predict.gpus), resumable from the partial shards
    an interrupted or preempted job leaves (`retries` resubmits it)."""
    input:
        model=model_input,
        qa=predict_qa,
    output:
        "results/predictions/{model}/{task}/{dataset}_{split}.jsonl",
    wildcard_constraints:
        model=model_names_regex(NEURAL_KINDS),
    params:
        path=model_path,
        sizes=predict_sizes,
        extra=predict_flags,
        launch=predict_launcher,
    log:
        "results/logs/predict/{model}_{task}_{dataset}_{split}.log",
    threads: 1
    resources:
        mem_mb=lambda w: 16000 * max(1, predict_gpus(w)),
        runtime=config["predict"].get("runtime_min", 240),
        gpu=predict_gpus,
    conda:
        "../envs/train.yaml"
    shell:
        "{params.launch}python -m vlm3.predict --model {params.path} --qa {input.qa} --out {output}"
        " {params.sizes} --threads {threads} {params.extra}"
        " > {log} 2>&1"


rule baseline:
    """Trivial answers (training median / majority / zero motion / identity) in the model's format."""
    input:
        qa="results/qa/{task}/{dataset}/{split}.jsonl",
        train="results/qa/{task}/train.jsonl",
    output:
        "results/predictions/{model}/{task}/{dataset}_{split}.jsonl",
    wildcard_constraints:
        model=model_names_regex({"baseline"}),
    log:
        "results/logs/predict/{model}_{task}_{dataset}_{split}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/eval.yaml"
    shell:
        "python -m vlm3.baselines --kind constant --task {wildcards.task} --qa {input.qa}"
        " --train-qa {input.train} --out {output} > {log} 2>&1"


rule expert:
    """Classical expert: OpenCV SIFT matching + RANSAC (correspondence; pose from the essential matrix)."""
    input:
        qa="results/qa/{task}/{dataset}/{split}.jsonl",
        train="results/qa/{task}/train.jsonl",
        resized="results/resized/{dataset}/{split}",
    output:
        "results/predictions/{model}/{task}/{dataset}_{split}.jsonl",
    wildcard_constraints:
        model=model_names_regex({"expert"}),
    log:
        "results/logs/predict/{model}_{task}_{dataset}_{split}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/eval.yaml"
    shell:
        "python -m vlm3.baselines --kind expert --task {wildcards.task} --qa {input.qa}"
        " --train-qa {input.train} --out {output} > {log} 2>&1"


rule score:
    """Metrics over every question of the benchmark's QA file (a missing prediction = wrong), in both
    conventions (strict, parsed_only), with the hash of the benchmark's manifest, and the per-question
    results beside them; only after the train/eval overlap check passed."""
    input:
        pred="results/predictions/{model}/{task}/{dataset}_{split}.jsonl",
        qa=predict_qa,
        manifest=eval_manifest,
        leak_check="results/manifests/leak_check_{task}.json",
    output:
        metrics="results/metrics/{model}/{task}/{dataset}_{split}.json",
        questions="results/metrics/{model}/{task}/{dataset}_{split}.questions.jsonl",
    params:
        seed=SEED,
    log:
        "results/logs/score/{model}_{task}_{dataset}_{split}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../envs/eval.yaml"
    shell:
        "python -m vlm3.score --pred {input.pred} --qa {input.qa} --manifest {input.manifest} --out {output.metrics}"
        " --questions-out {output.questions} --task {wildcards.task}"
        " --model {wildcards.model} --seed {params.seed} > {log} 2>&1"
