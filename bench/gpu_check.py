"""GPU check, run on a machine with an NVIDIA GPU (see bench/gpu_check.sh): capture through each GPU source,
check they agree, snapshot from inside a running torch program, and time each step beside pip freeze and
torch's collect_env. Prints one JSON report (also written to the path given as the first argument)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from envcheck import lockfile
from envcheck.collect.gpu import GpuCollector
from envcheck.model import GpuInfo

TORCH_PROGRAM = """
import sys, time
import torch
x = torch.randn(2048, 2048, device="cuda")
(x @ x).sum().item()
conv = torch.nn.Conv2d(3, 8, 3).cuda()
conv(torch.randn(1, 3, 64, 64, device="cuda")).sum().item()
import envcheck
start = time.perf_counter()
envcheck.snapshot(sys.argv[1])
print(time.perf_counter() - start)
"""


class _NoNvml:
    """Stands in for pynvml to force the nvidia-smi fallback."""

    class NVMLError(Exception):
        pass

    @classmethod
    def nvmlInit(cls) -> None:
        raise cls.NVMLError("disabled for the fallback check")


def _no_smi() -> str:
    raise OSError("disabled for the fallback check")


def timed(args: List[str]) -> Dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    return {"seconds": round(time.perf_counter() - start, 3), "rc": proc.returncode, "stderr": proc.stderr[-500:]}


def devices(info: GpuInfo) -> List[Dict[str, Any]]:
    return [
        {
            "name": d.name,
            "memory": d.memory_total_bytes,
            "mig": d.mig_mode,
            "ecc": d.ecc,
            "persist": d.persistence,
            "cc": d.compute_capability,
            "arch": d.architecture,
        }
        for d in info.devices
    ]


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("gpu-check.json")
    work = Path(tempfile.mkdtemp(prefix="envcheck-gpu-"))
    report: Dict[str, Any] = {}
    report["pip_freeze"] = timed([sys.executable, "-m", "pip", "freeze"])
    report["collect_env"] = timed([sys.executable, "-m", "torch.utils.collect_env"])
    lock = work / "h200.lock"
    report["snapshot_cli"] = timed([sys.executable, "-m", "envcheck", "snapshot", "-o", str(lock)])
    fp = lockfile.read(lock)
    report["gpu_source"] = fp.source("gpu").detail
    report["driver"] = fp.gpu.driver_version
    report["cuda_driver"] = fp.gpu.cuda_driver_version
    report["devices"] = devices(fp.gpu)
    report["cuda_shipped"] = [f"{c.component} {c.version} ({c.package})" for c in fp.gpu.cuda_shipped]
    report["cpu"] = (
        f"{fp.cpu.model_name} {fp.cpu.isa_level} {fp.cpu.logical_cpus} CPUs quota {fp.cpu.cpu_quota_millicores}"
    )
    report["native_shipped"] = [f"{n.kind} {n.vendor} {n.path} {n.version}" for n in fp.native.shipped][:40]
    report["packages"] = len(fp.packages)
    report["builds"] = [
        f"{b.package} cuda={b.cuda or '-'} baseline={' '.join(b.simd_baseline) or '-'} "
        f"dispatch={' '.join(b.simd_dispatch) or '-'} ({b.source})"
        for b in fp.native.builds
    ]
    report["unavailable"] = {k: v.detail for k, v in fp.sources.items() if v.status != "ok"}

    sources = {}
    for label, collector in (
        ("nvml", GpuCollector()),
        ("nvidia-smi", GpuCollector(nvml=_NoNvml)),
        ("proc", GpuCollector(nvml=_NoNvml, run=_no_smi)),
    ):
        start = time.perf_counter()
        got = collector.collect()
        sources[label] = {
            "seconds": round(time.perf_counter() - start, 3),
            "status": got.source.status,
            "detail": got.source.detail,
            "driver": got.value.driver_version,
            "cuda_driver": got.value.cuda_driver_version,
            "devices": devices(got.value),
        }
    report["sources"] = sources
    nvml, smi, proc = (sources[k] for k in ("nvml", "nvidia-smi", "proc"))
    agree = {
        "driver": nvml["driver"] == smi["driver"] == proc["driver"],
        "cuda_driver": nvml["cuda_driver"] == smi["cuda_driver"],
        "names": [d["name"] for d in nvml["devices"]] == [d["name"] for d in smi["devices"]],
        "memory": [d["memory"] for d in nvml["devices"]] == [d["memory"] for d in smi["devices"]],
        "mig_ecc_persist": [(d["mig"], d["ecc"], d["persist"]) for d in nvml["devices"]]
        == [(d["mig"], d["ecc"], d["persist"]) for d in smi["devices"]],
        "proc_names": [d["name"] for d in proc["devices"]] == [d["name"] for d in nvml["devices"]],
    }
    report["sources_agree"] = agree

    inside = work / "inside.lock"
    prog = work / "prog.py"
    prog.write_text(TORCH_PROGRAM)
    start = time.perf_counter()
    proc_run = subprocess.run(
        [sys.executable, str(prog), str(inside)], capture_output=True, text=True, check=False
    )
    report["torch_program"] = {
        "seconds_total": round(time.perf_counter() - start, 3),
        "snapshot_seconds": proc_run.stdout.strip()[-20:],
        "rc": proc_run.returncode,
        "stderr": proc_run.stderr[-800:],
    }
    if proc_run.returncode == 0:
        fp_in = lockfile.read(inside)
        rt = fp_in.gpu.torch
        report["torch_in_process"] = (
            None
            if rt is None
            else {
                "version": rt.version,
                "cuda": rt.cuda,
                "cudnn": rt.cudnn,
                "arch_list": list(rt.arch_list),
                "allow_tf32_matmul": rt.allow_tf32_matmul,
                "allow_tf32_cudnn": rt.allow_tf32_cudnn,
                "float32_matmul_precision": rt.float32_matmul_precision,
            }
        )
        report["loaded"] = [
            " ".join((n.kind, n.vendor, n.package or "-", n.path.rsplit("/", 1)[-1], n.version, n.architecture))
            for n in fp_in.native.loaded
        ]
    # --pid on a process that has numpy's OpenBLAS loaded: the kernel set comes from a child of envcheck.
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys, numpy; numpy.ones((64, 64)) @ numpy.ones((64, 64)); sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    time.sleep(3)
    pid_lock = work / "pid.lock"
    snapshot_pid = ["snapshot", "--pid", str(server.pid), "--blas-kernels", "-o", str(pid_lock)]
    report["snapshot_pid"] = timed([sys.executable, "-m", "envcheck", *snapshot_pid])
    server.kill()
    server.wait()
    if pid_lock.exists():
        report["pid_loaded_blas"] = [
            f"{n.package} {n.version} {n.architecture}"
            for n in lockfile.read(pid_lock).native.loaded
            if n.kind == "blas"
        ]
    torch_build = next((b for b in fp.native.builds if b.package == "torch"), None)
    numpy_build = next((b for b in fp.native.builds if b.package == "numpy"), None)
    in_process_blas = [item.split() for item in report.get("loaded", []) if item.startswith("blas openblas numpy")]
    d0 = report["devices"][0] if report["devices"] else {}
    checks = {
        "one H200": [d["name"] for d in report["devices"]] == ["NVIDIA H200"],
        "compute 9.0": d0.get("cc") == "9.0",
        "driver 580.x": report["driver"].startswith("580."),
        "about 141 GB (140 GiB)": abs(d0.get("memory", 0) - 150_754_820_096) < 2 << 30,
        "CUDA 13.0 shipped": any(c.startswith("cuda-runtime 13.0") for c in report["cuda_shipped"]),
        "cuDNN 9.19 shipped": any(c.startswith("cudnn 9.19") for c in report["cuda_shipped"]),
        "sources agree": all(agree.values()),
        "loaded cudart": any(item.startswith("cudart") for item in report.get("loaded", [])),
        "arch list recorded": "sm_90" in (report.get("torch_in_process") or {}).get("arch_list", []),
        "torch/version.py cuda = torch.version.cuda": torch_build is not None
        and torch_build.cuda == (report.get("torch_in_process") or {}).get("cuda"),
        "numpy SIMD baseline recorded": numpy_build is not None and bool(numpy_build.simd_baseline),
        "--pid OpenBLAS kernels = in-process": bool(in_process_blas)
        and any(item.endswith(" " + in_process_blas[0][-1]) for item in report.get("pid_loaded_blas", [])),
    }
    report["checks"] = checks
    text = json.dumps(report, indent=1)
    out.write_text(text)
    print(text)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
