"""``uv.lock``: one resolution for every platform, narrowed to the candidate by its dependency graph.

A uv.lock names each package once per version it resolved (several versions of one name where platforms need
them, with ``resolution-markers``), and states markers on the dependency edges, not on the packages. So the
pins that apply to a candidate are those reachable from the project (the workspace members: ``virtual`` and
``editable`` sources; else every package nothing depends on) through ``dependencies`` whose markers hold for it
(``envcheck.expected.partial``). Extras (``optional-dependencies``) and dependency groups (``dev-dependencies``)
are not followed: what ``uv sync --no-dev`` installs, the serving closure, is what is compared. A ``virtual``
member is a root, not a package: it is never installed.

``parse_uvlock`` is pure (the parsed TOML in, a ``PartialSpec`` out).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Set, Tuple

from packaging.utils import canonicalize_name

from envcheck.expected.interface import Edge, ExpectedError, ExpectedPackage, PartialSpec

FORMAT = "uv.lock"
_MEMBERS = ("virtual", "editable")


def is_uvlock(data: Mapping[str, Any]) -> bool:
    packages = data.get("package")
    return (
        "version" in data
        and isinstance(packages, list)
        and all(isinstance(p, dict) and isinstance(p.get("source"), dict) for p in packages)
    )


def _source_kind(source: Mapping[str, Any]) -> str:
    return next(iter(source), "") if source else ""


def _key(name: str, version: str, source: Any) -> str:
    return f"{name} {version} {sorted(source.items()) if isinstance(source, dict) else ''}"


def _hashes(pkg: Mapping[str, Any]) -> Tuple[str, ...]:
    found: List[str] = []
    wheels = pkg.get("wheels", [])
    for entry in [*(wheels if isinstance(wheels, list) else []), pkg.get("sdist")]:
        if isinstance(entry, dict) and isinstance(entry.get("hash"), str):
            found.append(entry["hash"].lower())
    return tuple(dict.fromkeys(found))


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ExpectedError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def parse_uvlock(data: Dict[str, Any], name: str) -> PartialSpec:
    if data.get("version") != 1:
        version = str(data.get("version"))[:20]
        raise ExpectedError(f"{name}: uv.lock version {version!r} is not supported (it reads 1)")
    entries = data.get("package")
    if not isinstance(entries, list):
        raise ExpectedError(f"{name}: [[package]] is not a list of tables")
    nodes: List[Tuple[str, str, str, Dict[str, Any]]] = []  # (key, name, version, entry)
    index: Dict[Tuple[str, str, str], List[str]] = {}
    for i, pkg in enumerate(entries):
        where = f"{name}: package[{i}]"
        if not isinstance(pkg, dict) or not isinstance(pkg.get("source"), dict):
            raise ExpectedError(f"{where}: expected a table with a source")
        canonical = str(canonicalize_name(_text(pkg.get("name"), f"{where}.name")))
        version = _text(pkg.get("version", ""), f"{where}.version")
        key = _key(canonical, version, pkg["source"])
        source = _source_text(pkg["source"])
        if index.get((canonical, version, source)):
            raise ExpectedError(f"{where}: {canonical[:60]} {version[:40]} is listed twice")
        nodes.append((key, canonical, version, pkg))
        for lookup in (
            (canonical, "", ""),
            (canonical, version, ""),
            (canonical, "", source),
            (canonical, version, source),
        ):
            found = index.setdefault(lookup, [])
            if len(found) < 2:  # one or "more than one" is all a dependency's lookup needs
                found.append(key)
    edges: List[Edge] = []
    packages: List[ExpectedPackage] = []
    notes: List[str] = []
    depended: Set[str] = set()
    for key, pkg_name, version, pkg in nodes:
        deps = pkg.get("dependencies", [])
        for j, dep in enumerate(deps if isinstance(deps, list) else []):
            where = f"{name}: {pkg_name} dependencies[{j}]"
            child = _child(dep, index, where)
            marker = _text(dep.get("marker", ""), f"{where}.marker")
            edges.append(Edge(key, child, marker))
            depended.add(child)
        kind = _source_kind(pkg["source"])
        if kind == "virtual":
            continue
        if not version:
            notes.append(f"{pkg_name}: no version in {FORMAT} (a dynamic version), not compared")
            continue
        packages.append(ExpectedPackage(pkg_name, version, "", _hashes(pkg), key=key))
    members = [key for key, _, _, pkg in nodes if _source_kind(pkg["source"]) in _MEMBERS]
    roots = members or [key for key, _, _, _ in nodes if key not in depended]
    requires = data.get("requires-python")
    note = f"requires-python {requires}" if isinstance(requires, str) and requires else ""
    return PartialSpec(
        format=FORMAT,
        packages=tuple(packages),
        python_note=note,
        roots=tuple(roots),
        edges=tuple(edges),
        notes=tuple(notes),
    )


def _source_text(source: Any) -> str:
    return repr(sorted(source.items())) if isinstance(source, dict) else ""


def _child(dep: Any, index: Mapping[Tuple[str, str, str], List[str]], where: str) -> str:
    """The node a dependency entry names: by name, narrowed by version and source where the entry gives them
    (one lookup: a hostile lock of many same-named entries costs no more than a real one)."""
    if not isinstance(dep, dict):
        raise ExpectedError(f"{where}: expected a table")
    dep_name = str(canonicalize_name(_text(dep.get("name"), f"{where}.name")))
    version = _text(dep.get("version", ""), f"{where}.version")
    source = _source_text(dep["source"]) if "source" in dep else ""
    found = index.get((dep_name, version, source), [])
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise ExpectedError(f"{where}: names {dep_name[:60]!r}, which matches {what} [[package]] entry")
    return found[0]
