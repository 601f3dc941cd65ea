"""Lockfiles to export: one ``envcheck.snapshot`` of this interpreter with a small model file, and the real H200
capture (no model files; one GPU)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

import envcheck
from envcheck import lockfile
from envcheck.model import Fingerprint
from tests.conftest import H200

H200_LOCK = H200 / "envcheck.lock"
MODEL_BYTES = b"envcheck export test model\x00\x01\x02" * 64


@dataclass(frozen=True)
class Snap:
    lock: Path
    fp: Fingerprint
    model_sha256: str


@pytest.fixture(scope="session")
def snap(tmp_path_factory: pytest.TempPathFactory) -> Snap:
    """A real lockfile of this interpreter, recording one small model file."""
    work = tmp_path_factory.mktemp("export")
    model = work / "model.bin"
    model.write_bytes(MODEL_BYTES)
    lock = work / "envcheck.lock"
    envcheck.snapshot(lock, models=[model], loaded=False)
    return Snap(lock, lockfile.read(lock), hashlib.sha256(MODEL_BYTES).hexdigest())


@pytest.fixture(scope="session")
def h200() -> Fingerprint:
    return lockfile.read(H200_LOCK)
