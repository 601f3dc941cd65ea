"""The child's source: Python 3.8 syntax and stdlib only, runs in the oldest interpreter here; and its format
sniffing, which is pure."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from envcheck.evidence import LocalRunner, ModelFormat, RunnerError, import_check
from envcheck.evidence.batch import child_source
from envcheck.evidence.child import FORMATS, LOADERS, sniff

#: The stdlib modules the child may import (sys.stdlib_module_names is 3.10's).
_STDLIB = {"__future__", "contextlib", "faulthandler", "importlib", "json", "os", "pickle", "sys", "time"}
_STDLIB |= {"typing", "warnings"}


def test_the_source_is_python_3_8_and_stdlib_only() -> None:
    tree = ast.parse(child_source(), feature_version=(3, 8))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= _STDLIB, imported
    assert child_source().isascii()


def test_formats_and_loaders_agree() -> None:
    assert tuple(f.value for f in ModelFormat) == FORMATS
    assert set(LOADERS) == set(FORMATS)


_PICKLE = b"\x80\x04\x95\x10\x00\x00"
# A torch.save zip archive's first local header: signature, fields, then the first member's name.
_TORCH = b"PK\x03\x04" + b"\x00" * 22 + b"\x10\x00\x12\x00" + b"archive/data.pklFB"


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("model.joblib", _PICKLE, "joblib"),
        ("model.pkl", _PICKLE, "pickle"),
        ("model.pkl", b"\x78\x9c\x01\x02", "joblib"),  # compressed: joblib's, whatever the name says
        ("model.joblib.gz", b"\x1f\x8b\x08\x00", "joblib"),
        ("model.joblib.xz", b"\xfd7zXZ\x00\x00", "joblib"),
        ("model.z", b"\x78\x01abc", "joblib"),
        ("weights.bin", _PICKLE, "pickle"),
        ("model.pt", _TORCH, "torch"),
        ("checkpoint", _TORCH, "torch"),
        ("model.pth", b"", "torch"),
        ("keras.zip", b"PK\x03\x04 config.json", None),
        ("model.onnx", b"\x08\x07\x12\x07pytorch", "onnx"),
        ("MODEL.ONNX", b"", "onnx"),
        ("model.json", b'{"learner":{"attributes":{}}', "xgboost"),
        ("model.ubj", b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{", "xgboost"),
        ("model.json", b'{"name": "not a model"}', None),
        ("model.txt", b"tree\nversion=v4\nnum_class=1\n", "lightgbm"),
        ("model.txt", b"tree\r\nversion=v3\r\n", "lightgbm"),
        ("model.txt", b"some notes\n", None),
        ("model.lgb", b"", "lightgbm"),
        ("model.xgb", b"binf", "xgboost"),
        ("README", b"", None),
        ("model.pkl", b"\x80\x09", "pickle"),  # the name decides where the content cannot
        ("blob", b"\x80\x09", None),  # no pickle protocol 9
    ],
)
def test_sniff(name: str, head: bytes, expected: str | None) -> None:
    assert sniff(name, head) == expected


def _pyenv_python(minor: int) -> Path | None:
    found = sorted(Path.home().glob(f".pyenv/versions/3.{minor}.*/bin/python3"))
    return found[0] if found else None


@pytest.mark.slow
def test_runs_in_the_oldest_supported_interpreter() -> None:
    """Python 3.8 from pyenv where this machine has it (it does here), else this interpreter."""
    python = _pyenv_python(8) or Path(sys.executable)
    report = import_check(LocalRunner(str(python)), ["json", "nosuchmodule"])
    assert report.results[0].ok
    assert report.results[1].error == "ModuleNotFoundError: No module named 'nosuchmodule'"
    assert report.python is not None and report.python.startswith("3.8." if _pyenv_python(8) else "3.")


@pytest.mark.slow
def test_an_older_interpreter_gets_a_clear_error(tmp_path: Path) -> None:
    """A real Python 3.7 where pyenv has one (it does here); else a stand-in that answers as the bootstrap does."""
    python = _pyenv_python(7)
    if python is None:
        python = tmp_path / "python"
        python.write_text("#!/bin/sh\necho 'envcheck-too-old 3.7' >&2\nexit 3\n")
        python.chmod(0o755)
    with pytest.raises(RunnerError, match=r"Python 3\.7 is older than 3\.8, which the evidence checks need"):
        import_check(LocalRunner(str(python)), ["json"])


def test_warnings_are_distinct_first_lines_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ensemble of many trees warns once per tree, alike: one line for them, and at most the limit."""
    import warnings

    from envcheck.evidence import child

    def load(path: str, forced: str | None) -> dict[str, object]:
        for _ in range(20):
            warnings.warn_explicit("Trying to unpickle estimator Tree\nsecond line", UserWarning, "m.py", 1)
        for n in range(10):
            warnings.warn_explicit(f"other {n}", RuntimeWarning, "m.py", 2 + n)
        return {"status": "ok"}

    monkeypatch.setattr(child, "_load", load)
    event = child._attempt("load", "model.pkl", None)
    assert event["warnings"] == [
        "UserWarning: Trying to unpickle estimator Tree",
        *(f"RuntimeWarning: other {n}" for n in range(child.WARNINGS_LIMIT - 1)),
    ]
