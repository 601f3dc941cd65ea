"""What the pickle walk knows of the values a pickle builds (``pickles``), and joblib's array layout read from
them: just enough to resolve names, see ``__getstate__`` dicts, and know how many raw bytes follow a
``NumpyArrayWrapper``. Containers keep their first few items only; long strings and bytes keep their length.
"""

from __future__ import annotations

import re
from typing import Any, List, Optional, Tuple

from envcheck.modelfiles.bounded import Malformed

#: Container items kept for inspection (a joblib wrapper's state, a dtype's fields); the rest are only counted.
KEEP = 64
#: Longest bytes or string value kept; a longer one is kept as its length only.
KEEP_BYTES = 256
KEEP_TEXT = 4096

_WRAPPERS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
}
_RECONSTRUCTORS = {("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")}
_ITEMSIZE = re.compile(r"^[a-zA-Z](\d{1,6})$")


class Global:
    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name


class Obj:
    """What ``REDUCE``, ``NEWOBJ``, ``OBJ`` or ``INST`` would have built; ``state`` is what ``BUILD`` set."""

    __slots__ = ("args", "cls", "state")

    def __init__(self, cls: Any, args: Any) -> None:
        self.cls = cls
        self.args = args
        self.state: Any = None


class Blob:
    """A bytes or string value too long to keep."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


class PDict:
    __slots__ = ("pairs",)

    def __init__(self) -> None:
        self.pairs: List[Tuple[Any, Any]] = []

    def get(self, key: str) -> Any:
        for k, v in self.pairs:
            if k == key:
                return v
        return UNKNOWN

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.pairs)


class PList:
    __slots__ = ("items",)

    def __init__(self, items: Optional[List[Any]] = None) -> None:
        self.items: List[Any] = (items or [])[:KEEP]

    def extend(self, items: List[Any]) -> None:
        room = KEEP - len(self.items)
        if room > 0:
            self.items.extend(items[:room])


class Unknown:
    """A value the walk cannot know (a persistent id, an extension code, an out-of-band buffer)."""


UNKNOWN = Unknown()


def keep(arg: Any) -> Any:
    if isinstance(arg, (bytes, bytearray)):
        return Blob(len(arg)) if len(arg) > KEEP_BYTES else bytes(arg)
    if isinstance(arg, str) and len(arg) > KEEP_TEXT:
        return Blob(len(arg))
    return arg


def cls_of(obj: Obj) -> Any:
    """The class an object was made of: copyreg's ``_reconstructor(cls, base, state)`` names it first."""
    cls = obj.cls
    named = isinstance(cls, Global) and (cls.module, cls.name) in _RECONSTRUCTORS
    if named and isinstance(obj.args, tuple) and obj.args:
        return obj.args[0]
    return cls


def is_wrapper(value: Any) -> bool:
    if not isinstance(value, Obj):
        return False
    cls = cls_of(value)
    return isinstance(cls, Global) and (cls.module, cls.name) in _WRAPPERS


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def array_layout(wrapper: Obj) -> Tuple[int, bool, bool]:
    """``(bytes, padded, of objects)`` of the array that follows a joblib ``NumpyArrayWrapper``; raises
    ``Malformed`` when its shape or dtype cannot be read (the walk cannot know where the pickle resumes)."""
    state = wrapper.state
    if not isinstance(state, PDict):
        raise Malformed("joblib array wrapper without a readable state: cannot find where the pickle resumes")
    shape, dtype = state.get("shape"), state.get("dtype")
    if isinstance(shape, PList):
        shape = tuple(shape.items)
    if not isinstance(shape, tuple) or not all(_is_int(n) and n >= 0 for n in shape):
        raise Malformed("joblib array of unreadable shape: cannot find where the pickle resumes")
    count = 1
    for n in shape:
        count *= n
    if not isinstance(dtype, Obj) or not isinstance(dtype.args, tuple) or not dtype.args:
        raise Malformed("joblib array of unreadable dtype: cannot find where the pickle resumes")
    code = dtype.args[0]
    dstate = dtype.state if isinstance(dtype.state, tuple) else ()
    hasobject = bool(isinstance(code, str) and code[:1] == "O")
    if len(dstate) > 7 and _is_int(dstate[7]):
        hasobject = hasobject or bool(dstate[7] & 1)
    itemsize = dstate[5] if len(dstate) > 5 and _is_int(dstate[5]) and dstate[5] > 0 else None
    match = _ITEMSIZE.match(code) if isinstance(code, str) else None
    if itemsize is None and match:
        itemsize = int(match.group(1))
    if itemsize is None and not hasobject:
        raise Malformed(f"joblib array of dtype {str(code)[:40]!r} of unknown item size")
    align = state.get("numpy_array_alignment_bytes")
    padded = state.has("numpy_array_alignment_bytes") and align is not None and not isinstance(align, Unknown)
    return count * (itemsize or 0), padded, hasobject
