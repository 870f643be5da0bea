#!/usr/bin/env bash
# Cohort benchmark on one NVIDIA GPU: install the project with CUDA JAX, check that JAX sees the
# GPU, run benchmarks/cohort.py for 1,000,000 patients (and 100,000 for comparison with the CPU
# table), print the table. Usage, from the repository root on a machine with an NVIDIA driver:
#
#     bash benchmarks/gpu.sh [output-file]
#
# The table names the device; report GPU figures separately from CPU ones (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu-cohort.txt}"
python3 -m venv /tmp/metaflow_ode-gpu-venv
# shellcheck disable=SC1091
source /tmp/metaflow_ode-gpu-venv/bin/activate
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet -e . "jax[cuda12]"
python3 - <<'PY'
import jax
devices = jax.devices()
print("JAX devices:", devices)
if devices[0].platform != "gpu":
    raise SystemExit("no GPU visible to JAX: check the NVIDIA driver and the jax[cuda12] wheel")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT"
# Large chunks keep the GPU busy; the scipy loop is timed on a few patients and scaled, the
# hand-written diffrax on 100,000 and scaled.
python3 benchmarks/cohort.py --patients 100000 1000000 --chunk 65536 --scipy-sample 10 \
    --direct-max 100000 | tee -a "$OUT"
