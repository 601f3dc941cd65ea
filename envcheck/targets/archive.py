"""A saved image read without any engine (``--image-archive PATH``): a ``docker save`` tarball or an OCI layout.

The image's layers are applied in order into a temporary folder, whiteouts honoured (``.wh.NAME`` deletes NAME
from the layers below, ``.wh..wh..opq`` empties its folder), and the tree is read statically by ``probe_root``
with the environment from the image's config. Extraction never writes outside the folder: member names that are
absolute or climb with ``..`` are refused, and paths through symbolic links are resolved inside the tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import posixpath
import shutil
import tarfile
import tempfile
from typing import IO, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from envcheck.targets.interface import Target, TargetError
from envcheck.targets.rootfs import RootError, probe_root, resolve

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


class ArchiveError(Exception):
    """The archive or a layer in it cannot be read or is unsafe to unpack."""


def environ_from_config(env: Optional[Sequence[str]]) -> Dict[str, str]:
    """An image config's ``Env`` list (``["PATH=/usr/bin", ...]``) as a mapping."""
    out = {}
    for item in env or ():
        name, sep, value = str(item).partition("=")
        if sep and name:
            out[name] = value
    return out


def member_path(name: str) -> str:
    """A tar member's name as a tree path (``./usr/bin`` -> ``/usr/bin``); refuses absolute names and ``..``."""
    if name.startswith("/"):
        raise ArchiveError(f"unsafe member name {name!r} (absolute)")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"unsafe member name {name!r} (climbs with ..)")
    return "/" + "/".join(parts)


def _remove(path: str) -> None:
    """Delete a file, link or folder without following links."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _place(dest: str, path: str) -> str:
    """Where a tree path's entry is written on this machine: its parent resolved inside ``dest``."""
    parent = resolve(dest, posixpath.dirname(path))
    host_parent = dest.rstrip("/") + parent
    os.makedirs(host_parent, exist_ok=True)
    return posixpath.join(host_parent, posixpath.basename(path))


def apply_layer(tar: tarfile.TarFile, dest: str, *, whiteouts: bool = True) -> None:
    """Unpack one layer over ``dest``: regular files, folders, symbolic and hard links; device nodes and FIFOs
    are skipped. Whiteouts remove what the layers below put there, so they are applied before the entries."""
    members = tar.getmembers()
    entries: List[Tuple[str, tarfile.TarInfo]] = []
    for m in members:
        path = member_path(m.name)
        if path == "/":
            continue
        base = posixpath.basename(path)
        if whiteouts and base == OPAQUE:
            folder = dest.rstrip("/") + resolve(dest, posixpath.dirname(path))
            for child in os.listdir(folder) if os.path.isdir(folder) else ():
                _remove(os.path.join(folder, child))
        elif whiteouts and base.startswith(WHITEOUT):
            _remove(_place(dest, posixpath.join(posixpath.dirname(path), base[len(WHITEOUT) :])))
        else:
            entries.append((path, m))
    for path, m in entries:
        target = _place(dest, path)
        if m.isdir():
            if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
                _remove(target)
            os.makedirs(target, exist_ok=True)
            os.chmod(target, (m.mode & 0o777) | 0o700)
            continue
        if not (m.isfile() or m.issym() or m.islnk()):
            continue
        _remove(target)
        if m.issym():
            os.symlink(m.linkname, target)
        elif m.islnk():
            source = dest.rstrip("/") + resolve(dest, member_path(m.linkname))
            if os.path.isfile(source):
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copy2(source, target)
        else:
            stream = tar.extractfile(m)
            if stream is None:
                continue
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out, stream:
                shutil.copyfileobj(stream, out, 1 << 20)
            os.chmod(target, (m.mode & 0o777) | 0o600)


def apply_layer_file(fileobj: IO[bytes], dest: str, label: str) -> None:
    """Apply a layer blob (tar, gzip or other compression ``tarfile`` knows) from an open file."""
    try:
        with tarfile.open(fileobj=fileobj, mode="r:*") as tar:
            apply_layer(tar, dest)
    except (tarfile.TarError, EOFError, OSError, RootError) as e:
        raise ArchiveError(f"layer {label} cannot be unpacked ({e})") from e


