"""A saved image read without any engine (``--image-archive PATH``): a ``docker save`` tarball or an OCI layout
(folder or tarball).

Nothing in the archive is trusted. Its JSON is read with a size and nesting cap; every digest must be
``sha256:`` with 64 hex digits or ``sha512:`` with 128 before it names a blob (never a path); every blob that is
used is verified: an OCI manifest, config and layer against the digest that names it, a ``docker save`` config
against its file name, and every layer's uncompressed tar against the config's ``rootfs.diff_ids``, hashed while
it is unpacked. The layers are applied in order into a temporary folder by ``extract`` (which cannot write
outside it, within ``Limits``), and the tree is then read statically by ``probe_root`` with the environment from
the image's config. A truncated or altered layer is an error, never a partial tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import stat
import tarfile
import tempfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from envcheck.contract import ProbeOutput
from envcheck.targets.extract import apply_layer, member_parts, member_path
from envcheck.targets.interface import FileView, Target, TargetError
from envcheck.targets.layerstream import Digest, LayerReader
from envcheck.targets.limits import (
    ArchiveError,
    Budget,
    LimitError,
    Limits,
    format_size,
    one_line,
    parse_limits,
    shown,
)
from envcheck.targets.rootfs import RootError, probe_root

__all__ = [
    "ArchiveError",
    "ImageArchiveTarget",
    "Limits",
    "apply_layer",
    "apply_layer_file",
    "environ_from_config",
    "member_path",
    "parse_digest",
    "parse_limits",
    "read_json",
]

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}
#: The algorithms the OCI image spec registers (blake3 is optional there, and not read here).
_DIGEST = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")
#: ``docker save`` names its config by its sha256: ``<hex>.json``, or ``blobs/sha256/<hex>`` from Docker 25.
_SAVED_CONFIG = re.compile(r"(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?")
_BLOB = re.compile(r"blobs/(sha256|sha512)/([0-9a-f]+)")
#: Image JSON (manifests, configs, indexes) larger or deeper than this is refused.
MAX_JSON = 16 << 20
MAX_JSON_DEPTH = 64
#: Nested OCI indexes followed to find this machine's manifest.
_MAX_INDEX_DEPTH = 4


def environ_from_config(env: Optional[Sequence[str]]) -> Dict[str, str]:
    """An image config's ``Env`` list (``["PATH=/usr/bin", ...]``) as a mapping."""
    out = {}
    for item in env or ():
        name, sep, value = str(item).partition("=")
        if sep and name:
            out[name] = value
    return out


def parse_digest(value: Any, what: str) -> Digest:
    """(algorithm, hex) of ``sha256:<64 hex>`` or ``sha512:<128 hex>``; anything else is an ``ArchiveError``."""
    m = _DIGEST.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        shown = repr(value)[:120]
        raise ArchiveError(f"{what}: {shown} is not a valid digest (sha256:<64 hex> or sha512:<128 hex>)")
    return (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))


def _blob_name(digest: Digest) -> str:
    return f"blobs/{digest[0]}/{digest[1]}"


