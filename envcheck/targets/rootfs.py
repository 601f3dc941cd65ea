"""Reading an environment from a filesystem tree without running anything in it.

Used for ``--root DIR`` (an unpacked image, a mounted volume), ``--pid`` (through ``/proc/PID/root``) and
``--image-archive`` (a ``docker save`` tarball unpacked). Produces the same probe-shaped JSON as the live probe:
os, python, packages, native libraries, env. What cannot be known statically (the kernel, the page size) is left
empty, never guessed. Every read goes through ``envcheck.tree.Tree``: paths resolve inside the tree as its own
root would resolve them (an absolute link points into the tree, never into the host), only regular files are
opened, and reads are capped; what it refused is recorded in ``sources.files``.
"""

from __future__ import annotations

import ast
import fnmatch
import mmap
import os
import posixpath
import re
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from envcheck import probe
from envcheck.contract import (
    OK,
    NativeSection,
    OsSection,
    ProbeOutput,
    PythonSection,
    SourceEntry,
    env_section,
    multiarch_triplet,
    read_section,
    wheel_tags,
)
from envcheck.errors import EnvcheckError
from envcheck.tree import Tree, sources_entry

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ELF_MACHINES = {3: "i686", 40: "armv7l", 62: "x86_64", 183: "aarch64", 243: "riscv64", 21: "ppc64le", 22: "s390x"}


class RootError(EnvcheckError):
    """The tree cannot be read as an environment (not a folder, no Python in it)."""


def elf_info(tree: Tree, path: str) -> Tuple[str, int, str]:
    """(machine, pointer bits, byte order) from an ELF header."""
    head = tree.read(path, "header")[:20]
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise RootError(f"{path}: not an ELF executable")
    bits = 64 if head[4] == 2 else 32
    order = "little" if head[5] == 1 else "big"
    (machine,) = struct.unpack(("<" if order == "little" else ">") + "H", head[18:20])
    return _ELF_MACHINES.get(machine, f"elf-{machine}"), bits, order


# --- libc -------------------------------------------------------------------------------------------------------

_GLIBC = re.compile(rb"release version (\d+\.\d+)")


