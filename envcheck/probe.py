"""Stdlib-only probe: reads the OS, Python, installed distributions, shipped native libraries and environment.

This file runs unchanged inside any CPython from 3.8 on, with nothing installed: envcheck runs it in-process for
the interpreter it lives in, and (``--python``, containers) as ``python -I probe.py`` in another interpreter, where
it prints one JSON object on stdout. Keep it free of third-party imports and of syntax newer than 3.8.

The JSON it prints is ``envcheck.contract.ProbeOutput``: the shape of the fingerprint's software sections.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import re
import stat
import struct
import sys
import sysconfig
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple, Union

from envcheck.contract import (  # bundled: the probe's source carries contract.py
    OK,
    BuildEntry,
    DirectUrlEntry,
    EnvSelection,
    NativeLibEntry,
    NativeSection,
    OsSection,
    PackageEntry,
    ProbeOutput,
    PythonSection,
    SourceEntry,
    TimezoneEntry,
    WheelTags,
    drop_empty,
    env_section,
    multiarch_triplet,
    read_section,
    wheel_tags,
)
from envcheck.tree import Tree, sources_entry  # bundled: the probe's source carries tree.py

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
#: A name is split into words on ``_``, ``-``, ``.``, blanks and changes of case (``dbPassword``: DB, PASSWORD);
#: it looks like it holds a credential when one of its words is, or contains, or ends with one of these.
_SECRET_WORDS = (
    "PW PWD PASS PASSWD PASSWORD PASSCODE PASSPHRASE PGPASS NETRC KEY KEYS KEYFILE APIKEY ACCESSKEY PRIVATE SALT"
    " HMAC TOKEN TOKENS PAT JWT OTP BEARER SAS SIG SIGNATURE SECRET SECRETS AUTH AUTHORIZATION OAUTH SESSION"
    " SESSIONID COOKIE COOKIES WEBHOOK HOOK CRED CREDS CREDENTIAL CREDENTIALS CERT CERTS CERTIFICATE DSN CONN"
    " CONNSTR CONNECTION"
)
SECRET_WORDS = frozenset(_SECRET_WORDS.split())
#: Parts that mark a word wherever they stand in it (``GHTOKEN``, ``MYSECRET``, ``DBPASSWORD``, ``OAUTH2``).
SECRET_STEMS = (
    "TOKEN",
    "SECRET",
    "PASSW",
    "PASSPHRASE",
    "PGPASS",
    "CREDENTIAL",
    "PRIVATE",
    "COOKIE",
    "SESSION",
    "WEBHOOK",
    "AUTH",
    "APIKEY",
    "ACCESSKEY",
    "SIGNATURE",
    "BEARER",
    "CONNSTR",
)
#: Endings that mark a word (``SSHKEY``, ``DBPASS``).
SECRET_SUFFIXES = ("KEY", "KEYS", "PASS", "PWD")
#: Words that hold a stem without being secret: Hugging Face's TOKENIZERS_PARALLELISM.
_SECRET_EXCEPTIONS = ("TOKENIZER", "TOKENIZERS")
_WORD_PARTS = re.compile(r"[^A-Za-z0-9]+")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def name_words(name: str) -> List[str]:
    """The words of a name, upper-cased: ``AWS_SECRET_ACCESS_KEY``, ``apiKey``, ``db.pass`` -> their parts."""
    return [w.upper() for part in _WORD_PARTS.split(name) for w in _WORDS.findall(part)]


def _secret_word(word: str) -> bool:
    if word in _SECRET_EXCEPTIONS:
        return False
    return word in SECRET_WORDS or word.endswith(SECRET_SUFFIXES) or any(s in word for s in SECRET_STEMS)


@functools.lru_cache(maxsize=4096)  # the same keys (python_version, extra) recur in every distribution
def is_secret_name(name: str) -> bool:
    """True for a variable name (or a ``key=`` in a value) that may hold a credential."""
    return any(_secret_word(w) for w in name_words(name))


def select_env(environ: Mapping[str, str], extra: Iterable[str] = ()) -> EnvSelection:
    """The allow-listed variables that are set, plus ``extra`` names; secret-looking names are redacted, and the
    values kept are scrubbed of credentials (``scrub_value``)."""
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
        variables[name] = scrub_value(value)
    return {"variables": dict(sorted(variables.items())), "redacted": sorted(redacted)}


# --- credentials inside values ----------------------------------------------------------------------------------

#: What a credential found inside a value is replaced with.
REDACTED = "<redacted>"

# Token formats that are secrets wherever they appear: private keys, GitHub, GitLab, Hugging Face, OpenAI, Slack,
# AWS key ids, PyPI, npm and Google API tokens, JWTs (which start where a word does: tried inside a long word, the
# pattern would be quadratic).
_KNOWN_TOKENS = re.compile(
    r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|$)"
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_\-]{20,}"
    r"|hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_\-]{20,}|xox[abposr]-[A-Za-z0-9\-]{10,}|(?:AKIA|ASIA)[A-Z0-9]{16}"
    r"|pypi-[A-Za-z0-9_\-]{20,}|npm_[A-Za-z0-9]{36}|AIza[0-9A-Za-z_\-]{35}"
    r"|(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)",
    re.DOTALL,
)
# A URL starts with a scheme, a colon and at least one slash; browsers and pip take backslashes for slashes.
# Patterns start only where a word starts: tried at every position inside a long word they would be quadratic.
_URL_START = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*):[/\\]+")
# Where a URL (or any word) ends inside a value.
_WORD_END = re.compile(r"[\s\"'<>`]")
# Blanks and quotes split a value into words; these characters may stand before a user name inside a word.
_WORDS_SPLIT = re.compile(r"([\s\"'<>`]+)")
_BEFORE_USER = ",;=()[]{}|/\\"
# ``Authorization: Bearer X``, ``token X``: the word after an HTTP authentication scheme.
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|digest|token)(\s+)(?!<redacted>)[A-Za-z0-9._~+/=\-]+")
# ``key=value``, ``key: value``, ``"key": "value"`` and ``--key value``; the key is judged by ``is_secret_name``.
_KEY_SEP = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<key>[A-Za-z0-9_.\-]*[A-Za-z0-9])(?P<sep>[\"']?[ \t]*[=:][ \t]*|\s+(?=[^\s\-]))"
)
_VALUE_END = re.compile(r"[\s&;,\"']")


_AUTHORITY_END = re.compile(r"[/\\?#]")
_PATH_END = re.compile(r"[?#]")


def _find(pattern: Any, text: str, start: int, end: int) -> int:
    """Where ``pattern`` first matches in text[start:end], else ``end``."""
    m = pattern.search(text, start, end)
    return m.start() if m else end


def _scrub_url(text: str, m: Any, end: int) -> Tuple[str, int]:
    """The URL that ``m`` starts (its word ends at ``end``) without user-info, query and fragment, and where to
    go on: the next URL in the same word's path (a list), else the end of the word.

    The authority runs to the first ``/``, ``\\``, ``?`` or ``#``; its user-info to its last ``@`` (a password
    may hold ``@``). A host part with a ``:`` that is not a port is a password that holds a ``/``, ``?`` or ``#``:
    the user-info then runs to the next ``@``. ``git@`` stays for ssh, where it is the
    conventional user and not a secret. A query or fragment is dropped to the end of the word, with any URL in
    it. Every search stops at the next URL, so a word of many URLs costs linear time.
    """
    start = m.end()
    auth_end = _find(_AUTHORITY_END, text, start, end)
    nested = _URL_START.search(text, auth_end, end)
    limit = nested.start() if nested else end
    authority = text[start:auth_end]
    at = authority.rfind("@")
    host = authority[at + 1 :]
    if ":" in host and not host.startswith("["):
        port = host.rsplit(":", 1)[1]
        later = text.find("@", auth_end, limit)
        if not port.isdigit() and later >= 0:
            auth_end = _find(_AUTHORITY_END, text, later + 1, end)
            authority = text[start:auth_end]
            at = authority.rfind("@")
            nested = _URL_START.search(text, auth_end, end)
            limit = nested.start() if nested else end
    kept = ""
    if at >= 0:
        if authority[:at] == "git" and m.group(1).lower().endswith("ssh"):
            kept = "git@"
        authority = authority[at + 1 :]
    path_end = _find(_PATH_END, text, auth_end, limit)
    resume = end if path_end < limit else limit
    return m.group(0) + kept + authority + text[auth_end:path_end], resume


def _strip_plain_userinfo(text: str) -> str:
    """Drop ``user:password@`` written without a scheme (``user:pass@db:5432``, ``me@corp:pw@db``) from each
    word: from the user name (after a separator) to the word's last ``@``. One pass per word: linear time."""
    if "@" not in text:
        return text
    parts = _WORDS_SPLIT.split(text)
    for i in range(0, len(parts), 2):  # words; the odd parts are what split them
        word = parts[i]
        at = word.rfind("@")
        colon = word.find(":", 0, at) if at > 0 else -1
        if colon >= 0:
            start = max(word.rfind(c, 0, colon) for c in _BEFORE_USER) + 1
            parts[i] = word[:start] + word[at + 1 :]
    return "".join(parts)


