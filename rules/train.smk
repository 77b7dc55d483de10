# Stage train: build the tiny base model offline (embedded default), then one fine-tuning run per task.
# Checkpoints for resuming live in results/train_state/{run}/ (not a declared output, so Snakemake
# never deletes them); a killed or preempted job re-run by Snakemake continues from the last one.


localrules:
    train_config,


rule build_tiny_model:
    """A randomly initialised Qwen3-VL-architecture model, a tokenizer trained on the QA text and
    its processor, built offline and saved with save_pretrained."""
    input:
        spec=config["base_model"].get("build", "config/tiny_model.yaml"),
        qa=expand("results/qa/{task}/train.jsonl", task=list(config["mixtures"])),
    output:
        directory("results/models/base"),
    params:
        seed=SEED,
    log:
        "results/logs/train/build_base.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/train.yaml"
    shell:
        "python -m vlm3.model.build --config {input.spec} --qa {input.qa} --seed {params.seed}"
        " --out {output} > {log} 2>&1"


rule skills_corpus:
    """Generic number skills as text-only records (vlm3.model.skills): the pre-training corpus of
    the built tiny model when base_model.pretrain is set; no image, 3D or benchmark word in it."""
    output:
        "results/qa/skills/train.jsonl",
    params:
        n=lambda w: config["base_model"]["pretrain"]["records"],
        seed=SEED,
    log:
        "results/logs/train/skills_corpus.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python -m vlm3.model.skills --n {params.n} --seed {params.seed} --out {output} > {log} 2>&1"


rule pretrain_base:
    """The built tiny model trained on the skills corpus (packed, answer-only loss): what the runs
    fine-tune when base_model.pretrain is set, as the paper fine-tunes a pre-trained VLM. The random-init
    tiny model cannot compare two numbers, which the object questions need (benchmarks/RESULTS.md)."""
    input:
        model="results/models/base",
        data="results/qa/skills/train.jsonl",
    output:
        directory("results/models/pretrained"),
    params:
        flags=pretrain_flags,
        seed=SEED,
        state="results/train_state/_pretrain_base",
    log:
        "results/logs/train/pretrain_base.log",
    threads: lambda w: min(config["base_model"]["pretrain"].get("threads", workflow.cores), workflow.cores)
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../envs/train.yaml"
    shell:
        "exec python -m vlm3.train --model {input.model} --data {input.data} --out {output}"
        " --state {params.state} --seed {params.seed} --packing {params.flags} --threads {threads} > {log} 2>&1"


rule train_config:
    """The run's recipe as the YAML file the train rule passes with --config (keys sorted: the
    same recipe gives the same bytes). Rewritten, and the run retrained, when the recipe changes."""
    output:
        "results/train_config/{run}.yaml",
    params:
        recipe=train_recipe,
    log:
        "results/logs/train/recipe/{run}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python -m vlm3.train.settings --recipe {params.recipe:q} --out {output} > {log} 2>&1"


rule train:
    """Fine-tune one run. CPU runs (gpus 0) call `python -m vlm3.train` directly. GPU runs go through
    `python -m vlm3.train.launch` (accelerate launch + FSDP, rendezvous from the SLURM environment),
    once per node via `srun --overlap` when the run spans several nodes."""
    priority: 10  # the critical path: scheduled before evaluation jobs
    input:
        model=run_model_input,
        data=lambda w: run_data(w.run),
        recipe="results/train_config/{run}.yaml",
    output:
        directory("results/checkpoints/{run}"),
    params:
        seed=SEED,
        base=lambda w: run_start_path(w.run),
        state="results/train_state/{run}",
        launch=train_launcher,
        threads=train_threads,
    log:
        "results/logs/train/{run}.log",
    threads: lambda w: min(run_cfg(w).get("threads", workflow.cores), workflow.cores)
    resources:
        mem_mb=16000,
        runtime=lambda w: run_cfg(w).get("runtime_min", 60),
        gpu=lambda w: run_cfg(w).get("gpus", 0),
        nodes=lambda w: run_cfg(w).get("nodes", 1),
    conda:
        "../envs/train.yaml"
    shell:
        # exec: on SIGTERM (SLURM --signal, preemption) Snakemake waits for the trainer to write
        # its checkpoint; behind a bash parent it would be orphaned and the job end without it.
        # (vlm3.train.launch execs accelerate in turn, so the chain has no bash parent either.)
        "exec {params.launch}python -m vlm3.train --config {input.recipe} --model {params.base}"
        " --data {input.data} --out {output} --state {params.state} --seed {params.seed}"
        " --threads {params.threads} > {log} 2>&1"
