"""A lockfile as a CycloneDX 1.6 SBOM (JSON), built with cyclonedx-python-lib's model and JSON outputter.

What goes where, and why:

* ``metadata.component`` is the environment itself (``container`` for an image or container target, else
  ``platform``), with the operating system (``operating-system``) and the Python interpreter (``platform``) as
  its sub-components; ``metadata.timestamp`` is the snapshot's capture time and ``serialNumber`` a UUID derived
  from the lockfile's content, so the same lockfile always gives the same bytes.
* Each model file is a ``machine-learning-model`` component with its SHA-256 in ``hashes``.
* Each distribution is a ``library`` with a ``pkg:pypi`` purl. Its RECORD digest goes in the property
  ``envcheck:package:record_digest``, not in ``hashes``: CycloneDX hashes are of the component's artifact (the
  wheel a consumer would compare with PyPI's), and the RECORD digest is envcheck's own normalised digest of the
  installed file list, which no other tool computes. A PEP 610 archive hash, which is of the artifact, is a hash.
* Native libraries (BLAS, OpenMP, CUDA) are ``library`` components the shipping distribution depends on; the CPU
  and each GPU are ``device`` components.
* What CycloneDX has no field for is a property under the ``envcheck:`` namespace.

The dependency graph: the environment depends on every component; a distribution on the installed distributions
its Requires-Dist names (markers evaluated against the lockfile's own marker environment, extras not selected)
and on the native libraries it ships; a model file on the distribution that wrote it.
"""

from __future__ import annotations

import posixpath
import re
import uuid
import warnings
from typing import Dict, Iterable, List, Optional, Set, Tuple

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL
from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envcheck import __version__
from envcheck.exporters.interface import Exported, content_digest, created_at, sha256_hex
from envcheck.model import OK, Fingerprint, GpuDevice, ModelFile, NativeLib, Package

SCHEMA = SchemaVersion.V1_6
#: Namespace of the serial numbers: a UUID 5 of the lockfile's content digest under it.
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://envcheck.dev/cyclonedx")
#: Targets whose environment is a container image or a running container.
_CONTAINER_TARGETS = ("image:", "image-archive:", "container:")
#: PEP 508 project names: what a ``pkg:pypi`` purl can name.
_PROJECT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
#: CPU flags that name a vector instruction set: the part of the flag list that decides which kernels run (x86's
#: ``smep`` is a protection feature, not Arm's SME).
_SIMD = re.compile(r"(sse|ssse|avx|fma|f16c|amx|asimd|neon|sve|vnni).*|sme(?!p$).*")
_ENVIRONMENT_REF = "environment"


def render(fp: Fingerprint) -> Exported:
    """The CycloneDX 1.6 JSON document for ``fp``, and what it leaves out (odd package names, bad digests)."""
    notes: List[str] = []
    root = _environment(fp)
    bom = Bom(
        serial_number=uuid.uuid5(SERIAL_NAMESPACE, content_digest(fp)),
        metadata=BomMetaData(
            timestamp=created_at(fp),
            component=root,
            properties=_metadata_properties(fp),
        ),
    )
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="envcheck", version=__version__)
    )
    packages = _packages(fp.packages, notes)
    natives = _natives(fp, notes)
    models = _models(fp.models, notes)
    devices = _devices(fp, notes)
    everything = [*packages.values(), *(c for c, _ in natives), *(c for c, _ in models), *devices]
    for component in everything:
        bom.components.add(component)
    bom.register_dependency(root, everything)
    _package_edges(bom, fp, packages)
    for component, package in natives:
        if package in packages:
            bom.register_dependency(packages[package], [component])
    for component, writer in models:
        if writer in packages:
            bom.register_dependency(component, [packages[writer]])
    for note in notes:
        bom.metadata.properties.add(Property(name="envcheck:export:note", value=note))
    with warnings.catch_warnings():
        # An empty lockfile's environment depends on nothing, truly; cyclonedx-python-lib < 11 warns about it.
        warnings.filterwarnings("ignore", "The Component this BOM is describing", UserWarning)
        text = make_outputter(bom, OutputFormat.JSON, SCHEMA).output_as_string(indent=2)
    return Exported(text + "\n", tuple(notes))


def _props(prefix: str, pairs: Iterable[Tuple[str, object]]) -> List[Property]:
    """Properties ``envcheck:PREFIX:KEY`` for the pairs whose value is set (not empty, None or False)."""
    out = []
    for key, value in pairs:
        if value is None or value == "" or value is False:
            continue
        text = "true" if value is True else str(value)
        out.append(Property(name=f"envcheck:{prefix}:{key}", value=text))
    return out


# --- the environment, its OS and Python ------------------------------------------------------------------------


def _environment(fp: Fingerprint) -> Component:
    target = fp.meta.target
    kind = ComponentType.CONTAINER if target.startswith(_CONTAINER_TARGETS) else ComponentType.PLATFORM
    return Component(
        type=kind,
        name=target or "environment",
        bom_ref=_ENVIRONMENT_REF,
        description=f"the environment envcheck fingerprinted ({fp.meta.tool or 'envcheck'}, {fp.meta.created})",
        components=[_os(fp), _python(fp)],
        properties=_props(
            "memory",
            [("total_bytes", fp.memory.total_bytes), ("cgroup_limit_bytes", fp.memory.cgroup_limit_bytes)],
        ),
    )


