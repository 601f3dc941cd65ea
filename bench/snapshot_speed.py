"""Capture speed: ``envcheck snapshot`` against ``pip freeze``, ``uv pip freeze`` and ``pip inspect`` on one
200+ distribution environment, where its time goes, and how it scales to 5,000 distributions.

Builds a virtual environment, installs envcheck into it (from this checkout, for the in-interpreter form), unpacks
into it the 197 real dist-info folders of the H200 serving environment (fixtures/h200-serving/dist-info.tgz) beside
the venv's own pip, with this machine's numpy binary where the snapshot reads numpy's SIMD lists, then times, in
the same run and alternating:

- ``python -m pip freeze``, ``uv pip freeze --python VENV`` and ``python -m pip inspect`` (whole processes),
- ``VENV/bin/envcheck snapshot`` (whole process: envcheck inside the environment it fingerprints),
- ``envcheck snapshot --python VENV/bin/python`` (whole process: envcheck start, the probe in the venv's
  interpreter, this machine's hardware, writing the lockfile),
- and, for model digests, ``sha256sum`` against envcheck's own hashing of the same 256 MiB file.

Then, in one process, where a ``--python`` snapshot's time goes (``--stages``), and the scaling table: synthetic
environments of 250 to 5,000 distributions (each a dist-info with METADATA, a 40-line RECORD, WHEEL and
INSTALLER), ``envcheck snapshot --python`` timed in each (``--scaling``).

Usage: ``python bench/snapshot_speed.py [--runs N] [--no-scaling]``. Prints tables and the ratios; exits 1 when a
budget is missed: both forms at most 0.2x ``pip freeze`` and 8x ``uv pip freeze``, and time per distribution
at 5,000 within 1.5x of that at 1,000 (linear).
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
from typing import Callable, Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
DIST_INFO = ROOT / "fixtures" / "h200-serving" / "dist-info.tgz"
PADDING = 12

#: Every command runs as an installed tool would: with its bytecode cached (written during the warm-up run), even
#: where the calling shell sets PYTHONDONTWRITEBYTECODE (pip's own modules were compiled when it was installed).
BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def build_env(where: Path, install_envcheck: bool = False, wheels: Sequence[str] = ()) -> Path:
    """The bench environment; ``wheels``: real distributions installed first from the configured index (their
    files present, as ``--files`` hashes them), the fixture's dist-info folders of the same names then skipped."""
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    first = [str(ROOT)] if install_envcheck else []
    if first or wheels:  # before the fixture's dist-info folders (same names skipped)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *first, *wheels], check=True, env=BENCH_ENV)
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


def sh(*args: str) -> Callable[[], object]:
    def go() -> object:
        return subprocess.run(
            list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=BENCH_ENV
        )

    return go


def uv_binary() -> str:
    """The uv executable the test extra installs (``uv`` from PyPI), run directly: not through ``python -m``."""
    from uv import find_uv_bin

    return str(find_uv_bin())


def synthetic_env(where: Path, count: int) -> Path:
    """A venv holding ``count`` synthetic distributions as installers write them."""
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site = where / "lib" / minor / "site-packages"
    for i in range(count):
        name = f"synthetic_{i:05d}"
        meta = site / f"{name}-1.{i % 7}.dist-info"
        meta.mkdir()
        (meta / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.{i % 7}\nSummary: bench\n"
            f"Requires-Dist: synthetic-{(i + 1) % count:05d}>=1\nRequires-Dist: numpy; extra == 'x'\n\nbody\n"
        )
        rows = [f"{name}/mod_{j}.py,sha256=AAAA{j},{100 + j}" for j in range(36)]
        rows += [f"{name}-1.{i % 7}.dist-info/{f},," for f in ("METADATA", "WHEEL", "INSTALLER", "RECORD")]
        (meta / "RECORD").write_text("\n".join(rows) + "\n")
        (meta / "WHEEL").write_text("Wheel-Version: 1.0\nTag: py3-none-any\n")
        (meta / "INSTALLER").write_text("pip\n")
    return python


