"""``envcheck verify-files --image REF`` and ``--container NAME`` against a real Docker engine
(``@pytest.mark.docker``).

One image is built FROM the local ``envcheck-test-base:bookworm`` (see ``scripts/ensure-docker``), with a small
wheel made here installed into a venv by the pip wheel that ships inside CPython (no registry, no index); a second
image adds one layer over it that changes one byte of an installed module, deletes another and adds a file to
the package folder. Both images, and every container a test starts, are removed after.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest

from tests.conftest import BASE_IMAGE, build_wheel, require_docker, venv_image_context

REPO = Path(__file__).resolve().parents[2]
TOKEN = uuid.uuid4().hex[:8]
PACKAGE = "vfpkg"
#: The wheel's files: ``core.py`` gets one byte changed (same size: only its hash tells), ``util.py`` is deleted.
WHEEL_FILES = {
    f"{PACKAGE}/__init__.py": b"from vfpkg.core import VALUE\n",
    f"{PACKAGE}/core.py": b"VALUE = 1\n",
    f"{PACKAGE}/util.py": b"def helper():\n    return 42\n",
    f"{PACKAGE}/data/table.txt": b"a,b\n1,2\n",
}
IMAGE_REST = "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
#: Where the venv installs the package (the base image's Python decides the version folder).
PACKAGE_DIR = f"/opt/venv/lib/python3*/site-packages/{PACKAGE}"
#: The later layer: one byte of core.py changed in place, util.py deleted, a file added to the package folder.
TAMPER_DOCKERFILE = """\
FROM {base}
RUN cd {package_dir} && sed -i 's/VALUE = 1/VALUE = 2/' core.py && rm util.py && echo 'x = 1' > added.py
"""
THREE_FINDINGS = (
    f"1 modified ({PACKAGE}/core.py), 1 missing ({PACKAGE}/util.py), 1 unexpected ({PACKAGE}/added.py)"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600, check=False)


def envcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envcheck", *args], capture_output=True, text=True, timeout=600, cwd=REPO
    )


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A Docker client to a running engine that has the base image (provisioned by scripts/test)."""
    import docker

    require_docker(BASE_IMAGE)
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def images(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    """``app``: the package installed, untouched; ``tampered``: ``app`` plus the layer of TAMPER_DOCKERFILE."""
    tmp = tmp_path_factory.mktemp("verify-images")
    tags: Dict[str, str] = {}
    try:
        app = tmp / "app"
        build_wheel(app / "wheels", PACKAGE, "1.0", files=WHEEL_FILES)  # the package with several files
        venv_image_context(app, BASE_IMAGE, [], PACKAGE, rest=IMAGE_REST)
        tags["app"] = f"envcheck-test-verify-app:{TOKEN}"
        engine.images.build(path=str(app), tag=tags["app"], rm=True, forcerm=True, network_mode="none")
        tampered = tmp / "tampered"
        tampered.mkdir()
        (tampered / "Dockerfile").write_text(TAMPER_DOCKERFILE.format(base=tags["app"], package_dir=PACKAGE_DIR))
        tags["tampered"] = f"envcheck-test-verify-tampered:{TOKEN}"
        engine.images.build(path=str(tampered), tag=tags["tampered"], rm=True, forcerm=True, network_mode="none")
        yield tags
    finally:
        for tag in reversed(list(tags.values())):  # the child image first
            _run("docker", "image", "rm", "-f", tag)


@pytest.fixture
def running(images: Dict[str, str]) -> Iterator[str]:
    """A running container of the untouched image (no network), removed after."""
    name = f"envcheck-test-verify-{TOKEN}-running"
    done = _run("docker", "run", "-d", "--network", "none", "--name", name, images["app"], "sleep", "600")
    try:
        assert done.returncode == 0, done.stderr
        yield name
    finally:
        _run("docker", "rm", "-f", name)


def _containers_of(image: str) -> Set[str]:
    """Ids of every container (running or not) of ``image`` or an image built on it."""
    done = _run("docker", "ps", "-aq", "--no-trunc", "--filter", f"ancestor={image}")
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def _findings(stdout: str) -> List[Dict[str, Any]]:
    report = json.loads(stdout)
    assert isinstance(report, dict)
    findings = report["findings"]
    assert isinstance(findings, list)
    return findings


@pytest.mark.docker
def test_untouched_image_names_no_finding(images: Dict[str, str]) -> None:
    before = _containers_of(images["app"])
    done = envcheck("verify-files", "--image", images["app"], "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["findings"] == [] and report["actual"] == f"image:{images['app']}"
    # it really read the venv: the one distribution there verified, each file its RECORD hashes read (the
    # package's four, METADATA and WHEEL, and what pip adds: INSTALLER...)
    (line,) = report["evidence"]
    found = re.match(r"file check: 1 distribution verified against their RECORD \((\d+) files hashed", line)
    assert found is not None and int(found.group(1)) >= len(WHEEL_FILES) + 2, line
    assert _containers_of(images["app"]) == before  # the container made to export the image is gone


@pytest.mark.docker
def test_a_later_layer_that_changes_deletes_and_adds_files_is_found(images: Dict[str, str]) -> None:
    before = _containers_of(images["tampered"])
    done = envcheck("verify-files", "--image", images["tampered"], "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    (finding,) = _findings(done.stdout)
    assert (finding["id"], finding["subject"], finding["actual"]) == (
        "package.files.modified",
        PACKAGE,
        "files differ",
    )
    assert THREE_FINDINGS in finding["message"], finding["message"]
    assert f"'{PACKAGE}==1.0'" in finding["remedy"]
    assert _containers_of(images["tampered"]) == before
    # the text report names the same three files
    text = envcheck("verify-files", "--image", images["tampered"], "--no-matrix")
    assert text.returncode == 1 and THREE_FINDINGS in text.stdout, text.stdout + text.stderr


@pytest.mark.docker
def test_a_file_modified_in_a_running_container_is_found(running: str) -> None:
    clean = envcheck("verify-files", "--container", running, "--format", "json")
    assert clean.returncode == 0 and _findings(clean.stdout) == [], clean.stdout + clean.stderr
    changed = _run("docker", "exec", running, "sh", "-c", f"cd {PACKAGE_DIR} && echo '# patched' >> util.py")
    assert changed.returncode == 0, changed.stderr
    done = envcheck("verify-files", "--container", running, "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    (finding,) = _findings(done.stdout)
    assert finding["subject"] == PACKAGE and f"1 modified ({PACKAGE}/util.py)" in finding["message"]
    assert "missing" not in finding["message"] and "unexpected" not in finding["message"]
    state = _run("docker", "inspect", "-f", "{{.State.Running}}", running)
    assert state.stdout.strip() == "true"  # read in place: the container is neither stopped nor removed


@pytest.mark.docker
@pytest.mark.parametrize(
    "option, expected",
    [
        ("--image", "image not found (envcheck does not pull; docker pull it first)"),
        ("--container", "not found"),
    ],
    ids=["no-image", "no-container"],
)
def test_a_target_that_does_not_exist_is_one_line_exit_2(option: str, expected: str, engine: Any) -> None:
    name = f"envcheck-test-absent-{TOKEN}" + (":1" if option == "--image" else "")
    done = envcheck("verify-files", option, name, "-o", os.devnull)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"{option} {name}: {expected}" in done.stderr
