# Stage resize: undistort and rescale every image so its focal length is the target.


rule resize:
    input:
        calib="results/calib/{dataset}/{split}.parquet",
        pairs="results/index/{dataset}/{split}_pairs.parquet",
    output:
        directory("results/resized/{dataset}/{split}"),
    params:
        focal=lambda w: dataset_cfg(w.dataset).get("target_focal", config["target_focal"]),
    log:
        "results/logs/resize/{dataset}_{split}.log",
    threads: DATA_THREADS
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/data.yaml"
    shell:
        "python -m vlm3.resize --calib {input.calib} --pairs {input.pairs} --out {output}"
        " --target-focal {params.focal} --workers {threads} > {log} 2>&1"


use rule resize as resize_native with:
    # The focal-unification ablation (config/ablation_focal.yaml): undistort only, each camera keeps
    # its own focal (scale 1); feeds the runs with unify_focal: false (rules/qa.smk, qa_native).
    output:
        directory("results/resized_native/{dataset}/{split}"),
    params:
        focal="none",
    log:
        "results/logs/resize/{dataset}_{split}_native.log",
