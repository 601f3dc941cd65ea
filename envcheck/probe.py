"""Stdlib-only probe: reads the OS, Python, installed distributions, shipped native libraries and environment.

This file runs unchanged inside any CPython from 3.8 on, with nothing installed: envcheck runs it in-process for
the interpreter it lives in, and (``--python``, containers) as ``python -I probe.py`` in another interpreter, where
it prints one JSON object on stdout. Keep it free of third-party imports and of syntax newer than 3.8.

The JSON it prints has the same shape as the corresponding sections of ``envcheck.model.Fingerprint``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import struct
import subprocess
import sys
import sysconfig
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

PROBE_VERSION = 1

# --- environment variables --------------------------------------------------------------------------------------

#: Variables whose value changes numerics, kernel choice or device selection. Exact names.
ENV_NAMES = frozenset(
    [
        "OMP_NUM_THREADS",
        "OMP_PROC_BIND",
        "OMP_PLACES",
        "OMP_DYNAMIC",
        "OMP_SCHEDULE",
        "OMP_WAIT_POLICY",
        "MKL_NUM_THREADS",
        "MKL_DYNAMIC",
        "MKL_CBWR",
        "MKL_ENABLE_INSTRUCTIONS",
        "MKL_THREADING_LAYER",
        "MKL_DEBUG_CPU_TYPE",
        "OPENBLAS_NUM_THREADS",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "OPENBLAS_VERBOSE",
        "GOTO_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "NUMEXPR_MAX_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "BLIS_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "CUDA_LAUNCH_BLOCKING",
        "CUDA_MODULE_LOADING",
        "CUBLAS_WORKSPACE_CONFIG",
        "CUBLASLT_WORKSPACE_SIZE",
        "CUDNN_DETERMINISTIC",
        "NVIDIA_TF32_OVERRIDE",
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
        "NVIDIA_DISABLE_REQUIRE",
        "CUDA_VERSION",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "PYTHONHASHSEED",
        "ATEN_CPU_CAPABILITY",
        "NPY_DISABLE_CPU_FEATURES",
        "NPY_ENABLE_CPU_FEATURES",
        "DNNL_MAX_CPU_ISA",
        "ONEDNN_MAX_CPU_ISA",
        "DNNL_DEFAULT_FPMATH_MODE",
        "ONEDNN_DEFAULT_FPMATH_MODE",
        "TORCH_CUDA_ARCH_LIST",
        "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
        "TORCH_CUDNN_V8_API_DISABLED",
        "TORCH_DETERMINISTIC",
        "PYTORCH_CUDA_ALLOC_CONF",
        "XLA_FLAGS",
        "JAX_ENABLE_X64",
        "JAX_DEFAULT_MATMUL_PRECISION",
        "JAX_PLATFORMS",
        "LANG",
        "LANGUAGE",
        "TZ",
        # TensorFlow's determinism, oneDNN and threading switches (not TF_* at large: Terraform uses it too)
        "TF_DETERMINISTIC_OPS",
        "TF_CUDNN_DETERMINISTIC",
        "TF_ENABLE_ONEDNN_OPTS",
        "TF_XLA_FLAGS",
        "TF_ENABLE_AUTO_MIXED_PRECISION",
        "TF_CUDNN_USE_AUTOTUNE",
        "TF_GPU_ALLOCATOR",
        "TF_FORCE_GPU_ALLOW_GROWTH",
        "TF_NUM_INTEROP_THREADS",
        "TF_NUM_INTRAOP_THREADS",
        "TF_INTRA_OP_PARALLELISM_THREADS",
        "TF_INTER_OP_PARALLELISM_THREADS",
        "TF_USE_LEGACY_KERAS",
        "TF_ENABLE_XLA",
        "TF_FORCE_UNIFIED_MEMORY",
    ]
)
#: Variables kept when their name starts with one of these.
ENV_PREFIXES = ("KMP_", "LC_", "NVIDIA_REQUIRE_")
#: A name that looks like it holds a secret is never written, even when the user asks for it.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PASSPHRASE|(^|_)KEY($|_)|APIKEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH|SESSION|COOKIE"
    r"|SIGNATURE|(^|_)PAT($|_)|(^|_)PWD($|_)|DSN$|CONN(ECTION)?_?STR",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """True for a variable name that may hold a credential."""
    return bool(SECRET_NAME.search(name))


def select_env(environ: Mapping[str, str], extra: Iterable[str] = ()) -> Dict[str, Any]:
    """The allow-listed variables that are set, plus ``extra`` names; secret-looking names are redacted."""
    wanted = set(extra)
    variables = {}  # type: Dict[str, str]
    redacted = set()
    for name, value in environ.items():
        allowed = name in ENV_NAMES or name.startswith(ENV_PREFIXES) or name in wanted
        if not allowed:
            continue
        if is_secret_name(name):
            redacted.add(name)
            continue
        variables[name] = strip_url_credentials(value) if "://" in value else value
    return {"variables": dict(sorted(variables.items())), "redacted": sorted(redacted)}


# --- URLs -------------------------------------------------------------------------------------------------------

_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?:(?P<userinfo>[^@/?#]*)@)?(?P<rest>[^?#]*)")


def strip_url_credentials(url: str) -> str:
    """Drop ``user:password@``, query string and fragment from a URL: they are where tokens hide.

    ``git+ssh://git@host/repo`` keeps the conventional ``git`` user, which is not a secret.
    """
    m = _URL.match(url)
    if not m:
        return url
    userinfo = m.group("userinfo")
    keep_user = userinfo == "git"
    return m.group("scheme") + ("git@" if keep_user else "") + m.group("rest")


# --- OS ---------------------------------------------------------------------------------------------------------


def parse_os_release(text: str) -> Dict[str, str]:
    """Parse os-release(5): ``KEY=value`` lines, values optionally quoted."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key.strip()] = value
    return out


