"""Capture speed: ``envcheck snapshot`` against ``pip freeze`` and ``pip inspect`` on one 200+ distribution env.

Builds a virtual environment, unpacks into it the 197 real dist-info folders of the H200 serving environment
(fixtures/h200-serving/dist-info.tgz) beside the venv's own pip, with this machine's numpy binary where the
snapshot reads numpy's SIMD lists, then times, in the same run and alternating:

- ``python -m pip freeze`` and ``python -m pip inspect`` in that venv (whole processes),
- ``envcheck snapshot --python VENV/bin/python`` (whole process: envcheck start, the probe in the venv's
  interpreter, this machine's hardware, writing the lockfile),
- and, for model digests, ``sha256sum`` against envcheck's own hashing of the same 256 MiB file.

Usage: ``python bench/snapshot_speed.py [--runs N]``. Prints a table and the ratios; exits 1 if envcheck is not
faster than both pip commands (the budget).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parent.parent
DIST_INFO = ROOT / "fixtures" / "h200-serving" / "dist-info.tgz"
PADDING = 12


def build_env(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    present = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    with tarfile.open(DIST_INFO) as tar:
        members = [m for m in tar.getmembers() if m.name.split("-")[0].lower() not in present]
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(site, members=members, **kwargs)  # type: ignore[arg-type]
    for i in range(PADDING):  # a few more, so that the environment holds over 200 distributions
        meta = site / f"bench_pad_{i}-1.0.dist-info"
        meta.mkdir()
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: bench-pad-{i}\nVersion: 1.0\n")
        (meta / "RECORD").write_text(f"bench_pad_{i}-1.0.dist-info/METADATA,,\n")
        (meta / "INSTALLER").write_text("pip\n")
    _add_numpy_binary(site)
    return python


def _add_numpy_binary(site: Path) -> None:
    """numpy's real ``_multiarray_umath`` (about 10 MB) where the H200 tree's numpy dist-info expects it, so the
    snapshot pays for reading numpy's SIMD lists as in a real environment. Found without importing numpy."""
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("numpy")
    if spec is None or not spec.submodule_search_locations:
        print("numpy is not installed here: the numpy build read is not measured", file=sys.stderr)
        return
    package = Path(next(iter(spec.submodule_search_locations)))
    for sub in ("_core", "core"):
        for binary in sorted((package / sub).glob("_multiarray_umath*.so")):
            (site / "numpy" / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy2(binary, site / "numpy" / sub / binary.name)
            return


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


#: Every command runs as an installed tool would: with its bytecode cached (written during the warm-up run), even
#: where the calling shell sets PYTHONDONTWRITEBYTECODE (pip's own modules were compiled when it was installed).
BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def sh(*args: str) -> Callable[[], object]:
    def go() -> object:
        return subprocess.run(
            list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=BENCH_ENV
        )

    return go


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="envcheck-bench-") as tmp:
        work = Path(tmp)
        python = build_env(work / "venv")
        count = subprocess.run(
            [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
        ).stdout.count("\n")
        model = work / "model.bin"
        with open(model, "wb") as f:
            for _ in range(256):
                f.write(os.urandom(1 << 20))
        lock = str(work / "bench.lock")
        hash_code = f"from envcheck.collect.models import digest_models; digest_models([{str(model)!r}])"
        cases: Dict[str, Callable[[], object]] = {
            "pip freeze": sh(str(python), "-m", "pip", "freeze"),
            "pip inspect": sh(str(python), "-m", "pip", "inspect"),
            "envcheck snapshot": sh(
                sys.executable, "-m", "envcheck", "snapshot", "--python", str(python), "-o", lock
            ),
            "sha256sum 256 MiB": sh("sha256sum", str(model)),
            "envcheck digest 256 MiB": sh(sys.executable, "-c", hash_code),
        }
        results: Dict[str, List[float]] = {name: [] for name in cases}
        for fn in cases.values():  # warm the page cache and pip's own caches once
            fn()
        for _ in range(args.runs):
            for name, fn in cases.items():
                results[name].append(timed(fn))
    med = {name: statistics.median(times) for name, times in results.items()}
    print(f"environment: {count} distributions; {args.runs} runs each, median wall time, same run")
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    for name, value in med.items():
        print(f"  {name:<26} {value * 1000:8.1f} ms")
    snap = med["envcheck snapshot"]
    print(f"  envcheck snapshot / pip freeze   = {snap / med['pip freeze']:.2f}")
    print(f"  envcheck snapshot / pip inspect  = {snap / med['pip inspect']:.2f}")
    print(f"  envcheck digest / sha256sum      = {med['envcheck digest 256 MiB'] / med['sha256sum 256 MiB']:.2f}")
    ok = count >= 200 and snap < med["pip freeze"] and snap < med["pip inspect"]
    print("budget met" if ok else "budget NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
