"""``envcheck export --format in-toto``: a Statement v1 the in-toto attestation framework accepts, whose subjects
are the model files and whose predicate is the lockfile, digest and all."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict

import pytest
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement

from envcheck import lockfile
from envcheck.exporters import export
from envcheck.exporters.interface import ExportError, NoSubjectError
from envcheck.exporters.intoto import PREDICATE_TYPE, image_subject
from envcheck.model import Fingerprint, ModelFile, compute_digest, from_data
from tests.export.conftest import Snap

IMAGE_HEX = "4f" * 32


def statement(fp: Fingerprint) -> Dict[str, Any]:
    """The Statement as data, after the in-toto framework's own parser (unknown fields refused) and checks."""
    text = export(fp, "in-toto").text
    Statement.copy_from_pb(json_format.Parse(text, statement_pb2.Statement())).validate()
    data: Dict[str, Any] = json.loads(text)
    return data


def test_subjects_are_the_model_files_and_the_predicate_is_the_lockfile(snap: Snap) -> None:
    data = statement(snap.fp)
    assert data["_type"] == "https://in-toto.io/Statement/v1"
    assert data["predicateType"] == PREDICATE_TYPE == "https://envcheck.dev/lockfile/v1"
    assert data["subject"] == [{"name": snap.fp.models[0].path, "digest": {"sha256": snap.model_sha256}}]
    back = from_data(Fingerprint, data["predicate"])
    assert back == snap.fp
    assert compute_digest(back) == snap.fp.meta.digest == data["predicate"]["meta"]["digest"]


def test_same_lockfile_same_bytes(snap: Snap) -> None:
    assert export(lockfile.read(snap.lock), "in-toto").text == export(snap.fp, "in-toto").text


def test_an_image_pinned_by_digest_is_a_subject_too(snap: Snap) -> None:
    target = f"image:registry.example:5000/team/serve@sha256:{IMAGE_HEX}"
    fp = dataclasses.replace(snap.fp, meta=dataclasses.replace(snap.fp.meta, target=target))
    subjects = statement(fp)["subject"]
    assert subjects[-1] == {"name": "registry.example:5000/team/serve", "digest": {"sha256": IMAGE_HEX}}
    assert len(subjects) == 2
    # without models the image alone is enough
    assert statement(dataclasses.replace(fp, models=()))["subject"] == subjects[-1:]


@pytest.mark.parametrize(
    "target",
    [
        "image:serve:1.2",  # a tag names no content
        f"image:@sha256:{IMAGE_HEX}",  # no repository
        "image:serve@sha256:1234",  # not a SHA-256
        f"image-archive:/tmp/serve.tar@sha256:{IMAGE_HEX}",
        f"container:serve@sha256:{IMAGE_HEX}",
        "local",
    ],
    ids=["tag", "no-repository", "short-digest", "archive", "container", "local"],
)
def test_other_targets_give_no_image_subject(target: str) -> None:
    assert image_subject(target) is None


def test_a_lockfile_without_models_cannot_be_attested(h200: Fingerprint) -> None:
    with pytest.raises(NoSubjectError, match="needs a subject"):
        export(h200, "in-toto")


def test_a_model_digest_that_is_not_one_is_an_error(snap: Snap) -> None:
    fp = dataclasses.replace(snap.fp, models=(ModelFile(path="m\n.bin", size=1, sha256="sha256:xyz"),))
    with pytest.raises(ExportError, match=r"model file 'm\\n.bin'"):
        export(fp, "in-toto")


def test_python_api_reads_the_lockfile_and_returns_the_text(snap: Snap) -> None:
    import envcheck

    assert envcheck.export(snap.lock, "in-toto") == export(snap.fp, "in-toto").text
    assert envcheck.export(str(snap.lock)) == export(snap.fp, "cyclonedx").text  # CycloneDX by default
