"""What a model file needs, as read from its bytes: the result, the errors, and the reader contract.

A reader never runs what it reads: pickles are walked opcode by opcode, never unpickled, and no model library is
imported. Each format has one module with one ``Reader``; ``detect.READERS`` lists them in the order they are
asked, and the first whose ``claims`` says yes reads the file.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from envcheck.errors import EnvcheckError

if TYPE_CHECKING:  # bounded imports this module; the reverse is for annotations only
    from envcheck.modelfiles.bounded import Source


#: Longest module or qualified name taken as a reference.
MAX_NAME = 512


class ModelReadError(EnvcheckError):
    """A model file could not be opened or read at all (missing, not a regular file, an I/O error).

    What is wrong *inside* a file (truncated, malformed, past a cap) is not an error: the reader returns what it
    found, with a note that says where it stopped."""


class ModelFormat(str, enum.Enum):
    """The format a file holds, told by its content (the extension only breaks a tie between identical bytes)."""

    PICKLE = "pickle"
    JOBLIB = "joblib"
    TORCH = "torch"
    XGBOOST_JSON = "xgboost-json"
    XGBOOST_UBJ = "xgboost-ubj"
    LIGHTGBM = "lightgbm"
    ONNX = "onnx"
    KERAS = "keras"
    SAFETENSORS = "safetensors"
    SKOPS = "skops"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class WrittenBy:
    """The library that wrote the file, as the file itself says."""

    package: str
    """As the file names it: a distribution (``scikit-learn``, ``xgboost``) or, for ONNX, its producer_name
    (``skl2onnx``, ``pytorch``), which is not always a distribution's name."""
    version: str = ""
    """Verbatim; empty when the file names its writer but not the writer's version (LightGBM's text format)."""


@dataclass(frozen=True)
class ModelNeeds:
    """What one model file needs, read without executing anything."""

    format: ModelFormat
    references: Tuple[str, ...] = ()
    """Sorted ``module:qualname`` of every global the file names (pickle GLOBAL / STACK_GLOBAL / INST, skops
    types, Keras config classes): what loading it imports, harmless or not (``posix:system`` is listed, never
    run)."""
    modules: Tuple[str, ...] = ()
    """Sorted top-level modules the file needs: those of ``references``, and the library whose format it is
    (``xgboost``, ``lightgbm``, ``joblib`` for compressed joblib files, ``skops``)."""
    written_by: Optional[WrittenBy] = None
    versions: Dict[str, str] = field(default_factory=dict)
    """Format-specific stamps, keyed ``<format>.<what>``: ``pickle.protocol``, ``onnx.ir_version``,
    ``onnx.opset.ai.onnx``, ``lightgbm.format``, ``torch.archive_version``, ``safetensors.metadata.<key>``..."""
    notes: Tuple[str, ...] = ()
    """What could not be read, one line each: ``truncated stream at byte 812``, ``cap reached: ...``."""


@dataclass(frozen=True)
class Sample:
    """What format detection sees of a file: its first bytes, its size, and the names in it when it is a zip."""

    head: bytes
    size: int
    suffix: str = ""
    """Lower-case extension with its dot (``.joblib``); only a tie-breaker."""
    members: Optional[Tuple[str, ...]] = None
    """Member names, in archive order, when the file is a zip archive; else None."""


@dataclass
class Draft:
    """A ``ModelNeeds`` being filled in by a reader; what it holds survives a reader stopping half-way."""

    format: ModelFormat
    references: List[str] = field(default_factory=list)
    modules: List[str] = field(default_factory=list)
    written_by: Optional[WrittenBy] = None
    versions: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    def reference(self, module: str, name: str) -> None:
        """Add ``module:name`` unless either part is empty or past ``MAX_NAME`` characters (noted)."""
        if not module or not name or len(module) > MAX_NAME or len(name) > MAX_NAME:
            self.note("a global with an empty or over-long name was skipped")
            return
        self.references.append(f"{module}:{name}")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def finish(self) -> ModelNeeds:
        refs = sorted(set(self.references))
        tops = {r.split(":", 1)[0].split(".", 1)[0] for r in refs} | set(self.modules)
        return ModelNeeds(
            format=self.format,
            references=tuple(refs),
            modules=tuple(sorted(m for m in tops if m)),
            written_by=self.written_by,
            versions=dict(sorted(self.versions.items())),
            notes=tuple(self.notes),
        )


class Reader:
    """One format: ``claims`` looks at a ``Sample`` (no further reads), ``read`` fills a ``Draft``.

    ``read`` may stop by raising ``bounded.Stop`` (a cap reached, the stream truncated); the draft keeps what was
    found before it, and the stop's message becomes a note."""

    format: ModelFormat = ModelFormat.UNKNOWN

    def claims(self, sample: Sample) -> bool:
        raise NotImplementedError

    def read(self, source: Source, draft: Draft) -> None:
        raise NotImplementedError