def _read_text(path: str, limit: int = 1 << 20) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(limit)


def _elf_interpreter(path: str) -> Optional[str]:
    """The PT_INTERP of an ELF file (the dynamic loader it asks for), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF":
                return None
            is64 = head[4] == 2
            endian = "<" if head[5] == 1 else ">"
            if is64:
                (phoff,) = struct.unpack(endian + "Q", head[32:40])
                phentsize, phnum = struct.unpack(endian + "HH", head[54:58])
            else:
                (phoff,) = struct.unpack(endian + "I", head[28:32])
                phentsize, phnum = struct.unpack(endian + "HH", head[42:46])
            for i in range(phnum):
                f.seek(phoff + i * phentsize)
                ph = f.read(phentsize)
                (p_type,) = struct.unpack(endian + "I", ph[:4])
                if p_type != 3:  # PT_INTERP
                    continue
                if is64:
                    (offset,) = struct.unpack(endian + "Q", ph[8:16])
                    (size,) = struct.unpack(endian + "Q", ph[32:40])
                else:
                    (offset,) = struct.unpack(endian + "I", ph[4:8])
                    (size,) = struct.unpack(endian + "I", ph[16:20])
                f.seek(offset)
                return f.read(size).rstrip(b"\0").decode("utf-8", "replace")
    except (OSError, struct.error):
        return None
    return None


def parse_musl_version(text: str) -> Optional[str]:
    """The version from the banner the musl loader prints (``Version 1.2.4``)."""
    m = re.search(r"^Version\s+(\d+\.\d+(?:\.\d+)?)", text, re.MULTILINE)
    return m.group(1) if m else None


def libc() -> Tuple[str, str]:
    """(family, version) of the C library this interpreter runs on: glibc via confstr, musl via its loader."""
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        value = None
    if value and value.startswith("glibc "):
        return "glibc", value.split(" ", 1)[1]
    interp = _elf_interpreter(sys.executable)
    if interp and "musl" in interp:
        try:
            proc = subprocess.run([interp], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=5)
            version = parse_musl_version(proc.stderr.decode("utf-8", "replace"))
        except (OSError, subprocess.SubprocessError):
            version = None
        return "musl", version or ""
    return "", ""


def detect_container(root: str = "/", environ: Optional[Mapping[str, str]] = None) -> str:
    """What kind of container this runs in, from the marks runtimes leave; empty when none."""
    environ = os.environ if environ is None else environ
    if "KUBERNETES_SERVICE_HOST" in environ:
        return "kubernetes"
    if os.path.exists(os.path.join(root, ".dockerenv")):
        return "docker"
    if os.path.exists(os.path.join(root, "run/.containerenv")):
        return "podman"
    try:
        cgroup = _read_text(os.path.join(root, "proc/1/cgroup"))
    except OSError:
        cgroup = ""
    for mark, kind in (("kubepods", "kubernetes"), ("docker", "docker"), ("libpod", "podman"), ("lxc", "lxc")):
        if mark in cgroup:
            return kind
    container = environ.get("container", "")
    return "container" if container else ""


def collect_os(root: str = "/") -> Tuple[Dict[str, Any], Dict[str, str]]:
    """The os section of the running system, and its source."""
    uname = platform.uname()
    data = {"system": uname.system, "release": uname.release, "machine": uname.machine}  # type: Dict[str, Any]
    notes = ["uname"]
    for rel in ("etc/os-release", "usr/lib/os-release"):
        try:
            release = parse_os_release(_read_text(os.path.join(root, rel)))
        except OSError:
            continue
        data["distro_id"] = release.get("ID", "")
        data["distro_version_id"] = release.get("VERSION_ID", "")
        data["distro_name"] = release.get("PRETTY_NAME", release.get("NAME", ""))
        notes.append("/" + rel)
        break
    family, version = libc()
    data["libc_family"] = family
    data["libc_version"] = version
    try:
        data["page_size"] = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX: leave it out
        data.pop("page_size", None)
    data["container"] = detect_container(root)
    return data, {"status": "ok", "detail": ", ".join(notes)}


# --- Python -----------------------------------------------------------------------------------------------------


def marker_environment() -> Dict[str, str]:
    """The PEP 508 marker environment, as packaging.markers.default_environment() computes it."""
    impl = sys.implementation
    iver = "{0.major}.{0.minor}.{0.micro}".format(impl.version)
    kind = impl.version.releaselevel
    if kind != "final":
        iver += kind[0] + str(impl.version.serial)
    return {
        "implementation_name": impl.name,
        "implementation_version": iver,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _linux_arch() -> str:
    arch = sysconfig.get_platform().split("-", 1)[-1].replace(".", "_").replace("-", "_")
    if struct.calcsize("P") == 4:  # a 32-bit interpreter on a 64-bit kernel
        arch = {"x86_64": "i686", "aarch64": "armv7l"}.get(arch, arch)
    return arch


def wheel_tags(libc_family: str, libc_version: str) -> Dict[str, str]:
    """The interpreter's most preferred wheel tag, as packaging.tags.sys_tags() would list first."""
    impl = sys.implementation.name
    short = {"cpython": "cp", "pypy": "pp"}.get(impl, impl)
    interpreter = "{}{}{}".format(short, sys.version_info[0], sys.version_info[1])
    soabi = sysconfig.get_config_var("SOABI") or ""
    abi = "none"
    if impl == "cpython":
        parts = soabi.split("-")
        if len(parts) > 1 and parts[0] == "cpython":
            abi = "cp" + parts[1]
        else:
            abi = "cp{}{}".format(sys.version_info[0], sys.version_info[1])
    elif soabi:
        abi = soabi.split("-")[0].replace(".", "_").replace("-", "_")
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    if sys.platform.startswith("linux"):
        arch = _linux_arch()
        major_minor = re.match(r"(\d+)\.(\d+)", libc_version or "")
        if libc_family == "glibc" and major_minor:
            plat = "manylinux_{}_{}_{}".format(major_minor.group(1), major_minor.group(2), arch)
        elif libc_family == "musl" and major_minor:
            plat = "musllinux_{}_{}_{}".format(major_minor.group(1), major_minor.group(2), arch)
        else:
            plat = "linux_" + arch
    return {
        "interpreter_tag": interpreter,
        "abi_tag": abi,
        "platform_tag": plat,
        "best_tag": "{}-{}-{}".format(interpreter, abi, plat),
    }


