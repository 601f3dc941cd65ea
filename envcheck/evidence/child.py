"""The child side of the evidence checks: imports modules or loads model files inside the candidate's interpreter.

This file runs unchanged in any CPython from 3.8 on, with nothing installed: a runner feeds its source on stdin
to the candidate's interpreter. Keep it free of third-party imports at module level, of syntax newer than 3.8,
and of anything of envcheck. envcheck's own process never runs ``main``; it imports this module only for
``sniff`` and the constants.

Protocol. ``sys.argv[1]`` is a JSON job: ``{"mode": "import" | "load", "items": [...], "nonce": str,
"timeout": seconds, "format": null | str}``. stdout carries JSON lines only, one event each:
``{"ev": "hello", "python", "executable"}``, then per item ``{"ev": "start", "i"}`` and, unless the item kills
the interpreter, ``{"ev": "done", "i", "status": "ok" | "error" | "skipped", "ms", ...}``, and at last
``{"ev": "end"}``. Everything the imported code prints (its stdout is sent to stderr) goes to stderr, cut into
one segment per item by lines ``<nonce> <i>``. A crash loses only the item it happened at: the events before it
are already written, and the parent starts a new child for the items after it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import importlib.util
import json
import os
import sys
import time
import warnings
from typing import Any, Dict, List, Optional

#: The most characters of one text (a message, a version, a path) the child sends; the parent cuts it further.
TEXT_LIMIT = 8000
#: The most warnings recorded per item.
WARNINGS_LIMIT = 5
#: Bytes read from the start of a model file to tell its format.
HEAD_SIZE = 512
#: The model formats the child knows a loader for.
FORMATS = ("joblib", "pickle", "torch", "onnx", "xgboost", "lightgbm")
LOADERS = {
    "joblib": "joblib.load",
    "pickle": "pickle.load",
    "torch": "torch.load(weights_only=True)",
    "onnx": "onnxruntime.InferenceSession",
    "xgboost": "xgboost.Booster.load_model",
    "lightgbm": "lightgbm.Booster(model_file=...)",
}

_BY_EXTENSION = {
    ".joblib": "joblib",
    ".jbl": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".pt": "torch",
    ".pth": "torch",
    ".onnx": "onnx",
    ".ubj": "xgboost",
    ".xgb": "xgboost",
    ".bst": "xgboost",
    ".lgb": "lightgbm",
}
# The compressors joblib.dump writes with (zlib, gzip, bz2, xz, lzma), by their first bytes.
_COMPRESSED = (
    b"\x78\x01",
    b"\x78\x5e",
    b"\x78\x9c",
    b"\x78\xda",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x5d\x00\x00",
)


def _by_content(head: bytes) -> Optional[str]:
    if len(head) > 1 and head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return "pickle"
    if head.startswith(_COMPRESSED):
        return "joblib"
    if head.startswith(b"PK\x03\x04") and b"data.pkl" in head:
        return "torch"  # torch.save's zip archive starts with <name>/data.pkl
    if head.lstrip().startswith(b"{") and b"learner" in head:
        return "xgboost"  # JSON or UBJSON
    if head.startswith((b"tree\n", b"tree\r\n")):
        return "lightgbm"
    return None


def sniff(name: str, head: bytes) -> Optional[str]:
    """The format of a model file from its name and first bytes (one of ``FORMATS``), or None: unknown. A clear
    extension decides, except that a compressed stream named as a pickle is joblib's; an unclear one (``.json``,
    ``.txt``, ``.model``, ``.bin``, none) leaves it to the content."""
    extension = os.path.splitext(name.lower())[1]
    by_content = _by_content(head)
    by_name = _BY_EXTENSION.get(extension)
    if by_name in ("pickle", "joblib") and by_content == "joblib":
        return "joblib"
    return by_name or by_content


def _text(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # a hostile __str__
        text = "<unprintable>"
    return text[:TEXT_LIMIT]


def _type_name(kind: type) -> str:
    module = _text(getattr(kind, "__module__", "") or "")
    name = _text(getattr(kind, "__qualname__", None) or getattr(kind, "__name__", "?"))
    return name if module == "builtins" else module + "." + name


def _failure(error: BaseException) -> Dict[str, Any]:
    message = _text(error)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return {"status": "error", "type": _type_name(type(error)), "message": lines[-1] if lines else ""}


def _import(name: str) -> Dict[str, Any]:
    module = importlib.import_module(name)
    version = getattr(module, "__version__", None)
    location = getattr(module, "__file__", None)
    if location is None:
        paths = list(getattr(module, "__path__", None) or [])
        location = paths[0] if paths else None
    return {
        "status": "ok",
        "version": None if version is None else _text(version),
        "location": None if location is None else _text(location),
    }


def _load(path: str, forced: Optional[str]) -> Dict[str, Any]:
    kind = forced
    if kind is None:
        with open(path, "rb") as f:
            kind = sniff(os.path.basename(path), f.read(HEAD_SIZE))
    if kind not in LOADERS:
        return {"status": "skipped", "format": kind, "message": "no loader is known for this kind of file"}
    how = kind
    if kind == "pickle" and importlib.util.find_spec("joblib") is not None:
        how = "joblib"  # joblib.load reads plain pickles and joblib's own (which pickle.load cannot)
    report: Dict[str, Any] = {"status": "ok", "format": kind, "loader": LOADERS[how]}
    try:
        loaded = _run_loader(how, path)
    except BaseException as e:
        report.update(_failure(e))
        return report
    report["loaded_type"] = _type_name(type(loaded))
    return report


def _run_loader(kind: str, path: str) -> Any:
    # import_module: the loaders' libraries are the candidate's, unknown to this file's type checker
    if kind == "joblib":
        return importlib.import_module("joblib").load(path)
    if kind == "pickle":
        import pickle

        with open(path, "rb") as f:
            return pickle.load(f)
    if kind == "torch":
        return importlib.import_module("torch").load(path, map_location="cpu", weights_only=True)
    if kind == "onnx":
        ort = importlib.import_module("onnxruntime")
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    if kind == "xgboost":
        booster = importlib.import_module("xgboost").Booster()
        booster.load_model(path)
        return booster
    if kind == "lightgbm":
        return importlib.import_module("lightgbm").Booster(model_file=path)
    raise ValueError("no loader for " + kind)


def _emit(fd: int, event: Dict[str, Any]) -> None:
    data = (json.dumps(event, ensure_ascii=True) + "\n").encode("ascii")
    while data:
        data = data[os.write(fd, data) :]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _mark(nonce: str, label: str) -> None:
    """Ends the output of the item before (Python's buffers first) and starts the next one's."""
    _flush()
    data = ("\n" + nonce + " " + label + "\n").encode("ascii")
    while data:
        data = data[os.write(2, data) :]


def _attempt(mode: str, item: str, forced: Optional[str]) -> Dict[str, Any]:
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        # Python's own defaults, whatever filters an earlier item or the caller set ("ignore", "error"): a
        # warning is recorded, once per place, never raised, and deprecations of the libraries' insides are not
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.filterwarnings("ignore", category=quiet)
        try:
            event = _import(item) if mode == "import" else _load(item, forced)
        except BaseException as e:  # SystemExit and KeyboardInterrupt raised by the code are evidence too
            event = _failure(e)
            if mode == "load":
                event["format"] = forced
    event["ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    seen: List[str] = []
    for warning in caught:  # distinct ones: an estimator of twenty trees warns twenty times alike
        lines = _text(warning.message).strip().splitlines()
        line = _type_name(warning.category) + ": " + (lines[0] if lines else "")
        if line not in seen:
            seen.append(line)
        if len(seen) >= WARNINGS_LIMIT:
            break
    event["warnings"] = seen
    return event


def main(argv: List[str]) -> int:
    job = json.loads(argv[0])
    mode, nonce = str(job["mode"]), str(job["nonce"])
    forced = job.get("format")
    deadline = time.monotonic() + float(job["timeout"])
    margin = min(max(float(job["timeout"]) * 0.2, 0.2), 2.0)
    sys.argv = sys.argv[:1]  # the code imported sees a bare command line
    # The events keep the real stdout; whatever the imported code prints goes to stderr, cut per item.
    events = os.dup(1)
    os.dup2(2, 1)
    faulthandler.enable()  # a crash prints where it happened, into the item's output
    _emit(events, {"ev": "hello", "python": sys.version.split()[0], "executable": sys.executable})
    for index, item in enumerate(job["items"]):
        _mark(nonce, str(index))
        _emit(events, {"ev": "start", "i": index})
        left = deadline - time.monotonic() - margin
        if left > 0:  # where it hangs, printed just before the parent kills it
            faulthandler.dump_traceback_later(left)
        event = _attempt(mode, str(item), forced)
        faulthandler.cancel_dump_traceback_later()
        _mark(nonce, "-")
        event.update({"ev": "done", "i": index})
        _emit(events, event)
    _emit(events, {"ev": "end"})
    return 0


def _finish(code: int) -> None:
    """Exit without running what the imported code registered (atexit handlers, non-daemon threads): its results
    are out, and a hang or a crash at exit is not what the check asks."""
    _flush()
    os._exit(code)


if __name__ == "__main__":
    _finish(main(sys.argv[1:]))
