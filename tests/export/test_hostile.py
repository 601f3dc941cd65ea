"""A lockfile is user input: whatever text its package names, versions, model paths and digests hold, the
exports are valid documents or one clear error, never a traceback."""

from __future__ import annotations

import dataclasses
import json

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from envcheck import lockfile
from envcheck.exporters import export
from envcheck.exporters.interface import ExportError
from envcheck.model import Fingerprint, Meta, ModelFile, Package

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
NAME = st.one_of(TEXT, st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?", fullmatch=True))
VERSION = st.one_of(TEXT, st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}([+@#?/%][a-z0-9]{1,4})?", fullmatch=True))
SHA256 = st.one_of(TEXT, st.text("0123456789abcdefABCDEF", min_size=64, max_size=64))
MODELS = st.lists(st.builds(ModelFile, path=TEXT, size=st.integers(0, 10), sha256=SHA256), max_size=3)
BASE = Fingerprint(meta=Meta(created="2026-11-28T20:01:33Z", target="local"))
VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    packages=st.lists(st.builds(Package, name=NAME, version=VERSION, record_digest=TEXT), max_size=4),
    models=MODELS,
    target=TEXT,
)
def test_any_names_give_a_valid_sbom(packages: list[Package], models: list[ModelFile], target: str) -> None:
    fp = dataclasses.replace(
        BASE, packages=tuple(packages), models=tuple(models), meta=dataclasses.replace(BASE.meta, target=target)
    )
    fp = lockfile.loads(lockfile.dumps(fp))  # as read from a file
    exported = export(fp, "cyclonedx")
    assert VALIDATOR.validate_str(exported.text) is None
    data = json.loads(exported.text)
    kept = [c for c in data.get("components", []) if "purl" in c]
    for component in kept:
        parsed = PackageURL.from_string(component["purl"])
        assert (parsed.name, parsed.version) == (component["name"], component["version"])
    assert len(kept) + sum(1 for n in exported.notes if n.startswith("package ")) == len(packages)


@FUZZ
@given(models=MODELS)
def test_any_models_give_a_statement_or_an_export_error(models: list[ModelFile]) -> None:
    fp = dataclasses.replace(BASE, models=tuple(models))
    try:
        text = export(fp, "in-toto").text
    except ExportError as e:
        assert "\n" not in str(e)
        return
    expected = []
    for m in models:  # no error: every recorded digest is a SHA-256, written as lowercase hex
        subject = {"name": m.path, "digest": {"sha256": m.sha256.strip().lower().removeprefix("sha256:")}}
        if subject not in expected:
            expected.append(subject)
    assert json.loads(text)["subject"] == expected


def test_an_empty_lockfile_gives_a_valid_sbom_without_a_warning() -> None:
    exported = export(BASE, "cyclonedx")  # pytest turns warnings into errors here
    assert VALIDATOR.validate_str(exported.text) is None
    assert exported.notes == ()
