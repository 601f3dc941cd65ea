"""Comparison and lockfile speed: two 2,000-package fingerprints, compared in-process, read and written, against
the budgets (compare 50 ms, load 150 ms).

Builds both fingerprints in memory. Every section but ``packages`` is the real H200 serving lockfile
(fixtures/h200-serving/envcheck.lock); the packages are synthetic but shaped like real ones: PEP 440 versions
(some with ``+cu121``-style local labels, a few not PEP 440 at all), wheel tags (pure and manylinux), RECORD
digests, Requires-Dist lines with specifiers, extras and markers that name other packages of the set. The
candidate has about 5% of the packages changed in every way the rulebook knows: major, minor and patch moves, a
GPU build swapped for a CPU one, another wheel tag, another RECORD digest, another source, non-PEP 440 versions,
removed and added packages.

Times, as the median of many runs after a warm-up:

- ``compare(a, b, self_checks=False)``: what ``envcheck diff`` does; this is the budget (50 ms);
- ``compare(a, b, self_checks=True)``: what ``envcheck check`` adds (unmet requirements, shadowed copies,
  unsupported wheels of ``b``), for information;
- load: ``lockfile.read`` of the 2,000-package lockfile from disk (bounded read, parse, conversion to the
  model, digest verified); this is the second budget (150 ms);
- ``lockfile.dumps`` of it (digest computed, TOML written), for information.

Usage: ``python bench/compare_speed.py [--runs N] [--profile]``. Exits 1 when a budget is missed; ``--profile``
(or a missed budget) prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envcheck import lockfile  # noqa: E402
from envcheck.compare import compare  # noqa: E402
from envcheck.model import DirectUrl, Fingerprint, Package  # noqa: E402

BASE = ROOT / "fixtures" / "h200-serving" / "envcheck.lock"
BUDGET_MS = 50.0
LOAD_BUDGET_MS = 150.0
PACKAGES = 2000
CHANGED = 0.05

_GPU_LOCALS = ("cu121", "cu124", "cu130")
_PLATFORMS = ("manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_39_x86_64")


def _digest(rng: random.Random) -> str:
    return "sha256:" + hashlib.sha256(rng.randbytes(16)).hexdigest()


def _version(rng: random.Random) -> str:
    parts = [rng.randint(0, 9), rng.randint(0, 30), rng.randint(0, 20)]
    text = ".".join(map(str, parts))
    roll = rng.random()
    if roll < 0.03:
        text += f"+{rng.choice(_GPU_LOCALS)}"
    elif roll < 0.05:
        text += rng.choice(("rc1", ".post1", ".dev0"))
    return text


def _tags(rng: random.Random) -> Tuple[str, ...]:
    if rng.random() < 0.6:
        return ("py3-none-any",)
    platforms = rng.choice(_PLATFORMS).split(".")
    return tuple(f"cp312-cp312-{p}" for p in platforms)


def _requires(rng: random.Random, names: List[str]) -> Tuple[str, ...]:
    lines = []
    for dep in rng.sample(names, rng.randint(0, 5)):
        shape = rng.random()
        if shape < 0.4:
            lines.append(f"{dep}>={rng.randint(0, 3)}.{rng.randint(0, 9)}")
        elif shape < 0.6:
            lines.append(f"{dep}<{rng.randint(4, 12)},>=0.1")
        elif shape < 0.75:
            lines.append(f'{dep}; extra == "test"')
        elif shape < 0.9:
            lines.append(f"{dep}; python_version < '3.10'")
        else:
            lines.append(dep)
    return tuple(lines)


def make_packages(rng: random.Random, n: int) -> Tuple[Package, ...]:
    names = sorted({f"pkg-{rng.randrange(10**6):06d}-{i}" for i in range(n)})
    pkgs = []
    for name in names:
        pkgs.append(
            Package(
                name=name,
                version=_version(rng),
                installer=rng.choice(("pip", "uv")),
                wheel_tags=_tags(rng),
                requested=rng.random() < 0.1,
                record_digest=_digest(rng),
                requires=_requires(rng, names),
            )
        )
    return tuple(pkgs)


def _bump(version: str, level: int) -> str:
    public, _, local = version.partition("+")
    parts = [int(p) for p in public.split(".")[:3] if p.isdigit()] or [0]
    parts += [0] * (3 - len(parts))
    parts[level] += 1
    parts[level + 1 :] = [0] * (2 - level)
    return ".".join(map(str, parts)) + (f"+{local}" if local else "")


def mutate(rng: random.Random, pkgs: Tuple[Package, ...], share: float) -> Tuple[Package, ...]:
    """About ``share`` of the packages changed, each in one of the ways the rulebook tells apart."""
    out: List[Package] = []
    kinds = ("major", "minor", "patch", "gpu", "tags", "digest", "source", "opaque", "removed", "added")
    for pkg in pkgs:
        if rng.random() >= share:
            out.append(pkg)
            continue
        kind = rng.choice(kinds)
        if kind in ("major", "minor", "patch"):
            out.append(
                dataclasses.replace(pkg, version=_bump(pkg.version, ("major", "minor", "patch").index(kind)))
            )
        elif kind == "gpu":
            out.append(dataclasses.replace(pkg, version=pkg.version.partition("+")[0] + "+cpu"))
        elif kind == "tags":
            out.append(dataclasses.replace(pkg, wheel_tags=("cp312-cp312-manylinux_2_28_x86_64",)))
        elif kind == "digest":
            out.append(dataclasses.replace(pkg, record_digest=_digest(rng)))
        elif kind == "source":
            url = DirectUrl(
                url=f"https://github.com/example/{pkg.name}.git", kind="vcs", vcs="git", commit_id="a" * 40
            )
            out.append(dataclasses.replace(pkg, direct_url=url))
        elif kind == "opaque":
            out.append(dataclasses.replace(pkg, version=f"{pkg.version}-custom_build"))
        elif kind == "added":
            out.append(pkg)
            out.append(dataclasses.replace(pkg, name=pkg.name + "-extra"))
        # removed: nothing appended
    return tuple(sorted(out, key=lambda p: p.name))


def fingerprints(seed: int = 1) -> Tuple[Fingerprint, Fingerprint]:
    rng = random.Random(seed)
    base = lockfile.read(BASE)
    a = dataclasses.replace(base, packages=make_packages(rng, PACKAGES))
    b = dataclasses.replace(base, packages=mutate(rng, a.packages, CHANGED))
    return lockfile.loads(lockfile.dumps(a)), lockfile.loads(lockfile.dumps(b))


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 5) -> Tuple[float, float]:
    """(median, minimum) in milliseconds over ``runs`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def _profile(label: str, fn: Callable[[], object], runs: int) -> None:
    print(f"\nprofile, {label}, {runs} runs:")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(runs):
        fn()
    prof.disable()
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(12)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=51, help="timed runs per measurement (default 51)")
    parser.add_argument("--profile", action="store_true", help="print where compare, load and dumps spend time")
    args = parser.parse_args()

    a, b = fingerprints()
    text = lockfile.dumps(a)
    diff_report = compare(a, b, self_checks=False)
    check_report = compare(a, b, self_checks=True)
    changed = sum(1 for p in b.packages if a.package(p.name) != p) + sum(
        1 for p in a.packages if b.package(p.name) is None
    )

    with tempfile.TemporaryDirectory(prefix="envcheck-bench-") as folder:
        path = Path(folder) / "envcheck.lock"
        path.write_text(text, encoding="utf-8")
        assert lockfile.read(path) == a

        def load() -> object:
            return lockfile.read(path)

        diff_ms, diff_min = median_ms(lambda: compare(a, b, self_checks=False), args.runs)
        check_ms, check_min = median_ms(lambda: compare(a, b, self_checks=True), max(5, args.runs // 5))
        load_ms, load_min = median_ms(load, max(5, args.runs // 2), warmup=2)
        dumps_ms, dumps_min = median_ms(lambda: lockfile.dumps(a), max(5, args.runs // 2), warmup=2)

        print(f"fingerprints: {len(a.packages)} and {len(b.packages)} packages, {changed} differ")
        print(f"lockfile: {len(text) / 1024:.0f} KiB")
        print(f"findings: diff {len(diff_report.findings)}, check {len(check_report.findings)}")
        print(f"compare(a, b, self_checks=False)  median {diff_ms:7.1f} ms  (min {diff_min:.1f})  [budget 50 ms]")
        print(f"compare(a, b, self_checks=True)   median {check_ms:7.1f} ms  (min {check_min:.1f})")
        print(f"load: lockfile.read (2,000 pkgs)  median {load_ms:7.1f} ms  (min {load_min:.1f})  [budget 150 ms]")
        print(f"lockfile.dumps (2,000 packages)   median {dumps_ms:7.1f} ms  (min {dumps_min:.1f})")
        ok_compare = diff_ms <= BUDGET_MS
        ok_load = load_ms <= LOAD_BUDGET_MS
        for name, ms, budget, ok in (
            ("comparison", diff_ms, BUDGET_MS, ok_compare),
            ("load", load_ms, LOAD_BUDGET_MS, ok_load),
        ):
            print(f"{'PASS' if ok else 'FAIL'}: {name} {ms:.1f} ms against a budget of {budget:.0f} ms")
        if check_ms > BUDGET_MS:
            print(f"note: with self-checks {check_ms:.1f} ms, over {BUDGET_MS:.0f} ms (not part of the budget)")

        if args.profile or not ok_compare:
            _profile("compare(self_checks=False)", lambda: compare(a, b, self_checks=False), 10)
            _profile("compare(self_checks=True)", lambda: compare(a, b, self_checks=True), 10)
        if args.profile or not ok_load:
            _profile("lockfile.read", load, 10)
        if args.profile:
            _profile("lockfile.dumps", lambda: lockfile.dumps(a), 10)
    return 0 if ok_compare and ok_load else 1


if __name__ == "__main__":
    sys.exit(main())
