"""No secret, anywhere, in any form: secrets generated into every field envcheck reads never reach the lockfile,
a report in any format, ``envcheck show``, or the sidecar's /report, /metrics, /readyz and log.

The environments are built for real: a ``--root`` tree with a virtual environment whose distribution carries a
planted METADATA, RECORD and direct_url.json, hostile files beside it and links to this machine's files, read
with a planted environment; a ``--python`` child and a ``--pid`` process with planted environment variables and
command lines. Each secret is planted where a credential goes (user-info, a query, ``token=``, a secret-looking
variable name, a known token format) or where envcheck never looks (other files, other variables, argv): an
allow-listed variable's plain value is recorded by design, so no secret is put there bare.
"""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from wsgiref.util import setup_testing_defaults

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck import capture, lockfile
from envcheck.compare import compare
from envcheck.findings import Severity
from envcheck.model import Fingerprint, to_data
from envcheck.report import FORMATS, reporter_for
from envcheck.show import render_text, summary
from envcheck.sidecar import Checker, State, make_app
from envcheck.sidecar.app import WsgiApp
from envcheck.sidecar.logs import dumps
from envcheck.targets.interface import Target
from envcheck.targets.pid import PidTarget
from envcheck.targets.python import PythonTarget
from envcheck.targets.root import RootTarget
from tests.test_scrub import SECRETS, secret_in_value

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
#: Variable names that are allow-listed (or asked for) and whose values are kept, scrubbed.
KEPT_NAMES = ("XLA_FLAGS", "LANGUAGE", "TZ", "KMP_AFFINITY", "LC_ALL", "CUDA_VISIBLE_DEVICES", "MY_FLAG")
#: Names that look secret, allow-listed by prefix or asked for with --env: listed as redacted, value never kept.
SECRET_NAMES = ("KMP_AUTH_TOKEN", "LC_PASSWD", "PGPASS", "AZURE_SAS", "db.password", "apiKey", "MY_WEBHOOK")
EXTRA = ("MY_FLAG", "PGPASS", "AZURE_SAS", "db.password", "apiKey", "MY_WEBHOOK")
URL_FORMS = (
    "https://u:{s}@host/r.git",
    "  HTTPS://{s}@host/r.git",
    "https:\\\\u:p@{s}@host\\r.git",
    "git+https://x:{s}/y@host/r",
    "https://host/p.whl?token={s}",
    "https://host/p.whl#{s}",
)


# --- outputs -----------------------------------------------------------------------------------------------------


def outputs(fp: Fingerprint, baseline: Fingerprint) -> Iterator[Tuple[str, str]]:
    """(where, text) for everything envcheck writes about ``fp``: the lockfile, show (text, JSON, the snapshot
    summary), every report format comparing it with ``baseline`` both ways, self-checks included."""
    yield "lockfile", lockfile.dumps(fp)
    yield "show", render_text(fp)
    yield "show --format json", json.dumps(to_data(fp), indent=2)
    yield "snapshot summary", "\n".join(summary(fp))
    for expected, actual in ((baseline, fp), (fp, baseline)):
        report = compare(expected, actual, self_checks=True, fail_on=Severity.LOW)
        for fmt in FORMATS:
            yield f"report {fmt}", reporter_for(fmt).render(report)
        yield "text, colour", reporter_for("text", color=True).render(report)


def sidecar_outputs(baseline: Fingerprint, target: Target) -> Iterator[Tuple[str, str]]:
    """The sidecar checking ``target`` against ``baseline`` (as its lockfile, which names the variables the
    sidecar asks the target for): its log lines and endpoints."""
    expected = lockfile.loads(lockfile.dumps(baseline))
    state = State("model.lock", expected.meta.digest)
    checker = Checker(expected, lambda: target, lock_name="model.lock", fail_on=Severity.LOW)
    app = make_app(state)
    logs = [dumps(line) for line in state.record(checker.check_once())]
    logs += [dumps(line) for line in state.record(checker.check_once())]
    yield "sidecar log", "\n".join(logs)
    for path in ("/report", "/metrics", "/readyz"):
        status, body = call(app, path)
        assert status in (200, 503)
        yield f"sidecar {path}", body.decode("utf-8")


def call(app: WsgiApp, path: str) -> Tuple[int, bytes]:
    """GET ``path`` from the sidecar's WSGI app, without a socket: (status, body)."""
    environ: Dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
    setup_testing_defaults(environ)
    status: List[int] = []
    body = b"".join(app(environ, lambda line, headers: status.append(int(line.split()[0]))))
    return status[0], body


def assert_absent(secret: str, where_texts: Iterator[Tuple[str, str]]) -> int:
    """Every text is free of ``secret``; returns how many were looked at."""
    n = 0
    for where, text in where_texts:
        assert secret not in text, f"the planted secret reached the {where}"
        n += 1
    return n


# --- a --root tree -----------------------------------------------------------------------------------------------

