"""Another interpreter on this machine (``--python PATH``): the probe's source runs in it, isolated (``-I``) and
without ``site`` (``-S``): the target's ``.pth`` files are read by the probe, their ``import`` lines never run.

Isolation also hides the caller's PYTHONPATH from the child, although the program run with that interpreter would
see it: the target passes it to the probe as an argument (``--pythonpath-json``), the probe puts those folders
first as the interpreter would, and says so in ``sources.packages``. What shadows a distribution in-process
shadows it through ``--python`` too."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Dict, Hashable, List, Optional, Sequence

from envcheck import _subprocess
from envcheck.probe import scrub_value
from envcheck.targets.interface import Target, TargetError, folders_token, site_folders

# Runs first in the target: refuses interpreters the probe does not support before parsing the probe's source,
# and is valid syntax in Python 2 too, so that an old interpreter gets a clear answer rather than a SyntaxError.
BOOTSTRAP = (
    "import sys\n"
    "if sys.version_info < (3, 8):\n"
    "    sys.stderr.write('envcheck-too-old %d.%d\\n' % sys.version_info[:2]); sys.exit(3)\n"
    "src = sys.stdin.read(); sys.argv = ['envcheck-probe'] + sys.argv[1:]\n"
    "exec(compile(src, 'envcheck-probe', 'exec'), {'__name__': '__main__'})\n"
)
TOO_OLD_EXIT = 3


_BUNDLED = "from envcheck.tree import Tree, sources_entry  # bundled: the probe's source carries tree.py"
_FUTURE = "from __future__ import annotations"


def probe_source() -> str:
    """The probe's source as one module for another interpreter: tree.py (the safe reader it uses), then
    probe.py without its import of it. Neither imports anything of envcheck in the target."""
    package = Path(__file__).resolve().parent.parent
    tree = package.joinpath("tree.py").read_text(encoding="utf-8")
    probe = package.joinpath("probe.py").read_text(encoding="utf-8")
    if _BUNDLED not in probe.splitlines() or _FUTURE not in tree.splitlines():
        raise RuntimeError("probe.py and tree.py no longer bundle as probe_source() expects")
    parts = [tree.replace(_FUTURE, "", 1), probe.replace(_FUTURE, "", 1).replace(_BUNDLED, "", 1)]
    return _FUTURE + "\n" + "\n".join(parts)


class PythonTarget(Target):
    """Another Python interpreter on this machine."""

    kind = "python"

    def __init__(self, executable: str, timeout: float = 120.0, pythonpath: Optional[str] = None) -> None:
        self.executable = executable
        self.timeout = timeout
        #: The PYTHONPATH to pass on (os.pathsep-separated); None: this process's, read at each probe.
        self.pythonpath = pythonpath
        #: The site folders of the interpreter as the last probe found them; None before one.
        self._sites: Optional[List[str]] = None

    @property
    def name(self) -> str:
        return f"python:{self.executable}"

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        exe = self.executable
        if not os.path.exists(exe):
            raise TargetError(f"--python {exe}: no such file")
        if os.path.isdir(exe):
            raise TargetError(f"--python {exe}: is a directory; give the interpreter (e.g. {exe}/bin/python)")
        args = [exe, "-I", "-S", "-c", BOOTSTRAP]
        for name in extra_env:
            args += ["--env", name]
        pythonpath = self._pythonpath()
        if pythonpath:
            args += ["--pythonpath-json", base64.b64encode(json.dumps(pythonpath).encode("utf-8")).decode("ascii")]
        try:
            done = _subprocess.run(args, input=probe_source(), timeout=self.timeout)
        except _subprocess.RunError as e:
            raise TargetError(f"--python {exe}: {e}") from e
        if done.returncode == TOO_OLD_EXIT and "envcheck-too-old" in done.stderr:
            version = done.stderr.split("envcheck-too-old", 1)[1].strip()
            raise TargetError(f"--python {exe}: Python {version} is older than 3.8, which the probe needs")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            detail = scrub_value(last[:200])  # the child's own words may quote its environment
            raise TargetError(f"--python {exe}: not a Python interpreter the probe can run in ({detail})")
        try:
            data = json.loads(done.stdout)
        except ValueError as e:
            raise TargetError(f"--python {exe}: the probe printed no JSON (is it a Python interpreter?)") from e
        if not isinstance(data, dict):
            raise TargetError(f"--python {exe}: the probe printed unexpected output")
        python = data.get("python") or {}
        minor = ".".join(str(python.get("version", "")).split(".")[:2])
        prefixes = [str(python.get("prefix", "")), str(python.get("base_prefix", ""))]
        self._sites = site_folders(prefixes, minor, pythonpath)
        return data

    def _pythonpath(self) -> List[str]:
        """The PYTHONPATH folders as the interpreter would put them on sys.path: absolute, normalised, an empty
        entry meaning the working directory."""
        value = os.environ.get("PYTHONPATH", "") if self.pythonpath is None else self.pythonpath
        if not value:
            return []
        entries = [os.path.normpath(os.path.abspath(e)) if e else os.getcwd() for e in value.split(os.pathsep)]
        return list(dict.fromkeys(entries))

    def change_token(self) -> Optional[Hashable]:
        """The interpreter file's identity and mtime, and the mtimes of the site folders the last probe found (and
        of the distributions in them); None before a probe."""
        if self._sites is None:
            return None
        try:
            st = os.stat(self.executable)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, folders_token(self._sites))
