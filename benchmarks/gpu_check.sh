#!/usr/bin/env bash
# One GPU session's checks and benchmarks, ≤ 8 minutes on one GPU: run from the repository root with the
# machine's own Python (torch, triton, timm, matplotlib; ipywidgets and internet not needed):
#     bash benchmarks/gpu_check.sh                 # or: bash benchmarks/gpu_check.sh --images 2048
# (a) seelike's measures import without ipywidgets, (b) Triton kernel vs float64 reference (≤ 1e-5 rel.),
# (c) CUDA MinibatchCKA vs CPU float64 reference (≤ 1e-6) with TF32 off, also after the user enabled TF32
# through either torch API, (d) bench_paper_scale.py and bench_attention_distance.py at sizes that fit.
# Prints one table; exit status 1 if a check failed. Details: benchmarks/gpu_check.py's docstring.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONWARNINGS=ignore
"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"' || exit 2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
timeout --signal=INT --kill-after=20 480 "$PYTHON" benchmarks/gpu_check.py --device cuda --budget 450 "$@"
status=$?
[ "$status" -eq 124 ] && echo "gpu_check.sh: stopped at the 8-minute limit" >&2
exit "$status"