def collect_python(libc_family: str = "", libc_version: str = "") -> Tuple[Dict[str, Any], Dict[str, str]]:
    """The python section for this interpreter, and its source."""
    build_no, build_date = platform.python_build()
    base_prefix = getattr(sys, "base_prefix", sys.prefix)
    data = {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "build": "{}, {}".format(build_no, build_date),
        "compiler": platform.python_compiler(),
        "abiflags": getattr(sys, "abiflags", ""),
        "soabi": sysconfig.get_config_var("SOABI") or "",
        "cache_tag": sys.implementation.cache_tag or "",
        "pointer_bits": struct.calcsize("P") * 8,
        "byteorder": sys.byteorder,
        "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": base_prefix,
        "in_venv": sys.prefix != base_prefix,
        "markers": marker_environment(),
    }  # type: Dict[str, Any]
    data.update(wheel_tags(libc_family, libc_version))
    return data, {"status": "ok", "detail": "sys, sysconfig, platform"}


# --- distributions ----------------------------------------------------------------------------------------------

_CANON = re.compile(r"[-_.]+")


def canonicalize_name(name: str) -> str:
    """PEP 503 normalisation (the same as packaging.utils.canonicalize_name)."""
    return _CANON.sub("-", name).lower()


def parse_metadata_headers(text: str) -> Dict[str, List[str]]:
    """Core-metadata headers (RFC 822 style, as METADATA and PKG-INFO hold them); the body is skipped."""
    headers = {}  # type: Dict[str, List[str]]
    last = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and last is not None:
            headers[last][-1] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last = key.strip().lower()
        headers.setdefault(last, []).append(value.strip())
    return headers