def _os(fp: Fingerprint) -> Component:
    o = fp.os
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=o.distro_id or o.system.lower() or "unknown",
        version=o.distro_version_id or None,
        description=o.distro_name or None,
        bom_ref="os",
        properties=_props(
            "os",
            [
                ("system", o.system),
                ("kernel", o.release),
                ("machine", o.machine),
                ("libc", f"{o.libc_family} {o.libc_version}".strip()),
                ("page_size", o.page_size),
                ("container", o.container),
            ],
        ),
    )


def _python(fp: Fingerprint) -> Component:
    p = fp.python
    return Component(
        type=ComponentType.PLATFORM,
        name=p.implementation or "python",
        version=p.version or None,
        bom_ref="python",
        properties=_props(
            "python",
            [
                ("soabi", p.soabi),
                ("abi_tag", p.abi_tag),
                ("platform_tag", p.platform_tag),
                ("best_tag", p.best_tag),
                ("free_threaded", p.free_threaded),
                ("in_venv", p.in_venv),
                ("executable", p.executable),
            ],
        ),
    )


def _metadata_properties(fp: Fingerprint) -> List[Property]:
    out = _props(
        "lockfile",
        [
            ("digest", fp.meta.digest),
            ("created", fp.meta.created),
            ("tool", fp.meta.tool),
            ("target", fp.meta.target),
        ],
    )
    for section in sorted(fp.sources):
        src = fp.sources[section]
        value = src.status if not src.detail else f"{src.status}: {src.detail}"
        out.append(Property(name=f"envcheck:source:{section}", value=value))
    return out


# --- distributions ---------------------------------------------------------------------------------------------


def _packages(packages: Iterable[Package], notes: List[str]) -> Dict[str, Component]:
    """Canonical name -> component, for the distributions a purl can name; the others are noted."""
    out: Dict[str, Component] = {}
    for pkg in packages:
        why = _unnameable(pkg)
        if why:
            notes.append(f"package {pkg.name!r} {pkg.version!r} left out: {why}")
            continue
        name = canonicalize_name(pkg.name)
        if name in out:
            notes.append(f"package {pkg.name!r} {pkg.version!r} left out: {name} is listed more than once")
            continue
        purl = PackageURL(type="pypi", name=name, version=pkg.version)
        archive = _archive_hash(pkg)
        out[name] = Component(
            type=ComponentType.LIBRARY,
            name=name,
            version=pkg.version,
            purl=purl,
            bom_ref=purl.to_string(),
            hashes=[archive] if archive is not None else [],
            properties=_props(
                "package",
                [
                    ("record_digest", pkg.record_digest),
                    ("installer", pkg.installer),
                    ("requested", pkg.requested),
                    ("wheel_tags", " ".join(pkg.wheel_tags)),
                    ("direct_url", pkg.direct_url.kind if pkg.direct_url else ""),
                    ("vcs_commit", pkg.direct_url.commit_id if pkg.direct_url else ""),
                    ("editable_digest", pkg.editable_digest),
                    ("shadows", " ".join(pkg.shadowed)),
                    ("tool", pkg.tool),
                ],
            ),
        )
    return out


def _unnameable(pkg: Package) -> str:
    """Why ``pkg`` cannot be a ``pkg:pypi`` purl, or empty."""
    if not _PROJECT_NAME.fullmatch(pkg.name):
        return "not a valid project name"
    if not pkg.version or not pkg.version.isprintable() or any(c.isspace() for c in pkg.version):
        return "no version, or one with spaces or control characters"
    return ""


def _archive_hash(pkg: Package) -> Optional[HashType]:
    """The PEP 610 archive hash (``sha256=HEX``), which is of the artifact installed, when it is a SHA-256."""
    if pkg.direct_url is None or not pkg.direct_url.archive_hash:
        return None
    alg, _, value = pkg.direct_url.archive_hash.replace(":", "=", 1).partition("=")
    hexdigest = sha256_hex(value) if alg.strip().lower() == "sha256" else None
    return None if hexdigest is None else HashType(alg=HashAlgorithm.SHA_256, content=hexdigest)


def _package_edges(bom: Bom, fp: Fingerprint, packages: Dict[str, Component]) -> None:
    """Each distribution depends on the installed ones its Requires-Dist names, where the marker holds."""
    environment: Dict[str, str] = {**fp.python.markers, "extra": ""}
    for pkg in fp.packages:
        component = packages.get(canonicalize_name(pkg.name)) if _PROJECT_NAME.fullmatch(pkg.name) else None
        if component is None:
            continue
        needs = []
        for text in pkg.requires:
            name = _required(text, environment, bool(fp.python.markers))
            if name is not None and name in packages and packages[name] is not component:
                needs.append(packages[name])
        if needs:
            bom.register_dependency(component, needs)


