#!/usr/bin/env bash
# Several learnability sweeps side by side on one GPU machine (issue 13): each config runs in its own
# copy of the repository (so their results/ folders do not mix), with CORES cores each, stopped after
# SWEEP_TIMEOUT seconds (SIGINT), then each run's headline metrics are collected.
#   SWEEP_TIMEOUT=480 CORES=8 benchmarks/design_sweep.sh OUTDIR CONFIG.yaml [BASE.yaml,OVERLAY.yaml ...]
# A comma-joined argument is one sweep of several config files merged in order (an overlay on a base).
# Writes OUTDIR/NAME/{metrics.json,snakemake.log,extra.tar.gz} per sweep (NAME = the last file's stem).
set -uo pipefail
out=${1:?usage: benchmarks/design_sweep.sh OUTDIR CONFIG.yaml...}; shift
root=$(pwd)
pids=()
for arg in "$@"; do
    IFS=, read -r -a cfgs <<< "$arg"
    name=$(basename "${cfgs[-1]}" .yaml)
    work=/tmp/sweep_$name
    rm -rf "$work" && mkdir -p "$work" "$out/$name"
    # tracked and untracked-but-not-ignored files: the working tree without earlier results
    git ls-files -co --exclude-standard | while read -r f; do [ -e "$f" ] && echo "$f"; done \
        | xargs -d "\n" cp -d --parents -t "$work"
    (
        cd "$work" || exit 1
        start=$(date +%s)
        timeout -s INT "${SWEEP_TIMEOUT:-480}" snakemake -c "${CORES:-8}" --configfile "${cfgs[@]}" --keep-going \
            > "$out/$name/snakemake.log" 2>&1
        echo "snakemake exit $?, wall $(( $(date +%s) - start )) s" >> "$out/$name/snakemake.log"
        python benchmarks/collect_metrics.py --out "$out/$name/metrics.json" --cmd "snakemake --configfile ${cfgs[*]}"
        tar czf "$out/$name/extra.tar.gz" results/metrics results/logs/train \
            $(ls results/checkpoints/*/loss.csv results/checkpoints/*/train_summary.json 2>/dev/null)
    ) &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for arg in "$@"; do tail -n 1 "$out/$(basename "${arg##*,}" .yaml)/snakemake.log"; done
