"""Saved images as an attacker would craft them (``--image-archive``): whatever the archive holds, extraction
never deletes, creates or writes outside its own folder, stays within its limits, verifies every blob it uses,
and fails with one line and exit 2.

Archives are built here with ``tarfile``, as ``docker save`` tarballs and as OCI layouts (tarball and folder).
Each attack runs through the CLI inside a sandbox TMPDIR, with canary files in it and in the folder above it;
the whole test folder is compared before and after.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import pytest
from click.testing import CliRunner

from envcheck.cli import cli
from envcheck.targets.archive import (
    ArchiveError,
    apply_layer,
    apply_layer_file,
    parse_digest,
    parse_limits,
    read_json,
)
from envcheck.targets.limits import Limits

REPO = Path(__file__).resolve().parents[2]
FORMATS = ("docker-save", "oci-tar", "oci-folder")

# --- building archives -------------------------------------------------------------------------------------------

Entry = Union[Tuple[str, str], Tuple[str, str, Union[bytes, str]], tarfile.TarInfo]


def layer(*entries: Entry, data: Optional[Dict[str, bytes]] = None) -> bytes:
    """An uncompressed layer tar from (name, kind[, data or link target]) or ready TarInfo objects (their data
    from ``data`` by name). Kinds: file, dir, symlink, hardlink, fifo, chr."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                body = (data or {}).get(entry.name, b"")
                tar.addfile(entry, io.BytesIO(body) if body else None)
                continue
            name, kind, *rest = entry
            value = rest[0] if rest else b""
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            content = b""
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind in ("symlink", "hardlink"):
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = value if isinstance(value, str) else value.decode()
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
            else:
                content = value if isinstance(value, bytes) else value.encode()
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


Tamper = Callable[[Dict[str, bytes], List[str]], None]


def build(
    where: Path,
    form: str,
    layers: Sequence[bytes],
    *,
    gz: bool = False,
    diff_ids: Optional[List[str]] = None,
    layer_digests: Optional[List[str]] = None,
    manifest_digest: Optional[str] = None,
    tamper: Optional[Tamper] = None,
    env: Sequence[str] = ("PATH=/usr/bin:/bin",),
) -> Path:
    """A saved image of ``layers`` (uncompressed tars) in ``form``; the overrides write what an attacker would.

    ``tamper(files, layer_paths)`` edits the archive's files (name -> bytes) last, after every digest is taken."""
    blobs = [gzip.compress(data, compresslevel=1, mtime=0) if gz else data for data in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": list(env)},
        "rootfs": {"type": "layers", "diff_ids": diff_ids if diff_ids is not None else [sha(d) for d in layers]},
    }
    config_bytes = json.dumps(config).encode()
    files: Dict[str, bytes] = {}
    if form == "docker-save":
        paths = [f"{hashlib.sha256(b'%d' % i).hexdigest()}/layer.tar" for i in range(len(blobs))]
        config_name = sha(config_bytes).split(":")[1] + ".json"
        files[config_name] = config_bytes
        files.update(zip(paths, blobs))
        files["manifest.json"] = json.dumps(
            [{"Config": config_name, "RepoTags": ["x:1"], "Layers": paths}]
        ).encode()
    else:
        digests = layer_digests or [sha(b) for b in blobs]
        paths = []
        for digest, blob in zip(digests, blobs):
            path = "blobs/" + digest.replace(":", "/", 1)
            files[path] = blob
            paths.append(path)
        files["blobs/" + sha(config_bytes).replace(":", "/")] = config_bytes
        media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gz else "")
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(config_bytes),
                "size": len(config_bytes),
            },
            "layers": [{"mediaType": media, "digest": d, "size": len(b)} for d, b in zip(digests, blobs)],
        }
        manifest_bytes = json.dumps(manifest).encode()
        files["blobs/" + sha(manifest_bytes).replace(":", "/")] = manifest_bytes
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": manifest["mediaType"],
                    "digest": manifest_digest or sha(manifest_bytes),
                    "size": len(manifest_bytes),
                }
            ],
        }
        files["index.json"] = json.dumps(index).encode()
        files["oci-layout"] = b'{"imageLayoutVersion": "1.0.0"}'
    if tamper is not None:
        tamper(files, paths)
    if form == "oci-folder":
        out = where / "oci"
        for name, body in files.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(body)
        return out
    out = where / f"{form}.tar"
    with tarfile.open(out, "w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out


def sparse_member(name: str, size: int) -> Tuple[tarfile.TarInfo, bytes]:
    """A GNU sparse (PAX 1.0) member that claims ``size`` bytes and stores 512: a tiny archive, a huge file."""
    info = tarfile.TarInfo(f"GNUSparseFile.0/{name}")
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": name,
        "GNU.sparse.realsize": str(size),
    }
    body = b"1\n" + str(size - 512).encode() + b"\n512\n"
    body = body.ljust(512, b"\0") + b"x" * 512
    info.size = len(body)
    return info, body