def parse_wheel_tags(text: str) -> List[str]:
    """The ``Tag:`` lines of a WHEEL file."""
    return [value for key, value in (_header(line) for line in text.splitlines()) if key == "tag"]


def _header(line: str) -> Tuple[str, str]:
    key, _, value = line.partition(":")
    return key.strip().lower(), value.strip()


def parse_direct_url(text: str) -> Dict[str, str]:
    """A direct_url.json (PEP 610) reduced to what identifies the source, with credentials stripped."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("direct_url.json is not an object")
    out = {"url": strip_url_credentials(str(data.get("url", "")))}
    dir_info = data.get("dir_info")
    vcs_info = data.get("vcs_info")
    archive_info = data.get("archive_info")
    if isinstance(dir_info, dict):
        out["kind"] = "editable" if dir_info.get("editable") else "dir"
    elif isinstance(vcs_info, dict):
        out["kind"] = "vcs"
        out["vcs"] = str(vcs_info.get("vcs", ""))
        out["commit_id"] = str(vcs_info.get("commit_id", ""))
        if vcs_info.get("requested_revision"):
            out["requested_revision"] = str(vcs_info["requested_revision"])
    elif isinstance(archive_info, dict):
        out["kind"] = "archive"
        hashes = archive_info.get("hashes")
        if isinstance(hashes, dict) and hashes.get("sha256"):
            out["archive_hash"] = "sha256=" + str(hashes["sha256"])
        elif archive_info.get("hash"):
            out["archive_hash"] = str(archive_info["hash"])
    return {k: v for k, v in out.items() if v}


# Starts with a literal so that the regex engine can skip ahead with a fast substring search.
_NATIVE_IN_RECORD = re.compile(
    rb"lib(?:(?:scipy_)?openblas|mkl_|gomp|iomp5|omp|cudart|cudnn|nccl|cublas|blis|flexiblas|cblas|blas|lapack"
    rb"|cuda)[^,\n/]*(?=,)"
)


def native_candidates(record: bytes) -> List[str]:
    """Paths in a RECORD that may be BLAS, OpenMP or CUDA libraries: one regex pass, not a parse of every line."""
    out = []
    for m in _NATIVE_IN_RECORD.finditer(record):
        begin = m.start()
        if begin and record[begin - 1 : begin] not in (b"/", b"\n"):
            continue  # "lib" inside a longer file name
        start = record.rfind(b"\n", 0, begin) + 1
        out.append(record[start : m.end()].decode("utf-8", "replace"))
    return out


_INSTALLER_FILES = (
    b".dist-info/INSTALLER,",
    b".dist-info/REQUESTED,",
    b".dist-info/direct_url.json,",
    b".dist-info/RECORD,",
)


def record_digest(record: bytes) -> str:
    """SHA-256 of a RECORD, normalised to what the wheel decides: sorted, without the lines installers write
    differently (scripts outside site-packages carry the venv's path in their shebang, bytecode depends on the
    Python, INSTALLER/REQUESTED/direct_url.json/RECORD on the installer). Same wheel, same digest."""
    kept = sorted(
        line.rstrip(b"\r")
        for line in record.split(b"\n")
        if line
        and not line.startswith(b"../")
        and b".pyc," not in line
        and not (b".dist-info/" in line and any(mark in line for mark in _INSTALLER_FILES))
    )
    return "sha256:" + hashlib.sha256(b"\n".join(kept)).hexdigest()


def read_distribution(meta_dir: str) -> Tuple[Dict[str, Any], List[str]]:
    """One installed distribution from its .dist-info or .egg-info folder; also the files its RECORD lists.

    Raises OSError or ValueError for a folder that does not describe a distribution (no name or version).
    """
    is_egg = meta_dir.endswith(".egg-info")
    meta_file = "PKG-INFO" if is_egg else "METADATA"
    if is_egg and os.path.isfile(meta_dir):  # an old-style single-file egg-info
        text = _read_text(meta_dir)
        meta_dir_files = {}  # type: Dict[str, Any]
    else:
        text = _read_text(os.path.join(meta_dir, meta_file))
        meta_dir_files = {}
    headers = parse_metadata_headers(text)
    name = (headers.get("name") or [""])[0]
    version = (headers.get("version") or [""])[0]
    if not name or not version:
        raise ValueError("{} has no Name or Version".format(meta_file))
    dist = {"name": canonicalize_name(name), "version": version}  # type: Dict[str, Any]
    files = []  # type: List[str]
    if is_egg:
        dist["metadata_format"] = "egg-info"
    else:
        for fname in ("INSTALLER", "WHEEL", "REQUESTED", "direct_url.json", "RECORD"):
            try:
                with open(os.path.join(meta_dir, fname), "rb") as f:
                    meta_dir_files[fname] = f.read()
            except OSError:
                pass
        if "INSTALLER" in meta_dir_files:
            dist["installer"] = meta_dir_files["INSTALLER"].decode("utf-8", "replace").strip()
        if "WHEEL" in meta_dir_files:
            dist["wheel_tags"] = parse_wheel_tags(meta_dir_files["WHEEL"].decode("utf-8", "replace"))
        dist["requested"] = "REQUESTED" in meta_dir_files
        if "direct_url.json" in meta_dir_files:
            try:
                dist["direct_url"] = parse_direct_url(meta_dir_files["direct_url.json"].decode("utf-8"))
            except ValueError:
                dist["direct_url"] = {"kind": "unreadable"}
        if "RECORD" in meta_dir_files:
            record = meta_dir_files["RECORD"]
            dist["record_digest"] = record_digest(record)
            files = native_candidates(record)
    dist["requires"] = headers.get("requires-dist", [])
    return dist, files


def search_path(path: Optional[List[str]] = None) -> List[str]:
    """Folders to look for distributions in: sys.path without the script's own folder and the cwd."""
    entries = list(sys.path if path is None else path)
    cwd = os.getcwd()
    out = []  # type: List[str]
    for entry in entries:
        if not entry or os.path.abspath(entry) == cwd:
            continue
        if entry not in out and os.path.isdir(entry):
            out.append(entry)
    return out


