#!/usr/bin/env bash
# Distributed training on an NVIDIA GPU: one torchrun worker per GPU, NCCL, one epoch; prints images/s.
#
#   benchmarks/gpu_ddp_check.sh                    # 60000 + 10000 random 28x28 images, made on the fly
#   benchmarks/gpu_ddp_check.sh --data npz:PATH    # or any dataset genkit knows (fashion-mnist, folder:...)
#   NPROC=2 BATCH=256 benchmarks/gpu_ddp_check.sh  # more GPUs, another global batch (default: the recipe's)
#
# Needs a CUDA build of torch and genkit installed (`pip install -e .` in the repository). It trains the
# same epoch twice, once as a plain process and once under torchrun, and fails unless the torchrun run
# really used the NCCL backend on CUDA. Random images make the loss meaningless; the speed is real.
set -euo pipefail
PYTHON=${PYTHON:-python3}
NPROC=${NPROC:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PYTHON" - <<'PY'
import torch
if not torch.cuda.is_available():
    raise SystemExit("gpu_ddp_check: torch sees no CUDA device (a CPU build of torch, or no driver)")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, NCCL {'.'.join(map(str, torch.cuda.nccl.version()))}, "
      f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}")
PY
"$PYTHON" -c "import genkit" 2>/dev/null || { echo "gpu_ddp_check: genkit is not installed: pip install -e ." >&2; exit 1; }

data=("$@")
if [ ${#data[@]} -eq 0 ]; then
    "$PYTHON" - "$work/fashion-like.npz" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(0)
np.savez(sys.argv[1], x=rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), y=rng.integers(0, 10, 60000),
         x_test=rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 10000))
PY
    data=(--data "npz:$work/fashion-like.npz")
fi
batch=()
[ -n "${BATCH:-}" ] && batch=(--batch-size "$BATCH")
common=(vae --device cuda --epochs 1 --set training.samples=0 --quiet "${batch[@]}" "${data[@]}")

speed() { "$PYTHON" -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['images_per_second'])" "$1"; }

"$PYTHON" -m genkit train "${common[@]}" -o "$work/plain" 2>&1 | tee "$work/plain.log"
"$PYTHON" -m torch.distributed.run --standalone --nproc-per-node "$NPROC" -m genkit train "${common[@]}" \
    -o "$work/ddp" 2>&1 | tee "$work/ddp.log"
grep -q ", nccl)" "$work/ddp.log" || { echo "gpu_ddp_check: the torchrun run did not use NCCL" >&2; exit 1; }
echo "images/s, one plain process:            $(speed "$work/plain/metrics.jsonl")"
echo "images/s, torchrun x $NPROC (DDP, NCCL):     $(speed "$work/ddp/metrics.jsonl")"
