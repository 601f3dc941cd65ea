"""Walk a pickle's opcodes without unpickling it: the globals it names, and the version stamps it carries.

``pickletools.genops`` decodes the opcodes; a small symbolic stack machine follows them far enough to resolve
``STACK_GLOBAL``'s two strings (pushed directly or fetched from the memo), to see the dicts that
``__getstate__`` returns (scikit-learn's ``_sklearn_version``), and to find where joblib's raw array bytes sit:
joblib writes each numpy array as a ``NumpyArrayWrapper`` and, right after that object's ``BUILD``, the array's
bytes outside the pickle (one padding-length byte and padding when the wrapper says so; a nested pickle for
arrays of Python objects). Those bytes are skipped, by a seek where the file allows it.

Nothing the stream names is imported or called: a ``REDUCE`` of ``posix.system`` is a reference, nothing more.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from envcheck.modelfiles import pickle_values as pv
from envcheck.modelfiles.bounded import Budget, Malformed, Stop, Stream, Truncated
from envcheck.modelfiles.interface import MAX_NAME, Draft, WrittenBy

#: Distinct references kept per file.
MAX_REFERENCES = 20_000

# pickletools' messages for a stream that ends early (the rest are malformed streams).
_ENDED = ("exhausted", "not enough data", "only", "no newline")
_GENOPS_ERRORS = (ValueError, EOFError, OverflowError, MemoryError, Warning)


@dataclass
class Scanned:
    """One pickle walked to its ``STOP``."""

    value: Any
    """What ``STOP`` returned, as far as the walk knows it (an int for torch's legacy magic number)."""
    protocol: int
    arrays: int
    """joblib arrays whose bytes were skipped."""


class _Walk:
    """The symbolic stack machine for one pickle."""

    def __init__(self, stream: Stream, budget: Budget, draft: Draft, seen: Set[str], joblib: bool) -> None:
        self.stream = stream
        self.budget = budget
        self.draft = draft
        self.seen = seen
        self.joblib = joblib
        self.stack: List[Any] = []
        self.marks: List[int] = []
        self.memo: Dict[int, Any] = {}
        self.memo_full = False
        self.protocol = 0
        self.arrays = 0
        self.pos: Optional[int] = 0

    # -- stack ---------------------------------------------------------------------------------------------
    def _floor(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self) -> Any:
        if len(self.stack) <= self._floor():
            raise Malformed(f"malformed pickle at byte {self.pos}: stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if len(self.stack) <= self._floor():
            raise Malformed(f"malformed pickle at byte {self.pos}: stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> List[Any]:
        if not self.marks:
            raise Malformed(f"malformed pickle at byte {self.pos}: no MARK to pop")
        at = self.marks.pop()
        items = self.stack[at:]
        del self.stack[at:]
        return items

    # -- findings ------------------------------------------------------------------------------------------
    def reference(self, module: Any, name: Any) -> None:
        if not isinstance(module, str) or not isinstance(name, str):
            self.draft.note(f"a global at byte {self.pos} is named by values that are not strings (unresolved)")
            return
        if not module or not name or len(module) > MAX_NAME or len(name) > MAX_NAME:
            self.draft.note(f"a global at byte {self.pos} has an empty or over-long name (skipped)")
            return
        ref = f"{module}:{name}"
        if ref in self.seen:
            return
        if len(self.seen) >= MAX_REFERENCES:
            self.draft.note(f"more than {MAX_REFERENCES} distinct globals: the rest are not listed")
            return
        self.seen.add(ref)
        self.draft.references.append(ref)

    def dict_item(self, key: Any, value: Any) -> None:
        if key == "_sklearn_version" and isinstance(value, str):
            found = self.draft.written_by
            if found is None:
                self.draft.written_by = WrittenBy("scikit-learn", value)
            elif found.package == "scikit-learn" and found.version != value:
                self.draft.note(f"objects of several scikit-learn versions: {found.version}, {value}")

    def set_items(self, target: Any, pairs: List[Tuple[Any, Any]]) -> None:
        for k, v in pairs:
            self.dict_item(k, v)
        if isinstance(target, pv.PDict):
            room = pv.KEEP - len(target.pairs)
            if room > 0:
                target.pairs.extend(pairs[:room])

    def memo_put(self, index: int) -> None:
        value = self.top()
        if index in self.memo or len(self.memo) < self.budget.limits.max_memo:
            self.memo[index] = value
        elif not self.memo_full:
            self.memo_full = True
            self.draft.note(
                f"cap reached: {self.budget.limits.max_memo} memo entries (max_memo); later "
                "back-references are unresolved"
            )

    def memo_get(self, index: int) -> Any:
        if index in self.memo:
            return self.memo[index]
        if not self.memo_full:
            raise Malformed(f"malformed pickle at byte {self.pos}: memo entry {index} was never stored")
        return pv.UNKNOWN

    # -- joblib --------------------------------------------------------------------------------------------
    def skip_array(self, wrapper: pv.Obj) -> None:
        nbytes, padded, hasobject = pv.array_layout(wrapper)
        self.arrays += 1
        if hasobject:
            _Walk(self.stream, self.budget, self.draft, self.seen, joblib=False).run()
            return
        if padded:
            pad = self.stream.read(1)
            if not pad:
                raise Truncated(f"truncated stream at byte {self.stream.tell()}: joblib array padding missing")
            self.stream.skip(pad[0])
        self.stream.skip(nbytes)

    # -- the walk ------------------------------------------------------------------------------------------
    def run(self) -> Scanned:
        ops = pickletools.genops(self.stream)  # type: ignore[arg-type]
        while True:
            try:
                op, arg, self.pos = next(ops)
            except StopIteration:
                raise Truncated(f"truncated stream at byte {self.stream.tell()}") from None
            except Stop:
                raise
            except _GENOPS_ERRORS as e:
                text = str(e)
                at = self.stream.tell()
                if isinstance(e, ValueError) and any(w in text for w in _ENDED):
                    raise Truncated(f"truncated stream at byte {at}") from e
                raise Malformed(f"malformed pickle near byte {at}: {text[:120]}") from e
            self.budget.take_op()
            name = op.name
            if name == "STOP":
                value = self.pop() if self.stack else pv.UNKNOWN
                return Scanned(value=value, protocol=self.protocol, arrays=self.arrays)
            handler = _HANDLERS.get(name)
            if handler is not None:
                handler(self, arg)
            elif op.arg is not None and op.stack_after and not op.stack_before:
                self.stack.append(pv.keep(arg))  # a constant: int, float, string, bytes
            else:
                raise Malformed(f"malformed pickle at byte {self.pos}: opcode {name} not understood")


def _push(value: Callable[[], Any]) -> Callable[[_Walk, Any], None]:
    return lambda w, arg: w.stack.append(value())


def _tuple_n(n: int) -> Callable[[_Walk, Any], None]:
    def handler(w: _Walk, arg: Any) -> None:
        items = [w.pop() for _ in range(n)][::-1]
        w.stack.append(tuple(items))

    return handler


def _global(w: _Walk, arg: Any) -> None:
    module, _, name = str(arg).partition(" ")
    w.reference(module, name)
    w.stack.append(pv.Global(module, name))


def _stack_global(w: _Walk, arg: Any) -> None:
    name = w.pop()
    module = w.pop()
    w.reference(module, name)
    w.stack.append(pv.Global(module, name) if isinstance(module, str) and isinstance(name, str) else pv.UNKNOWN)


def _inst(w: _Walk, arg: Any) -> None:
    module, _, name = str(arg).partition(" ")
    w.reference(module, name)
    w.stack.append(pv.Obj(pv.Global(module, name), tuple(w.pop_mark())))


def _obj(w: _Walk, arg: Any) -> None:
    items = w.pop_mark()
    if not items:
        raise Malformed(f"malformed pickle at byte {w.pos}: OBJ without a class")
    w.stack.append(pv.Obj(items[0], tuple(items[1:])))


def _reduce(w: _Walk, arg: Any) -> None:
    args = w.pop()
    func = w.pop()
    w.stack.append(pv.Obj(func, args))


def _newobj_ex(w: _Walk, arg: Any) -> None:
    w.pop()  # kwargs
    _reduce(w, arg)


def _build(w: _Walk, arg: Any) -> None:
    state = w.pop()
    obj = w.top()
    if isinstance(state, pv.PDict):
        for k, v in state.pairs:
            w.dict_item(k, v)
    if isinstance(obj, pv.Obj):
        obj.state = state
        if w.joblib and pv.is_wrapper(obj):
            w.skip_array(obj)


def _dict(w: _Walk, arg: Any) -> None:
    items = w.pop_mark()
    d = pv.PDict()
    w.set_items(d, list(zip(items[0::2], items[1::2])))
    w.stack.append(d)


def _setitem(w: _Walk, arg: Any) -> None:
    value = w.pop()
    key = w.pop()
    w.set_items(w.top(), [(key, value)])


def _setitems(w: _Walk, arg: Any) -> None:
    items = w.pop_mark()
    w.set_items(w.top(), list(zip(items[0::2], items[1::2])))


def _append(w: _Walk, arg: Any) -> None:
    value = w.pop()
    target = w.top()
    if isinstance(target, pv.PList):
        target.extend([value])


def _appends(w: _Walk, arg: Any) -> None:
    items = w.pop_mark()
    target = w.top()
    if isinstance(target, pv.PList):
        target.extend(items)


def _additems(w: _Walk, arg: Any) -> None:
    w.pop_mark()
    w.top()


def _pop(w: _Walk, arg: Any) -> None:
    if len(w.stack) > w._floor():
        w.stack.pop()
    else:
        w.pop_mark()


def _proto(w: _Walk, arg: Any) -> None:
    w.protocol = int(arg)


def _ext(w: _Walk, arg: Any) -> None:
    w.draft.note(f"copyreg extension code {arg}: the global it stands for is not named in the file")
    w.stack.append(pv.UNKNOWN)


def _binpersid(w: _Walk, arg: Any) -> None:
    w.pop()
    w.stack.append(pv.UNKNOWN)


def _pop_mark(w: _Walk, arg: Any) -> None:
    w.pop_mark()


def _nothing(w: _Walk, arg: Any) -> None:
    pass


_HANDLERS: Dict[str, Callable[[_Walk, Any], None]] = {
    "NONE": _push(lambda: None),
    "NEWTRUE": _push(lambda: True),
    "NEWFALSE": _push(lambda: False),
    "EMPTY_TUPLE": _push(tuple),
    "EMPTY_LIST": _push(pv.PList),
    "EMPTY_DICT": _push(pv.PDict),
    "EMPTY_SET": _push(pv.PList),
    "MARK": lambda w, arg: w.marks.append(len(w.stack)),
    "TUPLE": lambda w, arg: w.stack.append(tuple(w.pop_mark())),
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "LIST": lambda w, arg: w.stack.append(pv.PList(w.pop_mark())),
    "FROZENSET": lambda w, arg: w.stack.append(pv.PList(w.pop_mark())),
    "DICT": _dict,
    "APPEND": _append,
    "APPENDS": _appends,
    "SETITEM": _setitem,
    "SETITEMS": _setitems,
    "ADDITEMS": _additems,
    "POP": _pop,
    "POP_MARK": _pop_mark,
    "DUP": lambda w, arg: w.stack.append(w.top()),
    "PUT": lambda w, arg: w.memo_put(int(arg)),
    "BINPUT": lambda w, arg: w.memo_put(int(arg)),
    "LONG_BINPUT": lambda w, arg: w.memo_put(int(arg)),
    "MEMOIZE": lambda w, arg: w.memo_put(len(w.memo)),
    "GET": lambda w, arg: w.stack.append(w.memo_get(int(arg))),
    "BINGET": lambda w, arg: w.stack.append(w.memo_get(int(arg))),
    "LONG_BINGET": lambda w, arg: w.stack.append(w.memo_get(int(arg))),
    "GLOBAL": _global,
    "STACK_GLOBAL": _stack_global,
    "INST": _inst,
    "OBJ": _obj,
    "REDUCE": _reduce,
    "NEWOBJ": _reduce,
    "NEWOBJ_EX": _newobj_ex,
    "BUILD": _build,
    "EXT1": _ext,
    "EXT2": _ext,
    "EXT4": _ext,
    "PERSID": _push(lambda: pv.UNKNOWN),
    "BINPERSID": _binpersid,
    "NEXT_BUFFER": _push(lambda: pv.UNKNOWN),
    "READONLY_BUFFER": _nothing,
    "PROTO": _proto,
    "FRAME": _nothing,
}


def scan(stream: Stream, budget: Budget, draft: Draft, seen: Set[str], joblib: bool = True) -> Scanned:
    """Walk one pickle from the stream's position to its ``STOP``, adding what it names to ``draft``.

    ``seen`` holds the references already listed (shared by the pickles of one file). ``joblib``: follow
    joblib's convention of raw array bytes after each ``NumpyArrayWrapper``. Raises ``Stop`` (truncated,
    malformed, a cap reached); what was found before it stays in ``draft``."""
    return _Walk(stream, budget, draft, seen, joblib).run()
