"""``envcheck export --format cyclonedx``: valid against the official CycloneDX 1.6 schema, complete and
byte-stable, and a hostile lockfile never breaks it."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import uuid
from typing import Any, Dict, List

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from envcheck import lockfile
from envcheck.exporters import export
from envcheck.exporters.interface import ExportError
from envcheck.model import DirectUrl, GpuDevice, ModelFile, Package
from tests.export.conftest import Snap


def validated(text: str) -> Dict[str, Any]:
    """The document as data, after the library's strict validation against the official schema."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, f"not valid CycloneDX 1.6: {error}"
    data: Dict[str, Any] = json.loads(text)
    return data


def components(data: Dict[str, Any], kind: str) -> List[Dict[str, Any]]:
    return [c for c in data["components"] if c["type"] == kind]


def props(component: Dict[str, Any]) -> Dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def depends_on(data: Dict[str, Any], ref: str) -> List[str]:
    (entry,) = [d for d in data["dependencies"] if d["ref"] == ref]
    return list(entry.get("dependsOn", []))


def test_snapshot_of_this_interpreter_is_valid_and_complete(snap: Snap) -> None:
    data = validated(export(snap.fp, "cyclonedx").text)
    assert (data["bomFormat"], data["specVersion"]) == ("CycloneDX", "1.6")

    (model,) = components(data, "machine-learning-model")
    assert model["name"] == snap.fp.models[0].path
    assert model["hashes"] == [{"alg": "SHA-256", "content": snap.model_sha256}]

    version = importlib.metadata.version("click")
    (click,) = [c for c in components(data, "library") if c.get("purl", "").startswith("pkg:pypi/click@")]
    assert click["purl"] == f"pkg:pypi/click@{version}"
    recorded = snap.fp.package("click")
    assert recorded is not None and recorded.record_digest.startswith("sha256:")
    assert props(click)["envcheck:package:record_digest"] == recorded.record_digest
    # click's RECORD digest is not a hash of the component's artifact: never in "hashes"
    assert "hashes" not in click

    (cpu,) = [c for c in components(data, "device") if c["bom-ref"] == "device:cpu"]
    assert props(cpu)["envcheck:cpu:architecture"] == snap.fp.cpu.architecture
    assert len(data["components"]) >= len(snap.fp.packages) + 2  # packages, the model, the CPU


def test_h200_capture_has_its_gpu_cpu_os_python_and_native_libraries(h200: Any) -> None:
    data = validated(export(h200, "cyclonedx").text)
    gpus = [c for c in components(data, "device") if c["bom-ref"].startswith("device:gpu:")]
    assert [(g["name"], props(g)["envcheck:gpu:compute_capability"]) for g in gpus] == [("NVIDIA H200", "9.0")]
    gpu = props(gpus[0])
    assert gpu["envcheck:gpu:memory_total_bytes"] == "150754820096"
    assert gpu["envcheck:gpu:driver_version"] == "580.159.04"
    (cpu,) = [c for c in components(data, "device") if c["bom-ref"] == "device:cpu"]
    assert cpu["name"] == "Intel(R) Xeon(R) Processor"
    simd = props(cpu)["envcheck:cpu:simd"].split()
    assert {"avx512f", "amx_tile", "avx2"} <= set(simd) and "smep" not in simd
    assert props(cpu)["envcheck:cpu:isa_level"] == "x86-64-v4"

    meta = data["metadata"]
    assert meta["timestamp"] == "2026-11-28T20:01:33+00:00"
    assert meta["tools"]["components"][0]["name"] == "envcheck"
    inner = {c["type"]: c for c in meta["component"]["components"]}
    assert (inner["operating-system"]["name"], inner["operating-system"]["version"]) == ("ubuntu", "24.04")
    assert (inner["platform"]["name"], inner["platform"]["version"]) == ("CPython", "3.12.3")
    assert props(meta)["envcheck:lockfile:digest"] == h200.meta.digest
    assert data["serialNumber"].startswith("urn:uuid:")
    assert uuid.UUID(data["serialNumber"][len("urn:uuid:") :]).version == 5

    libs = components(data, "library")
    assert len([c for c in libs if c["bom-ref"].startswith("pkg:pypi/")]) == len(h200.packages)
    natives = [c for c in libs if c["bom-ref"].startswith("native:")]
    assert len(natives) == len(h200.native.shipped)
    openblas = "native:shipped:numpy.libs/libscipy_openblas64_-61654e39.so"
    assert props(next(c for c in natives if c["bom-ref"] == openblas))["envcheck:native:vendor"] == "openblas"
    numpy = next(c["bom-ref"] for c in libs if c["bom-ref"].startswith("pkg:pypi/numpy@"))
    assert openblas in depends_on(data, numpy)
    torch = next(c["bom-ref"] for c in libs if c["bom-ref"].startswith("pkg:pypi/torch@"))
    assert any(ref.startswith("pkg:pypi/filelock@") for ref in depends_on(data, torch))
    assert len(depends_on(data, "environment")) == len(data["components"])


