#!/bin/bash
# Device driver for benchmarks/gpu_scaling.py, run from a checkout on a GPU machine:
#   bash benchmarks/gpu_scaling.sh DATA TAG:GPUS:MICRO[:extra vlm3.train flags] ...
# DATA: the folder `python benchmarks/gpu_scaling.py data --out W` wrote (W/data). Writes to $OUT
# (default ./gpu_scaling_out). Env: STEPS (timed steps, 8), GB (global batch, 16), RUN_TIMEOUT (s per
# run, 280), DEADLINE (s after which no further run starts, 380).
set -u
export PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
W=/tmp/gs
DATA=$1; shift
OUT=${OUT:-gpu_scaling_out}
mkdir -p $W $OUT
[ -d $W/data ] || cp -r "$DATA" $W/data
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > $OUT/env.txt
python3 -c "import torch, transformers, accelerate, sys; print(sys.version.split()[0], torch.__version__, transformers.__version__, accelerate.__version__, torch.cuda.device_count())" >> $OUT/env.txt 2>&1
which accelerate >> $OUT/env.txt; cat $OUT/env.txt
if [ ! -f $W/model/model.safetensors.index.json ] && [ ! -f $W/model/model.safetensors ]; then
  /usr/bin/time -v python3 benchmarks/gpu_scaling.py model --out $W > $OUT/model.log 2>&1 || { tail -30 $OUT/model.log; exit 1; }
  tail -3 $OUT/model.log; grep -E 'Maximum resident|Elapsed' $OUT/model.log
fi
for spec in "$@"; do
  IFS=: read -r tag gpus micro extra <<< "$spec"
  if [ $SECONDS -gt ${DEADLINE:-380} ]; then echo "skip $tag: ${SECONDS}s used"; continue; fi
  timeout ${RUN_TIMEOUT:-280} python3 benchmarks/gpu_scaling.py run --work $W --gpus $gpus --global-batch ${GB:-16} \
     --micro-batch $micro --steps ${STEPS:-8} --tag $tag -- $extra > $OUT/$tag.out 2>&1
  echo "rc=$? $tag"; tail -2 $OUT/$tag.out
  cp $W/runs/$tag.json $W/runs/$tag.log $OUT/ 2>/dev/null
  grep -E 'Error|error' $W/runs/$tag.log | grep -v Warning | tail -5
done
ls $OUT
