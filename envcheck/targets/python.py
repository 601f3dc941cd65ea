"""Another interpreter on this machine (``--python PATH``): the probe's source runs in it, isolated (``-I``) and
without ``site`` (``-S``): the target's ``.pth`` files are read by the probe, their ``import`` lines never run.

Isolation also hides the caller's PYTHONPATH from the child, although the program run with that interpreter would
see it: the target passes it to the probe as an argument (``--pythonpath-json``), the probe puts those folders
first as the interpreter would, and says so in ``sources.packages``. What shadows a distribution in-process
shadows it through ``--python`` too."""

from __future__ import annotations

import ast
import base64
import contextlib
import functools
import json
import os
from pathlib import Path
from typing import Dict, Hashable, Iterator, List, Optional, Sequence, Set, Tuple

from envcheck import _subprocess
from envcheck.contract import ContractError, ProbeOutput, check_output
from envcheck.probe import scrub_value
from envcheck.targets.interface import FileView, Target, TargetError, folders_token, site_folders

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
#: Runs the probe from envcheck's own files, where they are files (an installed envcheck): each module is loaded
#: by path under its own name (``envcheck.tree`` ...) with a bare ``envcheck`` package in front, so nothing else of
#: envcheck runs and nothing is looked for on the target's sys.path; an interpreter of envcheck's own version
#: reads the bytecode already cached beside them instead of compiling 2,600 lines at every probe. It writes no
#: bytecode of its own. Same version check as ``BOOTSTRAP`` first.
FILE_BOOTSTRAP = (
    "import sys\n"
    "if sys.version_info < (3, 8):\n"
    "    sys.stderr.write('envcheck-too-old %d.%d\\n' % sys.version_info[:2]); sys.exit(3)\n"
    "import importlib.util, types\n"
    "sys.dont_write_bytecode = True\n"
    "folder = sys.argv[1]; sys.argv = ['envcheck-probe'] + sys.argv[2:]\n"
    "package = types.ModuleType('envcheck'); package.__path__ = []; sys.modules['envcheck'] = package\n"
    "for name in ('tree', 'contract', 'probe'):\n"
    "    spec = importlib.util.spec_from_file_location('envcheck.' + name, folder + '/' + name + '.py')\n"
    "    module = importlib.util.module_from_spec(spec); sys.modules['envcheck.' + name] = module\n"
    "    spec.loader.exec_module(module)\n"
    "sys.exit(sys.modules['envcheck.probe'].main())\n"
)


#: The modules of the probe's source, in the order they are bundled: each imports only the ones before it.
BUNDLE = ("tree", "contract", "probe")
_BUNDLED = "# bundled"
_FUTURE = "from __future__ import annotations"


class BundleError(RuntimeError):
    """The probe's modules no longer bundle as ``probe_source()`` expects (a bug in envcheck, not bad input)."""


@functools.lru_cache(maxsize=1)
def probe_source() -> str:
    """The probe's source as one module for another interpreter: tree.py (the safe reader), contract.py (the
    output's types and the helpers the static reader shares), then probe.py, each without its ``__future__``
    import and its ``# bundled`` imports of the ones before it. Nothing of envcheck is imported in the target.
    Built once per process (checking the modules takes a fifth of a second)."""
    package = Path(__file__).resolve().parent.parent
    parts = []
    defined: Dict[str, Set[str]] = {}
    for module in BUNDLE:
        text = package.joinpath(f"{module}.py").read_text(encoding="utf-8")
        parts.append(_strip_imports(module, text, defined))
    return _FUTURE + "\n" + "\n".join(parts)


def _probe_folder() -> Optional[str]:
    """The folder holding envcheck's probe modules as files, for ``FILE_BOOTSTRAP``; None where they are not files
    (a zip) or the folder's name would not survive as an argument."""
    folder = str(Path(__file__).resolve().parent.parent)
    if "\x00" in folder or not all(os.path.isfile(os.path.join(folder, f"{m}.py")) for m in BUNDLE):
        return None
    return folder