def test_same_lockfile_same_bytes(snap: Snap, tmp_path: Any) -> None:
    first = export(snap.fp, "cyclonedx").text
    assert export(lockfile.read(snap.lock), "cyclonedx").text == first
    copy = tmp_path / "copy.lock"
    lockfile.write(snap.fp, copy)
    assert export(lockfile.read(copy), "cyclonedx").text == first
    # ... and a different lockfile, another serial number
    other = dataclasses.replace(snap.fp, models=())
    assert json.loads(export(other, "cyclonedx").text)["serialNumber"] != json.loads(first)["serialNumber"]


def test_hostile_package_names_and_versions_are_left_out_with_a_note(h200: Any) -> None:
    good = Package(name="odd-but-fine", version="1.0+local.7")
    hostile = (
        Package(name="../../etc/passwd", version="1.0"),
        Package(name="evil pkg", version="1.0"),
        Package(name="evil\u202e", version="1.0"),
        Package(name="newline", version="1.0\nforged line"),
        Package(name="spaced", version="1.0 beta"),
        Package(name="empty-version", version=""),
        Package(name="odd-but-fine", version="2.0"),  # listed twice
        Package(name="at-sign", version="1@2#3?4/5", direct_url=DirectUrl(archive_hash="sha256=" + "AB" * 32)),
    )
    fp = dataclasses.replace(
        h200,
        packages=(good, *hostile),
        models=(
            ModelFile(path="weights\n.bin", size=1, sha256="not-a-digest"),
            ModelFile(path="weights\n.bin", size=1, sha256="0" * 64),
        ),
        gpu=dataclasses.replace(h200.gpu, devices=(GpuDevice(0, "A"), GpuDevice(0, "B"))),
    )
    exported = export(fp, "cyclonedx")
    data = validated(exported.text)
    purls = sorted(c["purl"] for c in data["components"] if "purl" in c)
    assert purls == ["pkg:pypi/at-sign@1%402%233%3F4/5", "pkg:pypi/odd-but-fine@1.0%2Blocal.7"]
    for purl in purls:  # every purl written parses back to the name and version recorded
        parsed = PackageURL.from_string(purl)
        assert parsed.to_string() == purl
    at_sign = next(c for c in data["components"] if c.get("name") == "at-sign")
    assert at_sign["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    notes = "\n".join(exported.notes)
    for name in ("../../etc/passwd", "evil pkg", "evil\u202e", "newline", "spaced", "empty-version"):
        assert repr(name) in notes, name
    assert "odd-but-fine is listed more than once" in notes
    assert "is not a SHA-256" in notes and "weights\\n.bin' left out: listed more than once" in notes
    assert "GPU 0 ('B') left out" in notes
    (model,) = components(data, "machine-learning-model")
    assert "hashes" not in model  # a digest that is not one is not passed on
    assert sum(1 for p in data["metadata"]["properties"] if p["name"] == "envcheck:export:note") == len(
        exported.notes
    )


def test_a_capture_time_that_is_not_one_is_an_error(h200: Any) -> None:
    fp = dataclasses.replace(h200, meta=dataclasses.replace(h200.meta, created="yesterday"))
    with pytest.raises(ExportError, match=r"meta\.created 'yesterday'"):
        export(fp, "cyclonedx")