# --- the sandbox -------------------------------------------------------------------------------------------------


def tree_state(root: Path) -> Dict[str, Any]:
    """Every entry under ``root``: kind and content (files), target (links); nothing followed."""
    out: Dict[str, Any] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", Path(path).read_bytes(), st.st_mode)
    return out


class Sandbox:
    """``tmp_path/outer`` holds a canary and the sandbox TMPDIR, which holds canaries too."""

    def __init__(self, tmp_path: Path) -> None:
        self.outer = tmp_path / "outer"
        self.tmpdir = self.outer / "tmp"
        self.archives = tmp_path / "archives"
        for folder in (self.tmpdir / "canary-dir", self.archives):
            folder.mkdir(parents=True)
        (self.outer / "canary.txt").write_text("outer canary\n")
        (self.tmpdir / "canary.txt").write_text("tmp canary\n")
        (self.tmpdir / "canary-dir" / "inner.txt").write_text("inner canary\n")
        self.root = tmp_path

    def run(self, monkeypatch: pytest.MonkeyPatch, *args: str) -> Tuple[int, str, str]:
        """(exit code, stdout, stderr) of the CLI run in-process with TMPDIR in the sandbox."""
        monkeypatch.setenv("TMPDIR", str(self.tmpdir))
        monkeypatch.setattr(tempfile, "tempdir", str(self.tmpdir))
        import inspect

        runner = (
            CliRunner(mix_stderr=False)  # type: ignore[call-arg]
            if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters
            else CliRunner()
        )
        result = runner.invoke(cli, list(args), catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}")
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def assert_one_line_error(code: int, stderr: str, pattern: str) -> None:
    import re

    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert re.search(pattern, lines[0]), lines[0]


# --- attacks -----------------------------------------------------------------------------------------------------