#: Enough of an ELF header for the static reader, and a PY_VERSION string to find.
FAKE_PYTHON = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + b"\x3e\x00" + b"\0" * 44 + b"3.11.7\x00[GCC 12.2.0]\x00"
SITE = "opt/venv/lib/python3.11/site-packages"


def make_tree(root: Path, host_secret_file: Path) -> None:
    """A Debian-like tree with a virtual environment at /opt/venv and one distribution in it."""
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3.11").write_bytes(FAKE_PYTHON)
    os.symlink("python3.11", root / "usr/bin/python3")
    (root / "usr/lib/python3.11").mkdir(parents=True)
    (root / "usr/lib/python3.11/os.py").write_text("")
    (root / "opt/venv/bin").mkdir(parents=True)
    os.symlink("/usr/bin/python3.11", root / "opt/venv/bin/python3")
    (root / "opt/venv/pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    (root / SITE).mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "root").mkdir()
    # Links that leave the tree, to a file of this machine that holds a secret: never followed out.
    for rel in ("etc/os-release", "etc/timezone", f"{SITE}/evil.pth", "root/.netrc"):
        os.symlink(str(host_secret_file), root / rel)


def plant(root: Path, secret: str, forms: Dict[str, str]) -> None:
    """(Re)write the distribution and the hostile files of the tree with ``secret`` in them."""
    meta = root / SITE / "demo-1.0.dist-info"
    meta.mkdir(exist_ok=True)
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
        f"Author-email: A <{secret}@example.org>\n"
        f"Home-page: https://u:{secret}@example.org/\n"
        f"Requires-Dist: dep @ {forms['url']}\n"
        f"Requires-Dist: other ; extra == 'x' and {forms['value']}\n"
        f"\nThe body mentions {secret}.\n"
    )
    (meta / "RECORD").write_text(f"demo/{secret}.py,sha256=AAAA,1\ndemo-1.0.dist-info/METADATA,,\n")
    (meta / "INSTALLER").write_text("pip\n")
    direct = {
        "url": forms["url"],
        "subdirectory": secret,
        "vcs_info": {"vcs": "git", "commit_id": "0123abcd", "requested_revision": forms["value"]},
    }
    (meta / "direct_url.json").write_text(json.dumps(direct))
    (root / "etc/shadow").write_text(f"root:{secret}:19000:0:99999:7:::\n")
    (root / "opt/venv/.env").write_text(f"API_KEY={secret}\n")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    base = tmp_path_factory.mktemp("secrets")
    host_file = base / "host-secret.txt"
    host_file.write_text("placeholder\n")
    root = base / "tree"
    root.mkdir()
    make_tree(root, host_file)
    return root, host_file


def environ_for(secret: str, value: str, url: str) -> Dict[str, str]:
    environ = {"PATH": "/opt/venv/bin:/usr/bin:/bin", "HOME": "/root", "OMP_NUM_THREADS": "4"}
    environ.update({name: value for name in KEPT_NAMES})
    environ["LANGUAGE"] = f"en {url}"
    environ.update({name: secret for name in SECRET_NAMES})
    environ["AWS_SECRET_ACCESS_KEY"] = secret  # not allow-listed, not asked for
    environ["UNLISTED"] = secret
    return environ


@SETTINGS
@given(case=secret_in_value(), url=st.sampled_from(URL_FORMS))
def test_a_root_tree_never_leaks_a_planted_secret(
    tree: Tuple[Path, Path], case: Tuple[str, str], url: str
) -> None:
    root, host_file = tree
    secret, value = case
    host_file.write_text(f"ID={secret}\nPRETTY_NAME={secret}\n{secret}\n")
    plant(root, secret, {"url": url.format(s=secret), "value": value})
    environ = environ_for(secret, value, url.format(s=secret))
    fp = capture.take(RootTarget(str(root), environ), extra_env=EXTRA)
    assert [p.name for p in fp.packages] == ["demo"]  # the planted distribution was read
    assert set(fp.env.redacted) >= set(SECRET_NAMES)
    assert "XLA_FLAGS" in fp.env.variables and "AWS_SECRET_ACCESS_KEY" not in fp.env.variables

    clean = environ_for("Safe000000000000", "1", "https://host/r.git")
    baseline = capture.take(RootTarget(str(root), clean), extra_env=EXTRA)
    assert assert_absent(secret, outputs(fp, baseline)) == 18
    assert assert_absent(secret, sidecar_outputs(baseline, RootTarget(str(root), environ))) == 4


# --- a --python child and a --pid process ------------------------------------------------------------------------


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(case=secret_in_value())
def test_a_python_child_never_leaks_its_planted_environment(case: Tuple[str, str]) -> None:
    secret, value = case
    planted = {**environ_for(secret, value, f"https://u:{secret}@h/x"), "PATH": os.environ.get("PATH", "")}
    saved = dict(os.environ)
    os.environ.update(planted)  # the child inherits this process's environment
    try:
        fp = capture.take(PythonTarget(sys.executable), extra_env=EXTRA)
        assert os.environ["PGPASS"] == secret  # the planted values were really there
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert set(fp.env.redacted) >= set(SECRET_NAMES)
    assert assert_absent(secret, outputs(fp, fp)) == 18