def _depth(value: Any) -> int:
    """How deep lists and objects nest in parsed JSON (iterative: any depth is measured without recursing)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_json(data: bytes, what: str) -> Any:
    """Parse image JSON with a size and nesting cap; one-line ``ArchiveError`` otherwise."""
    if len(data) > MAX_JSON:
        raise ArchiveError(f"{what} is too large (over {MAX_JSON >> 20} MiB of JSON)")
    try:
        value = json.loads(data.decode("utf-8"))
    except RecursionError as e:  # the parser stops at the interpreter's recursion limit
        raise ArchiveError(f"{what}: JSON nested too deeply (over {MAX_JSON_DEPTH} levels)") from e
    except ValueError as e:
        raise ArchiveError(f"{what}: not readable JSON ({type(e).__name__})") from e
    if _depth(value) > MAX_JSON_DEPTH:
        raise ArchiveError(f"{what}: JSON nested too deeply (over {MAX_JSON_DEPTH} levels)")
    return value


class _Source:
    """Files of a saved image, from a tarball or an OCI layout folder. Names are checked like member names;
    in a folder nothing is followed (no link, no ``..``) and only regular files are opened."""

    def __init__(self, path: str, limits: Limits) -> None:
        self.path = path
        self.tar: Optional[tarfile.TarFile] = None
        self.members: Dict[str, tarfile.TarInfo] = {}
        self.fd: Optional[int] = None
        self.file: Optional[IO[bytes]] = None
        if os.path.isdir(path):
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            return
        # Only a regular file: a FIFO or device would block or never end (opened non-blocking, checked first).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise ArchiveError("not a tar archive or OCI layout folder (not a regular file)")
        self.file = os.fdopen(fd, "rb")  # tarfile does not close a file it was given
        try:
            self.tar = tarfile.open(fileobj=self.file, mode="r:*")  # noqa: SIM115 (closed by close())
        except (tarfile.TarError, EOFError) as e:
            self.file.close()
            raise ArchiveError("not a tar archive or OCI layout folder") from e
        try:
            self._scan(self.tar, limits)
        except BaseException:
            self.tar.close()
            self.file.close()
            raise

    def _scan(self, tar: tarfile.TarFile, limits: Limits) -> None:
        count = size = 0
        while True:
            member = _next_outer(tar)
            if member is None:
                return
            count += 1
            size += member.size  # checked before the next header is looked for past this member's data
            if count > limits.max_files:
                raise LimitError(f"holds more than {limits.max_files} files (raise with --archive-limit files=N)")
            if size > limits.max_total:
                raise LimitError(
                    f"holds more than {format_size(limits.max_total)} (raise with --archive-limit total=SIZE)"
                )
            try:
                name = "/".join(member_parts(member.name))
            except ArchiveError:
                continue  # never looked up: names asked for are checked the same way
            if member.isreg():
                self.members[name] = member
            else:
                self.members.pop(name, None)

    def _name(self, name: str) -> str:
        return "/".join(member_parts(name, "file name"))

    def exists(self, name: str) -> bool:
        if self.tar is not None:
            return self._name(name) in self.members
        try:
            with self.open(name)[0]:
                return True
        except ArchiveError:
            return False

    def open(self, name: str) -> Tuple[IO[bytes], int]:
        """(the file, its size)."""
        parts = member_parts(name, "file name")
        if self.tar is not None:
            member = self.members.get("/".join(parts))
            stream = self.tar.extractfile(member) if member is not None else None
            if member is None or stream is None:
                raise ArchiveError(f"{shown('/'.join(parts))}: not in the archive")
            return stream, member.size
        assert self.fd is not None
        fd = os.dup(self.fd)
        try:
            for part in parts[:-1]:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = child
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            child = os.open(parts[-1] if parts else ".", flags, dir_fd=fd)
        except OSError as e:
            raise ArchiveError(f"{shown('/'.join(parts))}: not in the layout ({e.strerror})") from e
        finally:
            os.close(fd)
        st = os.fstat(child)
        if not stat.S_ISREG(st.st_mode):
            os.close(child)
            raise ArchiveError(f"{shown('/'.join(parts))}: not a regular file")
        return os.fdopen(child, "rb"), st.st_size

    def read(self, name: str, digest: Optional[Digest] = None, size: Any = None) -> bytes:
        """A small file (JSON), checked against ``digest`` and ``size`` when given."""
        stream, actual = self.open(name)
        with stream:
            if actual > MAX_JSON:
                raise ArchiveError(f"{shown(name)} is too large (over {MAX_JSON >> 20} MiB of JSON)")
            try:
                data = stream.read(MAX_JSON + 1)
            except (OSError, EOFError, tarfile.TarError, zlib.error) as e:
                raise ArchiveError(f"{shown(name)} cannot be read ({one_line(e)})") from e
        _check_size(name, size, len(data))
        if digest is not None and hashlib.new(digest[0], data).hexdigest() != digest[1]:
            raise ArchiveError(f"{shown(name)} is damaged (its {digest[0]} does not match the digest naming it)")
        return data

    def json(self, name: str, digest: Optional[Digest] = None, size: Any = None) -> Any:
        return read_json(self.read(name, digest, size), shown(name))

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
        if self.file is not None:
            self.file.close()
        if self.fd is not None:
            os.close(self.fd)


def _next_outer(tar: tarfile.TarFile) -> Optional[tarfile.TarInfo]:
    try:
        return tar.next()
    except Exception as e:  # tarfile's parser raises many kinds on hostile headers
        raise ArchiveError(f"a damaged tar header in the archive ({type(e).__name__})") from e


def _check_size(name: str, expected: Any, actual: int) -> None:
    if expected is not None and (not isinstance(expected, int) or expected != actual):
        raise ArchiveError(f"{shown(name)} is damaged (its size is not the {str(expected)[:30]} bytes recorded)")


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ArchiveError(f"malformed image metadata ({what} is not an object)")
    return value


def _list(value: Any, what: str) -> List[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArchiveError(f"malformed image metadata ({what} is not a list)")
    return value


@dataclass(frozen=True)
class LayerRef:
    """A layer to apply: where it is in the archive and what it must hash to."""

    path: str
    diff_id: Digest
    """The uncompressed tar's digest, from the config's ``rootfs.diff_ids``."""
    digest: Optional[Digest] = None
    """The blob's own digest (OCI descriptors, ``blobs/<alg>/<hex>`` names); None for ``<id>/layer.tar``."""
    size: Optional[int] = None