def _attacks(outer: Path) -> Dict[str, Tuple[Dict[str, Any], str]]:
    """name -> (build() arguments, the error expected). ``outer`` is the host folder a confined write must miss."""
    host = str(outer)
    # What the tree looks like after the first layer of the "through a link" attacks.
    links = layer(("up", "symlink", "../.."), ("abs", "symlink", host), ("etc", "dir"))
    no_python = r"no Python interpreter found"
    bomb = layer(("zeros", "file", b"\0" * (48 << 20)))
    huge_header = tarfile.TarInfo("huge")
    huge_header.size = 1 << 40
    sparse, sparse_body = sparse_member("big", 1 << 40)

    def replace_layer(files: Dict[str, bytes], paths: List[str]) -> None:
        files[paths[-1]] = layer(("etc/hostname", "file", b"altered"))

    def truncate(files: Dict[str, bytes], paths: List[str]) -> None:
        files[paths[0]] = files[paths[0]][: len(files[paths[0]]) // 2]

    def deep(files: Dict[str, bytes], paths: List[str]) -> None:
        name = "manifest.json" if "manifest.json" in files else "index.json"
        files[name] = b"[" * 200_000 + b"]" * 200_000

    def huge(files: Dict[str, bytes], paths: List[str]) -> None:
        name = "manifest.json" if "manifest.json" in files else "index.json"
        files[name] = b" " * (40 << 20) + files[name]

    base = layer(("etc", "dir"), ("etc/hostname", "file", b"box"))
    return {
        "whiteout-dotdot": ({"layers": [base, layer((".wh...", "file"))]}, r"unsafe whiteout"),
        "whiteout-dotdot-in-folder": ({"layers": [base, layer(("etc/.wh...", "file"))]}, r"unsafe whiteout"),
        "whiteout-dot": ({"layers": [base, layer(("./.wh..", "file"))]}, r"unsafe whiteout"),
        "whiteout-empty": ({"layers": [base, layer(("etc/.wh.", "file"))]}, r"unsafe whiteout"),
        "whiteout-absolute": ({"layers": [base, layer((f"{host}/.wh.canary.txt", "file"))]}, r"unsafe member"),
        "whiteout-climbing": ({"layers": [base, layer(("../.wh.canary.txt", "file"))]}, r"unsafe member"),
        "whiteout-through-relative-link": (
            {"layers": [links, layer(("up/.wh.canary.txt", "file"), ("up/.wh.tmp", "file"))]},
            no_python,
        ),
        "whiteout-through-absolute-link": (
            {"layers": [links, layer(("abs/.wh.canary.txt", "file"), ("abs/.wh..wh..opq", "file"))]},
            no_python,
        ),
        "file-through-link-same-layer": (
            {"layers": [layer(("out", "symlink", host), ("out/canary.txt", "file", b"pwned"))]},
            no_python,
        ),
        "file-through-link-next-layer": (
            {"layers": [links, layer(("up/canary.txt", "file", b"pwned"), ("abs/new.txt", "file", b"pwned"))]},
            no_python,
        ),
        "folder-through-link": ({"layers": [links, layer(("up/tmp/made", "dir"))]}, no_python),
        "link-replaced-by-file-then-written": (
            {"layers": [layer(("x", "symlink", f"{host}/canary.txt"), ("x", "file", b"pwned"))]},
            no_python,
        ),
        "hardlink-absolute": ({"layers": [layer(("passwd", "hardlink", "/etc/passwd"))]}, r"unsafe"),
        "hardlink-climbing": ({"layers": [layer(("x", "hardlink", "../canary.txt"))]}, r"unsafe"),
        "hardlink-through-link": (
            {"layers": [links, layer(("x", "hardlink", "abs/canary.txt"), ("x", "file", b"pwned"))]},
            r"hard link",
        ),
        "member-climbing": ({"layers": [layer(("a/../../x", "file", b"pwned"))]}, r"unsafe member"),
        "member-absolute": ({"layers": [layer((f"{host}/canary.txt", "file", b"pwned"))]}, r"unsafe member"),
        "decompression-bomb": ({"layers": [bomb], "gz": True}, r"expands more than 100 times"),
        "huge-size-in-header": ({"layers": [layer(huge_header)]}, r"per-file limit"),
        "sparse-huge-member": (
            {"layers": [layer(sparse, data={sparse.name: sparse_body})]},
            r"per-file limit",
        ),
        "truncated-layer": ({"layers": [base], "tamper": truncate}, r"truncated|damaged|does not match"),
        "truncated-gzip-layer": ({"layers": [base], "gz": True, "tamper": truncate}, r"truncated|damaged"),
        "wrong-layer-digest": ({"layers": [base, base], "tamper": replace_layer}, r"does not match"),
        "wrong-diff-id": ({"layers": [base], "gz": True, "diff_ids": [sha(b"other")]}, r"does not match"),
        "digest-with-path": (
            {"layers": [base], "diff_ids": ["sha256:../../../../canary.txt"]},
            r"not a valid digest",
        ),
        "sha1-digest": (
            {"layers": [base], "diff_ids": ["sha1:" + hashlib.sha1(base).hexdigest()]},
            r"not a valid digest",
        ),
        "deep-json": ({"layers": [base], "tamper": deep}, r"nested too deeply"),
        "huge-json": ({"layers": [base], "tamper": huge}, r"too large"),
    }


ATTACKS = sorted(_attacks(Path("/x")))


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_a_crafted_archive_cannot_touch_the_host(
    attack: str, form: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs, expected = _attacks(sandbox.outer)[attack]
    path = build(sandbox.archives, form, **kwargs)
    before = tree_state(sandbox.root)
    code, _, stderr = sandbox.run(monkeypatch, "snapshot", "--image-archive", str(path), "-o", "-")
    assert tree_state(sandbox.root) == before  # canaries untouched, nothing added, no temporary folder left
    assert_one_line_error(code, stderr, expected)


@pytest.mark.parametrize("form", ["oci-tar", "oci-folder"])
@pytest.mark.parametrize(
    "where, expected",
    [
        ("manifest", r"not a valid digest"),
        ("layer", r"not a valid digest"),
        ("sha512-layer", r"does not match"),
    ],
)
def test_oci_digests_are_validated_before_use(
    where: str, expected: str, form: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A digest names a blob: never a path (``sha256:../../x``); sha512 is allowed and verified."""
    (sandbox.outer / "evil.json").write_text(json.dumps({"schemaVersion": 2, "config": {}, "layers": []}))
    base = layer(("etc", "dir"))
    kwargs: Dict[str, Any] = {}
    if where == "manifest":
        kwargs["manifest_digest"] = "sha256:../../../../evil.json"
    elif where == "layer":
        kwargs["layer_digests"] = ["sha256:../../../../evil.json"]
    else:
        kwargs["layer_digests"] = ["sha512:" + hashlib.sha512(b"not the layer").hexdigest()]
    path = build(sandbox.archives, form, [base], **kwargs)
    before = tree_state(sandbox.root)
    code, _, stderr = sandbox.run(monkeypatch, "snapshot", "--image-archive", str(path), "-o", "-")
    assert tree_state(sandbox.root) == before
    assert_one_line_error(code, stderr, expected)


@pytest.mark.parametrize("form", FORMATS)
def test_limits_can_be_lowered_and_raised(form: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    many = layer(*[(f"f{i}", "file", b"x") for i in range(300)])
    path = build(sandbox.archives, form, [many])
    args = ("snapshot", "--image-archive", str(path), "-o", "-")
    code, _, stderr = sandbox.run(monkeypatch, *args, "--archive-limit", "files=100")
    assert_one_line_error(code, stderr, r"more than 100 files.*--archive-limit files=")
    code, _, stderr = sandbox.run(monkeypatch, *args, "--archive-limit", "total=64K")
    assert_one_line_error(code, stderr, r"more than 64 KiB.*--archive-limit total=")
    # Raised: extraction goes through, and the tree is then read (it has no Python).
    code, _, stderr = sandbox.run(
        monkeypatch, *args, "--archive-limit", "files=1000", "--archive-limit", "total=1G"
    )
    assert_one_line_error(code, stderr, r"no Python interpreter found")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("ratio=x", r"not a number"),
        ("speed=1", r"unknown limit 'speed'"),
        ("files", r"KEY=VALUE"),
        ("total=-1G", r"not a number"),
    ],
)
def test_bad_limit_flags_are_one_line(
    value: str, expected: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = build(sandbox.archives, "docker-save", [layer(("etc", "dir"))])
    code, _, stderr = sandbox.run(monkeypatch, "snapshot", "--image-archive", str(path), "--archive-limit", value)
    assert_one_line_error(code, stderr, expected)


def test_limits_need_an_archive_target(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, stderr = sandbox.run(monkeypatch, "snapshot", "--root", "/nonexistent", "--archive-limit", "files=1")
    assert_one_line_error(code, stderr, r"--archive-limit applies to --image-archive and --image only")


def test_the_incident_through_a_real_process(tmp_path: Path) -> None:
    """The release blocker, end to end in a child process: a whiteout naming ``..`` deleted TMPDIR's contents."""
    box = Sandbox(tmp_path)
    path = build(box.archives, "docker-save", [layer(("etc", "dir")), layer((".wh...", "file"))])
    before = tree_state(box.root)
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "snapshot", "--image-archive", str(path), "-o", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(box.tmpdir)},
    )
    assert tree_state(box.root) == before
    assert_one_line_error(done.returncode, done.stderr, r"unsafe whiteout")


# --- extraction itself: what lands where -------------------------------------------------------------------------


def _apply(dest: Path, *layers: bytes, limits: Optional[Limits] = None) -> None:
    for data in layers:
        apply_layer_file(io.BytesIO(data), str(dest), "test", limits=limits or Limits())


def test_links_in_a_parent_path_resolve_inside_the_tree(tmp_path: Path) -> None:
    """A link met in a member's parent path is resolved as the image's own root would see it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    _apply(
        root,
        layer(
            ("usr/lib", "dir"),
            ("lib", "symlink", "/usr/lib"),
            ("up", "symlink", "../../../.."),
            ("abs", "symlink", str(outside)),
        ),
        layer(
            ("lib/libm.so", "file", b"m"),
            ("up/top.txt", "file", b"t"),
            ("abs/deep/f", "file", b"f"),
            ("up/lib/x", "file", b"x"),
        ),
    )
    assert (root / "usr/lib/libm.so").read_bytes() == b"m"
    assert (root / "top.txt").read_bytes() == b"t"
    assert (root / str(outside).lstrip("/") / "deep/f").read_bytes() == b"f"
    assert (root / "usr/lib/x").read_bytes() == b"x"
    assert os.readlink(root / "lib") == "/usr/lib"  # links are kept as they are
    assert os.listdir(outside) == []


def test_whiteouts_hide_lower_layers_only(tmp_path: Path) -> None:
    _apply(
        tmp_path,
        layer(
            ("etc", "dir"),
            ("etc/a", "file", b"a"),
            ("etc/b", "file", b"b"),
            ("opt/old", "file", b"o"),
            ("link", "symlink", "/etc"),
        ),
        layer(
            ("etc/new", "file", b"n"),
            ("etc/.wh.new", "file"),  # a whiteout never hides its own layer's entries
            ("etc/.wh.a", "file"),
            ("opt/keep", "file", b"k"),
            ("opt/.wh..wh..opq", "file"),  # empties the lower layers' opt, keeps this layer's
            ("opt/later", "file", b"l"),
            ("link/.wh.b", "file"),  # through the link: the tree's /etc/b
            (".wh..wh.plnk", "dir"),  # aufs metadata: ignored
        ),
    )
    assert sorted(os.listdir(tmp_path / "etc")) == ["new"]
    assert sorted(os.listdir(tmp_path / "opt")) == ["keep", "later"]
    assert not (tmp_path / ".wh..wh.plnk").exists()


def test_entries_replace_what_is_there_without_following_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("keep")
    root = tmp_path / "root"
    root.mkdir()
    _apply(
        root,
        layer(
            ("a", "symlink", str(outside)),
            ("b", "symlink", str(outside / "f")),
            ("c", "dir"),
            ("c/x", "file", b"x"),
        ),
        layer(("a", "dir"), ("b", "file", b"new"), ("c", "file", b"file now"), ("d", "fifo"), ("e", "chr")),
    )
    assert (root / "a").is_dir() and not (root / "a").is_symlink()
    assert (root / "b").read_bytes() == b"new" and not (root / "b").is_symlink()
    assert (root / "c").read_bytes() == b"file now"
    assert not (root / "d").exists() and not (root / "e").exists()
    assert (outside / "f").read_text() == "keep"
    assert sorted(os.listdir(outside)) == ["f"]


def test_hard_links_stay_inside(tmp_path: Path) -> None:
    _apply(
        tmp_path,
        layer(("usr/bin/python3.11", "file", b"py"), ("bin", "symlink", "usr/bin")),
        layer(("usr/bin/python3", "hardlink", "usr/bin/python3.11"), ("same", "hardlink", "bin/python3.11")),
    )
    assert (tmp_path / "usr/bin/python3").read_bytes() == b"py"
    assert (tmp_path / "same").read_bytes() == b"py"
    with pytest.raises(ArchiveError, match="to a missing member"):
        _apply(tmp_path, layer(("x", "hardlink", "nowhere")))


def test_modes_are_kept_readable_and_without_setuid(tmp_path: Path) -> None:
    info = tarfile.TarInfo("suid")
    info.mode, info.size = 0o4755, 1
    folder = tarfile.TarInfo("locked")
    folder.type, folder.mode = tarfile.DIRTYPE, 0
    _apply(tmp_path, layer(info, folder, data={"suid": b"x"}))
    assert stat.S_IMODE((tmp_path / "suid").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "locked").stat().st_mode) == 0o700


def test_a_random_access_tar_applies_too(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(layer(("etc/a", "file", b"a")))) as tar:
        apply_layer(tar, str(tmp_path))
    assert (tmp_path / "etc/a").read_bytes() == b"a"


@pytest.mark.parametrize(
    "limits, data, expected",
    [
        (Limits(max_files=2), layer(("a", "file"), ("b", "file"), ("c", "file")), r"more than 2 files"),
        (Limits(max_file=10), layer(("a", "file", b"x" * 11)), r"per-file limit"),
        (Limits(max_total=4096), layer(("a", "file", b"x" * 5000)), r"more than 4 KiB"),
        (Limits(max_ratio=10), gzip.compress(layer(("a", "file", b"\0" * (20 << 20)))), r"more than 10 times"),
    ],
    ids=["files", "per-file", "total", "ratio"],
)
def test_limits_stop_extraction(limits: Limits, data: bytes, expected: str, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=expected):
        _apply(tmp_path, data, limits=limits)


def test_a_layer_that_is_not_a_tar_is_an_error(tmp_path: Path) -> None:
    for data in (b"", b"not a tar" * 100, gzip.compress(b"not a tar" * 100), b"\x28\xb5\x2f\xfd" + b"\0" * 100):
        with pytest.raises(ArchiveError):
            _apply(tmp_path, data)


@pytest.mark.parametrize(
    "value, expected",
    [
        ([], Limits()),
        (["total=16GiB", "files=10", "file-size=1M", "ratio=1000"], Limits(16 << 30, 10, 1 << 20, 1000)),
        (["total=2T", "file-size=512"], Limits(max_total=2 << 40, max_file=512)),
    ],
)
def test_parse_limits(value: List[str], expected: Limits) -> None:
    assert parse_limits(value) == expected


@pytest.mark.parametrize(
    "digest, ok",
    [
        ("sha256:" + "a" * 64, True),
        ("sha512:" + "0" * 128, True),
        ("sha256:" + "A" * 64, False),
        ("sha256:" + "a" * 63, False),
        ("sha256:../../" + "a" * 58, False),
        ("sha1:" + "a" * 40, False),
        ("md5:" + "a" * 32, False),
        ("sha256:" + "a" * 64 + "\n", False),
        ("", False),
    ],
)
def test_parse_digest(digest: str, ok: bool) -> None:
    if ok:
        assert parse_digest(digest, "x") == tuple(digest.split(":"))
    else:
        with pytest.raises(ArchiveError, match="not a valid digest"):
            parse_digest(digest, "x")


def test_a_sparse_member_within_the_limits_is_written_whole(tmp_path: Path) -> None:
    info, body = sparse_member("holes", 2 << 20)
    _apply(tmp_path, layer(info, data={info.name: body}))
    data = (tmp_path / "holes").read_bytes()
    assert len(data) == 2 << 20 and data.endswith(b"x" * 512) and not data[:-512].strip(b"\0")
    assert (tmp_path / "holes").stat().st_blocks * 512 < 1 << 20  # written with its hole, not 2 MiB of zeros


# --- valid archives keep working ---------------------------------------------------------------------------------


def python_tree_layers() -> List[bytes]:
    """A small image: a (fake) CPython 3.11 with two distributions, the second removed by the last layer."""
    import struct

    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + struct.pack("<H", 62) + b"\0" * 44
    elf += b"3.11.7 (main, Jan  1 2024, 00:00:00) [GCC 12.2.0]\0"
    site = "usr/lib/python3.11/site-packages"

    def dist(name: str, version: str) -> Tuple[str, str, bytes]:
        body = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        return (f"{site}/{name}-{version}.dist-info/METADATA", "file", body)

    return [
        layer(
            ("usr", "dir"),
            ("usr/bin", "dir"),
            ("bin", "symlink", "usr/bin"),
            ("etc/os-release", "file", b'ID=debian\nVERSION_ID="12"\n'),
            ("usr/bin/python3.11", "file", elf),
            ("usr/lib/python3.11/os.py", "file", b""),
        ),
        layer(("bin/python3", "symlink", "python3.11"), dist("demo", "1.0"), dist("gone", "2.0")),
        layer(
            (f"{site}/.wh.gone-2.0.dist-info", "file"), (f"{site}/demo-1.0.dist-info/INSTALLER", "file", b"pip")
        ),
    ]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("form", FORMATS)
def test_a_valid_archive_reads(form: str, gz: bool, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    path = build(
        sandbox.archives, form, python_tree_layers(), gz=gz, env=("PATH=/usr/bin:/bin", "OMP_NUM_THREADS=4")
    )
    before = tree_state(sandbox.root)
    code, stdout, stderr = sandbox.run(monkeypatch, "snapshot", "--image-archive", str(path), "-o", "-")
    assert code == 0, stderr
    assert tree_state(sandbox.root) == before
    assert 'name = "demo"' in stdout and 'name = "gone"' not in stdout
    assert 'OMP_NUM_THREADS = "4"' in stdout


def test_a_replaced_link_is_not_followed_by_later_members(tmp_path: Path) -> None:
    """Once ``lib`` (a link) is replaced by a folder, ``lib/x`` lands in that folder, not where the link led."""
    _apply(
        tmp_path,
        layer(("usr/lib/old", "file", b"o"), ("lib", "symlink", "usr/lib"), ("lib/a", "file", b"a")),
        layer(("lib/b", "file", b"b"), ("lib", "dir"), ("lib/c", "file", b"c")),
    )
    assert sorted(os.listdir(tmp_path / "usr/lib")) == ["a", "b", "old"]
    assert sorted(os.listdir(tmp_path / "lib")) == ["c"]


def test_a_whiteout_does_not_hide_folders_its_own_layer_made(tmp_path: Path) -> None:
    _apply(
        tmp_path,
        layer(("a/old", "file", b"o")),
        layer(("b/new/f", "file", b"n"), (".wh.b", "file"), (".wh.a", "file")),
    )
    assert (tmp_path / "b/new/f").read_bytes() == b"n"
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("damage", ["gzipped", "cut-in-a-layer", "huge-member", "fifo-in-folder"])
def test_the_outer_archive_itself(damage: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """``docker save | gzip`` reads; an archive cut short, one claiming terabytes or a layout folder holding a
    FIFO where a blob should be fails with one line, without blocking or reading past the limits."""
    layers = python_tree_layers()
    path = build(sandbox.archives, "oci-folder" if damage == "fifo-in-folder" else "docker-save", layers)
    if damage == "gzipped":
        gz = path.with_suffix(".tar.gz")
        gz.write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
        path = gz
    elif damage == "cut-in-a-layer":
        with tarfile.open(path) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("layer.tar"))
        path.write_bytes(path.read_bytes()[: member.offset_data + member.size // 2])
    elif damage == "huge-member":  # a header claiming 4 TiB, then 512 bytes and the end of the archive
        with tarfile.open(path) as tar:
            last = tar.getmembers()[-1]
        end = last.offset_data + -(-last.size // 512) * 512
        info = tarfile.TarInfo("padding")
        info.size = 1 << 42
        path.write_bytes(path.read_bytes()[:end] + info.tobuf(tarfile.GNU_FORMAT) + b"x" * 512 + bytes(1024))
    else:
        blob = sandbox.archives / "oci" / "blobs" / sha(layers[0]).replace(":", "/")
        blob.unlink()
        os.mkfifo(blob)
    code, stdout, stderr = sandbox.run(monkeypatch, "snapshot", "--image-archive", str(path), "-o", "-")
    if damage == "gzipped":
        assert code == 0 and 'name = "demo"' in stdout, stderr
        return
    expected = {
        "cut-in-a-layer": r"damaged tar header|unexpected end",
        "huge-member": r"holds more than 32 GiB",
        "fifo-in-folder": r"not a regular file",
    }[damage]
    assert_one_line_error(code, stderr, expected)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"[" * 64 + b"]" * 64, None),
        (b"[" * 65 + b"]" * 65, r"nested too deeply"),
        (b'{"a": ' * 65 + b"1" + b"}" * 65, r"nested too deeply"),
        (b"[" * 200_000 + b"]" * 200_000, r"nested too deeply"),
        (b'"' + b'\\"' * 500_000, r"not readable JSON"),
        (b" " * (16 << 20) + b"[]", r"too large"),
        (b"\xff[]", r"not readable JSON"),
    ],
    ids=["64-deep", "65-deep", "objects", "200000-deep", "unterminated-string", "over-16-MiB", "not-utf-8"],
)
def test_read_json_is_bounded(data: bytes, expected: Optional[str]) -> None:
    if expected is None:
        assert read_json(data, "x") is not None
    else:
        with pytest.raises(ArchiveError, match=expected):
            read_json(data, "x")


def test_an_archive_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "image.tar"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "snapshot", "--image-archive", str(fifo), "-o", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith("not a tar archive or OCI layout folder (not a regular file)")


def test_a_negative_member_size_is_refused(tmp_path: Path) -> None:
    """tarfile reads a base-256 size field of all ones as a negative size: it must not lower the budget."""
    from envcheck.targets.limits import Budget

    info = tarfile.TarInfo("usr/lib/x")
    info.size = -(1 << 40)
    with pytest.raises(ArchiveError, match="negative size"):
        Budget(Limits()).member(info)
    raw = bytearray(layer(("a", "file", b"x")))
    raw[124:136] = b"\xff" * 12  # the first member's size field, base-256: -1
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\0 " % sum(raw[:512])  # its header checksum
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError, match="negative size"):
        apply_layer_file(io.BytesIO(bytes(raw)), str(tmp_path / "out"), "crafted")
