"""Fuzzing saved images, bounded in time (fixed ``max_examples``, no deadline; about 10 s in all): hostile member
names and links, and mutated bytes of valid archives and layers. Whatever comes in, extraction either succeeds
or raises envcheck's one-line error, and nothing outside its folder is ever created, changed or deleted."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator, List, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envcheck.errors import EnvcheckError
from envcheck.targets.archive import ImageArchiveTarget, apply_layer_file
from envcheck.targets.limits import Limits
from tests.targets.test_archive import FORMATS, build, layer, python_tree_layers, tree_state

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Small limits: a mutated header claiming gigabytes fails fast instead of writing them.
LIMITS = Limits(max_total=8 << 20, max_files=500, max_file=1 << 20, max_ratio=100)

COMPONENTS = ["a", "b", "..", ".", "", ".wh..", ".wh...", ".wh.a", ".wh..wh..opq", "link", "up", "\n", "é"]
KINDS = ["file", "dir", "symlink", "hardlink", "fifo"]


@contextlib.contextmanager
def box() -> Iterator[Tuple[Path, Path]]:
    """(a folder with canaries that must not change, an empty extraction root beside it)."""
    with tempfile.TemporaryDirectory(prefix="envcheck-fuzz-") as tmp:
        base = Path(tmp)
        outer = base / "outer"
        (outer / "dir").mkdir(parents=True)
        (outer / "canary").write_text("canary")
        (outer / "dir" / "canary").write_text("canary")
        root = base / "root"
        root.mkdir()
        before = tree_state(outer)
        yield outer, root
        assert tree_state(outer) == before
        assert sorted(os.listdir(base)) == ["outer", "root"]


paths = st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4).map("/".join)


@st.composite
def entries(draw: st.DrawFn, outer: str) -> List[Tuple[str, str, str]]:
    """Members with hostile names; link targets relative, climbing, or the canaries' absolute folder."""
    targets = st.one_of(paths, st.just(outer), st.just(outer + "/canary"), paths.map(lambda p: "/" + p))
    out = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(KINDS))
        value = draw(targets) if kind in ("symlink", "hardlink") else "pwned"
        out.append((draw(paths), kind, value))
    return out


def _layer(items: List[Tuple[str, str, str]]) -> bytes:
    try:
        return layer(*items)  # type: ignore[arg-type]
    except (ValueError, UnicodeError):  # a name tarfile itself cannot write
        return layer(("a", "file", b"x"))


@FUZZ
@given(data=st.data())
def test_hostile_members_stay_inside(data: st.DataObject) -> None:
    with box() as (outer, root):
        layers = [_layer(data.draw(entries(str(outer)))) for _ in range(data.draw(st.integers(1, 3)))]
        try:
            for blob in layers:
                apply_layer_file(io.BytesIO(blob), str(root), "fuzz", limits=LIMITS)
        except EnvcheckError as e:
            assert "\n" not in str(e)


@FUZZ
@given(data=st.data(), where=st.sampled_from(["layer", "archive"]), form=st.sampled_from(FORMATS))
def test_mutated_archives_fail_cleanly(data: st.DataObject, where: str, form: str) -> None:
    with box() as (outer, root):
        layers = python_tree_layers()
        links = layer(("up", "symlink", "../../.."), ("abs", "symlink", str(outer)), ("link", "hardlink", "up"))
        layers.append(links)
        mutated = where == "layer"
        if mutated:  # digests then match the mutated bytes: the tar parser and extraction see them
            i = data.draw(st.integers(0, len(layers) - 1))
            layers[i] = _mutate(data, layers[i])
        path = build(root, form, layers, gz=data.draw(st.booleans()))
        if not mutated and path.is_file():
            path.write_bytes(_mutate(data, path.read_bytes()))
        saved = tempfile.tempdir
        tempfile.tempdir = str(root)
        try:
            ImageArchiveTarget(str(path), LIMITS).probe()
        except EnvcheckError as e:
            assert "\n" not in str(e)
        finally:
            tempfile.tempdir = saved
        assert sorted(os.listdir(root)) == sorted(["oci" if form == "oci-folder" else f"{form}.tar"])


def _mutate(data: st.DataObject, blob: bytes) -> bytes:
    out = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 8))):
        how = data.draw(st.sampled_from(["flip", "digit", "cut", "zero"]))
        at = data.draw(st.integers(0, max(0, len(out) - 1)))
        if how == "cut":
            del out[at:]
        elif how == "zero":
            out[at : at + 512] = bytes(len(out[at : at + 512]))
        elif out:
            out[at] = data.draw(st.sampled_from(b"0179/.\xff\x00")) if how == "digit" else out[at] ^ 0xFF
    return bytes(out)


def test_the_fuzz_strategies_build_archives() -> None:
    """The fuzz targets run on something real: their base archive is valid (the tree has a Python)."""
    with box() as (_, root):
        path = build(root, "oci-tar", python_tree_layers())
        saved = tempfile.tempdir
        tempfile.tempdir = str(root)
        try:
            raw = ImageArchiveTarget(str(path), LIMITS).probe()
        finally:
            tempfile.tempdir = saved
        assert "demo" in str(raw)
        with tarfile.open(path) as tar:
            assert "index.json" in tar.getnames()