def static_libc(tree: Tree, machine: str) -> Tuple[str, str]:
    """(family, version) of the tree's C library, read from the library files themselves."""
    musl = [n for n in _listdir(tree, "/lib") if n.startswith("ld-musl-")]
    if musl:
        return "musl", _musl_version(tree)
    triplet = multiarch_triplet(machine)
    for folder in (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"):
        path = f"{folder}/libc.so.6"
        if tree.is_file(path):
            return "glibc", _scan(tree, path, _GLIBC)
    return "", ""


def _musl_version(tree: Tree) -> str:
    """Alpine records musl's version in its package database."""
    try:
        db = tree.read_text("/lib/apk/db/installed", "text")
    except OSError:
        return ""
    m = re.search(r"^P:musl\nV:(\d+\.\d+\.\d+)", db, re.MULTILINE)
    return m.group(1) if m else ""


def _scan(tree: Tree, path: str, pattern: re.Pattern[bytes]) -> str:
    """The first group of ``pattern`` in a binary, searched in place (mapped, not copied)."""
    try:
        with tree.open(path, "binary") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return ""
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                m = pattern.search(data)
                return m.group(1).decode("ascii", "replace") if m else ""
    except (OSError, ValueError):
        return ""


def _listdir(tree: Tree, path: str) -> List[str]:
    try:
        return tree.listdir(path)
    except OSError:
        return []


# --- Python -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter found in the tree."""

    executable: str
    """As the tree's processes see it (``/usr/bin/python3``)."""
    binary: str
    """The real file, as a tree path with every link followed (``/usr/bin/python3.11``)."""
    version_dir: str
    """``python3.11``: the name of its stdlib folder."""
    prefix: str
    base_prefix: str
    venv_cfg: Dict[str, str]


def find_interpreter(tree: Tree, environ: Mapping[str, str], hint: Optional[str] = None) -> Interpreter:
    """The interpreter a process in the tree would run: ``hint`` (from /proc/PID/exe or cmdline), else the first
    ``python3``/``python`` on the tree's PATH."""
    candidates = [hint] if hint else []
    if not hint and "PATH" not in environ:
        # No environment known (a bare tree): an application's virtual environment beats the system Python.
        candidates += [posixpath.join(v, "bin", "python3") for v in find_venvs(tree)]
    if not hint:
        for folder in environ.get("PATH", DEFAULT_PATH).split(":"):
            if folder:
                candidates += [posixpath.join(folder, "python3"), posixpath.join(folder, "python")]
    for exe in candidates:
        try:
            real = tree.resolve(exe)
        except OSError:
            continue
        if not tree.is_file(real):
            continue
        bin_dir = posixpath.dirname(exe)
        venv_root = posixpath.dirname(bin_dir)
        cfg = _pyvenv_cfg(tree, venv_root)
        home_prefix = posixpath.dirname(posixpath.dirname(real))
        version_dir = _version_dir(tree, home_prefix, real)
        if cfg:
            # Like CPython's getpath: the base is where the real binary's stdlib is, even when `home` names
            # another venv's bin folder (a venv made by a venv's python).
            base = _base_prefix(tree, home_prefix, cfg, version_dir)
            return Interpreter(exe, real, version_dir, venv_root, base, cfg)
        return Interpreter(exe, real, version_dir, home_prefix, home_prefix, {})
    raise RootError("no Python interpreter found (looked for python3 and python on PATH)")


#: Where images usually keep an application's virtual environment (glob patterns, tree paths).
VENV_PLACES = ("/opt/*", "/opt/*/*", "/app/*", "/app", "/srv/*", "/venv", "/.venv", "/usr/local/*", "/home/*/*")


def _glob(tree: Tree, pattern: str) -> List[str]:
    """Tree paths matching a pattern whose components may hold ``*`` (matched inside the tree, sorted)."""
    found = ["/"]
    for part in [p for p in pattern.split("/") if p]:
        step = []
        for folder in found:
            if "*" not in part:
                step.append(posixpath.join(folder, part))
                continue
            names = fnmatch.filter(_listdir(tree, folder), part)
            step += [posixpath.join(folder, n) for n in names if not n.startswith(".")]
        found = step
    return sorted(found)


def find_venvs(tree: Tree) -> List[str]:
    """Virtual environments in the usual places of a tree (folders holding pyvenv.cfg), sorted."""
    found = set()
    for place in VENV_PLACES:
        for folder in _glob(tree, place):
            if tree.is_file(posixpath.join(folder, "pyvenv.cfg")):
                found.add(folder)
    return sorted(found)


def _base_prefix(tree: Tree, candidate: str, cfg: Dict[str, str], version_dir: str) -> str:
    """The installation a venv's interpreter belongs to: the first prefix holding the stdlib landmark
    (lib/pythonX.Y/os.py), following ``home`` through venvs made from other venvs, as CPython's getpath does."""

    def has_stdlib(prefix: str) -> bool:
        lib = posixpath.join(prefix, "lib", version_dir)
        return any(tree.is_file(posixpath.join(lib, n)) for n in ("os.py", "os.pyc"))

    for _ in range(10):
        if has_stdlib(candidate):
            return candidate
        home = cfg.get("home", "").rstrip("/")
        if not home:
            break
        candidate = posixpath.dirname(home)
        cfg = _pyvenv_cfg(tree, candidate)
        if not cfg and has_stdlib(candidate):
            return candidate
    return candidate


def _pyvenv_cfg(tree: Tree, venv_root: str) -> Dict[str, str]:
    try:
        return probe.parse_pyvenv_cfg(tree.read_text(posixpath.join(venv_root, "pyvenv.cfg"), "small"))
    except OSError:
        return {}


def _version_dir(tree: Tree, prefix: str, real: str) -> str:
    m = re.search(r"python(\d+\.\d+t?)$", real)
    if m:
        return "python" + m.group(1)
    dirs = [d for d in _listdir(tree, posixpath.join(prefix, "lib")) if re.fullmatch(r"python\d+\.\d+t?", d)]
    if not dirs:
        raise RootError(f"{real}: no lib/python3.X folder beside it")
    return sorted(dirs, key=lambda d: [int(x) for x in re.findall(r"\d+", d)])[-1]


def sysconfig_vars(tree: Tree, stdlib: str) -> Dict[str, Any]:
    """build_time_vars from the stdlib's _sysconfigdata module, read as a literal, never executed."""
    names = [n for n in _listdir(tree, stdlib) if n.startswith("_sysconfigdata") and n.endswith(".py")]
    for name in sorted(names, key=len):
        try:
            module = ast.parse(tree.read_text(posixpath.join(stdlib, name), "text"))
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in module.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "build_time_vars" for t in node.targets
            ):
                try:
                    value = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                    continue
                if isinstance(value, dict):
                    return value
    return {}