def collect_packages(
    path: Optional[List[str]] = None,
) -> Tuple[List[Dict[str, Any]], Dict[str, str], Dict[str, Any]]:
    """Every distribution on ``path`` (default sys.path), first one of a name wins as import does.

    Returns (packages sorted by name, source, file lists by package) — the file lists feed the native-library scan.
    """
    found = {}  # type: Dict[str, Dict[str, Any]]
    files_by_name = {}  # type: Dict[str, Tuple[str, List[str]]]
    problems = []  # type: List[str]
    folders = search_path(path)
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError as e:
            problems.append("{}: {}".format(folder, e.strerror or e))
            continue
        for entry in names:
            if not (entry.endswith(".dist-info") or entry.endswith(".egg-info")):
                continue
            meta_dir = os.path.join(folder, entry)
            try:
                dist, files = read_distribution(meta_dir)
            except (OSError, ValueError, UnicodeDecodeError) as e:
                problems.append("{}: {}".format(entry, getattr(e, "strerror", None) or e))
                continue
            name = dist["name"]
            if name in found:
                found[name].setdefault("shadowed", []).append(dist["version"])
                continue
            found[name] = dist
            files_by_name[name] = (folder, files)
    packages = [found[name] for name in sorted(found)]
    detail = "dist-info and egg-info in {} sys.path folders".format(len(folders))
    if problems:
        detail += "; skipped " + "; ".join(problems[:5]) + ("" if len(problems) <= 5 else "; ...")
    return packages, {"status": "ok", "detail": detail}, files_by_name


