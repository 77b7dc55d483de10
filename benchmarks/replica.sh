#!/usr/bin/env bash
# The one-GPU replica end to end on a GPU machine, timed per stage (benchmarks/RESULTS.md, "One-GPU
# replica"). Run from the repository root:
#   benchmarks/replica.sh OUTDIR [extra snakemake arguments]
# Writes OUTDIR/snakemake.log, OUTDIR/stages.json (wall time per rule) and OUTDIR/replica.tar.gz
# (results/audit, results/tables, results/metrics, train logs, loss curves and train summaries).
# REPLICA_TIMEOUT=SECONDS stops Snakemake (SIGINT) after that long and still writes the outputs.
set -uo pipefail
out=${1:?usage: benchmarks/replica.sh OUTDIR [snakemake args]}; shift
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
# four trainings and the prediction jobs share one card: let their allocators return freed segments
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
start=$(date +%s)
${REPLICA_TIMEOUT:+timeout -s INT $REPLICA_TIMEOUT} snakemake -c all --configfile config/replica.yaml "$@" 2>&1 | tee "$out/snakemake.log"
rc=${PIPESTATUS[0]}
echo "snakemake exit $rc, wall $(( $(date +%s) - start )) s" | tee -a "$out/snakemake.log"
python benchmarks/stage_times.py "$out/snakemake.log" --json "$out/stages.json"
tar czf "$out/replica.tar.gz" results/audit results/tables results/metrics results/logs \
    $(ls -d results/checkpoints/*/loss.csv results/checkpoints/*/train_summary.json results/figures 2>/dev/null)
exit "$rc"
