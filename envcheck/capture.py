"""Taking a snapshot: a target's probe output plus this machine's hardware, composed into a ``Fingerprint``."""

from __future__ import annotations

import dataclasses
import datetime
import sysconfig
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence, Tuple, TypeVar

from envcheck import __version__
from envcheck.collect.interface import Collected, Collector
from envcheck.footprint import tool_packages
from envcheck.model import (
    NOT_INSPECTED,
    OK,
    UNAVAILABLE,
    Fingerprint,
    Meta,
    ModelFile,
    NativeLib,
    NumericsInfo,
    Source,
    TorchRuntime,
)
from envcheck.software import ProbeDataError, software
from envcheck.targets.interface import Target, TargetError

if TYPE_CHECKING:
    from envcheck.evidence.interface import Runner

T = TypeVar("T")

#: Builds the hardware collectors for a snapshot. Tests pass their own to replay recorded machines.
HardwareFactory = Callable[[], Sequence[Collector[Any]]]


def _by_path(shipped: Tuple[NativeLib, ...]) -> Dict[str, NativeLib]:
    """The libraries packages ship, by site-relative path: a mapped one found here is not read again."""
    return {lib.path: lib for lib in shipped if lib.package}


def take(
    target: Target,
    *,
    models: Sequence[str] = (),
    extra_env: Sequence[str] = (),
    hardware: Optional[HardwareFactory] = None,
    now: Optional[datetime.datetime] = None,
    loaded: bool = False,
    models_base: Optional[str] = None,
    numerics: Optional[Runner] = None,
) -> Fingerprint:
    """Fingerprint ``target``. Raises ``TargetError`` when it cannot be read and ``ModelPathError`` for a bad
    model path; a section that could not be read is recorded as such, never raised.

    ``loaded`` records the native libraries mapped into this very process: meaningful when the caller is the
    training or serving process (the Python API), not when it is the ``envcheck`` command itself.

    ``models_base`` is the folder of the lockfile being written: model paths are recorded relative to it
    (``digest_models``) and ``meta.model_paths`` says so; None records them as given (relative to the working
    directory).

    ``numerics``: run the numerics battery through this runner (a child of the target's interpreter; opt-in,
    ``--numerics``) and record it; raises ``NumericsError`` when it cannot run.
    """
    try:
        read = software(target.probe(extra_env))
    except ProbeDataError as e:
        raise TargetError(f"the probe returned {e}") from e
    sources, os_info, python, env, native = dict(read.sources), read.os, read.python, read.env, read.native
    tool = tool_packages(read.packages, python.markers)
    packages = tuple(dataclasses.replace(p, tool=True) if p.name in tool else p for p in read.packages)

    mapped: Optional[Collected[Tuple[NativeLib, ...]]] = None
    by_path = _by_path(native.shipped)
    torch: Optional[TorchRuntime] = None
    if loaded and target.in_process:
        from envcheck.collect.frameworks import torch_runtime
        from envcheck.collect.native import LoadedLibrariesCollector

        site_dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
        mapped = LoadedLibrariesCollector(site_dirs=site_dirs, shipped=by_path).collect()
        torch = torch_runtime()
    elif not target.in_process:
        mapped = target.loaded_libraries(python, by_path)
    if mapped is None:
        note = "loaded libraries: not inspected (the Python API inside the process, or --pid, reads them)"
        shipped_source = sources.get("native", Source())
        sources["native"] = dataclasses.replace(shipped_source, detail=f"{shipped_source.detail}; {note}")
    else:
        native = dataclasses.replace(native, loaded=mapped.value)
        shipped_detail = sources.get("native", Source()).detail
        if mapped.source.status != OK:
            detail = f"{shipped_detail}; loaded libraries: {mapped.source.status} ({mapped.source.detail})"
        else:
            detail = f"{shipped_detail}, {mapped.source.detail}"
        sources["native"] = dataclasses.replace(sources.get("native", Source()), detail=detail)

    values: Dict[str, Any] = {}
    if target.shows_hardware:
        for collector in (hardware or target.hardware)():
            result: Collected[Any] = _safe_collect(collector)
            if result.value is not None:
                values[collector.section] = result.value
            sources[collector.section] = result.source
    else:
        for section in ("cpu", "memory", "gpu"):
            sources[section] = Source(NOT_INSPECTED, target.hardware_note)

    if "gpu" in values:
        from envcheck.collect.cuda import cuda_shipped

        shipped = cuda_shipped(packages, native.builds)
        values["gpu"] = dataclasses.replace(values["gpu"], cuda_shipped=shipped, torch=torch)
    model_files: Tuple[ModelFile, ...] = ()
    if models:
        from envcheck.collect.models import digest_models, resolve_writers

        model_files = resolve_writers(digest_models(models, base=models_base), packages)
    sources["models"] = (
        Source(
            OK,
            f"{len(model_files)} file{'' if len(model_files) == 1 else 's'} hashed and read for what they "
            "reference (never unpickled)",
        )
        if models
        else Source(NOT_INSPECTED, "no --model given")
    )
    if tool and model_files:
        # what the model files need is the model's, even where envcheck's own requirements pulled it in
        from envcheck.modelscope import model_scope

        needed = model_scope(Fingerprint(python=python, packages=packages, models=model_files)).needed
        packages = tuple(
            dataclasses.replace(p, tool=False) if p.tool and p.name in needed else p for p in packages
        )
        tool = frozenset(p.name for p in packages if p.tool)
    if tool:
        detail = sources.get("packages", Source()).detail
        note = f"{len(tool)} present only for envcheck itself (tool = true: never reported missing)"
        sources["packages"] = dataclasses.replace(sources.get("packages", Source()), detail=f"{detail}; {note}")
    created = (now or datetime.datetime.now(datetime.timezone.utc)).replace(microsecond=0)
    meta = Meta(
        tool=f"envcheck {__version__}",
        created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        target=target.name,
        model_paths="lockfile" if models and models_base is not None else None,
    )
    fp = Fingerprint(
        meta=meta,
        sources=dict(sorted(sources.items())),
        os=os_info,
        python=python,
        packages=packages,
        native=native,
        env=env,
        models=model_files,
        numerics=None if numerics is None else _numerics(numerics),
        **values,
    )
    return fp


def _numerics(runner: Runner) -> NumericsInfo:
    from envcheck.numerics.run import run_battery  # brings the targets' runners: only when asked

    return run_battery(runner)


def _safe_collect(collector: Collector[T]) -> Collected[T]:
    """A collector bug must not lose the whole snapshot: record the section as unavailable instead."""
    try:
        return collector.collect()
    except Exception as e:  # the collectors' contract is to not raise; this keeps a broken one contained
        default: Any = None
        return Collected(default, Source(UNAVAILABLE, f"{type(e).__name__}: {e}"))
