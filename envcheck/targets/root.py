"""A filesystem tree (``--root DIR``): an unpacked image, a mounted volume. Read statically: OS, Python and
packages only; the hardware it will run on is not there to see."""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping, Optional, Sequence

from envcheck.contract import ProbeOutput
from envcheck.targets.interface import FileView, Target, TargetError
from envcheck.targets.rootfs import RootError, probe_root


class RootTarget(Target):
    """A folder holding a Linux filesystem with a Python in it."""

    kind = "root"
    shows_hardware = False

    def __init__(self, path: str, environ: Optional[Mapping[str, str]] = None, interpreter: Optional[str] = None):
        self.path = path
        self.environ = dict(environ or {})
        self.interpreter = interpreter

    @property
    def name(self) -> str:
        return f"root:{self.path}"

    @property
    def hardware_note(self) -> str:
        return "a filesystem tree does not show the hardware it will run on"

    @contextlib.contextmanager
    def files(self) -> Iterator[FileView]:
        """The tree itself, and the sys.path folders of the interpreter it would run."""
        from envcheck.verify.sites import tree_sites

        with self._reading():
            sites = tree_sites(self.path, self.environ, self.interpreter)
        yield FileView(self.path, tuple(sites))

    def probe(self, extra_env: Sequence[str] = ()) -> ProbeOutput:
        with self._reading():
            return probe_root(self.path, self.environ, interpreter=self.interpreter, extra_env=extra_env)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Reading the tree: what fails there as one line naming it."""
        try:
            yield
        except RootError as e:
            raise TargetError(f"--root {self.path}: {e}") from e
        except OSError as e:
            raise TargetError(f"--root {self.path}: cannot read {e.filename or ''} ({e.strerror})".strip()) from e