def strip_url_credentials(text: str) -> str:
    """Drop user-info (``user:password@``, ``token@``), query string and fragment from every URL in ``text``:
    they are where tokens hide. Text around the URLs is kept; ``user:password@host`` without a scheme loses its
    user-info too.
    """
    out = []  # type: List[str]
    pos = 0
    word_end = -1
    while pos < len(text):
        m = _URL_START.search(text, pos)
        gap_end = m.start() if m else len(text)
        out.append(_strip_plain_userinfo(text[pos:gap_end]))
        if m is None:
            break
        if m.start() >= word_end:  # a new word: find its end once, not once per URL in it
            stop = _WORD_END.search(text, m.end())
            word_end = stop.start() if stop else len(text)
        url, pos = _scrub_url(text, m, word_end)
        out.append(url)
    return "".join(out)


def _closing_quote(text: str, start: int) -> int:
    """Just after the quote that closes the one at ``start`` (a backslash escapes the next character), else the
    end of the text."""
    quote, at = text[start], start + 1
    while at < len(text):
        if text[at] == "\\":
            at += 2
            continue
        if text[at] == quote:
            return at + 1
        at += 1
    return len(text)


def _scrub_pairs(text: str) -> str:
    """Replace the value of every ``key=value``, ``key: value`` or ``--key value`` whose key looks secret."""
    out = []  # type: List[str]
    pos = 0
    for m in _KEY_SEP.finditer(text):
        key = m.group("key")
        if m.start() < pos or not is_secret_name(key) or (not m.group("sep").strip() and key[0] != "-"):
            continue  # ``--key value`` only for an option: a blank alone does not pair words
        start = m.end()
        if start < len(text) and text[start] in "\"'":
            end = _closing_quote(text, start)
        else:
            stop = _VALUE_END.search(text, start)
            end = stop.start() if stop else len(text)
        if end > start:
            out.append(text[pos:start] + REDACTED)
            pos = end
    out.append(text[pos:])
    return "".join(out)


def scrub_value(value: str) -> str:
    """``value`` without the credentials it may carry anywhere in it: known token formats and private keys,
    user-info, query and fragment of URLs (``strip_url_credentials``), ``user:password@host``, the word after
    ``Bearer``, and the value of ``token=``, ``password:``, ``--api-key ...`` and any other pair whose key looks
    secret (``is_secret_name``)."""
    # URLs first: a token replaced inside a URL's user-info would end the URL's word there and keep the user.
    value = strip_url_credentials(value)
    value = _KNOWN_TOKENS.sub(REDACTED, value)
    value = _AUTH_SCHEME.sub(lambda m: m.group(1) + m.group(2) + REDACTED, value)
    return _scrub_pairs(value)


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
        import subprocess  # musl only: subprocess brings threading and signal, which glibc's path never needs

        try:
            proc = subprocess.run([interp], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=5)
            version = parse_musl_version(proc.stderr.decode("utf-8", "replace"))
        except (OSError, subprocess.SubprocessError):
            version = None
        return "musl", version or ""
    return "", ""


def detect_container(tree: Optional[Tree] = None, environ: Optional[Mapping[str, str]] = None) -> str:
    """What kind of container this runs in, from the marks runtimes leave; empty when none."""
    environ = os.environ if environ is None else environ
    tree = tree or Tree("/")
    if "KUBERNETES_SERVICE_HOST" in environ:
        return "kubernetes"
    if tree.exists("/.dockerenv"):
        return "docker"
    if tree.exists("/run/.containerenv"):
        return "podman"
    try:
        cgroup = tree.read_text("/proc/1/cgroup", "small")
    except OSError:
        cgroup = ""
    for mark, kind in (("kubepods", "kubernetes"), ("docker", "docker"), ("libpod", "podman"), ("lxc", "lxc")):
        if mark in cgroup:
            return kind
    container = environ.get("container", "")
    return "container" if container else ""