# PY_VERSION is NUL-terminated; compilers may merge it into the tail of a longer string (".../Python-3.11.7").
_PY_VERSION = re.compile(rb"(3\.\d+\.\d+(?:(?:a|b|rc)\d+)?\+?)\x00")
_COMPILER = re.compile(rb"\[((?:GCC|Clang) [^\]\x00]{1,60})\]\x00")
# Month names first: a literal alternation lets the regex engine skip ahead (a leading look-behind does not).
_DATE = re.compile(rb"((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{4})\x00")
_TIME = re.compile(rb"(?<![\d:])(\d\d:\d\d:\d\d)\x00")


def _py_version(data: bytes, minor: str) -> str:
    """The first ``PY_VERSION`` of this minor in a binary: a substring search, then a match where it hits (a
    regex scan of a static interpreter's 20 MB took 0.3 s)."""
    needle = minor.encode("ascii") + b"."
    at = data.find(needle)
    while at >= 0:
        before = data[at - 1 : at] if at else b""
        m = _PY_VERSION.match(data, at) if not (before.isdigit() or before == b".") else None
        if m:
            return m.group(1).decode("ascii")
        at = data.find(needle, at + 1)
    return ""


def binary_strings(tree: Tree, path: str, minor: str) -> Dict[str, str]:
    """Full version, compiler and build date as the interpreter (or its libpython) carries them."""
    try:
        with tree.open(path, "binary") as f:
            data = f.read(64 << 20)
    except OSError:
        return {}
    out = {"version": _py_version(data, minor)}
    compiler = _COMPILER.search(data)
    out["compiler"] = compiler.group(1).decode("ascii", "replace") if compiler else ""
    date = next((m for m in _DATE.finditer(data) if not _word_before(data, m.start())), None)
    out["date"] = date.group(1).decode("ascii") if date else ""
    # getbuildinfo.c keeps __TIME__ beside __DATE__: look there before everywhere.
    near = _TIME.search(data, max(0, date.start() - 64), date.end() + 64) if date else None
    time = near or _TIME.search(data)
    out["time"] = time.group(1).decode("ascii") if time else ""
    return out


def _word_before(data: bytes, at: int) -> bool:
    before = data[at - 1 : at]
    return bool(before) and (before.isalnum() or before == b"_")


def read_python(tree: Tree, interp: Interpreter, machine: str, libc: Tuple[str, str]) -> PythonSection:
    """The python section, read from the interpreter's files."""
    minor = interp.version_dir[len("python") :].rstrip("t")
    stdlib = posixpath.join(interp.base_prefix, "lib", interp.version_dir)
    config = sysconfig_vars(tree, stdlib)
    strings = binary_strings(tree, interp.binary, minor)
    if not strings.get("date"):  # a shared-library build: the strings live in libpython
        libpython = posixpath.join(interp.base_prefix, "lib", f"lib{interp.version_dir}.so.1.0")
        if tree.is_file(libpython):
            strings = binary_strings(tree, libpython, minor)
    _, bits, order = elf_info(tree, interp.binary)
    version = (
        strings.get("version") or interp.venv_cfg.get("version", "") or interp.venv_cfg.get("version_info", "")
    )
    soabi = str(config.get("SOABI", ""))
    free_threaded = bool(config.get("Py_GIL_DISABLED"))
    cache_tag = "cpython-" + minor.replace(".", "") + ("t" if free_threaded else "")
    tags = wheel_tags(minor, soabi, machine, libc[0], libc[1], bits)
    build = f"main, {strings['date']} {strings['time']}" if strings.get("date") else ""
    return {
        "implementation": "CPython",
        "version": version,
        "build": build,
        "compiler": strings.get("compiler", ""),
        "abiflags": str(config.get("ABIFLAGS", "")),
        "soabi": soabi,
        "cache_tag": cache_tag,
        "pointer_bits": bits,
        "byteorder": order,
        "free_threaded": free_threaded,
        "executable": interp.executable,
        "prefix": interp.prefix,
        "base_prefix": interp.base_prefix,
        "in_venv": interp.prefix != interp.base_prefix,
        "markers": _markers(version, machine),
        "interpreter_tag": tags["interpreter_tag"],
        "abi_tag": tags["abi_tag"],
        "platform_tag": tags["platform_tag"],
        "best_tag": tags["best_tag"],
    }


def _markers(version: str, machine: str) -> Dict[str, str]:
    """The marker environment as far as files tell it; the kernel's release and version are the host's."""
    return {
        "implementation_name": "cpython",
        "implementation_version": version,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": version,
        "python_version": ".".join(version.split(".")[:2]),
        "sys_platform": "linux",
    }


