"""JSON documents inside model files (Keras config, skops schema, safetensors header): parsed under a size cap,
walked without recursion."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator

from envcheck.modelfiles.bounded import Malformed

#: Containers visited in one document, at most.
MAX_NODES = 1_000_000


def parse(data: bytes, what: str) -> Any:
    """``data`` parsed as JSON; ``Malformed`` naming ``what`` when it is not (too deep included)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise Malformed(f"{what} is not valid JSON ({str(e)[:80]})") from e


def dicts(doc: Any, limit: int = MAX_NODES) -> Iterator[Dict[str, Any]]:
    """Every JSON object in ``doc``, depth first, without recursion; at most ``limit`` containers visited."""
    todo = [doc]
    visited = 0
    while todo and visited < limit:
        node = todo.pop()
        if isinstance(node, dict):
            visited += 1
            yield node
            todo.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            visited += 1
            todo.extend(reversed(node))


def text(value: Any, limit: int = 200) -> str:
    """A short printable form of a JSON scalar for a version field; empty for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    out = str(value)
    return out if len(out) <= limit and out.isprintable() else ""