def read_os_release(tree: Tree) -> Tuple[Dict[str, str], str]:
    """os-release(5) of a tree, and which file it came from ("" when neither is there)."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            return parse_os_release(tree.read_text(path, "small")), path
        except OSError:
            continue
    return {}, ""


def collect_os(tree: Optional[Tree] = None) -> Tuple[OsSection, SourceEntry]:
    """The os section of the running system, and its source."""
    tree = tree or Tree("/")
    uname = platform.uname()
    data = {"system": uname.system, "release": uname.release, "machine": uname.machine}  # type: OsSection
    notes = ["uname"]
    release, where = read_os_release(tree)
    if where:
        data["distro_id"] = release.get("ID", "")
        data["distro_version_id"] = release.get("VERSION_ID", "")
        data["distro_name"] = release.get("PRETTY_NAME", release.get("NAME", ""))
        notes.append(where)
    family, version = libc()
    data["libc_family"] = family
    data["libc_version"] = version
    with contextlib.suppress(AttributeError, ValueError, OSError):  # not POSIX: leave it out
        data["page_size"] = os.sysconf("SC_PAGE_SIZE")
    data["container"] = detect_container(tree)
    return data, {"status": OK, "detail": ", ".join(notes)}


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


def interpreter_wheel_tags(libc_family: str, libc_version: str) -> WheelTags:
    """This interpreter's most preferred wheel tag: ``contract.wheel_tags`` from what it knows of itself."""
    plat = sysconfig.get_platform()
    return wheel_tags(
        "{}.{}".format(*sys.version_info[:2]),
        sysconfig.get_config_var("SOABI") or "",
        plat.split("-", 1)[-1].replace(".", "_").replace("-", "_"),
        libc_family,
        libc_version,
        struct.calcsize("P") * 8,
        sys.implementation.name,
        "" if sys.platform.startswith("linux") else plat.replace("-", "_").replace(".", "_"),
    )


def canonical_executable(executable: str) -> str:
    """``executable`` under the first of ``python3``, ``python``, ``pythonX.Y`` in its folder that is the same
    interpreter: the same file, or any of them in a virtual environment's ``bin`` (venv makes all three for its
    interpreter, as links or as copies). The name an interpreter was started by (a console script's shebang says
    ``python3``, a person types ``python``) is not part of the environment, and must not make two reads differ;
    ``python3`` first, as the static readers of a tree (``targets.rootfs``) and the image targets look for it."""
    if not executable:
        return executable
    folder = os.path.dirname(executable)
    in_venv = os.path.isfile(os.path.join(os.path.dirname(folder), "pyvenv.cfg"))
    for name in ("python3", "python", "python{}.{}".format(*sys.version_info[:2])):
        candidate = os.path.join(folder, name)
        try:
            if (in_venv and os.path.isfile(candidate)) or os.path.samefile(candidate, executable):
                return candidate
        except OSError:
            continue
    return executable


def collect_python(libc_family: str = "", libc_version: str = "") -> Tuple[PythonSection, SourceEntry]:
    """The python section for this interpreter, and its source."""
    build_no, build_date = platform.python_build()
    base_prefix = getattr(sys, "base_prefix", sys.prefix)
    tags = interpreter_wheel_tags(libc_family, libc_version)
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
        "executable": canonical_executable(sys.executable),
        "prefix": sys.prefix,
        "base_prefix": base_prefix,
        "in_venv": sys.prefix != base_prefix,
        "markers": marker_environment(),
        "interpreter_tag": tags["interpreter_tag"],
        "abi_tag": tags["abi_tag"],
        "platform_tag": tags["platform_tag"],
        "best_tag": tags["best_tag"],
    }  # type: PythonSection
    return data, {"status": OK, "detail": "sys, sysconfig, platform"}


# --- distributions ----------------------------------------------------------------------------------------------

_CANON = re.compile(r"[-_.]+")


def canonicalize_name(name: str) -> str:
    """PEP 503 normalisation (the same as packaging.utils.canonicalize_name)."""
    return _CANON.sub("-", name).lower()


# The email parser's own patterns (email.feedparser): a header or continuation line, and its line breaks.
_HEADER_LINE = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> Iterator[str]:
    """Lines with their endings, split where the email parser splits them (not where str.splitlines does)."""
    pos = 0
    for m in _LINE_BREAK.finditer(text):
        yield text[pos : m.end()]
        pos = m.end()
    if pos < len(text):
        yield text[pos:]


#: Where the headers end when every line ends in ``\n``: the first line that is neither a header nor a
#: continuation (``_HEADER_LINE`` does not match it), an empty one included.
_HEADER_END = re.compile(r"^(?!From |[\041-\071\073-\176]*:|[\t ])", re.MULTILINE)


def parse_metadata_headers(text: str) -> Dict[str, List[str]]:
    """Core-metadata headers (METADATA, PKG-INFO) exactly as ``importlib.metadata`` reads them: the rules of
    ``email.feedparser`` with the compat32 policy, without importing ``email`` (18 ms in a fresh interpreter).
    The headers end at an empty line or at the first line that is neither a header nor a continuation (a line of
    only blanks, as multi-line License fields hold, is a continuation); a value keeps its continuation lines as
    they are. Keys are lower-cased; the body is skipped.

    Text whose lines all end in ``\n`` (every METADATA a wheel installs) takes a faster path that finds the end
    of the headers with one search and splits only them; it gives what ``_parse_headers`` gives (tested)."""
    if "\r" in text:
        return _parse_headers(text)
    end = _HEADER_END.search(text)
    lines = (text if end is None else text[: end.start()]).split("\n")
    if lines[-1] == "":
        lines.pop()
    headers = {}  # type: Dict[str, List[str]]
    current = []  # type: List[str]
    last = len(lines) - 1
    for number, line in enumerate(lines):
        if line[0] in " \t":
            if current:
                current.append(line)
            continue
        if current:
            _add_header(headers, current)
            current = []
        if line.startswith("From "):
            if number == last and number:
                break  # the first line of the body
            continue  # an envelope line: not a header
        if line.find(":") > 0:
            current = [line]
    if current:
        _add_header(headers, current)
    return headers


def _add_header(headers: Dict[str, List[str]], lines: List[str]) -> None:
    """A header line and its continuation lines (without their line ends) into ``headers``."""
    name, value = lines[0].split(":", 1)
    lines[0] = value.lstrip(" \t")
    headers.setdefault(name.lower(), []).append("\n".join(lines).rstrip("\n"))


def _parse_headers(text: str) -> Dict[str, List[str]]:
    """``parse_metadata_headers`` for any line ends (``\r\n``, ``\r``, ``\n``), line by line as the email
    parser reads them."""
    lines = []  # type: List[str]
    for line in _lines(text):
        if not _HEADER_LINE.match(line):
            break
        lines.append(line)
    headers = {}  # type: Dict[str, List[str]]
    current = []  # type: List[str]

    def flush():  # type: () -> None
        if current:
            name, value = current[0].split(":", 1)
            value = value.lstrip(" \t") + "".join(current[1:])
            headers.setdefault(name.lower(), []).append(value.rstrip("\r\n"))
            del current[:]

    for number, line in enumerate(lines):
        if line[0] in " \t":
            if current:
                current.append(line)
            continue
        flush()
        if line.startswith("From "):
            if number == len(lines) - 1 and number:
                break  # the first line of the body
            continue  # an envelope line: not a header
        if line.find(":") > 0:
            current.append(line)
    flush()
    return headers


