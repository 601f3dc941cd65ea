#!/usr/bin/env bash
# Run on a machine with an NVIDIA GPU and torch installed (the device machine): envcheck is used from this
# checkout; tomli-w, if missing there, comes from wheels in .whl/ (see the device notes in the README).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}"
if ! python3 -c "import tomli_w" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/envcheck-site .whl/*.whl || exit 2
  export PYTHONPATH=/tmp/envcheck-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -m envcheck --version
PYTHONUNBUFFERED=1 timeout 300 python3 bench/gpu_check.py "$out/gpu-check.json"
rc=$?
# The GPU environment against its own lockfile: no drift, and the JSON report for the record.
lock="$(ls -d /tmp/envcheck-gpu-*/h200.lock | head -1)"
python3 -m envcheck check "$lock" --fail-on low; echo "check exit code: $?"
python3 -m envcheck check "$lock" --format json -o "$out/h200-check.json" --fail-on never
cp /tmp/envcheck-gpu-*/h200.lock "$out/" 2>/dev/null
cp /tmp/envcheck-gpu-*/inside.lock "$out/" 2>/dev/null
exit $rc
