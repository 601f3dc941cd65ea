"""File verification speed: ``envcheck.verify`` against ``sha256sum`` run in parallel over the same files.

Builds a virtual environment with real wheels from the configured package index (numpy, scipy, pandas,
scikit-learn and what they need; ``pip install`` as a user would), then times, in the same run and alternating:

- (a) ``sha256sum`` over every file the distributions' RECORDs list with a hash, through ``xargs -0 -P N``
  (N = CPU count), output discarded;
- (b) envcheck's cold verify of the venv's site folder (a fresh cache: every file read and hashed, RECORDs parsed,
  package folders walked for unexpected files);
- (c) envcheck's warm re-verify (the same cache, the tree unchanged: one ``stat`` per file).

Both read with a warm page cache (one untimed pass of each first; the machine's caches are never dropped), so the
numbers compare hashing and per-file costs, not the disk. Medians of ``--runs`` rounds.

Budgets: cold throughput >= 0.8x sha256sum's; warm <= 5% of cold. Exits 1 when one is missed.

Usage: ``python bench/verify_speed.py [--runs N] [--venv PATH] [--packages ...]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envcheck.verify import HashCache, verify_sites  # noqa: E402
from envcheck.verify.record import parse_record  # noqa: E402

PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn")


def build_env(where: Path, packages: List[str]) -> Path:
    """A venv at ``where`` with ``packages`` installed from the configured index; returns its site folder."""
    python = where / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(where)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def hashed_files(site: Path) -> List[str]:
    """Every file the site's RECORDs list with a hash, as envcheck verifies them."""
    out = []
    for meta in sorted(site.glob("*.dist-info")):
        record = parse_record((meta / "RECORD").read_text(encoding="utf-8", errors="replace"))
        out += [str(site / row.path) for row in record.rows if row.algorithm]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--venv", type=Path, help="Reuse (or create) the venv here instead of a temporary one.")
    parser.add_argument("--packages", nargs="*", default=list(PACKAGES))
    parser.add_argument("--site", type=Path, help="Verify this existing site folder instead of building a venv.")
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="envcheck-verify-bench-") as tmp:
        site = args.site or build_env(args.venv or Path(tmp) / "venv", args.packages)
        files = hashed_files(site)
        size = sum(os.path.getsize(f) for f in files)
        listing = Path(tmp) / "files0"
        listing.write_bytes(b"\0".join(os.fsencode(f) for f in files))
        dists = len(list(site.glob("*.dist-info")))
        python = sys.version.split()[0]
        print(f"{dists} distributions, {len(files)} files, {size / 1e6:.1f} MB; {cpus} CPUs; Python {python}")
        # enough invocations that every CPU has work to the end (xargs alone packs the list into a few)
        batch = str(max(1, len(files) // (cpus * 8)))

        def sha256sum() -> None:
            with listing.open("rb") as f:
                subprocess.run(
                    ["xargs", "-0", "-P", str(cpus), "-n", batch, "sha256sum"],
                    stdin=f,
                    stdout=subprocess.DEVNULL,
                    check=True,
                )

        cache = HashCache()

        def cold() -> None:
            nonlocal cache
            cache = HashCache()
            result = verify_sites("/", [str(site)], cache=cache)
            assert result.files_hashed == len(files), result.summary()

        def warm() -> None:
            result = verify_sites("/", [str(site)], cache=cache)
            assert result.files_hashed == 0, result.summary()

        timed: Dict[str, Callable[[], None]] = {"sha256sum": sha256sum, "cold": cold, "warm": warm}
        for run in timed.values():  # untimed: the page cache warm for both, imports done
            run()
        times: Dict[str, List[float]] = {name: [] for name in timed}
        for _ in range(args.runs):
            for name, run in timed.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'':24}{'median s':>10}{'MB/s':>10}   (runs: {args.runs}, page cache warm for all)")
    labels = {
        "sha256sum": f"sha256sum, xargs -P {cpus}",
        "cold": "envcheck cold verify",
        "warm": "envcheck warm re-verify",
    }
    for name, label in labels.items():
        print(f"{label:24}{median[name]:>10.3f}{size / 1e6 / median[name]:>10.0f}")
    cold_ratio = median["sha256sum"] / median["cold"]
    warm_ratio = median["warm"] / median["cold"]
    print(f"cold throughput / sha256sum's: {cold_ratio:.2f}x (budget >= 0.80x)")
    print(f"warm / cold: {warm_ratio * 100:.1f}% (budget <= 5%)")
    ok = cold_ratio >= 0.8 and warm_ratio <= 0.05
    print("budgets met" if ok else "BUDGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