def parse_wheel_tags(text: str) -> List[str]:
    """The ``Tag:`` lines of a WHEEL file."""
    return [value for key, value in (_header(line) for line in text.splitlines()) if key == "tag"]


def _header(line: str) -> Tuple[str, str]:
    key, _, value = line.partition(":")
    return key.strip().lower(), value.strip()


def _field(value: Any) -> str:
    """A direct_url.json string field, stripped and scrubbed of credentials; anything else is dropped."""
    return scrub_value(value.strip()) if isinstance(value, str) else ""


def parse_direct_url(text: str) -> DirectUrlEntry:
    """A direct_url.json (PEP 610) reduced to what identifies the source, every field scrubbed of credentials
    (``scrub_value``): the URL's user-info, query and fragment, and tokens wherever else they are put."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("direct_url.json is not an object")
    out = {"url": _field(data.get("url"))}  # type: DirectUrlEntry
    dir_info = data.get("dir_info")
    vcs_info = data.get("vcs_info")
    archive_info = data.get("archive_info")
    if isinstance(dir_info, dict):
        out["kind"] = "editable" if dir_info.get("editable") else "dir"
    elif isinstance(vcs_info, dict):
        out["kind"] = "vcs"
        out["vcs"] = _field(vcs_info.get("vcs"))
        out["commit_id"] = _field(vcs_info.get("commit_id"))
        out["requested_revision"] = _field(vcs_info.get("requested_revision"))
    elif isinstance(archive_info, dict):
        out["kind"] = "archive"
        hashes = archive_info.get("hashes")
        sha256 = _field(hashes.get("sha256")) if isinstance(hashes, dict) else ""
        out["archive_hash"] = "sha256=" + sha256 if sha256 else _field(archive_info.get("hash"))
    return drop_empty(out)


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


# The first component of each RECORD line: a folder (``sklearn/``) or a file at the top (``six.py,``).
_RECORD_TOP = re.compile(rb"^([^/,\n\r\"]+)([/,])", re.MULTILINE)
_MODULE_FILE = re.compile(r"([^.]{1,100})(?:\.py|\.pyc|(?:\.[A-Za-z0-9_-]+)?\.so)")
_NAME = re.compile(r"[^.\s]{1,100}")
#: At most this many top-level modules are kept per distribution (sorted), so a crafted RECORD cannot bloat a
#: lockfile.
MAX_MODULES = 64


def top_level_modules(record: Optional[bytes], declared: Optional[bytes] = None) -> List[str]:
    """The top-level modules a distribution installs, as ``importlib.metadata.packages_distributions`` finds
    them: the names its top_level.txt declares when it has one, else the first component of each RECORD path
    (a folder without a dot in its name but ``__pycache__``, ``x.py``, an extension module); sorted, at most
    ``MAX_MODULES``."""
    names: Set[str] = set()
    if declared is not None:
        for line in declared.decode("utf-8", "replace").split():
            if _NAME.fullmatch(line) and line.isprintable():
                names.add(line)
    elif record is not None:
        # most lines share their first component with the line before: look at each distinct one once
        for first, sep in set(_RECORD_TOP.findall(record)):
            part = first.decode("utf-8", "replace")
            if sep == b"/":
                if _NAME.fullmatch(part) and part != "__pycache__" and part.isprintable():
                    names.add(part)
            else:
                found = _MODULE_FILE.fullmatch(part)
                if found and found.group(1).isprintable():
                    names.add(found.group(1))
    return sorted(names)[:MAX_MODULES]


_INSTALLER_FILES = (
    b".dist-info/INSTALLER,",
    b".dist-info/REQUESTED,",
    b".dist-info/direct_url.json,",
    b".dist-info/RECORD,",
    b".dist-info/uv_cache.json,",  # uv's cache key, written for wheels it installs from a path or URL
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


def shown(name: str) -> str:
    """A file name as text that any output can hold: bytes that were not UTF-8 (kept by ``os.listdir`` as
    surrogate escapes) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


#: Bounds of an editable project's digest: files hashed, and bytes read in all.
EDITABLE_MAX_FILES = 2000
EDITABLE_MAX_BYTES = 64 << 20
#: The "text" read cap of ``tree.LIMITS``: a larger file would be refused, so it is hashed by its size only.
_EDITABLE_FILE_CAP = 16 << 20
#: Folders of a project that are not its code: version control, caches, virtual environments, build metadata.
_EDITABLE_SKIP = frozenset(
    ["__pycache__", "node_modules", "site-packages", "dist-packages", "build", "dist", "htmlcov", "wheelhouse"]
)


def file_url_path(url: str) -> Optional[str]:
    """The local path of a ``file:`` URL (direct_url.json), or None for any other URL."""
    if not url.startswith("file:"):
        return None
    from urllib.parse import unquote, urlsplit  # only for editable installs

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path) or None


def _skip_folder(tree: Tree, path: str, name: str) -> bool:
    if name.startswith(".") or name in _EDITABLE_SKIP or name.endswith((".egg-info", ".dist-info")):
        return True
    return tree.is_file(path + "/pyvenv.cfg")  # a virtual environment inside the project


