"""A fingerprint rendered for a person (``envcheck show``) and the one-paragraph summary ``snapshot`` prints.

A lockfile holds what an inspected environment said about itself, so every line passes through
``escape.printable``: a control character, newline or bidirectional override in a value is shown escaped, never
acted on by the terminal and never the start of a forged line.
"""

from __future__ import annotations

from typing import List

from envcheck.findings import INFERRED, OBSERVED, Severity
from envcheck.model import OK, SECTIONS, Fingerprint, Package
from envcheck.report.escape import printable
from envcheck.rules.rulebook import RULES


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def summary(fp: Fingerprint) -> List[str]:
    """Short lines: counts per section and anything that could not be read; printable, one line each."""
    return [printable(line) for line in _summary(fp)]


def _summary(fp: Fingerprint) -> List[str]:
    lines = []
    o, p = fp.os, fp.python
    lines.append(
        f"os       {o.distro_name or o.system} {o.machine}, {o.libc_family} {o.libc_version}".rstrip(", ")
    )
    lines.append(f"python   {p.implementation} {p.version} ({p.best_tag})")
    lines.append(f"packages {len(fp.packages)} distribution{'' if len(fp.packages) == 1 else 's'}")
    in_packages = sum(1 for lib in fp.native.shipped if lib.package)
    system = len(fp.native.shipped) - in_packages
    loaded = f", {len(fp.native.loaded)} loaded in the process" if fp.native.loaded else ""
    lines.append(f"native   BLAS/OpenMP/CUDA libraries: {in_packages} in packages, {system} system{loaded}")
    if fp.source("cpu").status == OK:
        c = fp.cpu
        lines.append(
            f"cpu      {c.model_name or c.architecture}, {c.logical_cpus} CPUs, {c.isa_level or c.architecture}"
        )
    if fp.source("memory").status == OK:
        limit = fp.memory.cgroup_limit_bytes
        lines.append(
            f"memory   {_gib(fp.memory.total_bytes)}"
            + (f", cgroup limit {_gib(limit)}" if limit is not None else "")
        )
    if fp.source("gpu").status == OK:
        g = fp.gpu
        names = ", ".join(sorted({d.name for d in g.devices}))
        lines.append(
            f"gpu      {len(g.devices)} x {names}, driver {g.driver_version}, CUDA {g.cuda_driver_version}"
        )
    shipped = ", ".join(f"{c.component} {c.version} ({c.package or 'CUDA_VERSION'})" for c in fp.gpu.cuda_shipped)
    if shipped:
        lines.append(f"cuda     shipped: {shipped}")
    count = len(fp.env.variables)
    lines.append(f"env      {count} variable{'' if count == 1 else 's'}, timezone {fp.env.timezone or 'unknown'}")
    if fp.models:
        lines.append(f"models   {len(fp.models)} file{'' if len(fp.models) == 1 else 's'}")
    if fp.numerics is not None:
        kernels = len(fp.numerics.kernels)
        lines.append(
            f"numerics {kernels} kernel{'' if kernels == 1 else 's'} recorded (check --numerics reruns them)"
        )
    if fp.golden is not None and fp.golden.cases:
        cases = len(fp.golden.cases)
        lines.append(
            f"golden   {cases} case{'' if cases == 1 else 's'} in envcheck.golden/ (envcheck canary replays them)"
        )
    for section in SECTIONS:
        src = fp.source(section)
        if src.status != OK:
            lines.append(f"{section:<8} {src.status}: {src.detail}")
    files = fp.sources.get("files")
    if files is not None and files.detail:  # reads the tree reader refused: a hostile or damaged tree
        head, *rest = files.detail.split("; ")
        more = f"; ... ({len(rest) - 2} more in sources.files)" if len(rest) > 2 else ""
        lines.append(f"files    {'; '.join([head, *rest[:2]])}{more}")
    return lines