STAGES = """
import sys, time
t0 = time.perf_counter()
import envcheck.cli
from envcheck import capture, lockfile
from envcheck.targets.python import PythonTarget
t1 = time.perf_counter()
target = PythonTarget(sys.argv[1])
raw = target.probe()
t2 = time.perf_counter()
from envcheck.software import software
software(raw)
t3 = time.perf_counter()
for collector in target.hardware():
    collector.collect()
t4 = time.perf_counter()
fp = capture.take(PythonTarget(sys.argv[1]))
t5 = time.perf_counter()
lockfile.write(fp, sys.argv[2])
t6 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.0f} {(t2 - t1) * 1000:.0f} {(t3 - t2) * 1000:.0f} {(t4 - t3) * 1000:.0f} "
      f"{(t6 - t5) * 1000:.0f}")
"""


def stages(python: Path, lock: str, runs: int) -> Dict[str, float]:
    """Where a ``--python`` snapshot's time goes, each stage alone, in one process: median of ``runs``."""
    names = (
        "import envcheck (cli, capture, lockfile)",
        "probe in the target (child process)",
        "probe output to fingerprint sections",
        "hardware (CPU, memory, GPU)",
        "lockfile written",
    )
    values: Dict[str, List[float]] = {n: [] for n in names}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", STAGES, str(python), lock],
            capture_output=True,
            text=True,
            check=True,
            env=BENCH_ENV,
        ).stdout.split()
        for name, value in zip(names, out):
            values[name].append(float(value))
    return {n: statistics.median(v) for n, v in values.items()}


def scaling(work: Path, runs: int) -> List[Tuple[int, float]]:
    """``envcheck snapshot --python`` on synthetic environments of growing size: (count, median seconds)."""
    out = []
    for count in (250, 1000, 2500, 5000):
        python = synthetic_env(work / f"synthetic-{count}", count)
        run = sh(sys.executable, "-m", "envcheck", "snapshot", "--python", str(python), "-o", str(work / "s.lock"))
        run()
        out.append((count, statistics.median(timed(run) for _ in range(runs))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-scaling", action="store_true", help="leave out the 5,000-distribution table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="envcheck-bench-") as tmp:
        work = Path(tmp)
        python = build_env(work / "venv", install_envcheck=True)
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
            "uv pip freeze": sh(uv_binary(), "pip", "freeze", "--python", str(python)),
            "pip inspect": sh(str(python), "-m", "pip", "inspect"),
            "envcheck snapshot (in the venv)": sh(str(python.parent / "envcheck"), "snapshot", "-o", lock),
            "envcheck snapshot --python": sh(
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
        where = stages(python, lock, args.runs)
        table = [] if args.no_scaling else scaling(work, max(3, args.runs // 2))
    med = {name: statistics.median(times) for name, times in results.items()}
    print(f"environment: {count} distributions; {args.runs} runs each, median wall time, same run")
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    for name, value in med.items():
        print(f"  {name:<34} {value * 1000:8.1f} ms")
    ok = count >= 200
    for form in ("envcheck snapshot (in the venv)", "envcheck snapshot --python"):
        freeze, uv = med[form] / med["pip freeze"], med[form] / med["uv pip freeze"]
        print(f"  {form}: / pip freeze = {freeze:.2f} (budget 0.2), / uv pip freeze = {uv:.1f} (budget 8)")
        ok = ok and freeze <= 0.2 and uv <= 8
    print(f"  envcheck digest / sha256sum = {med['envcheck digest 256 MiB'] / med['sha256sum 256 MiB']:.2f}")
    print("where a --python snapshot's time goes (one process, each stage alone, median):")
    for name, value in where.items():
        print(f"  {name:<42} {value:6.0f} ms")
    if table:
        print("scaling (envcheck snapshot --python, synthetic distributions):")
        print("  distributions  median   per distribution")
        for n, seconds in table:
            print(f"  {n:>13}  {seconds * 1000:6.0f} ms  {seconds / n * 1e6:8.0f} us")
        per = {n: seconds / n for n, seconds in table}
        linear = per[5000] <= 1.5 * per[1000]
        print(f"  per distribution at 5,000 / at 1,000 = {per[5000] / per[1000]:.2f} (linear: at most 1.5)")
        ok = ok and linear
    print("budget met" if ok else "budget NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
