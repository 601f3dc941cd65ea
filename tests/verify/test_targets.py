"""Each target shows where its installed files are (``Target.files``), and verification through it finds damage."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from envcheck.targets.archive import ImageArchiveTarget
from envcheck.targets.interface import TargetError
from envcheck.targets.local import LocalTarget
from envcheck.targets.python import PythonTarget
from envcheck.targets.root import RootTarget
from envcheck.verify import verify_sites
from tests.targets.test_archive import build, layer
from tests.verify.conftest import fake_python_tree, files_of

SITE = "/usr/lib/python3.11/site-packages"


def test_local_target_shows_this_interpreters_site_folders() -> None:
    import sysconfig

    with LocalTarget().files() as view:
        assert view.root == "/"
        assert sysconfig.get_paths()["purelib"] in view.sites


def test_python_target_asks_the_interpreter() -> None:
    import sysconfig

    with PythonTarget(sys.executable).files() as view:
        assert view.root == "/"
        assert sysconfig.get_paths()["purelib"] in view.sites


def test_python_target_that_is_not_python_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho nope\n")
    fake.chmod(0o755)
    with (
        pytest.raises(TargetError, match=r"--python .*python: not a Python interpreter"),
        PythonTarget(str(fake)).files(),
    ):
        pass


def test_root_target_finds_modified_files(tmp_path: Path, pristine: Path) -> None:
    root = tmp_path / "root"
    site = fake_python_tree(root)
    site.rmdir()
    shutil.copytree(pristine, site)
    (site / "six.py").write_text("changed")
    with RootTarget(str(root)).files() as view:
        assert view.root == str(root) and SITE in view.sites
        result = verify_sites(view.root, view.sites)
    assert [(d.name, d.modified) for d in result.changed] == [("six", ("six.py",))]


def test_root_target_without_python_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no Python interpreter found"), RootTarget(str(tmp_path)).files():
        pass


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_root_target_that_is_not_a_folder_says_so(kind: str, tmp_path: Path) -> None:
    # as `snapshot --root` says it: not "no Python interpreter found" in a folder that is not there
    path = tmp_path / "root"
    if kind == "file":
        path.write_text("")
    with pytest.raises(TargetError, match=f"--root {path}: {path}: not a folder"), RootTarget(str(path)).files():
        pass


def test_image_archive_target_finds_modified_files(tmp_path: Path, pristine: Path) -> None:
    import struct

    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + struct.pack("<H", 62) + b"\0" * 44
    files = files_of(pristine)
    files["six.py"] = b"changed after install"
    base = layer(
        ("usr", "dir"),
        ("usr/bin", "dir"),
        ("usr/bin/python3.11", "file", elf),
        ("usr/bin/python3", "symlink", "python3.11"),
        ("usr/lib/python3.11/os.py", "file", b""),
    )
    packages = layer(*((f"{SITE.lstrip('/')}/{name}", "file", body) for name, body in files.items()))
    archive = build(tmp_path, "docker-save", [base, packages])
    with ImageArchiveTarget(str(archive)).files() as view:
        unpacked = Path(view.root)
        assert unpacked.is_dir() and SITE in view.sites
        result = verify_sites(view.root, view.sites)
    assert not unpacked.exists()  # the temporary folder is gone after
    assert [(d.name, d.modified) for d in result.changed] == [("six", ("six.py",))]


def test_image_archive_that_is_missing_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such file"), ImageArchiveTarget(str(tmp_path / "none.tar")).files():
        pass


def test_pid_target_reads_through_the_process_root(site: Path) -> None:
    import subprocess
    import sysconfig

    from envcheck.targets.pid import PidTarget

    (site / "six.py").write_text("changed")
    code = "import sys, time\nprint('ready', flush=True)\ntime.sleep(60)"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
            with PidTarget(proc.pid).files() as view:
                assert view.root == f"/proc/{proc.pid}/root"
                assert sysconfig.get_paths()["purelib"] in view.sites
                result = verify_sites(view.root, [str(site)])
        finally:
            proc.kill()
    assert [(d.name, d.modified) for d in result.changed] == [("six", ("six.py",))]


class _FakeContainer:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.removed = False
        self.attrs = {"Config": {"Env": ["PATH=/usr/bin:/bin"]}}

    def export(self) -> Iterator[bytes]:
        yield from (self.data[i : i + 4096] for i in range(0, len(self.data), 4096))

    def remove(self, force: bool = False) -> None:
        self.removed = True


class _FakeClient:
    """Just what ``Target.files`` asks of the Docker SDK: an image, a created container, its export."""

    def __init__(self, data: bytes) -> None:
        self.container = _FakeContainer(data)
        self.closed = False
        outer = self

        class Images:
            def get(self, ref: str) -> Any:
                return type("Image", (), {"id": "sha256:" + "0" * 64, "attrs": outer.container.attrs})()

        class Containers:
            def create(self, image: str, **kwargs: Any) -> _FakeContainer:
                return outer.container

            def get(self, name: str) -> _FakeContainer:
                return outer.container

        self.images, self.containers = Images(), Containers()

    def close(self) -> None:
        self.closed = True


def _exported_tree(pristine: Path) -> bytes:
    import struct

    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + struct.pack("<H", 62) + b"\0" * 44
    files = files_of(pristine)
    files["six.py"] = b"changed after install"
    return layer(
        ("usr", "dir"),
        ("usr/bin", "dir"),
        ("usr/bin/python3.11", "file", elf),
        ("usr/bin/python3", "symlink", "python3.11"),
        ("usr/lib/python3.11/os.py", "file", b""),
        *((f"{SITE.lstrip('/')}/{name}", "file", body) for name, body in files.items()),
    )


@pytest.mark.parametrize("kind", ["image", "container"])
def test_docker_targets_export_the_filesystem(kind: str, pristine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from envcheck.targets import docker

    fake = _FakeClient(_exported_tree(pristine))
    monkeypatch.setattr(docker, "client", lambda timeout: fake)
    target = docker.ImageTarget("img:1") if kind == "image" else docker.ContainerTarget("c1")
    with target.files() as view:
        unpacked = Path(view.root)
        result = verify_sites(view.root, view.sites)
    assert not unpacked.exists() and fake.closed
    assert fake.container.removed is (kind == "image")  # a created container goes; a running one stays
    assert [(d.name, d.modified) for d in result.changed] == [("six", ("six.py",))]


def test_pid_target_of_no_process_is_one_line() -> None:
    from envcheck.targets.pid import PidTarget

    with pytest.raises(TargetError, match="--pid 999999999: no such process"), PidTarget(999999999).files():
        pass