def _required(text: str, environment: Dict[str, str], has_markers: bool) -> Optional[str]:
    """The canonical name ``text`` requires in ``environment``, or None (not required there, or unreadable).

    A lockfile without a marker environment keeps only unconditional requirements: evaluating a marker would
    read this interpreter's environment instead of the one recorded."""
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    if req.marker is not None:
        if not has_markers:
            return None
        try:
            if not req.marker.evaluate(environment):
                return None
        except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
            return None
    return canonicalize_name(req.name)


# --- native libraries, models, devices -------------------------------------------------------------------------


def _natives(fp: Fingerprint, notes: List[str]) -> List[Tuple[Component, str]]:
    """(component, canonical name of the distribution that ships it or empty) per native library."""
    out: List[Tuple[Component, str]] = []
    seen: Set[str] = set()
    for origin, libs in (("shipped", fp.native.shipped), ("loaded", fp.native.loaded)):
        for lib in libs:
            ref = f"native:{origin}:{lib.path}"
            if ref in seen:
                notes.append(f"native library {lib.path!r} left out: listed more than once")
                continue
            seen.add(ref)
            package = canonicalize_name(lib.package) if _PROJECT_NAME.fullmatch(lib.package) else ""
            out.append((_native(lib, origin, ref), package))
    return out


def _native(lib: NativeLib, origin: str, ref: str) -> Component:
    return Component(
        type=ComponentType.LIBRARY,
        name=posixpath.basename(lib.path) or lib.path or lib.vendor,
        version=lib.version or None,
        bom_ref=ref,
        description=f"{lib.vendor} {lib.kind} library".strip(),
        properties=_props(
            "native",
            [
                ("kind", lib.kind),
                ("vendor", lib.vendor),
                ("path", lib.path),
                ("package", lib.package),
                ("architecture", lib.architecture),
                ("origin", origin),
            ],
        ),
    )


def _models(models: Iterable[ModelFile], notes: List[str]) -> List[Tuple[Component, str]]:
    """(component, canonical name of the distribution that wrote it or empty) per model file."""
    out: List[Tuple[Component, str]] = []
    seen: Set[str] = set()
    for m in models:
        if m.path in seen:
            notes.append(f"model file {m.path!r} left out: listed more than once")
            continue
        seen.add(m.path)
        hexdigest = sha256_hex(m.sha256)
        if hexdigest is None:
            notes.append(f"model file {m.path!r}: its sha256 {m.sha256[:80]!r} is not a SHA-256, left out")
        writer = m.written_by
        out.append(
            (
                Component(
                    type=ComponentType.MACHINE_LEARNING_MODEL,
                    name=m.path,
                    bom_ref=f"model:{m.path}",
                    hashes=[] if hexdigest is None else [HashType(alg=HashAlgorithm.SHA_256, content=hexdigest)],
                    properties=_props(
                        "model",
                        [
                            ("size", m.size),
                            ("format", m.format),
                            ("written_by", f"{writer.package} {writer.version}" if writer else ""),
                            *sorted(m.format_versions.items()),
                        ],
                    ),
                ),
                canonicalize_name(writer.package) if writer and _PROJECT_NAME.fullmatch(writer.package) else "",
            )
        )
    return out


def _devices(fp: Fingerprint, notes: List[str]) -> List[Component]:
    out = []
    c = fp.cpu
    if fp.source("cpu").status == OK or c.model_name:
        simd = [f for f in c.flags if _SIMD.fullmatch(f)]
        out.append(
            Component(
                type=ComponentType.DEVICE,
                name=c.model_name or c.architecture or "CPU",
                bom_ref="device:cpu",
                description="CPU",
                properties=_props(
                    "cpu",
                    [
                        ("architecture", c.architecture),
                        ("vendor", c.vendor),
                        ("family", c.family),
                        ("model", c.model),
                        ("stepping", c.stepping),
                        ("isa_level", c.isa_level),
                        ("simd", " ".join(simd)),
                        ("flags_count", len(c.flags) or None),
                        ("logical_cpus", c.logical_cpus or None),
                        ("physical_cores", c.physical_cores or None),
                        ("affinity_count", c.affinity_count or None),
                        ("cpu_quota_millicores", c.cpu_quota_millicores),
                    ],
                ),
            )
        )
    seen: Set[int] = set()
    for d in fp.gpu.devices:
        if d.index in seen:
            notes.append(f"GPU {d.index} ({d.name!r}) left out: its index is listed more than once")
            continue
        seen.add(d.index)
        out.append(_gpu(d, fp.gpu.driver_version, fp.gpu.cuda_driver_version))
    return out


def _gpu(d: GpuDevice, driver: str, cuda: str) -> Component:
    return Component(
        type=ComponentType.DEVICE,
        name=d.name or f"GPU {d.index}",
        bom_ref=f"device:gpu:{d.index}",
        description="GPU",
        properties=_props(
            "gpu",
            [
                ("index", str(d.index)),
                ("architecture", d.architecture),
                ("compute_capability", d.compute_capability),
                ("memory_total_bytes", d.memory_total_bytes or None),
                ("driver_version", driver),
                ("cuda_driver_version", cuda),
                ("mig_mode", d.mig_mode),
                ("ecc", d.ecc),
            ],
        ),
    )