def editable_digest(folder: str, tree: Optional[Tree] = None) -> Tuple[str, str]:
    """``sha256:`` over the files of an editable project (a folder of ``tree``): each file's path relative to the
    folder and its content's SHA-256, in sorted order, skipping version control, caches, virtual environments and
    bytecode; a file over the text read cap counts by its size. Bounded by ``EDITABLE_MAX_FILES`` files and
    ``EDITABLE_MAX_BYTES`` bytes, so that the same tree always gives the same digest; returns (digest, why the
    bound was hit or "").

    Raises OSError when the folder cannot be listed."""
    tree = tree or Tree("/")
    root = folder.rstrip("/") or "/"
    total = hashlib.sha256()
    count = 0
    spent = 0
    bound = ""
    pending = [(root, "")]  # type: List[Tuple[str, str]]
    while pending and not bound:
        path, rel = pending.pop()
        try:
            names = tree.listdir(path)
        except OSError:
            if path == root:
                raise
            total.update("{}/\0unreadable\n".format(rel).encode("utf-8", "surrogateescape"))
            continue
        folders = []  # type: List[Tuple[str, str]]
        for name in names:
            full, sub = path.rstrip("/") + "/" + name, (rel + "/" + name).lstrip("/")
            try:
                st = tree.stat(full, follow=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if not _skip_folder(tree, full, name):
                    folders.append((full, sub))
                continue
            if name.endswith((".pyc", ".pyo")):
                continue
            if count >= EDITABLE_MAX_FILES:
                bound = "{} files".format(EDITABLE_MAX_FILES)
                break
            count += 1
            if stat.S_ISLNK(st.st_mode):
                try:
                    entry = "link:" + tree.readlink(full)
                except OSError:
                    entry = "link"
            elif not stat.S_ISREG(st.st_mode):
                continue
            elif st.st_size > _EDITABLE_FILE_CAP:  # data, not code (weights, a dataset): known by its size
                entry = "size:{}".format(st.st_size)
            elif spent + st.st_size > EDITABLE_MAX_BYTES:
                bound = "{} bytes".format(EDITABLE_MAX_BYTES)
                break
            else:
                try:
                    data = tree.read(full, "text")
                except OSError:
                    entry = "unreadable"
                else:
                    spent += len(data)
                    entry = hashlib.sha256(data).hexdigest()
            total.update("{}\0{}\n".format(sub, entry).encode("utf-8", "surrogateescape"))
        pending.extend(reversed(folders))  # depth first, in sorted order
    return "sha256:" + total.hexdigest(), bound


def read_distribution(meta_dir: str, tree: Optional[Tree] = None) -> Tuple[PackageEntry, List[str], str]:
    """One installed distribution from its .dist-info or .egg-info folder (a path of ``tree``); also the files
    its RECORD lists, and why its editable digest was bounded ("" when it was not).

    Raises OSError or ValueError for a folder that does not describe a distribution (no name or version).
    """
    tree = tree or Tree("/")
    is_egg = meta_dir.endswith(".egg-info")
    meta_file = "PKG-INFO" if is_egg else "METADATA"
    if is_egg and tree.is_file(meta_dir):  # an old-style single-file egg-info
        text = tree.read_text(meta_dir, "metadata")
    else:
        text = tree.read_text(meta_dir + "/" + meta_file, "metadata")
    meta_dir_files = {}  # type: Dict[str, bytes]
    headers = parse_metadata_headers(text)
    name = (headers.get("name") or [""])[0].strip()
    version = (headers.get("version") or [""])[0].strip()
    if not name or not version:
        raise ValueError("{} has no Name or Version".format(meta_file))
    dist = {"name": canonicalize_name(name), "version": version}  # type: PackageEntry
    files = []  # type: List[str]
    bound = ""
    if is_egg:
        dist["metadata_format"] = "egg-info"
    else:
        for fname, kind in _DIST_INFO_FILES:
            with contextlib.suppress(OSError):
                meta_dir_files[fname] = tree.read(meta_dir + "/" + fname, kind)
        if "INSTALLER" in meta_dir_files:
            dist["installer"] = meta_dir_files["INSTALLER"].decode("utf-8", "replace").strip()
        if "WHEEL" in meta_dir_files:
            dist["wheel_tags"] = parse_wheel_tags(meta_dir_files["WHEEL"].decode("utf-8", "replace"))
        dist["requested"] = "REQUESTED" in meta_dir_files
        if "direct_url.json" in meta_dir_files:
            try:
                dist["direct_url"] = parse_direct_url(meta_dir_files["direct_url.json"].decode("utf-8"))
            except (ValueError, RecursionError):
                dist["direct_url"] = {"kind": "unreadable"}
            project = file_url_path(dist["direct_url"].get("url", ""))
            if dist["direct_url"].get("kind") == "editable" and project:
                with contextlib.suppress(OSError):
                    dist["editable_digest"], bound = editable_digest(project, tree)
        if "RECORD" in meta_dir_files:
            record = meta_dir_files["RECORD"]
            dist["record_digest"] = record_digest(record)
            files = native_candidates(record)
    if is_egg and not tree.is_file(meta_dir):
        with contextlib.suppress(OSError):
            meta_dir_files["top_level.txt"] = tree.read(meta_dir + "/top_level.txt", "small")
    modules = top_level_modules(meta_dir_files.get("RECORD"), meta_dir_files.get("top_level.txt"))
    if modules:
        dist["modules"] = modules
    dist["requires"] = [scrub_value(r) for r in headers.get("requires-dist", [])]  # pkg @ URL carries tokens
    return dist, files, bound


#: The files of a .dist-info folder that are read, with the kind of file each is (its read cap).
_DIST_INFO_FILES = (
    ("INSTALLER", "small"),
    ("WHEEL", "small"),
    ("REQUESTED", "small"),
    ("direct_url.json", "small"),
    ("RECORD", "record"),
    ("top_level.txt", "small"),
)


def search_path(path: Optional[List[str]] = None, tree: Optional[Tree] = None) -> List[str]:
    """Folders to look for distributions in: sys.path without the script's own folder and the cwd (for the
    running interpreter), or ``path`` (folders of ``tree``), those that are folders."""
    tree = tree or Tree("/")
    entries = list(sys.path if path is None else path)
    skip = [os.getcwd()] if tree.native else []
    if path is None:
        skip += script_folder()
    out = []  # type: List[str]
    for entry in entries:
        if not entry or (tree.native and os.path.abspath(entry) in skip):
            continue
        if entry not in out and tree.is_dir(entry):
            out.append(entry)
    return out


def script_folder() -> List[str]:
    """The folder Python put first on sys.path for the program it runs (``python train.py``, a console script
    such as ``envcheck`` in ``VENV/bin``): the program's, not the environment's, and absent when the same
    environment is read as ``python -m`` or from outside. Empty when sys.path[0] is something else."""
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if not script or not sys.path or not sys.path[0] or getattr(sys.flags, "safe_path", False):
        return []
    first = os.path.abspath(sys.path[0])
    folders = (os.path.dirname(os.path.abspath(script)), os.path.dirname(os.path.realpath(script)))
    return [first] if first in folders else []


#: The files each distribution's RECORD lists that may be native libraries, with the folder it is installed in.
FilesByName = Dict[str, Tuple[str, List[str]]]


def collect_packages(
    path: Optional[List[str]] = None,
    tree: Optional[Tree] = None,
    parallel: bool = False,
) -> Tuple[List[PackageEntry], SourceEntry, FilesByName]:
    """Every distribution on ``path`` (default sys.path), first one of a name wins as import does. ``parallel``:
    read the distributions in forked workers (``read_distributions``).

    Returns (packages sorted by name, source, file lists by package) — the file lists feed the native-library scan.
    """
    tree = tree or Tree("/")
    found = {}  # type: Dict[str, PackageEntry]
    files_by_name = {}  # type: FilesByName
    problems = []  # type: List[str]
    bounded = []  # type: List[str]
    folders = search_path(path, tree)
    tasks = []  # type: List[Tuple[str, str]]
    listed = []  # type: List[Tuple[str, str, int]]  # (folder, why it could not be listed, tasks before it)
    for folder in folders:
        try:
            names = tree.listdir(folder)
        except OSError as e:
            listed.append((folder, str(e.strerror or e), len(tasks)))
            continue
        tasks.extend((folder, entry) for entry in names if entry.endswith((".dist-info", ".egg-info")))
    reads = read_distributions(tasks, tree, parallel)
    for index, ((folder, entry), read) in enumerate(zip(tasks, reads)):
        while listed and listed[0][2] <= index:  # in the order a folder-by-folder read meets them
            problems.append("{}: {}".format(shown(listed[0][0]), listed.pop(0)[1]))
        if isinstance(read, str):
            problems.append("{}: {}".format(shown(entry), read))
            continue
        dist, files, bound = read
        name = dist["name"]
        if name in found:
            found[name].setdefault("shadowed", []).append(dist["version"])
            found[name].setdefault("locations", [files_by_name[name][0]]).append(folder)
            continue
        if bound:
            bounded.append("{} ({})".format(name, bound))
        found[name] = dist
        files_by_name[name] = (folder, files)
    problems.extend("{}: {}".format(shown(folder), why) for folder, why, _ in listed)
    packages = [found[name] for name in sorted(found)]
    detail = "dist-info and egg-info in {} sys.path folders".format(len(folders))
    if bounded:
        detail += "; editable digest bounded (first files only): " + ", ".join(bounded)
    if problems:
        detail += "; skipped " + "; ".join(problems[:5]) + ("" if len(problems) <= 5 else "; ...")
    return packages, {"status": OK, "detail": detail}, files_by_name


#: A distribution as ``read_distribution`` reads it, or why it could not be read.
Read = Union[Tuple[PackageEntry, List[str], str], str]
#: Below this many distributions the probe reads them itself: forking costs more than it saves.
PARALLEL_MIN = 48
#: At most this many workers read distributions at once.
PARALLEL_MAX = 8


def read_one(meta_dir: str, tree: Tree) -> Read:
    """``read_distribution``, its expected failures as the one-line reason ``collect_packages`` reports."""
    try:
        return read_distribution(meta_dir, tree)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return str(getattr(e, "strerror", None) or e)


def read_distributions(tasks: List[Tuple[str, str]], tree: Tree, parallel: bool = False) -> List[Read]:
    """Each (folder, dist-info name) read, in order. With ``parallel`` (a process envcheck owns and that runs no
    other thread: the probe's child, the command line) and this machine's own files (``tree.native``: paths,
    never shared folder descriptors), the reads are split between forked workers, a contiguous share each
    balanced by RECORD size, each with its share of the tree's read budget; their refusals are added to the
    tree's in order, so the result is what reading them one by one gives. A worker that fails leaves its share to
    be read here."""
    workers = _worker_count(len(tasks)) if parallel and tree.native else 1
    if workers < 2:
        return [read_one(folder.rstrip("/") + "/" + entry, tree) for folder, entry in tasks]
    shares = _shares(tasks, tree, workers)
    budget = max(0, tree.budget - tree.spent) // workers
    started = []  # type: List[Tuple[int, int, List[Tuple[str, str]]]]
    for share in shares:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: read its share, write it as JSON, and leave without running any cleanup
            code = 1
            try:
                os.close(read_end)
                tree.fresh_copy_state(budget)
                mine = [read_one(folder.rstrip("/") + "/" + entry, tree) for folder, entry in share]
                data = json.dumps([mine, tree.copy_state()]).encode("utf-8")
                with os.fdopen(write_end, "wb") as pipe_out:
                    pipe_out.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        started.append((pid, read_end, share))
    out = []  # type: List[Read]
    for pid, read_end, share in started:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        try:
            reads, state = json.loads(data.decode("utf-8")) if status == 0 else (None, None)  # type: Any, Any
        except ValueError:
            reads = None
        if not isinstance(reads, list) or len(reads) != len(share):
            out.extend(read_one(folder.rstrip("/") + "/" + entry, tree) for folder, entry in share)
            continue
        tree.absorb(*state)
        out.extend(r if isinstance(r, str) else (r[0], r[1], r[2]) for r in reads)
    return out


def _worker_count(tasks: int) -> int:
    if tasks < PARALLEL_MIN or not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, PARALLEL_MAX, tasks // (PARALLEL_MIN // 2)))


def _shares(tasks: List[Tuple[str, str]], tree: Tree, workers: int) -> List[List[Tuple[str, str]]]:
    """``tasks`` cut into ``workers`` contiguous shares of about equal work: a RECORD's size, plus 4 KiB a
    distribution for its other files."""
    weights = []
    for folder, entry in tasks:
        try:
            weights.append(4096 + tree.stat(folder.rstrip("/") + "/" + entry + "/RECORD").st_size)
        except (OSError, ValueError):
            weights.append(4096)
    per = sum(weights) / workers
    shares = [[]]  # type: List[List[Tuple[str, str]]]
    done = 0.0
    for task, weight in zip(tasks, weights):
        if done >= per * len(shares) and len(shares) < workers:
            shares.append([])
        shares[-1].append(task)
        done += weight
    return shares


def packages_section(
    path: Optional[List[str]], tree: Tree, parallel: bool = False
) -> Tuple[Tuple[List[PackageEntry], FilesByName], SourceEntry]:
    """``collect_packages`` as a section reader for ``read_section``: ((packages, files by name), source)."""
    packages, source, files_by_name = collect_packages(path, tree, parallel)
    return (packages, files_by_name), source


def no_packages() -> Tuple[List[PackageEntry], FilesByName]:
    """What ``packages_section`` gives when it cannot read: no packages, no files."""
    return [], {}


def native_section(
    packages: List[PackageEntry], files_by_name: FilesByName, system_dirs: Iterable[str], tree: Tree
) -> Tuple[NativeSection, SourceEntry]:
    """The native section (shipped libraries and builds) of the packages read, and its source."""
    versions = {p["name"]: p["version"] for p in packages}
    native = {
        "shipped": collect_native_shipped(files_by_name, versions, system_dirs, tree),
        "builds": collect_builds(files_by_name, tree),
    }  # type: NativeSection
    return native, {"status": OK, "detail": NATIVE_DETAIL}


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


def openblas_version(path: str, tree: Optional[Tree] = None) -> str:
    """OpenBLAS writes its version into its config string; find it without loading the library."""
    tree = tree or Tree("/")
    try:
        import mmap

        with tree.open(path, "binary") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return ""
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                m = _OPENBLAS_VERSION.search(mm)
                return m.group(1).decode("ascii") if m else ""
    except (OSError, ValueError):
        return ""


def collect_native_shipped(
    files_by_name: FilesByName,
    versions: Dict[str, str],
    system_dirs: Iterable[str] = (),
    tree: Optional[Tree] = None,
) -> List[NativeLibEntry]:
    """BLAS/LAPACK, OpenMP and CUDA libraries found in the files installed packages list, and in system folders
    (paths of ``tree``)."""
    tree = tree or Tree("/")
    libs = []  # type: List[NativeLibEntry]
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
                version = openblas_version(folder.rstrip("/") + "/" + rel, tree)
            elif vendor == "nvidia" and name.startswith("nvidia-"):
                version = versions.get(name, "")
            libs.append({"kind": kind, "vendor": vendor, "path": rel, "package": name, "version": version})
    seen = set()
    for folder in system_dirs:
        try:
            real = tree.resolve(folder)
        except OSError:
            continue
        if real in seen:  # merged /usr: /lib is /usr/lib
            continue
        seen.add(real)
        try:
            names = tree.listdir(folder)
        except OSError:
            continue
        for base in names:
            hit = classify_library(base)
            full = folder.rstrip("/") + "/" + base
            if hit is None or not tree.is_file(full) or tree.is_link(full):
                continue
            kind, vendor = hit
            version = openblas_version(full, tree) if vendor == "openblas" else library_version(base, kind)
            libs.append({"kind": kind, "vendor": vendor, "path": shown(full), "version": version})
    return [drop_empty(lib) for lib in libs]


def system_library_dirs(tree: Optional[Tree] = None, machine: str = "") -> List[str]:
    """The usual system folders for shared libraries (multiarch first) that the tree has."""
    tree = tree or Tree("/")
    triplet = multiarch_triplet(machine or platform.machine())
    folders = ["/usr/lib/" + triplet, "/lib/" + triplet, "/usr/lib64", "/usr/lib", "/usr/local/lib"]
    return [folder for folder in folders if tree.is_dir(folder)]


# --- how numpy and torch were built ------------------------------------------------------------------------------

# numpy writes its build's baseline and dispatch lists into the messages of _multiarray_umath (npy_cpu_features.c):
# the same lists numpy.show_runtime() prints, read without importing numpy.
_NUMPY_BASELINE = (b"NumPy was built with baseline optimizations: \n(", re.compile(rb"([A-Z0-9_ ]*)\)"))
_NUMPY_DISPATCH = (b"not part of the dispatched optimizations\n(", re.compile(rb"([A-Z0-9_ ]*)\)\."))
_TORCH_CUDA = re.compile(r"^cuda\s*(?::[^=\n]*)?=\s*(?:'([^'\n]*)'|\"([^\"\n]*)\"|None)\s*$", re.M)


def numpy_simd(path: str, tree: Optional[Tree] = None) -> Tuple[List[str], List[str]]:
    """numpy's SIMD (baseline, dispatch) feature lists from its ``_multiarray_umath`` binary; empty when absent."""
    import mmap

    tree = tree or Tree("/")
    out = []  # type: List[List[str]]
    with tree.open(path, "binary") as f:
        if os.fstat(f.fileno()).st_size == 0:
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


def collect_builds(files_by_name: FilesByName, tree: Optional[Tree] = None) -> List[BuildEntry]:
    """What numpy's and torch's own files say about their builds: numpy's SIMD lists, torch's CUDA version.

    The folders are paths of ``tree``: a link in them is followed inside the tree, never onto this machine.
    """
    tree = tree or Tree("/")
    builds = []  # type: List[BuildEntry]
    if "numpy" in files_by_name:
        folder = files_by_name["numpy"][0].rstrip("/")
        for sub in ("numpy/_core", "numpy/core"):  # numpy 2 moved core to _core
            try:
                names = tree.listdir(folder + "/" + sub)
            except OSError:
                continue
            binary = next((n for n in names if n.startswith("_multiarray_umath") and _SHARED.search(n)), None)
            if binary is None:
                continue
            rel = sub + "/" + binary
            try:
                baseline, dispatch = numpy_simd(folder + "/" + rel, tree)
            except (OSError, ValueError):
                break
            if baseline or dispatch:
                builds.append(
                    {"package": "numpy", "source": rel, "simd_baseline": baseline, "simd_dispatch": dispatch}
                )
            break
    if "torch" in files_by_name:
        rel = "torch/version.py"
        try:
            cuda = parse_torch_cuda(tree.read_text(files_by_name["torch"][0].rstrip("/") + "/" + rel, "small"))
        except OSError:
            cuda = None
        if cuda is not None:
            builds.append({"package": "torch", "source": rel, "cuda": cuda})
    return [drop_empty(b, keep=("package", "source")) for b in builds]


# --- timezone ---------------------------------------------------------------------------------------------------


def timezone_info(tree: Optional[Tree] = None, environ: Optional[Mapping[str, str]] = None) -> TimezoneEntry:
    """The effective timezone name and the system tzdata version."""
    environ = os.environ if environ is None else environ
    tree = tree or Tree("/")
    tz = environ.get("TZ", "").lstrip(":")
    marker = "zoneinfo/"
    if not tz:
        try:
            target = tree.readlink("/etc/localtime")
            if marker not in target:  # a link to a link (/etc/alternatives...): where it ends, in the tree
                target = tree.resolve("/etc/localtime")
            tz = target.split(marker, 1)[1] if marker in target else target
        except OSError:
            try:
                tz = tree.read_text("/etc/timezone", "small").strip()
            except OSError:
                tz = "UTC" if not tree.exists("/etc/localtime") else ""
    version = ""
    try:
        head = tree.read_text("/usr/share/zoneinfo/tzdata.zi", "header")[:200]
        m = re.match(r"#\s*version\s+(\S+)", head)
        version = m.group(1) if m else ""
    except OSError:
        pass
    return {"timezone": scrub_value(tz), "tzdata_version": scrub_value(version)}  # TZ may hold anything


# --- all of it --------------------------------------------------------------------------------------------------


def probe(
    path: Optional[List[str]] = None,
    extra_env: Iterable[str] = (),
    root: str = "/",
    environ: Optional[Mapping[str, str]] = None,
    pythonpath: Optional[List[str]] = None,
    parallel: bool = False,
) -> ProbeOutput:
    """Everything this module reads, as one JSON-ready object shaped like the fingerprint's sections.

    ``environ`` is the environment to record (default ``os.environ``: the Python API passes the one its process
    was launched with). ``pythonpath`` is the PYTHONPATH of whoever asked (absolute folders), put first on the
    search path as the interpreter would: an interpreter run isolated (``-I``) ignores its own variable.
    ``parallel``: this process runs no other thread and may fork workers to read distributions
    (``read_distributions``): the probe's own child and the command line, never a caller's process."""
    environ = os.environ if environ is None else environ
    tree = Tree(root)
    sources = {}  # type: Dict[str, SourceEntry]
    os_data, sources["os"] = read_section(lambda: collect_os(tree), OsSection())
    family, version = os_data.get("libc_family", ""), os_data.get("libc_version", "")
    python, sources["python"] = read_section(lambda: collect_python(family, version), PythonSection())
    if path is None and sys.flags.no_site:
        venv = venv_config(tree)
        path = site_path(tree, venv)
        python.update(_venv_prefixes(venv))
        sources["python"]["detail"] += "; run without site (-S): site folders and .pth lines read, never run"
    if pythonpath:
        path = list(pythonpath) + [p for p in (sys.path if path is None else path) if p not in pythonpath]
    (packages, files_by_name), sources["packages"] = read_section(
        lambda: packages_section(path, tree, parallel), no_packages()
    )
    if pythonpath and sources["packages"]["status"] == OK:
        sources["packages"]["detail"] += "; the caller's PYTHONPATH ({} entries) first".format(len(pythonpath))
    native, sources["native"] = read_section(
        lambda: native_section(packages, files_by_name, system_library_dirs(tree), tree), NativeSection()
    )
    env = env_section(select_env(environ, extra_env), timezone_info(tree, environ))
    sources["env"] = {"status": OK, "detail": "allow-listed environment variables, /etc/localtime"}
    refused = sources_entry([tree])
    if refused:
        sources["files"] = {"status": refused["status"], "detail": refused["detail"]}
    tree.close()
    return {
        "probe": PROBE_VERSION,
        "sources": sources,
        "os": os_data,
        "python": python,
        "packages": packages,
        "native": native,
        "env": env,
    }


# --- sys.path without site --------------------------------------------------------------------------------------


def parse_pyvenv_cfg(text: str) -> Dict[str, str]:
    """A pyvenv.cfg's ``key = value`` lines, keys lower-cased (as site.venv() and CPython's getpath read them)."""
    settings = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip().lower()] = value.strip()
    return settings


