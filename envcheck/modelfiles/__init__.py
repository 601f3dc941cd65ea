"""Read what a model file needs, statically: the globals its pickles name, the library and version that wrote
it, its format's version stamps, without unpickling, importing or running anything it holds.

``read_model_needs(path)`` is the entry point; ``read_stream`` reads an open file; ``module_owners`` maps the
modules found to the distributions that provide them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envcheck._lazy import lazy_names
from envcheck.modelfiles.interface import ModelFormat, ModelNeeds, ModelReadError, Reader, Sample, WrittenBy

# The format readers are imported when a model file is read: a snapshot without --model reads none.
__getattr__ = lazy_names(
    __name__,
    {
        "ReadLimits": "envcheck.modelfiles.bounded",
        "READERS": "envcheck.modelfiles.detect",
        "read_model_needs": "envcheck.modelfiles.detect",
        "read_stream": "envcheck.modelfiles.detect",
        "reader_for": "envcheck.modelfiles.detect",
        "STDLIB": "envcheck.modelfiles.owners",
        "ModuleOwners": "envcheck.modelfiles.owners",
        "module_owners": "envcheck.modelfiles.owners",
    },
)

if TYPE_CHECKING:
    from envcheck.modelfiles.bounded import ReadLimits
    from envcheck.modelfiles.detect import READERS, read_model_needs, read_stream, reader_for
    from envcheck.modelfiles.owners import STDLIB, ModuleOwners, module_owners

__all__ = [
    "READERS",
    "STDLIB",
    "ModelFormat",
    "ModelNeeds",
    "ModelReadError",
    "ModuleOwners",
    "ReadLimits",
    "Reader",
    "Sample",
    "WrittenBy",
    "module_owners",
    "read_model_needs",
    "read_stream",
    "reader_for",
]
