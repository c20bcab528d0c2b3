#!/usr/bin/env bash
# gwa-train's ImageNet path on one GPU (scripts/gpu_pipeline_bench.py says what it measures).
#
# On a host with JAX, Flax, Optax and Orbax but none of gwa-jax's other dependencies, carry
# the wheels in .whl/ (see results/bench/README.md for the list and the download command);
# they are installed into /tmp/gwa_site without an index and put first on PYTHONPATH.
#
#   bash scripts/gpu_pipeline_bench.sh                 # reports in $OUT (or ./bench_out)
#   bash scripts/gpu_pipeline_bench.sh --dry-run       # the same phases, toy sizes, CPU,
#                                                      # in this environment (no install)
#
# Arguments are passed on to scripts/gpu_pipeline_bench.py.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-$PWD/bench_out}
mkdir -p "$OUT"
export OUT
case " $* " in *" --dry-run "*) DRY=1 ;; *) DRY=0 ;; esac
if [ "$DRY" = 0 ] && compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gwa_site .whl/*.whl > "$OUT/install.log" 2>&1 \
    || { echo "gpu_pipeline_bench.sh: installing .whl/*.whl failed (see $OUT/install.log)" >&2; exit 1; }
  export PYTHONPATH=/tmp/gwa_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/env.txt" 2>&1 || true
"$PY" -c "import sys, jax, flax, optax, orbax.checkpoint as o, grain, tensorflow_datasets as t; print(sys.version.split()[0], jax.__version__, flax.__version__, optax.__version__, grain.__version__ if hasattr(grain, '__version__') else '', t.__version__, jax.devices())" >> "$OUT/env.txt" 2>&1
exec "$PY" scripts/gpu_pipeline_bench.py --out "$OUT" "$@"