def _strip_imports(module: str, text: str, defined: Dict[str, Set[str]]) -> str:
    """``text`` without its ``__future__`` import and its imports of envcheck, after checking that each of those
    is marked ``# bundled``, imports from a module bundled before it names that module defines, and that no name
    it defines is defined by another bundled module too (they share one namespace in the target)."""
    tree = ast.parse(text)
    lines = text.splitlines()
    drop: Set[int] = set()
    future = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "envcheck" for a in node.names):
            raise BundleError(f"{module}.py: 'import envcheck...' cannot be bundled; use a marked from-import")
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.module == "__future__":
            future = True
        elif node.module.split(".")[0] == "envcheck":
            source = node.module.split(".", 1)[-1]
            if node not in tree.body or _BUNDLED not in lines[node.lineno - 1]:
                raise BundleError(
                    f"{module}.py:{node.lineno}: an import of envcheck not a top-level line marked {_BUNDLED!r}"
                )
            missing = [a.name for a in node.names if a.name not in defined.get(source, set()) or a.asname]
            if missing:
                raise BundleError(f"{module}.py:{node.lineno}: {missing[0]} is not bundled before it")
        else:
            continue
        drop.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
    if not future:
        raise BundleError(f"{module}.py: no {_FUTURE!r}")
    names = _top_level_names(tree)
    for other, theirs in defined.items():
        clash = sorted(names & theirs)
        if clash:
            raise BundleError(f"{module}.py and {other}.py both define {clash[0]}")
    defined[module] = names
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def _top_level_names(tree: ast.Module) -> Set[str]:
    names: Set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


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
        #: A probe ``start`` began, with the extra variables it was asked for.
        self._started: Optional[Tuple[Tuple[str, ...], _subprocess.Started]] = None

    @property
    def name(self) -> str:
        return f"python:{self.executable}"

    def start(self, extra_env: Sequence[str] = ()) -> None:
        """Start the probe now, so that it runs while the caller goes on (the command line imports what it needs
        meanwhile); ``probe`` with the same ``extra_env`` takes its answer. Does nothing where the interpreter
        cannot be started: ``probe`` then says why."""
        if not os.path.isfile(self.executable):
            return
        args, source, _ = self._command(extra_env)
        started = _subprocess.start(args, input=source, timeout=self.timeout)
        self._started = None if started is None else (tuple(extra_env), started)

    def _command(self, extra_env: Sequence[str]) -> Tuple[List[str], str, List[str]]:
        """(arguments, stdin, the PYTHONPATH passed on) of the probe's run in the interpreter."""
        folder = _probe_folder()
        if folder is not None:
            args, source = [self.executable, "-I", "-S", "-c", FILE_BOOTSTRAP, folder], ""
        else:
            args, source = [self.executable, "-I", "-S", "-c", BOOTSTRAP], probe_source()
        for name in extra_env:
            args += ["--env", name]
        pythonpath = self._pythonpath()
        if pythonpath:
            args += ["--pythonpath-json", base64.b64encode(json.dumps(pythonpath).encode("utf-8")).decode("ascii")]
        return args, source, pythonpath

    def probe(self, extra_env: Sequence[str] = ()) -> ProbeOutput:
        exe = self.executable
        started, self._started = self._started, None
        if not os.path.exists(exe):
            raise TargetError(f"--python {exe}: no such file")
        if os.path.isdir(exe):
            raise TargetError(f"--python {exe}: is a directory; give the interpreter (e.g. {exe}/bin/python)")
        args, source, pythonpath = self._command(extra_env)
        try:
            if started is not None and started[0] == tuple(extra_env):
                done = started[1].result()
            else:
                if started is not None:
                    started[1].cancel()
                done = _subprocess.run(args, input=source, timeout=self.timeout)
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
            raw = json.loads(done.stdout)
        except (ValueError, RecursionError) as e:
            raise TargetError(f"--python {exe}: the probe printed no JSON (is it a Python interpreter?)") from e
        if not isinstance(raw, dict):
            raise TargetError(f"--python {exe}: the probe printed unexpected output")
        try:
            data = check_output(raw)
        except ContractError as e:
            raise TargetError(f"--python {exe}: the probe printed unexpected output ({e})") from e
        python = data["python"]
        minor = ".".join(python.get("version", "").split(".")[:2])
        prefixes = [python.get("prefix", ""), python.get("base_prefix", "")]
        self._sites = site_folders(prefixes, minor, pythonpath)
        return data

    @contextlib.contextmanager
    def files(self) -> Iterator[FileView]:
        """The interpreter's site folders (and PYTHONPATH's) on this machine's tree, asked of it in a tiny run."""
        from envcheck.targets.rootfs import RootError
        from envcheck.verify.sites import interpreter_sites

        try:
            sites = interpreter_sites(self.executable, self._pythonpath(), self.timeout)
        except RootError as e:
            raise TargetError(f"--python {self.executable}: {e}") from e
        yield FileView("/", tuple(sites))

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