def render_text(fp: Fingerprint) -> str:
    """The whole fingerprint, section by section, for reading in a terminal."""
    out = [f"envcheck lockfile, schema {fp.meta.schema}, {fp.meta.tool}, created {fp.meta.created}"]
    out.append(f"target {fp.meta.target}, digest {fp.meta.digest}")
    out.append("")
    out += _summary(fp)
    out.append("")
    if fp.gpu.devices:
        out.append("gpu devices:")
        for d in fp.gpu.devices:
            out.append(
                f"  [{d.index}] {d.name} ({d.architecture}, compute {d.compute_capability}), "
                f"{_gib(d.memory_total_bytes)}, MIG {d.mig_mode or '?'}, ECC {d.ecc or '?'}, "
                f"persistence {d.persistence or '?'}"
            )
    if fp.native.shipped or fp.native.loaded:
        out.append("native libraries:")
        for section, libs in (("shipped", fp.native.shipped), ("loaded", fp.native.loaded)):
            for lib in libs:
                label = "system" if section == "shipped" and not lib.package else section
                extra = " ".join(x for x in (lib.version, lib.architecture) if x)
                owner = f" [{lib.package}]" if lib.package else ""
                out.append(f"  {label:<7} {lib.kind:<11} {lib.vendor:<9} {lib.path}{owner} {extra}".rstrip())
    if fp.native.builds:
        out.append("package builds:")
        for b in fp.native.builds:
            facts = [f"CUDA {b.cuda}" if b.cuda else ""]
            facts.append(f"SIMD baseline {' '.join(b.simd_baseline)}" if b.simd_baseline else "")
            facts.append(f"dispatch {' '.join(b.simd_dispatch)}" if b.simd_dispatch else "")
            out.append(f"  {b.package:<11} {'; '.join(f for f in facts if f) or 'no CUDA'} ({b.source})")
    if fp.env.variables or fp.env.redacted:
        out.append("environment:")
        for name, value in fp.env.variables.items():
            out.append(f"  {name}={value}")
        for name in fp.env.redacted:
            out.append(f"  {name}=<redacted: looks like a secret>")
    if fp.models:
        out.append("models:")
        for m in fp.models:
            out.append(f"  {m.sha256[:16]}  {m.size:>12}  {m.path}")
    out.append("packages:")
    for pkg in fp.packages:
        notes = []
        if pkg.direct_url is not None:
            notes.append(pkg.direct_url.kind)
        if pkg.shadowed:
            notes.append(_shadows(pkg))
        note = f"  ({'; '.join(notes)})" if notes else ""
        out.append(f"  {pkg.name}=={pkg.version}{note}")
    return "".join(printable(line) + "\n" for line in out)


def _shadows(pkg: Package) -> str:
    """The copy that wins and the copies it hides, with their folders where the snapshot recorded them (one
    folder for the winner, then one per shadowed copy, as the package.shadowed finding reads them)."""
    where = pkg.locations if len(pkg.locations) == len(pkg.shadowed) + 1 else ()
    if not where:
        return "shadows " + ", ".join(pkg.shadowed)
    hidden = ", ".join(f"{version} in {folder}" for version, folder in zip(pkg.shadowed, where[1:]))
    return f"in {where[0]}, shadows {hidden}"


def render_rules(fmt: str = "text") -> str:
    """The rulebook as a table (``envcheck rules``); ``markdown`` is what the README holds. ``basis`` says
    whether a rule's findings are what a check saw in the candidate (``observed``) or a guess from metadata
    (``inferred``)."""
    rows = []
    for rule in RULES:
        severity = Severity.from_score(rule.probability * rule.impact).label
        risks = "+".join(rule.risks)
        basis = OBSERVED if rule.observed else INFERRED
        rows.append((rule.id, rule.component, risks, str(rule.probability), str(rule.impact), severity, basis))
    header = ("rule", "component", "risks", "P", "I", "severity", "basis")
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| `" + row[0] + "` | " + " | ".join(row[1:]) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n" for row in [header, *rows])
