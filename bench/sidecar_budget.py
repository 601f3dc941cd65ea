"""Sidecar budgets: memory over 1,000 checks, CPU per steady-state check, /metrics under 200 concurrent requests.

Builds the environment of ``snapshot_speed.py`` (a virtual environment holding the 197 real dist-info folders of
the H200 serving environment plus padding: over 200 distributions), starts a long-running Python process in it,
takes its fingerprint through ``--pid`` as the lockfile, then runs the sidecar in this process (the HTTP server
and checking thread of ``serve``, on a loopback port) with that process as its target, and measures:

- resident memory of this process after 1,000 steady-state checks, and its growth from check 100 to check 1,000
  (budget: under 60 MB, no growth; this process also holds the benchmark's own imports, so it is an upper bound);
- CPU time (user + system, all threads) per steady-state check (budget: at most 5 ms for 200 packages);
- latency of ``GET /metrics`` with 200 requests in flight at once on loopback, from another process
  (budget: p99 under 50 ms).

With ``--files`` the environment also holds real numpy, scipy, pandas and scikit-learn (their files present) and
the checker verifies installed files (``envcheck sidecar --files``): at its first read, then only when the target
changes. Budgets then: resident memory under 80 MB after 1,000 checks, and no file hashed in a steady-state
check (every hashing call is counted).

Usage: ``python bench/sidecar_budget.py [--checks 1000] [--rounds 5] [--files]``. Prints the figures and PASS/FAIL
per budget; exits 1 when one fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from snapshot_speed import build_env

from envcheck import capture
from envcheck.sidecar import Checker, State, serve
from envcheck.targets.pid import PidTarget
from envcheck.verify import hashing

MB = 1 << 20
#: Real distributions whose files --files hashes (as bench/verify_speed.py installs).
FILES_WHEELS = ("numpy", "scipy", "pandas", "scikit-learn")

#: Run in another interpreter: open N connections at once, send GET /metrics on each, time each full answer.
CLIENT = r"""
import asyncio, json, sys, time
port, n, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
REQUEST = b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"

async def one(gate):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await gate.wait()
    start = time.perf_counter()
    writer.write(REQUEST)
    await writer.drain()
    data = await reader.read()
    took = time.perf_counter() - start
    writer.close()
    return took, data.split(b" ", 2)[1] == b"200"

async def main():
    out = []
    for _ in range(rounds):
        gate = asyncio.Event()
        tasks = [asyncio.ensure_future(one(gate)) for _ in range(n)]
        await asyncio.sleep(0.2)  # all connected first: the burst is the requests, not the handshakes
        gate.set()
        out += await asyncio.gather(*tasks)
        await asyncio.sleep(0.2)
    print(json.dumps(out))

asyncio.run(main())
"""


def percentile(values: List[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="bursts of 200 concurrent /metrics requests")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--files", action="store_true", help="verify installed files too (sidecar --files)")
    args = parser.parse_args()
    me = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="envcheck-sidecar-bench-") as tmp:
        python = build_env(Path(tmp) / "venv", wheels=FILES_WHEELS if args.files else ())
        server = subprocess.Popen([str(python), "-c", "import time; time.sleep(3600)", "envcheck-bench-model"])
        try:
            return run(args, me, server.pid)
        finally:
            server.kill()
            server.wait()


def run(args: argparse.Namespace, me: psutil.Process, pid: int) -> int:
    time.sleep(0.3)
    expected = capture.take(PidTarget(pid))
    target = PidTarget(pid)
    checker = Checker(
        expected, lambda: target, lock_name="bench.lock", target_label=f"pid:{pid}", verify_files=args.files
    )
    hashed = [0]
    digest_fd = hashing.digest_fd

    def counted(*a: Any, **k: Any) -> Any:  # every file the verification reads goes through here
        hashed[0] += 1
        return digest_fd(*a, **k)

    hashing.digest_fd = counted
    state = State("bench.lock", expected.meta.digest)
    stop = threading.Event()
    started: Dict[str, Any] = {}

    def log(line: str) -> None:
        record = json.loads(line)
        if record["event"] == "start":
            started.update(record)

    # The loop's first check happens at once; a long interval leaves the steady-state checks to this thread.
    thread = threading.Thread(
        target=serve,
        args=(checker, state),
        kwargs=dict(host="127.0.0.1", port=0, interval=3600.0, log=log, stop=stop, install_signals=False),
    )
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while state.view().last is None or "listen" not in started:
            if time.monotonic() > deadline:
                print("the sidecar did not check in 120 s")
                return 1
            time.sleep(0.05)
        packages = len(expected.packages)
        # The first read has no token to trust (PidTarget knows its site folders only after a probe): one more.
        state.record(checker.check_once())
        reads = checker.reads
        hashed_before = hashed[0]
        rss: Dict[int, float] = {}
        cpu_at: Dict[int, float] = {}
        wall_at: Dict[int, float] = {}
        for i in range(1, args.checks + 1):
            result = checker.check_once()
            state.record(result)
            if i in (100, args.checks):
                rss[i] = me.memory_info().rss / MB
                cpu_at[i] = time.process_time()
                wall_at[i] = time.perf_counter()
        rereads = checker.reads - reads
        steady_hashed = hashed[0] - hashed_before
        steady = args.checks - 100
        cpu_ms = (cpu_at[args.checks] - cpu_at[100]) / steady * 1000
        wall_ms = (wall_at[args.checks] - wall_at[100]) / steady * 1000
        port = int(str(started["listen"]).rsplit(":", 1)[1])
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, str(port), str(args.concurrency), str(args.rounds)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        answers = json.loads(done.stdout)
        latencies = [t * 1000 for t, _ in answers]
        failed = sum(1 for _, ok in answers if not ok)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
            metrics_bytes = len(r.read())
    finally:
        stop.set()
        thread.join(5)

    view = state.view()
    p50, p99, worst = percentile(latencies, 50), percentile(latencies, 99), max(latencies)
    growth = rss[args.checks] - rss[100]
    rss_budget = 80 if args.files else 60
    results = [
        (
            "RSS after checks",
            rss[args.checks] < rss_budget,
            f"{rss[args.checks]:.1f} MB (budget < {rss_budget} MB)",
        ),
        ("RSS growth", growth <= 0.5, f"{growth:+.2f} MB from check 100 to {args.checks} (budget: none, 0.5 MB)"),
        ("CPU per check", cpu_ms <= 5, f"{cpu_ms:.2f} ms CPU, {wall_ms:.2f} ms wall (budget <= 5 ms CPU)"),
        ("steady state", rereads == 0, f"{rereads} re-reads in {args.checks} checks (expected 0)"),
        *(
            [
                (
                    "no hashing",
                    steady_hashed == 0,
                    f"{steady_hashed} files hashed in steady state ({hashed[0]} at start)",
                )
            ]
            if args.files
            else []
        ),
        ("/metrics p99", p99 < 50 and failed == 0, f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms"),
    ]
    files = " with --files" if args.files else ""
    print(
        f"target: pid {pid}, {packages} distributions; sidecar{files} in-process, python {sys.version.split()[0]}"
    )
    print(f"{view.checks_total} checks, {checker.reads} full reads; last report {view.last and view.last.highest}")
    print(
        f"/metrics: {args.rounds} bursts of {args.concurrency} concurrent requests, {failed} failed, "
        f"{metrics_bytes} bytes each; {os.cpu_count()} CPUs"
    )
    for name, ok, text in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:<17} {text}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
