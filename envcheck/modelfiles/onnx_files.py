"""ONNX ``ModelProto`` read with a minimal protobuf decoder (the ``onnx`` package is not needed): IR version,
producer, domain, model version and the opsets imported. The graph (field 7), usually nearly all of the file,
is skipped by a seek, never copied.

Fields read (onnx.proto): ir_version=1, producer_name=2, producer_version=3, domain=4, model_version=5,
opset_import=8 (OperatorSetIdProto: domain=1, version=2).
"""

from __future__ import annotations

from typing import Dict, Iterator, Tuple, Union

from envcheck.modelfiles.bounded import Malformed, Source, Stream, Truncated
from envcheck.modelfiles.interface import Draft, ModelFormat, Reader, Sample, WrittenBy

VARINT, I64, LEN, I32 = 0, 1, 2, 5
#: ModelProto's fields and their wire types (onnx.proto3), for detection and strict reading.
MODEL_FIELDS = {1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN, 25: LEN}
_TEXT = {2: "producer_name", 3: "producer_version", 4: "domain"}
#: Longest string field or opset entry read; longer ones are skipped.
MAX_FIELD = 4096
MAX_OPSETS = 256


def varint(data: bytes, at: int) -> Tuple[int, int]:
    """The varint at ``at`` in ``data`` and the offset after it (pure)."""
    value = shift = 0
    for i in range(at, min(at + 10, len(data))):
        value |= (data[i] & 0x7F) << shift
        if not data[i] & 0x80:
            return value, i + 1
        shift += 7
    raise Malformed("bad protobuf varint")


def fields(data: bytes) -> Iterator[Tuple[int, int, Union[int, bytes]]]:
    """``(field, wire type, value)`` of a small message held whole (pure)."""
    at = 0
    while at < len(data):
        key, at = varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, at = varint(data, at)
            yield number, wire, value
        elif wire == LEN:
            n, at = varint(data, at)
            if at + n > len(data):
                raise Malformed("protobuf field past its message")
            yield number, wire, data[at : at + n]
            at += n
        elif wire in (I64, I32):
            at += 8 if wire == I64 else 4
        else:
            raise Malformed(f"protobuf wire type {wire}")
    if at != len(data):
        raise Malformed("protobuf message ends inside a field")


def opset(data: bytes) -> Tuple[str, int]:
    """An OperatorSetIdProto: its domain (``ai.onnx`` for the empty default) and version (pure)."""
    domain, version = "", 0
    for number, _wire, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            domain = value.decode("utf-8", "replace")
        elif number == 2 and isinstance(value, int):
            version = value
    return domain or "ai.onnx", version


def looks_like_model(head: bytes) -> bool:
    """``head`` starts with an ir_version field, then another ModelProto field of the right wire type."""
    try:
        key, at = varint(head, 0)
        if key != 0x08:
            return False
        ir, at = varint(head, at)
        if not 1 <= ir <= 100 or at >= len(head):
            return False
        key, at = varint(head, at)
    except Malformed:
        return False
    return MODEL_FIELDS.get(key >> 3) == key & 7


def _stream_varint(stream: Stream) -> int:
    value = shift = 0
    for _ in range(10):
        b = stream.read(1)
        if not b:
            raise Truncated(f"truncated stream at byte {stream.tell()}")
        value |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return value
        shift += 7
    raise Malformed(f"bad protobuf varint at byte {stream.tell()}")


class ONNXReader(Reader):
    format = ModelFormat.ONNX

    def claims(self, sample: Sample) -> bool:
        return sample.members is None and looks_like_model(sample.head)

    def read(self, source: Source, draft: Draft) -> None:
        stream = source.stream
        stream.seek(0)
        text: Dict[str, str] = {}
        opsets = 0
        while stream.tell() < source.sample.size:
            key = _stream_varint(stream)
            number, wire = key >> 3, key & 7
            if number in MODEL_FIELDS and MODEL_FIELDS[number] != wire:
                raise Malformed(f"ONNX field {number} of wire type {wire} at byte {stream.tell()}")
            if wire == VARINT:
                value = _stream_varint(stream)
                if number == 1:
                    draft.versions["onnx.ir_version"] = str(value)
                elif number == 5:
                    draft.versions["onnx.model_version"] = str(value)
            elif wire == LEN:
                n = _stream_varint(stream)
                if (number in _TEXT or number == 8) and n <= MAX_FIELD:
                    data = stream.read(n)
                    if len(data) != n:
                        raise Truncated(f"truncated stream at byte {stream.tell()}")
                    if number in _TEXT:
                        text[_TEXT[number]] = data.decode("utf-8", "replace")
                    elif opsets < MAX_OPSETS:
                        opsets += 1
                        domain, version = opset(data)
                        if len(domain) <= 100 and domain.isprintable():
                            draft.versions[f"onnx.opset.{domain}"] = str(version)
                else:
                    stream.skip(n)
            elif wire in (I64, I32):
                stream.skip(8 if wire == I64 else 4)
            else:
                raise Malformed(f"protobuf wire type {wire} at byte {stream.tell()}")
        name, made_by = text.get("producer_name", ""), text.get("producer_version", "")
        if name and len(name) <= 100 and name.isprintable():
            ok = len(made_by) <= 100 and made_by.isprintable()
            draft.written_by = WrittenBy(name, made_by if ok else "")
        domain = text.get("domain", "")
        if domain and len(domain) <= 100 and domain.isprintable():
            draft.versions["onnx.domain"] = domain