#: A virtual environment: its prefix and its pyvenv.cfg settings.
Venv = Optional[Tuple[str, Dict[str, str]]]


def venv_config(tree: Tree) -> Venv:
    """The virtual environment this interpreter belongs to, found as site.venv() finds it: a pyvenv.cfg beside
    the executable or one folder up; None when there is none."""
    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    for folder in (exe_dir, os.path.dirname(exe_dir)):
        try:
            text = tree.read_text(os.path.join(folder, "pyvenv.cfg"), "small")
        except OSError:
            continue
        return os.path.dirname(exe_dir), parse_pyvenv_cfg(text)
    return None


def _venv_prefixes(venv: Venv) -> PythonSection:
    """``prefix``/``in_venv`` as site.py would have set them (before 3.11, -S leaves sys.prefix at the base)."""
    if venv is None:
        return {}
    base = getattr(sys, "base_prefix", sys.prefix)
    return {"prefix": venv[0], "base_prefix": base, "in_venv": venv[0] != base}


def site_path(tree: Tree, venv: Venv) -> List[str]:
    """sys.path as ``site`` would complete it, for a probe run with ``-S`` so that no ``.pth`` line of the
    target runs: the site folders of the interpreter's prefixes (and the user's, where site would add it), each
    followed by the folders its ``.pth`` files name; ``import`` lines are code, and are skipped."""
    import site

    base = [getattr(sys, "base_prefix", sys.prefix), getattr(sys, "base_exec_prefix", sys.exec_prefix)]
    if venv is None:
        sites, user = site.getsitepackages(list(dict.fromkeys([sys.prefix, sys.exec_prefix]))), True
    else:
        # A venv's own folder has upstream's layout; distributions patch getsitepackages() for their own prefix
        # (Debian's gives dist-packages unless site.venv() has already moved sys.prefix, which -S prevents).
        system = venv[1].get("include-system-site-packages", "false").lower() == "true"
        sites = _venv_site_packages(venv[0]) + (site.getsitepackages(list(dict.fromkeys(base))) if system else [])
        user = system
    if user and not sys.flags.no_user_site and getattr(site, "ENABLE_USER_SITE", False) is not False:
        sites.insert(0, site.getusersitepackages())
    path = list(sys.path)
    for folder in sites:
        if not tree.is_dir(folder):
            continue
        if folder not in path:  # already there (PYTHONPATH): site.addsitedir still reads its .pth files
            path.append(folder)
        path.extend(p for p in pth_paths(tree, folder) if p not in path)
    return path


