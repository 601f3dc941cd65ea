"""Hostile expected sides: every one is refused with one line (an ``ExpectedError``, exit 2 at the command line),
never a traceback, a hang, a fetch or a read outside the requirements file's folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict

import pytest

from envcheck.expected import ExpectedError, read_expected
from envcheck.expected.interface import MAX_BYTES
from envcheck.expected.requirements import MAX_DEPTH, MAX_FILES, MAX_LINES
from envcheck.lockfile import LockfileError


def _write(folder: Path, files: Dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder / next(iter(files))


INCLUDES: Dict[str, Callable[[Path], Dict[str, str]]] = {
    "absolute": lambda tmp: {"req/requirements.txt": "-r /etc/passwd\n"},
    "parent": lambda tmp: {"req/requirements.txt": "-r ../outside.txt\n", "outside.txt": "six==1.0\n"},
    "nested-parent": lambda tmp: {"req/requirements.txt": "-c sub/../../outside.txt\n", "outside.txt": "a==1\n"},
    "https": lambda tmp: {"req/requirements.txt": "-r https://example.invalid/r.txt\n"},
    "file-url": lambda tmp: {"req/requirements.txt": "--requirement=file:///etc/hostname\n"},
    "home": lambda tmp: {"req/requirements.txt": "-r ~/r.txt\n"},
}
REFUSED = {
    "absolute": "absolute path",
    "parent": "outside the folder",
    "nested-parent": "outside the folder",
    "https": "is a URL",
    "file-url": "is a URL",
    "home": "absolute path",
}


@pytest.mark.parametrize("case", sorted(INCLUDES), ids=sorted(INCLUDES))
def test_an_include_outside_the_folder_is_refused(case: str, tmp_path: Path) -> None:
    top = _write(tmp_path, INCLUDES[case](tmp_path))
    with pytest.raises(ExpectedError, match=REFUSED[case]):
        read_expected(top)


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("six==1.0\n")
    top = _write(tmp_path, {"req/requirements.txt": "-r link.txt\n"})
    (tmp_path / "req" / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ExpectedError, match="outside the folder"):
        read_expected(top)


def test_includes_nested_too_deep_are_refused(tmp_path: Path) -> None:
    files = {f"r{i}.txt": f"-r r{i + 1}.txt\n" for i in range(MAX_DEPTH + 2)}
    files[f"r{MAX_DEPTH + 2}.txt"] = "six==1.0\n"
    with pytest.raises(ExpectedError, match=f"nested deeper than {MAX_DEPTH}"):
        read_expected(_write(tmp_path, files))


def test_too_many_included_files_are_refused(tmp_path: Path) -> None:
    files = {"requirements.txt": "".join(f"-r sub/r{i}.txt\n" for i in range(MAX_FILES + 5))}
    files.update({f"sub/r{i}.txt": f"p{i}==1.0\n" for i in range(MAX_FILES + 5)})
    with pytest.raises(ExpectedError, match=f"more than {MAX_FILES} files"):
        read_expected(_write(tmp_path, files))


def test_an_include_cycle_is_read_once(tmp_path: Path) -> None:
    top = _write(tmp_path, {"a.txt": "-r b.txt\nsix==1.16.0\n", "b.txt": "-r a.txt\nidna==3.7\n"})
    side = read_expected(top, "requirements")
    assert side.spec is not None
    assert [(p.name, p.version) for p in side.spec.packages] == [("six", "1.16.0"), ("idna", "3.7")]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "requirements.txt"
    os.mkfifo(fifo)
    for fmt in ("auto", "requirements", "pylock", "uv"):
        with pytest.raises((ExpectedError, LockfileError), match="FIFO"):
            read_expected(fifo, fmt)


def test_an_include_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    top = _write(tmp_path, {"requirements.txt": "-r pipe.txt\n"})
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(ExpectedError, match="FIFO"):
        read_expected(top)


@pytest.mark.parametrize("fmt", ["requirements", "pylock", "uv"])
def test_an_oversized_file_is_refused(fmt: str, tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "w") as f:
        f.write("# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(ExpectedError, match="too large"):
        read_expected(big, fmt)


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("requirements", b"six==1.0\n\xff\xfe\n", "not UTF-8"),
        ("requirements", b"six==1.0\nthis is not a requirement!\n", "not a requirement"),
        ("requirements", b"# only comments\n\n", "states no requirement"),
        ("requirements", b"-r\n", "names no file"),
        ("pylock", b"lock-version = '2.0'\npackages = []\n", "lock-version '2.0' is not supported"),
        ("pylock", b"lock-version = '1.0'\npackages = 3\n", "not a list"),
        ("pylock", b"lock-version = '1.0'\n[[packages]]\nname = 3\nversion = '1'\n", "expected a string"),
        ("pylock", b"lock-version = '1.0'\n[[packages]\n", "not valid TOML"),
        ("pylock", b"x = " + b"[" * 100 + b"]" * 100 + b"\n", "nested deeper"),
        ("uv", b"version = 2\n", "version '2' is not supported"),
        ("uv", b"version = 1\n[[package]]\nname = 'a'\n", "with a source"),
        (
            "uv",
            b"version = 1\n[[package]]\nname = 'a'\nversion = '1'\nsource = { registry = 'x' }\n"
            b"dependencies = [{ name = 'ghost' }]\n",
            "matches no",
        ),
    ],
    ids=[
        "not-utf8",
        "garbage",
        "empty",
        "include-nothing",
        "pylock-2",
        "pylock-list",
        "pylock-type",
        "pylock-toml",
        "toml-deep",
        "uv-2",
        "uv-source",
        "uv-dangling",
    ],
)
def test_malformed_input_is_one_clear_error(fmt: str, content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "expected"
    path.write_bytes(content)
    with pytest.raises(ExpectedError, match=message) as info:
        read_expected(path, fmt)
    assert "\n" not in str(info.value)


def test_mlflow_yaml_bombs_and_garbage_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: [" * 5000 + "\n")
    (tmp_path / "requirements.txt").write_text("six==1.0\n")
    with pytest.raises(ExpectedError, match="not valid YAML"):
        read_expected(tmp_path)


def test_a_folder_without_mlmodel_is_not_an_mlflow_model(tmp_path: Path) -> None:
    with pytest.raises(ExpectedError, match="not an MLflow model"):
        read_expected(tmp_path, "mlflow")
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(ExpectedError, match=r"neither requirements\.txt nor conda\.yaml"):
        read_expected(tmp_path)


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExpectedError, match="unknown expected format"):
        read_expected(tmp_path / "x", "poetry")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"requirements.txt": "-r ../../etc/passwd\n"}, "lies outside the folder"),
        ({"requirements.txt": "-r https://example.invalid/x.txt\n"}, "envcheck fetches nothing"),
        ({"requirements.txt": "six==1.0\n??\n"}, "not a requirement"),
    ],
    ids=["escape", "url", "garbage"],
)
def test_the_command_line_says_one_line_and_exits_2(files: Dict[str, str], message: str, tmp_path: Path) -> None:
    top = _write(tmp_path, files)
    for command in (["check", str(top)], ["diff", str(top), str(top)]):
        done = subprocess.run(
            [sys.executable, "-m", "envcheck", *command], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("envcheck: error: "), done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr


def test_too_many_requirement_lines_are_refused(tmp_path: Path) -> None:
    top = _write(tmp_path, {"requirements.txt": "six==1.0\n" * (MAX_LINES + 1), "more.txt": "idna==3.7\n" * 6000})
    with pytest.raises(ExpectedError, match=f"more than {MAX_LINES} requirement lines"):
        read_expected(top)
    (tmp_path / "requirements.txt").write_text("-r more.txt\n" + "six==1.0\n" * 5000)
    with pytest.raises(ExpectedError, match="requirement lines"):  # counted across the included files
        read_expected(top)


def test_a_large_file_of_junk_is_refused_quickly(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_text("!!\n" * (MAX_BYTES // 3))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "check", str(junk)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "not valid TOML" in done.stderr, done.stderr
    assert time.monotonic() - started < 30  # detection reads a few lines, not 1.4 million requirements


def test_a_uv_lock_of_many_same_named_entries_is_read_in_linear_time(tmp_path: Path) -> None:
    n = 20_000
    entries = "".join(
        f'[[package]]\nname = "a"\nversion = "{i}"\nsource = {{ registry = "r" }}\n'
        f'dependencies = [{{ name = "a", version = "{(i + 1) % n}" }}]\n'
        for i in range(n)
    )
    path = tmp_path / "uv.lock"
    path.write_text("version = 1\n" + entries)
    started = time.monotonic()
    side = read_expected(path)
    assert side.spec is not None and len(side.spec.edges) == n
    assert time.monotonic() - started < 30
    path.write_text("version = 1\n" + '[[package]]\nname = "a"\nversion = "1"\nsource = { registry = "r" }\n' * 2)
    with pytest.raises(ExpectedError, match="listed twice"):
        read_expected(path)


def test_an_oversized_lock_is_refused_when_detected_too(tmp_path: Path) -> None:
    big = tmp_path / "pylock.toml"
    big.write_text('lock-version = "1.0"\npackages = []\n' + "# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(ExpectedError, match="too large"):
        read_expected(big)
