"""Images, containers and saved images, against a real Docker engine (``@pytest.mark.docker``), plus the pure
parts (limits, layers and whiteouts, OCI layouts) without one.

Test images are built FROM the local ``envcheck-test-base:bookworm`` (see ``scripts/ensure-docker``): wheels
made here are installed into a venv by the pip wheel that ships inside CPython, so no registry or index is used.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from envcheck.capture import take
from envcheck.model import Fingerprint
from envcheck.targets.archive import ImageArchiveTarget, apply_layer, member_path
from envcheck.targets.docker import ContainerTarget, ImageTarget, container_limits
from envcheck.targets.interface import Target, TargetError
from envcheck.targets.rootfs import RootError, probe_root
from tests.conftest import require_docker, venv_image_context

BASE = "envcheck-test-base:bookworm"
REPO = Path(__file__).resolve().parents[2]
TOKEN = uuid.uuid4().hex[:8]
SLEEP = ["python3", "-c", "import time; time.sleep(600)"]

#: After the virtual environment: an ENTRYPOINT that fails (targets must replace it) and the environment.
IMAGE_REST = """\
ENTRYPOINT ["/bin/false"]
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin OMP_NUM_THREADS=4
"""


def _run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600, check=False, **kwargs)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A Docker client to a running engine that has the base image (provisioned by scripts/test)."""
    docker = pytest.importorskip("docker")
    require_docker(BASE)
    client = docker.from_env()
    yield client
    client.close()


def _build(engine: Any, tmp: Path, name: str, wheels: List[Tuple[str, str, List[str]]], install: str) -> str:
    context = tmp / name
    venv_image_context(context, BASE, wheels, install, rest=IMAGE_REST)
    tag = f"envcheck-test-{name}:{TOKEN}"
    engine.images.build(path=str(context), tag=tag, rm=True, forcerm=True, network_mode="none")
    return tag