def _wait_for_exec(proc: subprocess.Popen[bytes], mark: str, deadline_s: float = 30.0) -> None:
    """Until /proc shows the child's own command line (the exec happened), within a deadline."""
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        try:
            if mark.encode() in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"process {proc.pid} did not start within {deadline_s} s")


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(secret=SECRETS, case=secret_in_value())
def test_a_process_never_leaks_its_argv_or_environment(secret: str, case: Tuple[str, str]) -> None:
    other, value = case
    env = {**environ_for(other, value, f"https://u:{other}@h/x"), "PATH": os.path.dirname(sys.executable)}
    argv = [sys.executable, "-c", "import time; time.sleep(120)", f"--token={secret}", f"https://u:{secret}@h/"]
    proc = subprocess.Popen(argv, env=env)
    try:
        _wait_for_exec(proc, secret)
        target = PidTarget(proc.pid)
        fp = capture.take(target, extra_env=EXTRA)
        assert set(fp.env.redacted) >= set(SECRET_NAMES)
        for planted in (secret, other):
            assert assert_absent(planted, outputs(fp, fp)) == 18
            assert assert_absent(planted, sidecar_outputs(fp, target)) == 4
    finally:
        proc.kill()
        proc.wait()


# --- every string field of a lockfile ----------------------------------------------------------------------------


def _strings(data: Any, path: str = "") -> Iterator[str]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(data, str):
        yield path


def test_the_tree_case_reaches_every_field_it_plants(tree: Tuple[Path, Path]) -> None:
    """The property test above is only as good as what it plants: the fields it scrubs are really recorded (with
    the credential gone), so a secret absent from the output is a secret removed, not one never read."""
    root, host_file = tree
    secret = "Zq" + string.ascii_letters[:14]
    host_file.write_text(f"ID={secret}\n")
    plant(root, secret, {"url": f"https://u:{secret}@host/r.git", "value": f"token={secret}"})
    environ = environ_for(secret, f"--xla_dump_to=gs://b?sig={secret}", f"https://u:{secret}@h/x")
    fp = capture.take(RootTarget(str(root), environ), extra_env=EXTRA)
    demo = fp.packages[0]
    assert demo.direct_url is not None
    assert (demo.direct_url.url, demo.direct_url.requested_revision) == ("https://host/r.git", "token=<redacted>")
    assert demo.requires[0] == "dep @ https://host/r.git"
    assert fp.env.variables["XLA_FLAGS"] == "--xla_dump_to=gs://b"
    assert fp.env.variables["LANGUAGE"] == "en https://h/x"
    assert fp.env.timezone == "--xla_dump_to=gs://b"  # TZ's value, scrubbed the same way
    paths: List[str] = list(_strings(to_data(fp)))
    assert ".packages[0].direct_url.url" in paths and ".env.variables.TZ" in paths


# --- output is safe to print -----------------------------------------------------------------------------------

#: What a crafted tree can put in a name, version, path or value: terminal escapes, a newline that starts a forged
#: workflow command, a bidirectional override, NUL, a lone surrogate.
HOSTILE = "x\x1b[2J\x1b]0;t\x07\x9b1m\n::error::forged\r\u202e\x00\udcff"


def _fingerprint(text: str) -> Fingerprint:
    from envcheck.model import DirectUrl, EnvInfo, Meta, NativeInfo, NativeLib, OsInfo, Package, Source

    return Fingerprint(
        meta=Meta(tool="envcheck", target=f"root:{text}"),
        sources={"os": Source("ok", text), "gpu": Source("unavailable", text)},
        os=OsInfo(system="Linux", distro_name=text, libc_family=text),
        packages=(
            Package(name=f"p{text}", version=f"1{text}", direct_url=DirectUrl(url=text, kind=text)),
            Package(name="q", version="2", shadowed=(text,)),
        ),
        native=NativeInfo(shipped=(NativeLib("blas", "openblas", f"lib/{text}.so", package="p", version=text),)),
        env=EnvInfo(variables={f"LC_{text}": text, "TZ": text}, redacted=(f"KMP_{text}",), timezone=text),
    )


def test_show_escapes_what_the_environment_wrote() -> None:
    hostile, plain = render_text(_fingerprint(HOSTILE)), render_text(_fingerprint("x"))
    hostile.encode("utf-8")  # a lone surrogate would make it unwritable
    assert hostile.count("\n") == plain.count("\n")  # no line added by the data
    for line in hostile.split("\n"):
        assert line.isprintable() and not line.lstrip().startswith("::error")
    assert "\\x1b[2J" in hostile and "\\n::error::forged" in hostile and "\\u202e" in hostile
    lines = summary(_fingerprint(HOSTILE))
    assert len(lines) == len(summary(_fingerprint("x"))) and all(line.isprintable() for line in lines)