#: How the native section is read, for its source line.
NATIVE_DETAIL = "files listed in RECORD, system library folders, numpy's and torch's build files"

# --- native libraries shipped -----------------------------------------------------------------------------------

#: (pattern on the file name, kind, vendor). First match wins.
NATIVE_PATTERNS = [
    (re.compile(r"^lib(scipy_)?openblas"), "blas", "openblas"),
    (re.compile(r"^libmkl_(rt|core)\b"), "blas", "mkl"),
    (re.compile(r"^libblis"), "blas", "blis"),
    (re.compile(r"^libflexiblas"), "blas", "flexiblas"),
    (re.compile(r"^libcblas\b|^libblas\b"), "blas", "reference"),
    (re.compile(r"^liblapack\b"), "lapack", "reference"),
    (re.compile(r"^libgomp"), "openmp", "gnu"),
    (re.compile(r"^libiomp5"), "openmp", "intel"),
    (re.compile(r"^libomp\b|^libomp-"), "openmp", "llvm"),
    (re.compile(r"^libcudart\.so"), "cudart", "nvidia"),
    (re.compile(r"^libcudnn\.so"), "cudnn", "nvidia"),
    (re.compile(r"^libnccl\.so"), "nccl", "nvidia"),
    (re.compile(r"^libcublas\.so"), "cublas", "nvidia"),
    (re.compile(r"^libcuda\.so"), "cuda-driver", "nvidia"),
]
_SHARED = re.compile(r"\.(so(\.[0-9.]+)?|dylib|dll)$")
_SONAME_VERSION = re.compile(r"\.so\.(\d+(?:\.\d+)*)$")
_OPENBLAS_VERSION = re.compile(rb"OpenBLAS (\d+\.\d+\.\d+(?:\.dev)?)")


def classify_library(filename: str) -> Optional[Tuple[str, str]]:
    """(kind, vendor) for a BLAS, OpenMP or CUDA library file name, else None."""
    if not _SHARED.search(filename):
        return None
    for pattern, kind, vendor in NATIVE_PATTERNS:
        if pattern.search(filename):
            return kind, vendor
    return None


def library_version(filename: str, kind: str) -> str:
    """A version the file name states beyond the bare soname major: libcuda.so.580.159.04, libcudnn.so.9.14.0."""
    m = _SONAME_VERSION.search(filename)
    if m and m.group(1).count(".") >= 1 and kind != "openmp":  # libgomp.so.1.0.0 is a libtool number, not GCC's
        return m.group(1)
    return ""


def openblas_version(path: str, limit: int = 64 << 20) -> str:
    """OpenBLAS writes its version into its config string; find it without loading the library."""
    try:
        import mmap

        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0 or size > limit:
                return ""
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                m = _OPENBLAS_VERSION.search(mm)
                return m.group(1).decode("ascii") if m else ""
    except (OSError, ValueError):
        return ""