def _diff_ids(config: Mapping[str, Any], count: int) -> List[Digest]:
    rootfs = _obj(config.get("rootfs") or {}, "the config's rootfs")
    diff_ids = _list(rootfs.get("diff_ids"), "rootfs.diff_ids")
    if len(diff_ids) != count:
        raise ArchiveError(
            f"the config lists {len(diff_ids)} rootfs.diff_ids for {count} layers: the layers cannot be verified"
        )
    return [parse_digest(d, "rootfs.diff_ids") for d in diff_ids]


def _pick_manifest(source: _Source, index: Mapping[str, Any], depth: int = 0) -> Mapping[str, Any]:
    """The image manifest of an OCI index, following nested indexes to this machine's platform."""
    if depth > _MAX_INDEX_DEPTH:
        raise ArchiveError(f"indexes nested more than {_MAX_INDEX_DEPTH} deep")
    manifests = [_obj(m, "a manifest descriptor") for m in _list(index.get("manifests"), "manifests")]
    if not manifests:
        raise ArchiveError("index.json lists no manifests")
    arch = _ARCH.get(platform.machine(), platform.machine())
    chosen = next(
        (m for m in manifests if _obj(m.get("platform") or {}, "platform").get("architecture") == arch),
        manifests[0],
    )
    digest = parse_digest(chosen.get("digest"), "a manifest descriptor")
    document = _obj(source.json(_blob_name(digest), digest, chosen.get("size")), "a manifest")
    if chosen.get("mediaType") in _INDEX_TYPES or "manifests" in document:
        return _pick_manifest(source, document, depth + 1)
    return document


def read_layout(source: _Source) -> Tuple[Mapping[str, Any], List[LayerRef]]:
    """(the image config, the layers in order with their digests) of a ``docker save`` tarball or an OCI layout;
    the config is verified here, the layers as they are unpacked."""
    if source.exists("manifest.json"):
        manifest = _list(source.json("manifest.json"), "manifest.json")
        if not manifest:
            raise ArchiveError("manifest.json lists no image")
        if len(manifest) > 1:
            tags = ", ".join(
                str(t)[:100] for entry in manifest for t in _list(_obj(entry, "an image").get("RepoTags"), "tags")
            )
            raise ArchiveError(f"holds {len(manifest)} images ({tags or 'untagged'}); save one image per archive")
        entry = _obj(manifest[0], "manifest.json's image")
        config_name = entry.get("Config")
        named = _SAVED_CONFIG.fullmatch(config_name) if isinstance(config_name, str) else None
        if named is None:
            raise ArchiveError(f"manifest.json: config {str(config_name)[:120]!r} is not named by its sha256")
        config = _obj(source.json(str(config_name), ("sha256", named.group(1))), "the config")
        layers = [str(layer) for layer in _list(entry.get("Layers"), "Layers")]
        refs = []
        for layer, diff_id in zip(layers, _diff_ids(config, len(layers))):
            blob = _BLOB.fullmatch(layer)
            digest = parse_digest(f"{blob.group(1)}:{blob.group(2)}", layer[:200]) if blob else None
            refs.append(LayerRef(layer, diff_id, digest))
        return config, refs
    if source.exists("index.json"):
        image = _pick_manifest(source, _obj(source.json("index.json"), "index.json"))
        descriptor = _obj(image.get("config"), "the manifest's config")
        digest = parse_digest(descriptor.get("digest"), "the config descriptor")
        config = _obj(source.json(_blob_name(digest), digest, descriptor.get("size")), "the config")
        descriptors = [_obj(d, "a layer descriptor") for d in _list(image.get("layers"), "layers")]
        refs = []
        for d, diff_id in zip(descriptors, _diff_ids(config, len(descriptors))):
            digest = parse_digest(d.get("digest"), "a layer descriptor")
            size = d.get("size")
            if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
                raise ArchiveError(f"malformed image metadata (a layer's size {str(size)[:30]!r} is not a number)")
            refs.append(LayerRef(_blob_name(digest), diff_id, digest, size))
        return config, refs
    raise ArchiveError("no manifest.json or index.json: not a docker save archive or OCI layout")


