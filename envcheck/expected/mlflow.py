"""An MLflow model directory (or its ``MLmodel`` file): the pins and Python version MLflow saved with the model.

MLflow writes, beside ``MLmodel``, a ``requirements.txt`` (the pip pins it inferred), a ``conda.yaml`` (the same
pins under ``pip:``, and ``python=X.Y.Z``) and a ``python_env.yaml`` (``python: X.Y.Z``). The pins come from
``requirements.txt`` when there is one (read as ``envcheck.expected.requirements`` does, includes kept inside
the folder), else from ``conda.yaml``'s pip section; the Python version from ``MLmodel``
(``flavors.python_function.python_version``), else ``python_env.yaml``. An ``envcheck.lock`` in the folder is
preferred over all of them (``envcheck.expected.detect``): it states the whole environment.

MLflow's inference maps the ``mlflow`` module to the ``mlflow`` distribution even where only ``mlflow-skinny``
is installed; a candidate with ``mlflow-skinny`` and no ``mlflow`` has the pin applied to it.

The YAML files are read with PyYAML (``yaml.safe_load``), which every MLflow installation has; without it the
Python version is noted as not read, and a folder with only ``conda.yaml`` cannot be read.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any, List, Optional

from envcheck.expected.interface import ExpectedError, PartialSpec
from envcheck.expected.reading import read_text
from envcheck.expected.requirements import parse_requirements, read_requirements

FORMAT = "MLflow model"
MLMODEL = "MLmodel"
#: (the name MLflow writes, the distribution that also provides it)
ALIASES = (("mlflow", "mlflow-skinny"),)


def load_yaml(text: str, name: str) -> Any:
    """``yaml.safe_load`` of ``text``; an ``ExpectedError`` when PyYAML is missing or the text is not YAML."""
    try:
        yaml = importlib.import_module("yaml")
    except ImportError as e:
        raise ExpectedError(f"{name}: reading it needs PyYAML (pip install pyyaml)") from e
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError) as e:
        first = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise ExpectedError(f"{name}: not valid YAML ({first})") from e


def python_from_mlmodel(data: Any) -> str:
    """``flavors.python_function.python_version``, or empty."""
    flavors = data.get("flavors") if isinstance(data, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    version = pyfunc.get("python_version") if isinstance(pyfunc, dict) else None
    return str(version) if isinstance(version, (str, int, float)) and version else ""


def pip_lines_from_conda(data: Any) -> Optional[List[str]]:
    """The ``pip:`` list of a conda environment file, or None when it has none."""
    deps = data.get("dependencies") if isinstance(data, dict) else None
    for dep in deps if isinstance(deps, list) else []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            return [str(line) for line in dep["pip"]]
    return None


def is_mlmodel(text: str) -> bool:
    """Detection: an MLmodel file's top-level ``flavors:`` key."""
    return any(line.startswith("flavors:") for line in text.splitlines())


def model_folder(path: str) -> str:
    """The folder of an MLflow model given as the folder or as its ``MLmodel`` file."""
    return path if os.path.isdir(path) else os.path.dirname(path) or "."


def _python_version(folder: str) -> str:
    for file, read in (
        (MLMODEL, python_from_mlmodel),
        ("python_env.yaml", lambda d: str(d.get("python", "")) if isinstance(d, dict) else ""),
    ):
        path = os.path.join(folder, file)
        if os.path.isfile(path):
            version = read(load_yaml(read_text(path, "MLflow file"), path))
            if version:
                return version
    return ""


def read_mlflow(path: str) -> PartialSpec:
    folder = model_folder(path)
    if not os.path.isfile(os.path.join(folder, MLMODEL)):
        raise ExpectedError(f"{path}: not an MLflow model (no {MLMODEL} file in {folder})")
    notes: List[str] = []
    try:
        python = _python_version(folder)
    except ExpectedError as e:
        if "PyYAML" not in str(e):
            raise
        python, notes = "", [f"python version not read: {e}"]
    requirements = os.path.join(folder, "requirements.txt")
    conda = os.path.join(folder, "conda.yaml")
    if os.path.isfile(requirements):
        spec = read_requirements(requirements)
        source = "requirements.txt"
    elif os.path.isfile(conda):
        lines = pip_lines_from_conda(load_yaml(read_text(conda, "MLflow file"), conda))
        if lines is None:
            raise ExpectedError(f"{conda}: has no pip section to read pins from")
        parsed = parse_requirements("\n".join(lines), conda)
        spec = PartialSpec(format=FORMAT, packages=parsed.packages, notes=parsed.notes)
        source = "conda.yaml"
    else:
        raise ExpectedError(f"{folder}: an MLflow model with neither requirements.txt nor conda.yaml")
    return dataclasses.replace(
        spec,
        format=f"{FORMAT}'s {source}",
        python_version=python,
        notes=(*spec.notes, *notes),
        aliases=ALIASES,
    )
