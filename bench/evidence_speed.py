"""The opt-in evidence checks against what a user would run by hand, in the same run: ``envcheck check --import``
(and ``--load-model``) on a scikit-learn model, against ``python -c "import numpy, scipy, sklearn, joblib"`` (the
floor: the same imports in a plain interpreter) and the lockfile comparison alone (``envcheck check``).

Budget (issue 12): the import check of a scikit-learn stack finishes in under 5 s here.

    python bench/evidence_speed.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

TRAIN = (
    "import pickle, sys, numpy as np\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "x = np.arange(40.0).reshape(20, 2); y = (x[:, 0] > 15).astype(int)\n"
    "pickle.dump(LogisticRegression().fit(x, y), open(sys.argv[1], 'wb'))\n"
)


def _timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, "-c", TRAIN, str(folder / "model.pkl")], check=True)
        envcheck = [sys.executable, "-m", "envcheck"]
        subprocess.run([*envcheck, "snapshot", "--model", "model.pkl", "-o", "e.lock"], cwd=folder, check=True)

        def command(*args: str) -> Callable[[], None]:
            return lambda: subprocess.run(list(args), cwd=folder, check=True, capture_output=True)

        cases: Dict[str, Callable[[], None]] = {
            "python -c 'import numpy, scipy, sklearn, joblib'": command(
                sys.executable, "-c", "import numpy, scipy, sklearn, joblib"
            ),
            "envcheck check": command(*envcheck, "check", "e.lock"),
            "envcheck check --import": command(*envcheck, "check", "e.lock", "--import"),
            "envcheck check --import --load-model": command(
                *envcheck, "check", "e.lock", "--import", "--load-model"
            ),
        }
        times: Dict[str, List[float]] = {name: [] for name in cases}
        for _ in range(runs):  # alternate, so that a slow moment hits every command alike
            for name, run in cases.items():
                times[name].append(_timed(run))
    print("| command | median |")
    print("| --- | --- |")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"| `{name}` | {value:.0f} ms |")
    added = medians["envcheck check --import"] - medians["envcheck check"]
    print(f"\nthe import check adds {added:.0f} ms to `envcheck check` (budget: under 5,000 ms);")
    print(f"the imports alone take {medians[next(iter(medians))]:.0f} ms in a plain interpreter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
