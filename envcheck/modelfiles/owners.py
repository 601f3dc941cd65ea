"""Which distributions provide the modules a model file names (pure).

``provides`` has the shape of ``importlib.metadata.packages_distributions()``: a top-level module name to the
distributions that install it. The caller chooses where it comes from (the lockfile's RECORD/top_level data, the
candidate's environment); nothing here reads an environment.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Collection, Dict, FrozenSet, Iterable, Mapping, Sequence, Tuple

from packaging.utils import canonicalize_name

#: Standard-library modules pickles name, for interpreters without ``sys.stdlib_module_names`` (3.9), and
#: Python 2's names that protocol 0-2 pickles still carry.
_PICKLE_STDLIB = frozenset(
    {
        *("__builtin__", "_codecs", "_collections_abc", "_io", "_operator", "_sre", "abc", "array", "builtins"),
        *("codecs", "collections", "copy_reg", "copyreg", "datetime", "decimal", "enum", "fractions"),
        *("functools", "io", "itertools", "nt", "operator", "os", "pathlib", "posix", "re", "subprocess"),
        *("sys", "types", "typing", "uuid"),
    }
)
STDLIB: FrozenSet[str] = frozenset(getattr(sys, "stdlib_module_names", ())) | _PICKLE_STDLIB


@dataclass(frozen=True)
class ModuleOwners:
    """The distributions behind a model's modules."""

    distributions: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    """Module -> canonical names of the distributions that provide it, sorted."""
    stdlib: Tuple[str, ...] = ()
    """Modules of the standard library (no distribution to judge)."""
    unowned: Tuple[str, ...] = ()
    """Modules no distribution provides: a missing package, or code only the training script had
    (``__main__``)."""

    @property
    def all_distributions(self) -> Tuple[str, ...]:
        """Every distribution the model needs, sorted, once each."""
        return tuple(sorted({d for ds in self.distributions.values() for d in ds}))


def module_owners(
    modules: Iterable[str], provides: Mapping[str, Sequence[str]], stdlib: Collection[str] = STDLIB
) -> ModuleOwners:
    """Sort each top-level module of ``modules`` into provided (by which distributions), stdlib or unowned.

    A distribution that provides a module wins over the standard library (a backport installed under the same
    name is what gets imported)."""
    found: Dict[str, Tuple[str, ...]] = {}
    std, unowned = set(), set()
    for module in modules:
        top = module.split(".", 1)[0].split(":", 1)[0]
        if not top:
            continue
        dists = provides.get(top, ())
        if dists:
            found[top] = tuple(sorted({canonicalize_name(d) for d in dists}))
        elif top in stdlib:
            std.add(top)
        else:
            unowned.add(top)
    return ModuleOwners(
        distributions=dict(sorted(found.items())), stdlib=tuple(sorted(std)), unowned=tuple(sorted(unowned))
    )
