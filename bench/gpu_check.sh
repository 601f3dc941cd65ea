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
# The numerics battery with its GPU part (torch matmul on CUDA: float32 with TF32 off and on, float16, bfloat16):
# recorded, then compared with itself (expected: every kernel bitwise equal or within its bound) and with TF32
# forced off for the whole process by the driver's NVIDIA_TF32_OVERRIDE=0 (expected: the tf32-on kernels change,
# named with their cause). The lockfile and reports come back for fixtures.
numlock="$out/h200-numerics.lock"
python3 -m envcheck snapshot --numerics -o "$numlock" && {
  python3 -m envcheck check "$numlock" --numerics --fail-on never --format json -o "$out/numerics-same.json"
  NVIDIA_TF32_OVERRIDE=0 python3 -m envcheck check "$numlock" --numerics --fail-on never --format json \
    -o "$out/numerics-tf32-override.json"
  python3 - "$out" <<'PY'
import json, sys
for name in ("numerics-same", "numerics-tf32-override"):
    report = json.load(open(f"{sys.argv[1]}/{name}.json"))
    found = [f for f in report["findings"] if f["id"] == "numerics.changed"]
    print(name, [line for line in report["evidence"] if line.startswith("numerics:")], [f["subject"] for f in found])
PY
}
cp /tmp/envcheck-gpu-*/h200.lock "$out/" 2>/dev/null
cp /tmp/envcheck-gpu-*/inside.lock "$out/" 2>/dev/null
exit $rc
