#!/usr/bin/env bash
# Cohort benchmark on one NVIDIA GPU: install the project with CUDA JAX, check that JAX sees the
# GPU, run benchmarks/cohort.py for 100,000 and 1,000,000 patients, print the table. Usage, from
# the repository root on a machine with an NVIDIA driver:
#
#     bash benchmarks/gpu.sh [output-file]               # fresh venv, pip install jax[cuda12]
#     bash benchmarks/gpu.sh --no-install [output-file]  # use this python3 as it is
#
# --no-install is for machines without a package index whose python3 already has CUDA JAX,
# diffrax, xarray, zarr and dask (the project itself is then taken from src/ through
# PYTHONPATH). The table names the device; report GPU figures separately from CPU ones
# (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
INSTALL=1
if [[ "${1:-}" == "--no-install" ]]; then
    INSTALL=0
    shift
fi
OUT="${1:-gpu-cohort.txt}"
if [[ $INSTALL == 1 ]]; then
    python3 -m venv /tmp/metaflow_ode-gpu-venv
    # shellcheck disable=SC1091
    source /tmp/metaflow_ode-gpu-venv/bin/activate
    python3 -m pip install --quiet --upgrade pip
    python3 -m pip install --quiet -e . "jax[cuda12]"
else
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
python3 - <<'PY'
import diffrax, equinox, jax, xarray, zarr
devices = jax.devices()
print("JAX devices:", devices)
print("versions: jax", jax.__version__, "diffrax", diffrax.__version__, "equinox",
      equinox.__version__, "xarray", xarray.__version__, "zarr", zarr.__version__)
if devices[0].platform != "gpu":
    raise SystemExit("no GPU visible to JAX: check the NVIDIA driver and the jax[cuda12] wheel")
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT"
# Large chunks keep the GPU busy; the scipy loop is timed on a few patients and scaled, the
# hand-written diffrax on 100,000 (timed once, reused for the 1,000,000 row) and scaled.
python3 benchmarks/cohort.py --patients 100000 1000000 --chunk 65536 --scipy-sample 10 \
    --direct-max 100000 | tee -a "$OUT"
