"""The command line. The only module that prints, and the only one that decides exit codes:
0 nothing at or above the threshold, 1 findings at or above it, 2 envcheck could not do its job."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn, Optional, Sequence

import click

from envcheck import __version__, capture, lockfile
from envcheck.collect.models import ModelPathError
from envcheck.model import to_data
from envcheck.show import render_text, summary
from envcheck.targets import LocalTarget, PythonTarget, Target, TargetError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2."""
    click.echo(f"envcheck: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _target(python: Optional[str]) -> Target:
    return PythonTarget(python) if python else LocalTarget()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="envcheck")
def cli() -> None:
    """Fingerprint the environment a model was verified in, and catch the drift that breaks it."""


@cli.command()
@click.option("-o", "--output", default="envcheck.lock", show_default=True, help="Where to write the lockfile.")
@click.option("--model", "models", multiple=True, metavar="PATH", help="Model file or folder to digest (repeat).")
@click.option("--env", "env", multiple=True, metavar="NAME", help="Extra environment variable to record (repeat).")
@click.option("--python", metavar="PATH", help="Fingerprint another interpreter instead of this one.")
def snapshot(output: str, models: Sequence[str], env: Sequence[str], python: Optional[str]) -> None:
    """Write a lockfile-style fingerprint of this environment."""
    try:
        fp = capture.take(_target(python), models=models, extra_env=env)
        fp = lockfile.write(fp, output)
    except (TargetError, ModelPathError, lockfile.LockfileError) as e:
        fail(str(e))
    click.echo(f"wrote {output} ({fp.meta.digest[:19]})")
    for line in summary(fp):
        click.echo(f"  {line}")


@cli.command()
@click.argument("lock", type=click.Path(dir_okay=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--ignore-digest", is_flag=True, help="Read a lockfile whose content no longer matches its digest.")
def show(lock: str, fmt: str, ignore_digest: bool) -> None:
    """Print a lockfile for a person, or as JSON."""
    try:
        fp = lockfile.read(lock, verify=not ignore_digest)
    except lockfile.LockfileError as e:
        fail(str(e))
    if fmt == "json":
        data: Any = to_data(fp)
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        click.echo(render_text(fp), nl=False)


def main(argv: Optional[Sequence[str]] = None, prog_name: Optional[str] = None) -> None:
    """Console-script entry point."""
    cli.main(args=None if argv is None else list(argv), prog_name=prog_name or "envcheck")