class _Source:
    """Files of a saved image, from a tarball or an OCI layout folder."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tar: Optional[tarfile.TarFile] = None
        self.members: Dict[str, tarfile.TarInfo] = {}
        if not os.path.isdir(path):
            try:
                self.tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed by close())
                self.members = {member_path(m.name).lstrip("/"): m for m in self.tar.getmembers()}
            except (tarfile.TarError, EOFError) as e:
                raise ArchiveError("not a tar archive or OCI layout folder") from e

    def exists(self, name: str) -> bool:
        return name in self.members if self.tar else os.path.isfile(os.path.join(self.path, name))

    def open(self, name: str) -> IO[bytes]:
        if self.tar is None:
            return open(os.path.join(self.path, name), "rb")
        member = self.members.get(name)
        stream = self.tar.extractfile(member) if member is not None else None
        if stream is None:
            raise ArchiveError(f"{name}: not in the archive")
        return stream

    def json(self, name: str) -> Any:
        try:
            with self.open(name) as f:
                return json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError, tarfile.TarError) as e:
            raise ArchiveError(f"{name}: not readable JSON ({e})") from e

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()


def _blob(digest: str) -> str:
    algorithm, _, value = str(digest).partition(":")
    return f"blobs/{algorithm}/{value}"


def _pick_manifest(source: _Source, index: Mapping[str, Any]) -> Mapping[str, Any]:
    """The image manifest of an OCI index, following nested indexes to this machine's platform."""
    manifests = list(index.get("manifests") or [])
    if not manifests:
        raise ArchiveError("index.json lists no manifests")
    arch = _ARCH.get(platform.machine(), platform.machine())
    chosen = next((m for m in manifests if (m.get("platform") or {}).get("architecture") == arch), manifests[0])
    document = source.json(_blob(chosen.get("digest", "")))
    if chosen.get("mediaType") in _INDEX_TYPES or "manifests" in document:
        return _pick_manifest(source, document)
    return dict(document)


def verify(stream: IO[bytes], digest: str, label: str) -> None:
    """Check a layer blob against its recorded ``sha256:`` digest, then rewind it; a truncated or altered layer
    would otherwise unpack partly and silently (tar reads a damaged header as the end of the archive)."""
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256" or not expected:
        return
    h = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        h.update(chunk)
    if h.hexdigest() != expected:
        raise ArchiveError(f"layer {label} is damaged (its sha256 does not match the image's record)")
    stream.seek(0)


def read_layout(source: _Source) -> Tuple[Dict[str, Any], List[Tuple[str, str]]]:
    """(the image config, the layer files in order with their expected digests) of a ``docker save`` tarball or
    an OCI layout. A legacy ``docker save`` layer is checked against the config's ``rootfs.diff_ids``."""
    if source.exists("manifest.json"):
        manifest = source.json("manifest.json")
        if not isinstance(manifest, list) or not manifest:
            raise ArchiveError("manifest.json lists no image")
        if len(manifest) > 1:
            tags = ", ".join(t for entry in manifest for t in entry.get("RepoTags") or []) or "untagged"
            raise ArchiveError(f"holds {len(manifest)} images ({tags}); save one image per archive")
        config = source.json(manifest[0].get("Config", ""))
        layers = [str(layer) for layer in manifest[0].get("Layers") or []]
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(layers):
            diff_ids = [""] * len(layers)
        return config, [
            (layer, "sha256:" + layer.rsplit("/", 1)[1] if layer.startswith("blobs/sha256/") else str(diff))
            for layer, diff in zip(layers, diff_ids)
        ]
    if source.exists("index.json"):
        image = _pick_manifest(source, source.json("index.json"))
        config = source.json(_blob((image.get("config") or {}).get("digest", "")))
        descriptors = image.get("layers") or []
        return config, [(_blob(d.get("digest", "")), str(d.get("digest", ""))) for d in descriptors]
    raise ArchiveError("no manifest.json or index.json: not a docker save archive or OCI layout")


class ImageArchiveTarget(Target):
    """A saved image, unpacked into a temporary folder and read statically."""

    kind = "image-archive"
    shows_hardware = False

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return f"image-archive:{self.path}"

    @property
    def hardware_note(self) -> str:
        return "a saved image does not show the hardware it will be deployed on"

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        label = f"--image-archive {self.path}"
        if not os.path.exists(self.path):
            raise TargetError(f"{label}: no such file")
        tmp = tempfile.mkdtemp(prefix="envcheck-image-")
        source: Optional[_Source] = None
        try:
            source = _Source(self.path)
            try:
                config, layers = read_layout(source)
            except (AttributeError, TypeError, KeyError) as e:  # JSON of the wrong shape
                raise ArchiveError(f"malformed image metadata ({type(e).__name__}: {e})") from e
            for layer, digest in layers:
                with source.open(layer) as blob:
                    verify(blob, digest, layer)
                    apply_layer_file(blob, tmp, layer)
            environ = environ_from_config(
                (config.get("config") or {}).get("Env") if isinstance(config, dict) else []
            )
            return probe_root(tmp, environ, extra_env=extra_env)
        except (ArchiveError, RootError) as e:
            raise TargetError(f"{label}: {e}") from e
        except OSError as e:
            raise TargetError(f"{label}: {e.strerror or e}") from e
        finally:
            if source is not None:
                source.close()
            shutil.rmtree(tmp, ignore_errors=True)
