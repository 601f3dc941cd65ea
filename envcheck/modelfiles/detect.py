"""Which reader a file goes to (by content: magic bytes, zip member names, JSON keys), and the driver that
reads it under a budget and turns a stop into a note. ``read_model_needs`` is the thin reader of a path."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import IO, Optional, Tuple, Union

from envcheck.modelfiles import zips
from envcheck.modelfiles.bounded import Budget, FileStream, ReadLimits, Source, Stop
from envcheck.modelfiles.interface import Draft, ModelFormat, ModelNeeds, ModelReadError, Reader, Sample
from envcheck.modelfiles.keras_files import KerasReader
from envcheck.modelfiles.lightgbm_files import LightGBMReader
from envcheck.modelfiles.onnx_files import ONNXReader
from envcheck.modelfiles.pickle_files import CompressedJoblibReader, PickleReader
from envcheck.modelfiles.safetensors_files import SafetensorsReader
from envcheck.modelfiles.skops_files import SkopsReader
from envcheck.modelfiles.torch_files import TorchZipReader
from envcheck.modelfiles.xgboost_files import XGBoostJSONReader, XGBoostUBJReader

#: The readers, in the order they are asked: zip layouts first, then formats with a magic or a fixed start,
#: pickles of protocol 0/1 (whose first byte is least telling) last.
READERS: Tuple[Reader, ...] = (
    TorchZipReader(),
    KerasReader(),
    SkopsReader(),
    SafetensorsReader(),
    XGBoostUBJReader(),
    XGBoostJSONReader(),
    LightGBMReader(),
    ONNXReader(),
    CompressedJoblibReader(),
    PickleReader(),
)
DEFAULT_LIMITS = ReadLimits()
#: Bytes of a file that detection sees.
HEAD = 4096


def reader_for(sample: Sample) -> Optional[Reader]:
    """The first reader that claims the sample (pure)."""
    return next((r for r in READERS if r.claims(sample)), None)


def unknown_note(sample: Sample) -> str:
    """Why a file's format was not recognised, in one line (pure)."""
    if sample.size == 0:
        return "empty file"
    if sample.members is not None:
        return "zip archive without the members of a model format envcheck reads"
    if sample.head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "HDF5 file (a legacy Keras .h5 model?): not read"
    return "format not recognised from the file's first bytes"


def read_stream(raw: IO[bytes], suffix: str = "", limits: ReadLimits = DEFAULT_LIMITS) -> ModelNeeds:
    """What the model file open as ``raw`` (binary, seekable) needs. ``suffix`` (``.joblib``) only breaks a tie
    between identical bytes. Never raises for what is inside the file (a note says where reading stopped);
    ``ModelReadError`` when the file cannot be read at all."""
    try:
        size = raw.seek(0, os.SEEK_END)
        budget = Budget(limits)
        stream = FileStream(raw, size, budget)
    except (OSError, ValueError) as e:
        raise ModelReadError(f"cannot read the model file ({e})") from e
    draft = Draft(ModelFormat.UNKNOWN)
    archive: Optional[zipfile.ZipFile] = None
    try:
        head = stream.read(HEAD)
        members = None
        if zips.is_zip(head):
            archive = zips.open_archive(stream, budget)
            members = tuple(archive.namelist())
        sample = Sample(head=head, size=size, suffix=suffix.lower(), members=members)
        reader = reader_for(sample)
        if reader is None:
            draft.note(unknown_note(sample))
        else:
            draft.format = reader.format
            stream.seek(0)
            reader.read(Source(sample, stream, budget, archive), draft)
    except Stop as e:
        draft.note(str(e))
    except OSError as e:
        raise ModelReadError(f"cannot read the model file ({e.strerror or e})") from e
    finally:
        if archive is not None:
            archive.close()
    return draft.finish()


def read_model_needs(path: Union[str, Path], limits: ReadLimits = DEFAULT_LIMITS) -> ModelNeeds:
    """What the model file at ``path`` needs; ``ModelReadError`` when it is missing or not a regular file.

    The file is opened without blocking (a FIFO would hang a plain open) and read only as the caps allow."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise ModelReadError(f"{path}: cannot open ({e.strerror})") from e
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError as e:
        os.close(fd)
        raise ModelReadError(f"{path}: cannot read ({e.strerror})") from e
    if not regular:
        os.close(fd)
        raise ModelReadError(f"{path}: not a regular file")
    with open(fd, "rb") as f:
        try:
            return read_stream(f, Path(path).suffix, limits)
        except ModelReadError as e:
            raise ModelReadError(f"{path}: {e}") from e
