"""``pylock.toml`` (PEP 751): each ``[[packages]]`` entry's name, version, marker and archive hashes.

``parse_pylock`` is pure (the parsed TOML in, a ``PartialSpec`` out). A package with no ``version`` (a VCS
checkout or a local directory may have none) is noted, not compared. ``requires-python`` is a range, not the
interpreter the lock was used with, so Python is not compared; the report says what the range was.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from packaging.utils import canonicalize_name

from envcheck.expected.interface import ExpectedError, ExpectedPackage, PartialSpec

FORMAT = "pylock.toml"


def is_pylock(data: Mapping[str, Any]) -> bool:
    return "lock-version" in data and isinstance(data.get("packages", []), list)


def _hashes(entry: Any) -> List[str]:
    if not isinstance(entry, dict) or not isinstance(entry.get("hashes"), dict):
        return []
    return [f"{algo}:{str(value).lower()}" for algo, value in sorted(entry["hashes"].items())]


def package_hashes(pkg: Mapping[str, Any]) -> Tuple[str, ...]:
    """The hashes of every archive an entry allows: its wheels, its sdist, its archive."""
    out: List[str] = []
    wheels = pkg.get("wheels", [])
    for wheel in wheels if isinstance(wheels, list) else []:
        out.extend(_hashes(wheel))
    out.extend(_hashes(pkg.get("sdist")))
    out.extend(_hashes(pkg.get("archive")))
    return tuple(dict.fromkeys(out))


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ExpectedError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def parse_pylock(data: Dict[str, Any], name: str) -> PartialSpec:
    version = str(data.get("lock-version", ""))
    if version.split(".")[0] != "1":
        raise ExpectedError(f"{name}: pylock.toml lock-version {version[:20]!r} is not supported (it reads 1.x)")
    entries = data.get("packages")
    if not isinstance(entries, list):
        raise ExpectedError(f"{name}: [[packages]] is not a list of tables")
    packages: List[ExpectedPackage] = []
    notes: List[str] = []
    for i, pkg in enumerate(entries):
        where = f"{name}: packages[{i}]"
        if not isinstance(pkg, dict):
            raise ExpectedError(f"{where}: expected a table")
        pkg_name = canonicalize_name(_text(pkg.get("name"), f"{where}.name"))
        if "version" not in pkg:
            notes.append(f"{pkg_name}: no version in {FORMAT} (a VCS checkout or a directory), not compared")
            continue
        marker = _text(pkg.get("marker", ""), f"{where}.marker")
        pkg_version = _text(pkg["version"], f"{where}.version")
        packages.append(ExpectedPackage(pkg_name, pkg_version, marker, package_hashes(pkg)))
    requires = data.get("requires-python")
    note = f"requires-python {requires}" if isinstance(requires, str) and requires else ""
    return PartialSpec(format=FORMAT, packages=tuple(packages), python_note=note, notes=tuple(notes))
