# Stage calibrate: every image gets intrinsics (metadata, EXIF, GeoCalib or a classical method).


rule calibrate:
    input:
        "results/index/{dataset}/{split}.parquet",
    output:
        "results/calib/{dataset}/{split}.parquet",
    params:
        seed=SEED,
        providers=lambda w: ",".join(dataset_cfg(w.dataset).get("calibrate", ["metadata"])),
        fallback=lambda w: (
            f"--fallback-fov {dataset_cfg(w.dataset)['fallback_fov']}"
            if "fallback_fov" in dataset_cfg(w.dataset)
            else ""
        ),
    log:
        "results/logs/calibrate/{dataset}_{split}.log",
    threads: DATA_THREADS
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=lambda w: int("geocalib" in dataset_cfg(w.dataset).get("calibrate", [])),
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.calibrate --index {input} --out {output} --providers {params.providers}"
        " --cache results/calib/{wildcards.dataset}/cache --seed {params.seed} {params.fallback} > {log} 2>&1"


rule calibration_report:
    """Focal-length error of the calibrators against the intrinsics withheld from the metadata."""
    input:
        calib="results/calib/{dataset}/{split}.parquet",
        raw="data/raw/{dataset}/{split}",
    output:
        "results/calib/{dataset}/{split}_report.json",
    log:
        "results/logs/calibrate/{dataset}_{split}_report.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.calibrate.report --calib {input.calib}"
        " --truth {input.raw}/intrinsics_withheld.json --out {output} > {log} 2>&1"