def collect_native_shipped(
    files_by_name: Dict[str, Tuple[str, List[str]]],
    versions: Dict[str, str],
    system_dirs: Iterable[str] = (),
    root: str = "/",
) -> List[Dict[str, str]]:
    """BLAS/LAPACK, OpenMP and CUDA libraries found in the files installed packages list, and in system folders."""
    libs = []
    for name in sorted(files_by_name):
        folder, files = files_by_name[name]
        for rel in files:
            base = rel.rsplit("/", 1)[-1]
            hit = classify_library(base)
            if hit is None or rel.startswith(".."):
                continue
            kind, vendor = hit
            version = library_version(base, kind)
            if vendor == "openblas":
                version = openblas_version(os.path.join(folder, rel))
            elif vendor == "nvidia" and name.startswith("nvidia-"):
                version = versions.get(name, "")
            libs.append({"kind": kind, "vendor": vendor, "path": rel, "package": name, "version": version})
    seen = set()
    for folder in system_dirs:
        real = os.path.realpath(folder)
        if real in seen:  # merged /usr: /lib is /usr/lib
            continue
        seen.add(real)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for base in names:
            hit = classify_library(base)
            full = os.path.join(folder, base)
            if hit is None or os.path.islink(full):
                continue
            kind, vendor = hit
            version = openblas_version(full) if vendor == "openblas" else library_version(base, kind)
            shown = full if root in ("", "/") else "/" + os.path.relpath(full, root)
            libs.append({"kind": kind, "vendor": vendor, "path": shown, "version": version})
    return [{k: v for k, v in lib.items() if v} for lib in libs]


def system_library_dirs(root: str = "/", machine: str = "") -> List[str]:
    """The usual system folders for shared libraries (multiarch first)."""
    arch = machine or platform.machine()
    triplet = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(arch, arch + "-linux-gnu")
    rels = ["usr/lib/" + triplet, "lib/" + triplet, "usr/lib64", "usr/lib", "usr/local/lib"]
    return [os.path.join(root, rel) for rel in rels if os.path.isdir(os.path.join(root, rel))]


# --- how numpy and torch were built ------------------------------------------------------------------------------

# numpy writes its build's baseline and dispatch lists into the messages of _multiarray_umath (npy_cpu_features.c):
# the same lists numpy.show_runtime() prints, read without importing numpy.
_NUMPY_BASELINE = (b"NumPy was built with baseline optimizations: \n(", re.compile(rb"([A-Z0-9_ ]*)\)"))
_NUMPY_DISPATCH = (b"not part of the dispatched optimizations\n(", re.compile(rb"([A-Z0-9_ ]*)\)\."))
_TORCH_CUDA = re.compile(r"^cuda\s*(?::[^=\n]*)?=\s*(?:'([^'\n]*)'|\"([^\"\n]*)\"|None)\s*$", re.M)


def numpy_simd(path: str, limit: int = 256 << 20) -> Tuple[List[str], List[str]]:
    """numpy's SIMD (baseline, dispatch) feature lists from its ``_multiarray_umath`` binary; empty when absent."""
    import mmap

    out = []  # type: List[List[str]]
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0 or size > limit:
            return [], []
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            for marker, pattern in (_NUMPY_BASELINE, _NUMPY_DISPATCH):
                at = mm.find(marker)
                m = pattern.match(mm, at + len(marker)) if at >= 0 else None
                out.append(m.group(1).decode("ascii").split() if m else [])
    return out[0], out[1]


def parse_torch_cuda(text: str) -> Optional[str]:
    """The ``cuda`` of a torch/version.py (``'13.0'``; empty for ``None``, a CPU build); None when it has none."""
    m = _TORCH_CUDA.search(text)
    if not m:
        return None
    return m.group(1) or m.group(2) or ""


def collect_builds(files_by_name: Dict[str, Tuple[str, List[str]]], root: str = "/") -> List[Dict[str, Any]]:
    """What numpy's and torch's own files say about their builds: numpy's SIMD lists, torch's CUDA version.

    ``root`` is the tree the folders belong to: a file whose real path leaves it (an absolute link inside an
    image, read from the host) is not read.
    """
    inside = os.path.join(os.path.realpath(root), "")

    def _within(path):  # type: (str) -> bool
        return root in ("", "/") or os.path.realpath(path).startswith(inside)

    builds = []  # type: List[Dict[str, Any]]
    if "numpy" in files_by_name:
        folder = files_by_name["numpy"][0]
        for sub in ("numpy/_core", "numpy/core"):  # numpy 2 moved core to _core
            try:
                names = sorted(os.listdir(os.path.join(folder, sub)))
            except OSError:
                continue
            binary = next((n for n in names if n.startswith("_multiarray_umath") and _SHARED.search(n)), None)
            if binary is None:
                continue
            rel = sub + "/" + binary
            if not _within(os.path.join(folder, rel)):
                break
            try:
                baseline, dispatch = numpy_simd(os.path.join(folder, rel))
            except (OSError, ValueError):
                break
            if baseline or dispatch:
                builds.append(
                    {"package": "numpy", "source": rel, "simd_baseline": baseline, "simd_dispatch": dispatch}
                )
            break
    if "torch" in files_by_name:
        rel = "torch/version.py"
        path = os.path.join(files_by_name["torch"][0], rel)
        try:
            cuda = parse_torch_cuda(_read_text(path, 1 << 16)) if _within(path) else None
        except (OSError, UnicodeDecodeError):
            cuda = None
        if cuda is not None:
            builds.append({"package": "torch", "source": rel, "cuda": cuda})
    return [{k: v for k, v in b.items() if v or k in ("package", "source")} for b in builds]


