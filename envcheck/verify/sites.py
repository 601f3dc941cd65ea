"""Where a target's distributions are installed: the site folders of a tree read statically, or of an interpreter
on this machine asked with a tiny child run."""

from __future__ import annotations

import json
import os
from typing import List, Mapping, Optional, Sequence

from envcheck import _subprocess
from envcheck.targets.rootfs import RootError, find_interpreter, sys_path
from envcheck.tree import Tree

#: Printed by the interpreter asked (isolated, without ``site`` running: nothing of the target runs but this and
#: the stdlib's ``site`` module imported, which under ``-S`` changes nothing). Its site folders as ``site`` would
#: add them: a virtual environment's own (its pyvenv.cfg found as ``site`` finds it), the base installation's only
#: when the venv includes system site packages; ``getsitepackages`` carries distributions' patches (Debian's
#: dist-packages).
_ASK = (
    "import json, os, site, sys\n"
    "venv = os.path.dirname(os.path.dirname(sys.executable))\n"
    "cfg = os.path.join(venv, 'pyvenv.cfg')\n"
    "if os.path.isfile(cfg):\n"
    "    text = open(cfg, encoding='utf-8', errors='replace').read().lower().replace(' ', '')\n"
    "    prefixes = [venv] + ([sys.base_prefix] if 'include-system-site-packages=true' in text else [])\n"
    "else:\n"
    "    prefixes = [sys.prefix]\n"
    "sys.stdout.write(json.dumps(site.getsitepackages(prefixes)))\n"
)


def tree_sites(root: str, environ: Mapping[str, str], interpreter: Optional[str] = None) -> List[str]:
    """The sys.path folders of the interpreter a process in the tree at ``root`` would run (as ``--root`` finds
    it), read without running anything; raises ``RootError``/``OSError``."""
    if not os.path.isdir(root):  # as the probe of the same tree says it
        raise RootError(f"{root}: not a folder")
    with Tree(root) as tree:
        interp = find_interpreter(tree, environ, interpreter)
        return [p for p in sys_path(tree, interp, environ) if tree.is_dir(p)]


def interpreter_sites(executable: str, pythonpath: Sequence[str] = (), timeout: float = 60.0) -> List[str]:
    """The site folders of another interpreter on this machine, from its prefixes and version; raises
    ``RootError`` with one line."""
    try:
        done = _subprocess.run([executable, "-I", "-S", "-c", _ASK], timeout=timeout)
    except _subprocess.RunError as e:
        raise RootError(str(e)) from e
    try:
        sites = json.loads(done.stdout)
    except ValueError as e:
        raise RootError("not a Python interpreter that can say where it installs packages") from e
    if not isinstance(sites, list) or not all(isinstance(p, str) for p in sites):
        raise RootError("not a Python interpreter that can say where it installs packages")
    return list(dict.fromkeys([*pythonpath, *sites]))