def apply_layer_file(
    fileobj: IO[bytes],
    dest: str,
    label: str,
    *,
    limits: Optional[Limits] = None,
    budget: Optional[Budget] = None,
    digest: Optional[Digest] = None,
    diff_id: Optional[Digest] = None,
) -> None:
    """Apply a layer blob (a tar, plain or gzip) read once from an open file, checking its digests."""
    budget = budget or Budget(limits or Limits())
    reader = LayerReader(fileobj, budget, label, digest, diff_id)
    try:
        try:
            tar = tarfile.open(fileobj=reader, mode="r|", bufsize=64 << 10)  # type: ignore[call-overload]  # noqa: SIM115
        except ArchiveError:
            raise
        except Exception as e:  # tarfile's parser raises many kinds on hostile headers
            raise ArchiveError(f"layer {label} is not a tar ({type(e).__name__}: {one_line(e)})") from e
        with tar:
            apply_layer(tar, dest, budget=budget)
    except LimitError:
        raise
    except (ArchiveError, tarfile.TarError, EOFError, OSError) as e:
        reader.finish()  # damage seen as a tar error is reported as damage
        if isinstance(e, ArchiveError):
            raise
        detail = e.strerror if isinstance(e, OSError) and e.strerror else one_line(e)
        raise ArchiveError(f"layer {label} cannot be unpacked ({detail})") from e
    reader.finish()


class ImageArchiveTarget(Target):
    """A saved image, unpacked into a temporary folder and read statically."""

    kind = "image-archive"
    shows_hardware = False

    def __init__(self, path: str, limits: Optional[Limits] = None) -> None:
        self.path = path
        self.limits = limits or Limits()

    @property
    def name(self) -> str:
        return f"image-archive:{self.path}"

    @property
    def hardware_note(self) -> str:
        return "a saved image does not show the hardware it will be deployed on"

    def probe(self, extra_env: Sequence[str] = ()) -> ProbeOutput:
        label = f"--image-archive {self.path}"
        with self._unpacked() as (tmp, environ):
            try:
                return probe_root(tmp, environ, extra_env=extra_env)
            except RootError as e:
                raise TargetError(f"{label}: {e}") from e

    @contextmanager
    def files(self) -> Iterator[FileView]:
        """The image unpacked into a temporary folder (removed after), and the site folders of its Python."""
        from envcheck.verify.sites import tree_sites

        with self._unpacked() as (tmp, environ):
            try:
                sites = tree_sites(tmp, environ)
            except (RootError, OSError) as e:
                raise TargetError(f"--image-archive {self.path}: {e}") from e
            yield FileView(tmp, tuple(sites))

    @contextmanager
    def _unpacked(self) -> Iterator[Tuple[str, Dict[str, str]]]:
        """(a temporary folder holding the image's filesystem, the environment its config gives); the folder is
        removed after."""
        label = f"--image-archive {self.path}"
        if not os.path.exists(self.path):
            raise TargetError(f"{label}: no such file")
        tmp = tempfile.mkdtemp(prefix="envcheck-image-")
        source: Optional[_Source] = None
        try:
            try:
                source = _Source(self.path, self.limits)
                config, layers = read_layout(source)
                budget = Budget(self.limits)
                for layer in _checked(source, layers):
                    blob, ref = layer
                    with blob:
                        apply_layer_file(
                            blob, tmp, shown(ref.path), budget=budget, digest=ref.digest, diff_id=ref.diff_id
                        )
                env = _obj(config.get("config") or {}, "the config's config").get("Env")
                environ = environ_from_config(env if isinstance(env, list) else [])
            finally:
                if source is not None:
                    source.close()
                    source = None
            yield tmp, environ
        except (ArchiveError, RootError) as e:
            raise TargetError(f"{label}: {e}") from e
        except OSError as e:
            raise TargetError(f"{label}: {e.strerror or e}") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _checked(source: _Source, layers: Sequence[LayerRef]) -> Iterator[Tuple[IO[bytes], LayerRef]]:
    """Each layer's blob, opened when its turn comes, its size checked against its descriptor's."""
    for ref in layers:
        blob, size = source.open(ref.path)
        if ref.size is not None:
            try:
                _check_size(ref.path, ref.size, size)
            except ArchiveError:
                blob.close()
                raise
        yield blob, ref
