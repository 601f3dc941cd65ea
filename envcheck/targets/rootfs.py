"""Reading an environment from a filesystem tree without running anything in it.

Used for ``--root DIR`` (an unpacked image, a mounted volume), ``--pid`` (through ``/proc/PID/root``) and
``--image-archive`` (a ``docker save`` tarball unpacked). Produces the same probe-shaped JSON as the live probe:
os, python, packages, native libraries, env. What cannot be known statically (the kernel, the page size) is left
empty, never guessed. Symbolic links are resolved inside the tree: an absolute link points into the tree, not
into the host.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from envcheck import probe

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ELF_MACHINES = {3: "i686", 40: "armv7l", 62: "x86_64", 183: "aarch64", 243: "riscv64", 21: "ppc64le", 22: "s390x"}


class RootError(Exception):
    """The tree cannot be read as an environment (not a folder, no Python in it)."""


def resolve(root: str, path: str, limit: int = 40) -> str:
    """``path`` (as the tree sees it) with every symbolic link followed inside ``root``; returns a tree path."""
    parts = [p for p in path.split("/") if p]
    resolved: List[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = "/" + "/".join([*resolved, part])
        host = root.rstrip("/") + candidate
        if os.path.islink(host):
            hops += 1
            if hops > limit:
                raise RootError(f"{path}: too many levels of symbolic links")
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def host_path(root: str, path: str) -> str:
    """Where a tree path lies on this machine."""
    return root.rstrip("/") + resolve(root, path)


def _read(root: str, path: str, limit: int = 1 << 20) -> str:
    with open(host_path(root, path), encoding="utf-8", errors="replace") as f:
        return f.read(limit)


def elf_info(path: str) -> Tuple[str, int, str]:
    """(machine, pointer bits, byte order) from an ELF header."""
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        raise RootError(f"{path}: not an ELF executable")
    bits = 64 if head[4] == 2 else 32
    order = "little" if head[5] == 1 else "big"
    (machine,) = struct.unpack(("<" if order == "little" else ">") + "H", head[18:20])
    return _ELF_MACHINES.get(machine, f"elf-{machine}"), bits, order


# --- libc -------------------------------------------------------------------------------------------------------

_GLIBC = re.compile(rb"release version (\d+\.\d+)")


def static_libc(root: str, machine: str) -> Tuple[str, str]:
    """(family, version) of the tree's C library, read from the library files themselves."""
    musl = [n for n in _listdir(root, "/lib") if n.startswith("ld-musl-")]
    if musl:
        return "musl", _musl_version(root)
    triplet = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(machine, f"{machine}-linux-gnu")
    for folder in (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"):
        try:
            path = host_path(root, f"{folder}/libc.so.6")
        except RootError:
            continue
        if os.path.isfile(path):
            m = _scan(path, _GLIBC)
            return ("glibc", m) if m else ("glibc", "")
    return "", ""


def _musl_version(root: str) -> str:
    """Alpine records musl's version in its package database."""
    try:
        db = _read(root, "/lib/apk/db/installed", 8 << 20)
    except OSError:
        return ""
    m = re.search(r"^P:musl\nV:(\d+\.\d+\.\d+)", db, re.MULTILINE)
    return m.group(1) if m else ""


def _scan(path: str, pattern: re.Pattern[bytes], limit: int = 64 << 20) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return ""
    m = pattern.search(data)
    return m.group(1).decode("ascii", "replace") if m else ""


def _listdir(root: str, path: str) -> List[str]:
    try:
        return sorted(os.listdir(host_path(root, path)))
    except (OSError, RootError):
        return []


# --- Python -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter found in the tree."""

    executable: str
    """As the tree's processes see it (``/usr/bin/python3``)."""
    binary: str
    """The real file on this machine."""
    version_dir: str
    """``python3.11``: the name of its stdlib folder."""
    prefix: str
    base_prefix: str
    venv_cfg: Dict[str, str]


def find_interpreter(root: str, environ: Mapping[str, str], hint: Optional[str] = None) -> Interpreter:
    """The interpreter a process in the tree would run: ``hint`` (from /proc/PID/exe or cmdline), else the first
    ``python3``/``python`` on the tree's PATH."""
    candidates = [hint] if hint else []
    if not hint and "PATH" not in environ:
        # No environment known (a bare tree): an application's virtual environment beats the system Python.
        candidates += [posixpath.join(v, "bin", "python3") for v in find_venvs(root)]
    if not hint:
        for folder in environ.get("PATH", DEFAULT_PATH).split(":"):
            if folder:
                candidates += [posixpath.join(folder, "python3"), posixpath.join(folder, "python")]
    for exe in candidates:
        try:
            real = resolve(root, exe)
        except RootError:
            continue
        binary = root.rstrip("/") + real
        if not os.path.isfile(binary):
            continue
        bin_dir = posixpath.dirname(exe)
        venv_root = posixpath.dirname(bin_dir)
        cfg = _pyvenv_cfg(root, venv_root)
        home_prefix = posixpath.dirname(posixpath.dirname(real))
        version_dir = _version_dir(root, home_prefix, real)
        if cfg:
            # Like CPython's getpath: the base is where the real binary's stdlib is, even when `home` names
            # another venv's bin folder (a venv made by a venv's python).
            base = _base_prefix(root, home_prefix, cfg, version_dir)
            return Interpreter(exe, binary, version_dir, venv_root, base, cfg)
        return Interpreter(exe, binary, version_dir, home_prefix, home_prefix, {})
    raise RootError("no Python interpreter found (looked for python3 and python on PATH)")


#: Where images usually keep an application's virtual environment (glob patterns, tree paths).
VENV_PLACES = ("/opt/*", "/opt/*/*", "/app/*", "/app", "/srv/*", "/venv", "/.venv", "/usr/local/*", "/home/*/*")


def find_venvs(root: str) -> List[str]:
    """Virtual environments in the usual places of a tree (folders holding pyvenv.cfg), sorted."""
    import glob

    base = root.rstrip("/")
    found = set()
    for place in VENV_PLACES:
        for cfg in glob.glob(base + place + "/pyvenv.cfg"):
            found.add(posixpath.dirname(cfg)[len(base) :] or "/")
    return sorted(found)


def _base_prefix(root: str, candidate: str, cfg: Dict[str, str], version_dir: str) -> str:
    """The installation a venv's interpreter belongs to: the first prefix holding the stdlib landmark
    (lib/pythonX.Y/os.py), following ``home`` through venvs made from other venvs, as CPython's getpath does."""

    def has_stdlib(prefix: str) -> bool:
        lib = posixpath.join(prefix, "lib", version_dir)
        return any(os.path.isfile(host_path(root, posixpath.join(lib, n))) for n in ("os.py", "os.pyc"))

    for _ in range(10):
        if has_stdlib(candidate):
            return candidate
        home = cfg.get("home", "").rstrip("/")
        if not home:
            break
        candidate = posixpath.dirname(home)
        cfg = _pyvenv_cfg(root, candidate)
        if not cfg and has_stdlib(candidate):
            return candidate
    return candidate


def _pyvenv_cfg(root: str, venv_root: str) -> Dict[str, str]:
    try:
        text = _read(root, posixpath.join(venv_root, "pyvenv.cfg"))
    except (OSError, RootError):
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _version_dir(root: str, prefix: str, real: str) -> str:
    m = re.search(r"python(\d+\.\d+t?)$", real)
    if m:
        return "python" + m.group(1)
    dirs = [d for d in _listdir(root, posixpath.join(prefix, "lib")) if re.fullmatch(r"python\d+\.\d+t?", d)]
    if not dirs:
        raise RootError(f"{real}: no lib/python3.X folder beside it")
    return sorted(dirs, key=lambda d: [int(x) for x in re.findall(r"\d+", d)])[-1]


def sysconfig_vars(root: str, stdlib: str) -> Dict[str, Any]:
    """build_time_vars from the stdlib's _sysconfigdata module, read as a literal, never executed."""
    names = [n for n in _listdir(root, stdlib) if n.startswith("_sysconfigdata") and n.endswith(".py")]
    for name in sorted(names, key=len):
        try:
            tree = ast.parse(_read(root, posixpath.join(stdlib, name), 4 << 20))
        except (OSError, SyntaxError, RootError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "build_time_vars" for t in node.targets
            ):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
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


def binary_strings(path: str, minor: str) -> Dict[str, str]:
    """Full version, compiler and build date as the interpreter (or its libpython) carries them."""
    try:
        with open(path, "rb") as f:
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


def read_python(root: str, interp: Interpreter, machine: str, libc: Tuple[str, str]) -> Dict[str, Any]:
    """The python section, read from the interpreter's files."""
    minor = interp.version_dir[len("python") :].rstrip("t")
    stdlib = posixpath.join(interp.base_prefix, "lib", interp.version_dir)
    config = sysconfig_vars(root, stdlib)
    strings = binary_strings(interp.binary, minor)
    if not strings.get("date"):  # a shared-library build: the strings live in libpython
        libpython = host_path(root, posixpath.join(interp.base_prefix, "lib", f"lib{interp.version_dir}.so.1.0"))
        if os.path.isfile(libpython):
            strings = binary_strings(libpython, minor)
    _, bits, order = elf_info(interp.binary)
    version = (
        strings.get("version") or interp.venv_cfg.get("version", "") or interp.venv_cfg.get("version_info", "")
    )
    soabi = str(config.get("SOABI", ""))
    free_threaded = bool(config.get("Py_GIL_DISABLED"))
    cache_tag = "cpython-" + minor.replace(".", "") + ("t" if free_threaded else "")
    tags = _wheel_tags(minor, soabi, machine, libc, bits)
    build = f"main, {strings['date']} {strings['time']}" if strings.get("date") else ""
    data = {
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
    }
    data.update(tags)
    return data


def _wheel_tags(minor: str, soabi: str, machine: str, libc: Tuple[str, str], bits: int) -> Dict[str, str]:
    interp = "cp" + minor.replace(".", "")
    parts = soabi.split("-")
    abi = "cp" + parts[1] if len(parts) > 1 and parts[0] == "cpython" else interp
    arch = machine if bits == 64 else {"x86_64": "i686", "aarch64": "armv7l"}.get(machine, machine)
    family, version = libc
    m = re.match(r"(\d+)\.(\d+)", version)
    if family == "glibc" and m:
        plat = f"manylinux_{m.group(1)}_{m.group(2)}_{arch}"
    elif family == "musl" and m:
        plat = f"musllinux_{m.group(1)}_{m.group(2)}_{arch}"
    else:
        plat = f"linux_{arch}"
    return {"interpreter_tag": interp, "abi_tag": abi, "platform_tag": plat, "best_tag": f"{interp}-{abi}-{plat}"}


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


def sys_path(root: str, interp: Interpreter, environ: Mapping[str, str]) -> List[str]:
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
        paths += [p for p in _pth_paths(root, site) if p not in paths]
    return paths


def _pth_paths(root: str, site: str) -> List[str]:
    """Folders that .pth files in a site folder add (import lines are code: not run, not followed)."""
    out = []
    for name in _listdir(root, site):
        if not name.endswith(".pth"):
            continue
        try:
            text = _read(root, posixpath.join(site, name))
        except (OSError, RootError):
            continue
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            path = line if line.startswith("/") else posixpath.join(site, line)
            out.append(posixpath.normpath(path))
    return out


# --- all of it --------------------------------------------------------------------------------------------------


def probe_root(
    root: str,
    environ: Mapping[str, str],
    *,
    interpreter: Optional[str] = None,
    extra_env: Sequence[str] = (),
) -> Dict[str, Any]:
    """The probe's JSON for a tree, read statically. Raises ``RootError`` when the tree has no Python."""
    if not os.path.isdir(root):
        raise RootError(f"{root}: not a folder")
    sources: Dict[str, Dict[str, str]] = {}
    out: Dict[str, Any] = {"probe": probe.PROBE_VERSION, "sources": sources}
    interp = find_interpreter(root, environ, interpreter)
    machine, _, _ = elf_info(interp.binary)
    libc = static_libc(root, machine)
    release: Dict[str, str] = {}
    for rel in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            release = probe.parse_os_release(_read(root, rel))
            break
        except (OSError, RootError):
            continue
    out["os"] = {
        "system": "Linux",
        "machine": machine,
        "distro_id": release.get("ID", ""),
        "distro_version_id": release.get("VERSION_ID", ""),
        "distro_name": release.get("PRETTY_NAME", release.get("NAME", "")),
        "libc_family": libc[0],
        "libc_version": libc[1],
    }
    sources["os"] = {"status": "ok", "detail": "files of the tree (kernel and page size are the host's: not read)"}
    out["python"] = read_python(root, interp, machine, libc)
    sources["python"] = {"status": "ok", "detail": f"{interp.executable}: its files, read without running it"}
    path = sys_path(root, interp, environ)
    host = [root.rstrip("/") + p for p in path]
    packages, sources["packages"], files_by_name = probe.collect_packages(host)
    out["packages"] = packages
    versions = {p["name"]: p["version"] for p in packages}
    shipped = probe.collect_native_shipped(files_by_name, versions, probe.system_library_dirs(root, machine), root)
    out["native"] = {"shipped": shipped, "builds": probe.collect_builds(files_by_name, root)}
    sources["native"] = {"status": "ok", "detail": probe.NATIVE_DETAIL}
    env = probe.select_env(environ, extra_env)
    env.update(probe.timezone_info(root, environ))
    out["env"] = env
    sources["env"] = {"status": "ok", "detail": "the target's environment variables (allow-listed)"}
    return out
