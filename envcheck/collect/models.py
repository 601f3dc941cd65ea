"""Model files: size and SHA-256 of each file given, or of every file under a folder given.

Only regular files are read (a FIFO or device is never opened for reading, so it cannot block), and a file
whose name is not valid UTF-8 is an error naming it: a lockfile records names as UTF-8 text, and a name it could
not record is a model file it could not check again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from packaging.utils import canonicalize_name

from envcheck.errors import EnvcheckError
from envcheck.model import ModelFile, ModelWriter, Package
from envcheck.modelfiles import ModelFormat, ModelNeeds, ModelReadError, read_model_needs

CHUNK = 1 << 20


class ModelPathError(EnvcheckError):
    """A model path that does not exist or cannot be read."""


def sha256_file(path: Union[str, Path]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelPathError(f"{path}: not a regular file")
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def _recordable(shown: str) -> str:
    """``shown`` when a lockfile can record it (UTF-8 text); else a ``ModelPathError`` naming it."""
    try:
        shown.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ModelPathError(
            f"{shown}: file name is not valid UTF-8 (a lockfile cannot record it); rename it"
        ) from e
    return shown


def _files(given: str) -> List[Tuple[str, Path]]:
    path = Path(given)
    if path.is_file():
        return [(_recordable(given), path)]
    if path.is_dir():
        out = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath, name)
                if full.is_file():
                    out.append((_recordable((path / full.relative_to(path)).as_posix()), full))
        return out
    if not path.exists():
        raise ModelPathError(f"{given}: no such model file or folder")
    raise ModelPathError(f"{given}: not a regular file or folder")


def recorded_path(shown: str, base: Optional[str]) -> str:
    """How a model file named ``shown`` (as given: relative to the working directory, or absolute) is recorded
    for a lockfile in folder ``base``: relative to ``base``, so that ``check`` finds it from any working
    directory and the two move together; an absolute path outside ``base`` (a mount such as ``/models``, which
    stays where it is when the lockfile moves) is kept as given. ``base`` None: as given."""
    if base is None:
        return shown
    folder = os.path.abspath(base)
    full = os.path.abspath(shown)
    inside = os.path.commonpath([folder, full]) == folder
    if os.path.isabs(shown) and not inside:
        return shown
    return Path(os.path.relpath(full, folder)).as_posix()


#: At most this many references are recorded per model file (sorted); a note says when more were cut.
MAX_REFERENCES = 512
#: Writers whose file names the loading library itself; an ONNX producer (a converter) is not the library that
#: loads the file, so it stays a format version, not a writer.
_WRITER_FORMATS = frozenset(
    [
        ModelFormat.PICKLE,
        ModelFormat.JOBLIB,
        ModelFormat.XGBOOST_JSON,
        ModelFormat.XGBOOST_UBJ,
        ModelFormat.LIGHTGBM,
        ModelFormat.KERAS,
        ModelFormat.SKOPS,
    ]
)


def needs_of(needs: ModelNeeds, path: str, size: int, sha256: str) -> ModelFile:
    """A ``ModelFile`` from its digest and what ``envcheck.modelfiles`` read of it."""
    references = needs.references[:MAX_REFERENCES]
    notes = list(needs.notes)
    if len(needs.references) > MAX_REFERENCES:
        notes.append(f"{len(needs.references)} references, the first {MAX_REFERENCES} kept")
    versions = dict(needs.versions)
    writer = None
    if needs.written_by is not None and needs.format in _WRITER_FORMATS:
        version = needs.written_by.version
        layout = versions.get("lightgbm.format", "")
        if not version and layout.startswith("v") and layout[1:].isdigit():
            version = layout[1:]  # LightGBM's text format version is its major release (v4 from LightGBM 4)
        if version:
            writer = ModelWriter(canonicalize_name(needs.written_by.package), version)
    elif needs.written_by is not None:
        versions["producer"] = f"{needs.written_by.package} {needs.written_by.version}".strip()
    return ModelFile(
        path=path,
        size=size,
        sha256=sha256,
        format=needs.format.value,
        references=references,
        modules=needs.modules,
        written_by=writer,
        format_versions=versions,
        notes=tuple(notes),
    )


#: The formats whose data is a pickle stream (a joblib file is pickles with arrays between them).
_PICKLED = frozenset([ModelFormat.PICKLE.value, ModelFormat.JOBLIB.value])


def damage_warnings(models: Iterable[ModelFile]) -> List[str]:
    """One line per model file whose reading says its bytes are damaged (a stream that ends early, a malformed
    pickle, an empty file), for the user at snapshot time: the file is recorded as it is (its digest binds it),
    but a model that is cut short was most likely copied badly, and ``check --load-model`` would fail on it."""
    out = []
    for model in models:
        data = "pickle" if model.format in _PICKLED else (model.format or "model")
        for note in model.notes:
            if note.startswith("truncated stream"):
                out.append(f"{model.path}: {data} data ends early (truncated?): recorded as is")
            elif note.startswith("malformed pickle"):
                out.append(f"{model.path}: {note}: recorded as is")
            elif note == "empty file":
                out.append(f"{model.path}: empty file: recorded as is")
    return out


def digest_models(paths: Iterable[str], base: Optional[str] = None) -> Tuple[ModelFile, ...]:
    """One ``ModelFile`` per file, sorted by path, with what the file needs (``envcheck.modelfiles``: read
    within bounds, never unpickled); raises ``ModelPathError`` for a missing or unreadable path.

    Paths are given relative to the working directory (or absolute) and recorded as ``recorded_path`` says for
    a lockfile in folder ``base``."""
    found = {}
    for given in paths:
        for shown, full in _files(given):
            name = recorded_path(shown, base)
            try:
                size, digest = full.stat().st_size, sha256_file(full)
                needs = read_model_needs(full)
            except (OSError, ModelReadError) as e:
                why = e.strerror if isinstance(e, OSError) else str(e)
                raise ModelPathError(f"{full}: cannot read ({why})") from e
            found[name] = needs_of(needs, name, size, digest)
    return tuple(found[k] for k in sorted(found))


def resolve_writers(models: Sequence[ModelFile], packages: Sequence[Package]) -> Tuple[ModelFile, ...]:
    """``models`` with each writer named by the installed distribution that provides its module, where the
    file's name for it is not installed (an xgboost model in an environment that has ``xgboost-cpu``)."""
    names = {p.name for p in packages}
    out = []
    for model in models:
        writer = model.written_by
        if writer is not None and writer.package not in names:
            module = writer.package.replace("-", "_")
            owner = next((p.name for p in packages if module in p.modules), None)
            if owner is not None:
                model = dataclasses.replace(model, written_by=ModelWriter(owner, writer.version))
        out.append(model)
    return tuple(out)


def resolve_recorded(path: str, bases: Sequence[str]) -> Optional[Path]:
    """The file a recorded model path names: itself when absolute, else the first of ``bases`` (folders) that
    holds it as a file; None when none does."""
    if os.path.isabs(path):
        return Path(path) if Path(path).is_file() else None
    for base in bases:
        candidate = Path(base, path)
        if candidate.is_file():
            return candidate
    return None


def rehash_models(recorded: Iterable[str], bases: Sequence[str]) -> Tuple[ModelFile, ...]:
    """The recorded model files hashed again where they resolve (``resolve_recorded``), under their recorded
    names so that they compare with the lockfile's; those that resolve nowhere are left out (missing)."""
    out = []
    for path in recorded:
        full = resolve_recorded(path, bases)
        if full is None:
            continue
        try:
            out.append(ModelFile(path=path, size=full.stat().st_size, sha256=sha256_file(full)))
        except OSError as e:
            raise ModelPathError(f"{full}: cannot read ({e.strerror})") from e
    return tuple(sorted(out, key=lambda m: m.path))