@pytest.fixture(scope="module")
def images(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    """The app image (its ENTRYPOINT fails: targets must replace it), a drifted one (beta at another version,
    gamma-lib missing) and one without Python."""
    tmp = tmp_path_factory.mktemp("images")
    tags: Dict[str, str] = {}
    try:
        tags["app"] = _build(
            engine,
            tmp,
            "app",
            [("alpha", "1.0", ["beta>=2"]), ("beta", "2.1", []), ("gamma-lib", "0.5+local.1", [])],
            "alpha gamma-lib",
        )
        tags["drifted"] = _build(
            engine, tmp, "drifted", [("alpha", "1.0", ["beta>=2"]), ("beta", "3.0", [])], "alpha"
        )
        tree = io.BytesIO()
        with tarfile.open(fileobj=tree, mode="w") as tar:
            data = b'ID=scratchy\nVERSION_ID="1"\nPRETTY_NAME="No Python here"\n'
            info = tarfile.TarInfo("etc/os-release")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tags["nopython"] = f"envcheck-test-nopython:{TOKEN}"
        done = subprocess.run(
            ["docker", "import", "-", tags["nopython"]], input=tree.getvalue(), capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        yield tags
    finally:
        for tag in tags.values():
            _run("docker", "image", "rm", "-f", tag)


@pytest.fixture(scope="module")
def running(engine: Any, images: Dict[str, str]) -> Iterator[str]:
    """A running container of the app image, with CPU and memory limits."""
    name = f"envcheck-test-{TOKEN}-running"
    engine.containers.run(
        images["app"],
        SLEEP[1:],
        entrypoint=SLEEP[:1],
        name=name,
        detach=True,
        nano_cpus=1_500_000_000,
        mem_limit=256 << 20,
    )
    yield name
    _run("docker", "rm", "-f", name)


@pytest.fixture(scope="module")
def saved(images: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``docker save`` of the app image."""
    out = tmp_path_factory.mktemp("saved") / "app.tar"
    done = _run("docker", "save", "-o", str(out), images["app"])
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def exported(engine: Any, images: Dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app image's filesystem, from ``docker export`` of a container, extracted (device nodes left out)."""
    tmp = tmp_path_factory.mktemp("exported")
    name = f"envcheck-test-{TOKEN}-export"
    _run("docker", "create", "--name", name, images["app"], "true")
    try:
        done = subprocess.run(
            ["docker", "export", name, "-o", str(tmp / "fs.tar")], capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
    finally:
        _run("docker", "rm", "-f", name)
    root = tmp / "root"
    with tarfile.open(tmp / "fs.tar") as tar:
        members = [m for m in tar.getmembers() if not (m.ischr() or m.isblk() or m.isfifo())]
        if hasattr(tarfile, "tar_filter"):
            tar.extractall(root, members=members, filter="tar")
        else:  # CPython before the extraction filters (3.9.16 and older)
            tar.extractall(root, members=members)
    return root


# --- the same environment, read five ways ----------------------------------------------------------------------

#: What only a running kernel tells: the live probe reports it, the static readers leave it empty.
IGNORED_OS = ("release", "page_size", "container")
IGNORED_MARKERS = ("platform_release", "platform_version")


def _comparable(fp: Fingerprint) -> Dict[str, Any]:
    os_info = dataclasses.asdict(fp.os)
    python = dataclasses.asdict(fp.python)
    for key in IGNORED_OS:
        os_info.pop(key, None)
    for key in IGNORED_MARKERS:
        python["markers"].pop(key, None)
    return {
        "os": os_info,
        "python": python,
        "packages": [dataclasses.asdict(p) for p in fp.packages],
        "env": dataclasses.asdict(fp.env),
    }


def _root_target(path: Path, environ: Dict[str, str]) -> Target:
    from envcheck.targets.root import RootTarget

    return RootTarget(str(path), environ)


@pytest.mark.docker
def test_same_environment_whichever_way_it_is_read(
    engine: Any, images: Dict[str, str], running: str, saved: Path, exported: Path
) -> None:
    env = dict(e.split("=", 1) for e in engine.images.get(images["app"]).attrs["Config"]["Env"])
    targets: Dict[str, Target] = {
        "image": ImageTarget(images["app"]),
        "container": ContainerTarget(running),
        "image-archive": ImageArchiveTarget(str(saved)),
        "root": _root_target(exported, env),
    }
    fps = {kind: take(target) for kind, target in targets.items()}
    live = _comparable(fps["image"])
    assert {p["name"]: p["version"] for p in live["packages"]} == {
        "alpha": "1.0",
        "beta": "2.1",
        "gamma-lib": "0.5+local.1",
    }
    assert live["python"]["in_venv"] and live["python"]["prefix"] == "/opt/venv"
    assert live["os"]["distro_id"] == "debian" and live["os"]["libc_family"] == "glibc"
    for kind, fp in fps.items():
        assert _comparable(fp) == live, kind
        assert fp.meta.target == targets[kind].name
    assert live["env"]["variables"] == {"OMP_NUM_THREADS": "4"}  # from the image's ENV, no LC_CTYPE added
    assert live["python"]["executable"] == "/opt/venv/bin/python3"
    assert live["python"]["build"] and live["python"]["compiler"]  # static reads find them in the binary too
    for kind in ("image", "container"):
        assert fps[kind].os.release and fps[kind].os.page_size and fps[kind].os.container == "docker"
        assert "platform_release" in fps[kind].python.markers
    for kind in ("image-archive", "root"):
        assert (fps[kind].os.release, fps[kind].os.page_size, fps[kind].os.container) == ("", None, "")
        assert not set(IGNORED_MARKERS) & set(fps[kind].python.markers)


@pytest.fixture(scope="module")
def sidecar_image(engine: Any) -> Iterator[str]:
    """The envcheck image, built by the documented script from this checkout (no network in the build)."""
    tag = f"envcheck-test-{TOKEN}-sidecar"
    done = _run("bash", str(REPO / "scripts/build-sidecar-image"), BASE, tag)
    assert done.returncode == 0, done.stderr[-2000:]
    yield tag
    _run("docker", "image", "rm", "-f", tag)


@pytest.mark.docker
def test_pid_from_a_second_container_reads_the_same_environment(
    running: str, images: Dict[str, str], sidecar_image: str, tmp_path: Path
) -> None:
    """A sidecar sharing the model container's PID namespace reads its main process (PID 1 there) through /proc.

    It runs as the same UID as the model server (root here): the least privilege that lets it read another
    container's /proc/PID/root, environ and maps without CAP_SYS_PTRACE.
    """
    done = _run(
        "docker",
        "run",
        "--rm",
        "--pid",
        f"container:{running}",
        "--user",
        "0",
        "--network",
        "none",
        "--entrypoint",
        "envcheck",
        sidecar_image,
        "snapshot",
        "--pid",
        "1",
        "-o",
        "-",
    )
    assert done.returncode == 0, done.stderr
    (tmp_path / "pid.lock").write_text(done.stdout)
    from envcheck import lockfile

    by_pid = lockfile.read(tmp_path / "pid.lock")
    by_image = take(ImageTarget(images["app"]))
    assert by_pid.meta.target == "pid:1"
    assert _comparable(by_pid) == _comparable(by_image)
    assert by_pid.os.container == "docker"
    assert by_pid.cpu.cpu_quota_millicores == 1500  # the model container's own cgroup, seen from the sidecar
    assert by_pid.memory.cgroup_limit_bytes == 256 << 20


@pytest.mark.docker
def test_container_limits_come_from_the_engine(running: str) -> None:
    fp = take(ContainerTarget(running))
    assert fp.cpu is not None and fp.cpu.cpu_quota_millicores == 1500
    assert fp.memory is not None and fp.memory.cgroup_limit_bytes == 256 << 20
    assert "from the Docker engine" in fp.source("cpu").detail
    assert take(ImageTarget(running_image_of(running))).source("cpu").status == "not inspected"


def running_image_of(name: str) -> str:
    return _run("docker", "inspect", "--format", "{{.Config.Image}}", name).stdout.strip()


# --- the command line ------------------------------------------------------------------------------------------


def envcheck(*args: str, env: Dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "-m", "envcheck", *args, env={**os.environ, **(env or {})}, cwd=REPO)


@pytest.mark.docker
def test_check_catches_a_drifted_image(images: Dict[str, str], tmp_path: Path) -> None:
    lock = tmp_path / "app.lock"
    done = envcheck("snapshot", "--image", images["app"], "-o", str(lock))
    assert done.returncode == 0, done.stderr
    same = envcheck("check", str(lock), "--image", images["app"], "--format", "json")
    assert same.returncode == 0, same.stdout + same.stderr
    done = envcheck("check", str(lock), "--image", images["drifted"], "--format", "json")
    assert done.returncode == 1, done.stderr
    findings = {(f["id"], f["subject"]) for f in json.loads(done.stdout)["findings"]}
    assert ("package.version.major", "beta") in findings
    assert ("package.missing", "gamma-lib") in findings


@pytest.fixture
def stopped(engine: Any, images: Dict[str, str]) -> Iterator[str]:
    name = f"envcheck-test-{TOKEN}-stopped"
    container = engine.containers.run(images["app"], ["true"], name=name, detach=True)
    container.wait(timeout=60)
    yield name
    _run("docker", "rm", "-f", name)


@pytest.mark.docker
@pytest.mark.parametrize(
    "case, expected",
    [
        ("no-image", "image not found (envcheck does not pull; docker pull it first)"),
        ("stopped", "not running (status exited)"),
        ("no-engine", "cannot reach the Docker engine at unix:///nonexistent.sock: is dockerd running?"),
        ("no-python", "no Python interpreter found"),
        ("no-container", "not found"),
    ],
    ids=lambda v: v if v in ("no-image", "stopped", "no-engine", "no-python", "no-container") else "",
)
def test_errors_are_one_clear_line(
    case: str, expected: str, images: Dict[str, str], request: pytest.FixtureRequest
) -> None:
    env: Dict[str, str] = {}
    if case == "no-image":
        args = ["--image", f"envcheck-test-absent:{TOKEN}"]
    elif case == "stopped":
        args = ["--container", request.getfixturevalue("stopped")]
    elif case == "no-engine":
        args, env = ["--image", images["app"]], {"DOCKER_HOST": "unix:///nonexistent.sock"}
    elif case == "no-python":
        args = ["--image", images["nopython"]]
    else:
        args = ["--container", f"envcheck-test-absent-{TOKEN}"]
    done = envcheck("snapshot", "-o", os.devnull, *args, env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr


# --- saved images: docker save and OCI layouts, no engine needed to read them ----------------------------------


def _oci_from_saved(saved: Path, out: Path, *, gzip_layers: bool) -> Path:
    """An OCI layout folder with the same image as a ``docker save`` tarball (layers gzipped if asked)."""
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    with tarfile.open(saved) as tar:
        entry = json.loads(tar.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        config = tar.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
        layers = [tar.extractfile(name).read() for name in entry["Layers"]]  # type: ignore[union-attr]
    layer_type = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzip_layers else "")
    descriptors = []
    for data in layers:
        blob = gzip.compress(data, compresslevel=1) if gzip_layers else data
        descriptors.append({"mediaType": layer_type, "digest": put(blob), "size": len(blob)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config)},
        "layers": descriptors,
    }
    body = json.dumps(manifest).encode()
    index = {"schemaVersion": 2, "manifests": [{"mediaType": manifest["mediaType"], "digest": put(body)}]}
    (out / "index.json").write_text(json.dumps(index))
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return out


@pytest.mark.docker
@pytest.mark.parametrize("form", ["folder", "tar-gzip-layers"])
def test_oci_layout_reads_like_docker_save(form: str, saved: Path, tmp_path: Path) -> None:
    layout = _oci_from_saved(saved, tmp_path / "oci", gzip_layers=form != "folder")
    path = layout
    if form != "folder":
        path = tmp_path / "oci.tar"
        with tarfile.open(path, "w") as tar:
            tar.add(layout, arcname=".")
    expected = _comparable(take(ImageArchiveTarget(str(saved))))
    assert _comparable(take(ImageArchiveTarget(str(path)))) == expected


def _broken(tmp: Path, kind: str, saved: Path) -> Path:
    path = tmp / f"{kind}.tar"
    if kind == "not-a-tar":
        path.write_bytes(b"this is not an archive\n" * 100)
    elif kind == "no-manifest":
        with tarfile.open(path, "w") as tar:
            tar.addfile(tarfile.TarInfo("hello.txt"), io.BytesIO(b""))
    elif kind == "truncated-layer":
        with tarfile.open(saved) as src, tarfile.open(path, "w") as dst:
            for m in src.getmembers():
                data = src.extractfile(m).read() if m.isfile() else b""  # type: ignore[union-attr]
                if m.name.endswith("layer.tar") or m.name.startswith("blobs/"):
                    data = data[:1000] + b"\xff" * 600
                    m.size = len(data)
                dst.addfile(m, io.BytesIO(data))
    return path


@pytest.mark.docker
@pytest.mark.parametrize(
    "kind, expected",
    [
        ("missing", "no such file"),
        ("not-a-tar", "not a tar archive or OCI layout folder"),
        ("no-manifest", "no manifest.json or index.json"),
        ("truncated-layer", "is damaged (its "),
    ],
    ids=["missing", "not-a-tar", "no-manifest", "truncated-layer"],
)
def test_broken_archive_is_one_clear_line(kind: str, expected: str, saved: Path, tmp_path: Path) -> None:
    path = _broken(tmp_path, kind, saved)
    done = envcheck("snapshot", "-o", os.devnull, "--image-archive", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr


# --- pure parts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host_config, expected",
    [
        ({}, (None, "", None)),
        ({"NanoCpus": 1_500_000_000, "Memory": 268435456}, (1500, "", 268435456)),
        ({"CpuQuota": 50_000, "CpuPeriod": 100_000, "CpusetCpus": "0-1"}, (500, "0-1", None)),
        ({"CpuQuota": 250_000, "CpuPeriod": 0, "Memory": 0}, (2500, "", None)),
    ],
    ids=["unlimited", "cpus-memory", "quota-cpuset", "default-period"],
)
def test_container_limits(host_config: Dict[str, Any], expected: Tuple[Any, ...]) -> None:
    limits = container_limits(host_config)
    assert (limits.cpu_millicores, limits.cpuset, limits.memory_bytes) == expected


def _layer(*entries: Tuple[str, str, bytes]) -> tarfile.TarFile:
    """A layer from (name, kind, data): kind is file, dir, symlink (data is the target) or hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind in ("symlink", "hardlink"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = data.decode()
                data = b""
            elif kind == "device":
                info.type = tarfile.CHRTYPE
            info.size = len(data) if kind == "file" else 0
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return tarfile.open(fileobj=buf)


def test_layers_apply_in_order_with_whiteouts(tmp_path: Path) -> None:
    apply_layer(
        _layer(
            ("etc", "dir", b""),
            ("etc/a", "file", b"a1"),
            ("etc/b", "file", b"b1"),
            ("opt", "dir", b""),
            ("opt/old", "file", b"x"),
            ("lib", "symlink", b"/usr/lib"),
            ("usr/lib/libz.so", "file", b"z"),
            ("dev/null", "device", b""),
        ),
        str(tmp_path),
    )
    apply_layer(
        _layer(
            ("etc/.wh.b", "file", b""),
            ("etc/a", "file", b"a2"),
            ("opt/.wh..wh..opq", "file", b""),
            ("opt/new", "file", b"n"),
            ("lib/libm.so", "file", b"m"),  # through an absolute link: lands in the tree's /usr/lib
            ("etc/hard", "hardlink", b"etc/a"),
        ),
        str(tmp_path),
    )
    assert (tmp_path / "etc/a").read_bytes() == b"a2"
    assert not (tmp_path / "etc/b").exists()
    assert sorted(os.listdir(tmp_path / "opt")) == ["new"]
    assert (tmp_path / "usr/lib/libm.so").read_bytes() == b"m"
    assert (tmp_path / "etc/hard").read_bytes() == b"a2"
    assert not (tmp_path / "dev/null").exists()


@pytest.mark.parametrize("name", ["/etc/passwd", "../escape", "a/../../escape"], ids=["absolute", "up", "deep-up"])
def test_unsafe_member_names_are_refused(name: str, tmp_path: Path) -> None:
    from envcheck.targets.archive import ArchiveError

    with pytest.raises(ArchiveError, match="unsafe member name"):
        member_path(name)
    assert member_path("./usr//bin/") == "/usr/bin"


def test_a_tree_without_python_is_a_root_error(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text("ID=x\n")
    with pytest.raises(RootError, match="no Python interpreter found"):
        probe_root(str(tmp_path), {})


def test_missing_sdk_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)
    with pytest.raises(TargetError, match=r"pip install 'envcheck\[docker\]'"):
        ImageTarget("x").probe()
