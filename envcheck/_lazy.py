"""Names a package offers without importing the modules that hold them until one is first used (PEP 562).

``envcheck snapshot`` must not pay for the golden cases, reporters and comparison rules it never runs: a package's
``__init__`` lists its public names here, and a type checker still sees them through an ``if TYPE_CHECKING:``
import of the same names.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``where`` maps each public name to the module that holds it, or
    a subpackage's name to itself (``golden``: ``envcheck.golden``).

    The first access imports that module and keeps the value on the package, so the hook runs once per name.
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = importlib.import_module(module)
        value = imported if module == f"{package}.{name}" else getattr(imported, name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
