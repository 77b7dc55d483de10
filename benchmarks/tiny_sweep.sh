#!/usr/bin/env bash
# Parallel CPU sweep of tiny_learning.py experiments, 2 cores each (pinned with taskset), e.g. on
# the lent 16-core machine:
#   benchmarks/tiny_sweep.sh DATA_DIR OUT_DIR "name|--steps 600 --lr 1e-3" ["name|args" ...]
# Each experiment writes OUT_DIR/name/result.json and OUT_DIR/name.log.
set -u
data=$1; out=$2; shift 2
mkdir -p "$out"
i=0
for spec in "$@"; do
  name=${spec%%|*}; args=${spec#*|}
  cores="$((2*i)),$((2*i+1))"
  ( OMP_NUM_THREADS=2 taskset -c $cores python benchmarks/tiny_learning.py --data "$data" --out "$out/$name" \
        $args > "$out/$name.log" 2>&1
    rm -rf "$out/$name/init" "$out/$name/trained" ) &
  i=$((i+1))
done
wait
