#!/usr/bin/env bash
# DiffusionST on one CUDA GPU: `paper` and `fast` on DLPFC 151673 and on a 16-copy tile of it (58,224 spots),
# in float32 and bf16; CUDA wall time, peak GPU memory and ARI go to benchmarks/out/gpu_check.csv.
#
#   benchmarks/gpu_check.sh                                   # on the GPU machine, from the repository root
#   PYTHON=python3 benchmarks/gpu_check.sh                    # with another interpreter (default .venv/bin/python)
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_TOY=1 benchmarks/gpu_check.sh   # dry run on a CPU at toy size
#
# GPU_CHECK_BUDGET_S (default 420) bounds the seconds all cases take together; extra arguments go to
# benchmarks/gpu_check.py (e.g. --cases 151673-paper-bf16). Needs nothing from the network: the data is the
# example shipped in inst/extdata, and the engine is this checkout's python/ folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
echo "gpu_check: python $(command -v "$PYTHON" || echo "$PYTHON") on device $DEVICE"
if ! "$PYTHON" -c 'import torch, anndata, scanpy, skmisc, sklearn' 2>/dev/null; then
    echo "gpu_check: $PYTHON lacks torch or the engine's dependencies (anndata, scanpy, scikit-misc, scikit-learn);" \
         "set PYTHON= to an interpreter that has them (see benchmarks/RESULTS.md, 'GPU check')." >&2
    exit 2
fi
if [[ $DEVICE == cuda* ]] && ! "$PYTHON" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "gpu_check: CUDA is not available to $PYTHON (torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))." \
         "Run it on a machine with an NVIDIA GPU and a CUDA build of torch, or set GPU_CHECK_DEVICE=cpu GPU_CHECK_TOY=1" \
         "for a dry run." >&2
    exit 3
fi
"$PYTHON" -c 'import torch; print("gpu_check: torch", torch.__version__)'
[[ $DEVICE == cuda* ]] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
TOY=()
[[ ${GPU_CHECK_TOY:-0} == 1 ]] && TOY=(--toy)
exec "$PYTHON" benchmarks/gpu_check.py --device "$DEVICE" --budget-s "${GPU_CHECK_BUDGET_S:-420}" "${TOY[@]}" "$@"