def sys_path(tree: Tree, interp: Interpreter, environ: Mapping[str, str]) -> List[str]:
    """The interpreter's sys.path as ``site`` would build it: PYTHONPATH, stdlib, site folders, .pth lines."""
    vdir = interp.version_dir
    paths = [p for p in environ.get("PYTHONPATH", "").split(":") if p]
    paths += [
        posixpath.join(interp.base_prefix, "lib", vdir),
        posixpath.join(interp.base_prefix, "lib", vdir, "lib-dynload"),
    ]
    sites: List[str] = []
    system_sites = [posixpath.join(interp.base_prefix, "lib", vdir, "site-packages")]
    if interp.base_prefix == "/usr":  # Debian's and Ubuntu's own Python: their site.py adds the dist-packages
        system_sites[:0] = [
            posixpath.join("/usr/local/lib", vdir, "dist-packages"),
            "/usr/lib/python3/dist-packages",
            posixpath.join("/usr/lib", vdir, "dist-packages"),
        ]
    if interp.venv_cfg:
        sites.append(posixpath.join(interp.prefix, "lib", vdir, "site-packages"))
        if interp.venv_cfg.get("include-system-site-packages", "false").lower() == "true":
            sites += system_sites
    else:
        home = environ.get("HOME")
        if home and "PYTHONNOUSERSITE" not in environ:
            sites.append(posixpath.join(home, ".local/lib", vdir, "site-packages"))
        sites += system_sites
    for site in sites:
        if site in paths:
            continue
        paths.append(site)
        paths += [p for p in probe.pth_paths(tree, site) if p not in paths]
    return paths


# --- all of it --------------------------------------------------------------------------------------------------


def probe_root(
    root: str,
    environ: Mapping[str, str],
    *,
    interpreter: Optional[str] = None,
    extra_env: Sequence[str] = (),
) -> ProbeOutput:
    """The probe's JSON for a tree, read statically. Raises ``RootError`` when the tree has no Python."""
    if not os.path.isdir(root):
        raise RootError(f"{root}: not a folder")
    with Tree(root) as tree:
        out = _probe_tree(tree, environ, interpreter, extra_env)
        refused = sources_entry([tree])
    if refused:
        out["sources"]["files"] = {"status": refused["status"], "detail": refused["detail"]}
    return out


def _probe_tree(
    tree: Tree, environ: Mapping[str, str], interpreter: Optional[str], extra_env: Sequence[str]
) -> ProbeOutput:
    interp = find_interpreter(tree, environ, interpreter)
    try:
        machine, _, _ = elf_info(tree, interp.binary)
    except OSError as e:
        raise RootError(f"{interp.binary}: {e.strerror or e}") from e
    libc = static_libc(tree, machine)
    sources: Dict[str, SourceEntry] = {}
    os_data, sources["os"] = read_section(lambda: _read_os(tree, machine, libc), OsSection())
    python, sources["python"] = read_section(lambda: _read_python(tree, interp, machine, libc), PythonSection())
    (packages, files_by_name), sources["packages"] = read_section(
        lambda: probe.packages_section(sys_path(tree, interp, environ), tree), probe.no_packages()
    )
    native, sources["native"] = read_section(
        lambda: probe.native_section(packages, files_by_name, probe.system_library_dirs(tree, machine), tree),
        NativeSection(),
    )
    env = env_section(probe.select_env(environ, extra_env), probe.timezone_info(tree, environ))
    sources["env"] = {"status": OK, "detail": "the target's environment variables (allow-listed)"}
    return {
        "probe": probe.PROBE_VERSION,
        "sources": sources,
        "os": os_data,
        "python": python,
        "packages": packages,
        "native": native,
        "env": env,
    }


def _read_os(tree: Tree, machine: str, libc: Tuple[str, str]) -> Tuple[OsSection, SourceEntry]:
    release, _ = probe.read_os_release(tree)
    data: OsSection = {
        "system": "Linux",
        "machine": machine,
        "distro_id": release.get("ID", ""),
        "distro_version_id": release.get("VERSION_ID", ""),
        "distro_name": release.get("PRETTY_NAME", release.get("NAME", "")),
        "libc_family": libc[0],
        "libc_version": libc[1],
    }
    return data, {"status": OK, "detail": "files of the tree (kernel and page size are the host's: not read)"}


def _read_python(
    tree: Tree, interp: Interpreter, machine: str, libc: Tuple[str, str]
) -> Tuple[PythonSection, SourceEntry]:
    detail = f"{interp.executable}: its files, read without running it"
    return read_python(tree, interp, machine, libc), {"status": OK, "detail": detail}