def _venv_site_packages(prefix: str) -> List[str]:
    """``PREFIX/lib/pythonX.Y/site-packages`` as upstream site.py names it (``lib64`` too where it is platlibdir,
    ``pythonX.Yt`` for a free-threaded build)."""
    version = "python{}.{}{}".format(
        sys.version_info[0], sys.version_info[1], "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    )
    libdirs = [getattr(sys, "platlibdir", "lib")]
    if libdirs[0] != "lib":
        libdirs.append("lib")
    return [os.path.join(prefix, libdir, version, "site-packages") for libdir in libdirs]


def pth_paths(tree: Tree, site: str) -> List[str]:
    """Folders that the .pth files of a site folder add, in site's order (import lines are code: never run)."""
    out = []  # type: List[str]
    try:
        names = tree.listdir(site)
    except OSError:
        return out
    for name in names:
        if not name.endswith(".pth") or name.startswith("."):
            continue
        try:
            text = tree.read_text(site.rstrip("/") + "/" + name, ".pth")
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            folder = os.path.normpath(line if line.startswith("/") else os.path.join(site, line))
            if folder not in out and tree.exists(folder):
                out.append(folder)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """``python probe.py [--env NAME]... [--path-json B64] [--pythonpath-json B64]``: print the probe's JSON on
    stdout. ``--pythonpath-json``: the caller's PYTHONPATH folders, which an isolated (``-I``) run ignores."""
    import base64

    args = list(sys.argv[1:] if argv is None else argv)
    extra = []
    path = None
    pythonpath = None
    while args:
        arg = args.pop(0)
        if arg == "--env" and args:
            extra.append(args.pop(0))
        elif arg == "--path-json" and args:
            path = json.loads(base64.b64decode(args.pop(0)).decode("utf-8"))
        elif arg == "--pythonpath-json" and args:
            pythonpath = json.loads(base64.b64decode(args.pop(0)).decode("utf-8"))
        else:
            sys.stderr.write("envcheck probe: unknown argument {!r}\n".format(arg))
            return 2
    json.dump(probe(path, extra, pythonpath=pythonpath, parallel=True), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
