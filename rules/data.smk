# Stage data + index: raw datasets (generated or downloaded) -> the canonical index.
# Snakemake writes data/raw (rules generate_synthetic, download); DVC tracks it as one output,
# data.dvc (README, "Data and checkpoints under DVC"): `snakemake -c all raw_data` then
# `dvc commit -f data.dvc` records a new state, `dvc pull data.dvc` restores it elsewhere.


localrules:
    download,
    raw_data,


rule raw_data:
    """Target: every raw input of the config under data/raw (generated splits, verified downloads),
    the folder data.dvc tracks. Datasets with their own `raw:` folder are outside it."""
    input:
        [
            f"data/raw/{name}/{split}"
            for name, ds in config["datasets"].items()
            if ds["source"] == "generate"
            for split in ds["splits"]
        ],
        [f"data/raw/{name}/.verified" for name, ds in config["datasets"].items() if ds["source"] == "download"],


rule generate_synthetic:
    """Render the synthetic 3D benchmark (the embedded default's data; no download)."""
    output:
        directory("data/raw/{dataset}/{split}"),
    params:
        seed=SEED,
        flags=generate_flags,
    log:
        "results/logs/data/{dataset}_{split}.log",
    threads: DATA_THREADS
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.synthetic.generate --out data/raw/{wildcards.dataset} --split {wildcards.split}"
        " {params.flags} --seed {params.seed} --workers {threads} > {log} 2>&1"


rule download:
    """Fetch a registered dataset, resumable and sha256-verified (runs on the login node).
    Files the registry leaves unpinned are pinned at first download in the lock beside the registry
    (the CLI's default, vlm3.pins.lock_path_for: config/datasets.lock.yaml; commit it). The lock is
    neither input nor output: every download job may add to it (flock-serialised), and its changing
    must not re-run the others."""
    output:
        "data/raw/{dataset}/.verified",
    params:
        registry=lambda w: registry_path(w.dataset),
    log:
        "results/logs/download/{dataset}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=24 * 60,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.download --dataset {wildcards.dataset} --registry {params.registry}"
        " --out data/raw/{wildcards.dataset} > {log} 2>&1"


rule index:
    """One canonical table of images (paths, sizes, intrinsics, depth kind, poses, objects)."""
    input:
        raw_input,
    output:
        images="results/index/{dataset}/{split}.parquet",
        pairs="results/index/{dataset}/{split}_pairs.parquet",
    params:
        loader=index_flags,
        raw=raw_dir,
    log:
        "results/logs/index/{dataset}_{split}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.index {params.loader} --raw {params.raw} --split {wildcards.split}"
        " --out {output.images} --pairs-out {output.pairs} > {log} 2>&1"