# --- timezone ---------------------------------------------------------------------------------------------------


def timezone_info(root: str = "/", environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The effective timezone name and the system tzdata version."""
    environ = os.environ if environ is None else environ
    tz = environ.get("TZ", "").lstrip(":")
    if not tz:
        localtime = os.path.join(root, "etc/localtime")
        try:
            target = os.readlink(localtime)
            marker = "zoneinfo/"
            tz = target.split(marker, 1)[1] if marker in target else target
        except OSError:
            try:
                tz = _read_text(os.path.join(root, "etc/timezone")).strip()
            except OSError:
                tz = "UTC" if not os.path.exists(localtime) else ""
    version = ""
    try:
        head = _read_text(os.path.join(root, "usr/share/zoneinfo/tzdata.zi"), 200)
        m = re.match(r"#\s*version\s+(\S+)", head)
        version = m.group(1) if m else ""
    except OSError:
        pass
    return {"timezone": tz, "tzdata_version": version}


# --- all of it --------------------------------------------------------------------------------------------------


def probe(path: Optional[List[str]] = None, extra_env: Iterable[str] = (), root: str = "/") -> Dict[str, Any]:
    """Everything this module reads, as one JSON-ready object shaped like the fingerprint's sections."""
    sources = {}  # type: Dict[str, Dict[str, str]]
    out = {"probe": PROBE_VERSION, "sources": sources}  # type: Dict[str, Any]
    try:
        out["os"], sources["os"] = collect_os(root)
    except Exception as e:  # a probe must report, not die: the caller shows why
        out["os"], sources["os"] = {}, {"status": "unavailable", "detail": _describe(e)}
    try:
        out["python"], sources["python"] = collect_python(
            out["os"].get("libc_family", ""), out["os"].get("libc_version", "")
        )
    except Exception as e:
        out["python"], sources["python"] = {}, {"status": "unavailable", "detail": _describe(e)}
    try:
        packages, sources["packages"], files_by_name = collect_packages(path)
        out["packages"] = packages
    except Exception as e:
        out["packages"], files_by_name = [], {}
        sources["packages"] = {"status": "unavailable", "detail": _describe(e)}
    try:
        versions = {p["name"]: p["version"] for p in out["packages"]}
        shipped = collect_native_shipped(files_by_name, versions, system_library_dirs(root))
        out["native"] = {"shipped": shipped, "builds": collect_builds(files_by_name)}
        sources["native"] = {"status": "ok", "detail": NATIVE_DETAIL}
    except Exception as e:
        out["native"] = {}
        sources["native"] = {"status": "unavailable", "detail": _describe(e)}
    env = select_env(os.environ, extra_env)
    env.update(timezone_info(root))
    out["env"] = env
    sources["env"] = {"status": "ok", "detail": "allow-listed environment variables, /etc/localtime"}
    return out


def _describe(e: BaseException) -> str:
    return "{}: {}".format(type(e).__name__, e)


def main(argv: Optional[List[str]] = None) -> int:
    """``python probe.py [--env NAME]... [--path-json B64]``: print the probe's JSON on stdout."""
    args = list(sys.argv[1:] if argv is None else argv)
    extra = []
    path = None
    while args:
        arg = args.pop(0)
        if arg == "--env" and args:
            extra.append(args.pop(0))
        elif arg == "--path-json" and args:
            path = json.loads(base64.b64decode(args.pop(0)).decode("utf-8"))
        else:
            sys.stderr.write("envcheck probe: unknown argument {!r}\n".format(arg))
            return 2
    json.dump(probe(path, extra), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
