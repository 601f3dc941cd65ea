"""The command line. The only module that prints, and the only one that decides exit codes:
0 nothing at or above the threshold, 1 findings at or above it, 2 envcheck could not do its job (an
``EnvcheckError``: bad input, an unreadable target, a file it cannot write), 3 an internal error (a bug).

Errors are mapped in one place, ``EnvcheckGroup.invoke``: an ``EnvcheckError`` is its one-line message and exit 2;
any other exception is one line naming it and asking for a bug report, exit 3, with the traceback only under
``--debug`` or ``ENVCHECK_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any, Callable, Dict, NoReturn, Optional, Sequence, TypeVar

import click

# Only what the options and the error mapping need is imported here; each command imports what it runs, so that
# `envcheck snapshot` never loads the comparison rules, reporters or golden cases (bench/snapshot_speed.py).
from envcheck import __version__
from envcheck.choices import CANARY_PROTOCOLS, EXPECTED_FORMATS, REMEDY_FORMATS
from envcheck.errors import EnvcheckError
from envcheck.policy import FAIL_ON
from envcheck.report.escape import printable
from envcheck.report.formats import FORMATS, MatrixPlace
from envcheck.targets.factory import TargetSpec, make_target
from envcheck.targets.factory import validate as validate_target

if TYPE_CHECKING:
    from envcheck.evidence.interface import Runner
    from envcheck.findings import Report
    from envcheck.model import GoldenInfo
    from envcheck.policy import Policy
    from envcheck.targets import Target

EXIT_ERROR = 2
EXIT_INTERNAL = 3
#: Set (to anything but 0, false, no, off or empty) for the traceback of an internal error, as ``--debug``.
DEBUG_ENV = "ENVCHECK_DEBUG"
_MAX_DETAIL = 300
#: Lockfile arguments: checked by the reader (one line for a missing, unreadable or odd file), not by click.
LOCK_PATH = click.Path(readable=False)

F = TypeVar("F", bound=Callable[..., Any])


def _positive(name: str, *, default: float, help: str, metavar: str = "SECONDS") -> Callable[[F], F]:
    """An option taking a number above zero (a time, a size), its default shown."""
    return click.option(
        name,
        type=click.FloatRange(min=0, min_open=True),
        default=default,
        show_default=True,
        metavar=metavar,
        help=help,
    )


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2."""
    click.echo(f"envcheck: error: {printable(message)}", err=True)
    sys.exit(EXIT_ERROR)


def _debug_from_env() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def internal_error(e: BaseException, debug: bool) -> NoReturn:
    """A bug in envcheck: the traceback under ``debug``, then one line naming the exception; exit 3."""
    if debug:
        click.echo("".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip("\n"), err=True)
    detail = printable(str(e))
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 1] + "…"
    hint = "" if debug else f" (run again with --debug or {DEBUG_ENV}=1 for the traceback)"
    click.echo(
        f"envcheck: internal error: {type(e).__name__}: {detail} — a bug in envcheck, please report it{hint}",
        err=True,
    )
    sys.exit(EXIT_INTERNAL)


class EnvcheckGroup(click.Group):
    """The command group, and the one place where exceptions become exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors (exit 2) and explicit exits: click reports them
        except EnvcheckError as e:
            fail(str(e))
        except KeyboardInterrupt:
            click.echo("envcheck: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            _quiet_stdout()  # the reader went away: the output was not all delivered
            fail("standard output was closed before all of it was written (broken pipe)")
        except Exception as e:
            internal_error(e, bool(ctx.params.get("debug")) or _debug_from_env())


def _quiet_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so that flushing it at exit cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def target_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The target options shared by snapshot, check and sidecar: at most one, default this interpreter."""
    options = [
        click.option("--python", metavar="PATH", help="Another interpreter on this machine."),
        click.option("--pid", type=int, metavar="PID", help="A running process (shared PID namespace)."),
        click.option("--process-match", metavar="REGEX", help="The oldest process whose command line matches."),
        click.option("--root", metavar="DIR", help="A filesystem tree, read statically (no hardware)."),
        click.option("--image", metavar="REF", help="A local Docker image (no hardware)."),
        click.option("--container", metavar="NAME", help="A running Docker container."),
        click.option("--image-archive", metavar="PATH", help="A `docker save` tarball or OCI layout (no engine)."),
        click.option(
            "--archive-limit",
            multiple=True,
            metavar="KEY=VALUE",
            help="With --image-archive/--image: raise or lower an extraction limit (repeat): total=32G, "
            "files=1000000, file-size=8G, ratio=100 are the defaults.",
        ),
        click.option(
            "--blas-kernels",
            is_flag=True,
            help="With --pid/--process-match: record which kernels each OpenBLAS the process loaded picks, by "
            "loading that library in a short-lived child of envcheck (runs the target's library code there).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _target(options: Dict[str, Any]) -> Target:
    from envcheck.targets.local import LocalTarget

    target = make_target(TargetSpec(**options))
    # this process is the command line's, and runs no other thread: the probe may fork workers in it
    return LocalTarget(parallel=True) if type(target) is LocalTarget else target


def numerics_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--numerics and --pid-exec (shared by snapshot and check)."""
    f = click.option(
        "--pid-exec",
        is_flag=True,
        help="With --pid/--process-match and --import or --numerics: run the target's own interpreter inside its "
        "root (chroot /proc/PID/root, as root; runs the target's code from here, network cut).",
    )(f)
    return click.option(
        "--numerics",
        is_flag=True,
        help="Run a small numerics battery (BLAS, reductions, ufuncs, linalg, FFT; scipy and torch if installed) "
        "in a child of the target's interpreter (no network, bounded) and record (snapshot) or compare (check) "
        "its results bit for bit.",
    )(f)


def _numerics_runner(numerics: bool, pid_exec: bool, target: Dict[str, Any]) -> Optional[Runner]:
    if not numerics:
        return None
    from envcheck.numerics.run import runner_for

    return runner_for(TargetSpec(**target), pid_exec=pid_exec)


@click.group(cls=EnvcheckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="envcheck")
@click.option(
    "--debug",
    is_flag=True,
    help=f"On an internal error (exit 3), print the traceback (also: {DEBUG_ENV}=1).",
)
def cli(debug: bool) -> None:
    """Fingerprint the environment a model was verified in, and catch the drift that breaks it.

    Exit codes: 0 no finding at or above --fail-on, 1 findings at or above it, 2 envcheck could not do its job
    (one line on stderr says why), 3 an internal error (a bug in envcheck).
    """


@cli.command()
@click.option(
    "-o", "--output", default="envcheck.lock", show_default=True, help="Where to write the lockfile; - for stdout."
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="PATH",
    help="Model file or folder to digest (repeat); recorded relative to the lockfile's folder.",
)
@click.option("--env", "env", multiple=True, metavar="NAME", help="Extra environment variable to record (repeat).")
@click.option(
    "--golden",
    multiple=True,
    metavar="FILE",
    help="Golden inputs and outputs for `envcheck canary` (repeat): JSON, .npz, an MLflow model folder (runs "
    "the model on its serving_input_example.json in a child of the target's interpreter), or envcheck.golden "
    "(what envcheck.golden.record wrote); stored in envcheck.golden/ beside the lockfile, bound by digest.",
)
@click.option(
    "--mlflow-model",
    metavar="DIR",
    help="An MLflow model folder: write DIR/envcheck.lock with the folder's files recorded as the model "
    "(`envcheck check DIR` then compares against it).",
)
@numerics_options
@target_options
def snapshot(
    output: str,
    models: Sequence[str],
    env: Sequence[str],
    golden: Sequence[str],
    mlflow_model: Optional[str],
    numerics: bool,
    pid_exec: bool,
    **target: Any,
) -> None:
    """Write a lockfile-style fingerprint of this environment (or of the target given)."""
    if mlflow_model is not None:
        output, models = _mlflow_model(mlflow_model, models)
    candidate = _target(target)
    candidate.start(env)  # another interpreter's probe runs while the rest is imported
    from envcheck import api, capture, lockfile
    from envcheck.show import summary

    base = None if output == "-" else api.lockfile_folder(output)  # -o -: model paths stay as given
    golden_info = _golden_info(output, golden, target) if golden else None
    runner = _numerics_runner(numerics, pid_exec, target)
    fp = capture.take(candidate, models=models, extra_env=env, models_base=base, numerics=runner)
    fp = dataclasses.replace(fp, golden=golden_info) if golden_info else fp
    if output == "-":
        click.echo(lockfile.dumps(fp), nl=False)
    else:
        fp = lockfile.write(fp, output)
    to_stderr = output == "-"  # stdout holds the lockfile
    if not to_stderr:
        click.echo(f"wrote {printable(output)} ({fp.meta.digest[:19]})")
    for line in summary(fp):
        click.echo(f"  {line}", err=to_stderr)
    if fp.models:
        from envcheck.collect.models import damage_warnings

        for line in damage_warnings(fp.models):
            click.echo(f"warning: {printable(line)}", err=True)


def _mlflow_model(folder: str, models: Sequence[str]) -> tuple[str, Sequence[str]]:
    """``snapshot --mlflow-model``: the lockfile inside the folder, and the folder's files as the model."""
    from envcheck.mlflow import lock_path, model_files

    if click.get_current_context().get_parameter_source("output") != click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--mlflow-model writes DIR/envcheck.lock: give it or -o, not both")
    return lock_path(folder), [*models, *model_files(folder)]


@cli.command()
@click.argument("lock", type=LOCK_PATH)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--ignore-digest", is_flag=True, help="Read a lockfile whose content no longer matches its digest.")
def show(lock: str, fmt: str, ignore_digest: bool) -> None:
    """Print a lockfile for a person, or as JSON."""
    from envcheck import lockfile
    from envcheck.model import to_data
    from envcheck.show import render_text

    fp = lockfile.read(lock, verify=not ignore_digest)
    if fmt == "json":
        data: Any = to_data(fp)
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        click.echo(render_text(fp), nl=False)


def _default_format() -> str:
    """Inside GitHub Actions annotations are what people read; elsewhere text."""
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"


_NO_MATRIX = "envcheck.no_matrix"


def _remember_no_matrix(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # Kept on the context, not passed as a parameter, so that every command with report_options gets it from
    # _emit without a parameter of its own.
    ctx.meta[_NO_MATRIX] = value


def report_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by check and diff."""
    options = [
        click.option(
            "--policy",
            "policy_path",
            metavar="PATH",
            help="Policy file (default: envcheck.toml or pyproject.toml [tool.envcheck] beside the lockfile).",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMATS),
            default=None,
            help="Report format [default: text; github inside GitHub Actions].",
        ),
        click.option("-o", "--output", metavar="PATH", help="Write the report here (atomically); - for stdout."),
        click.option(
            "--fail-on",
            type=click.Choice(FAIL_ON),
            default=None,
            help="Exit 1 when a finding reaches this severity [default: the policy's, else high].",
        ),
        click.option("--show-extra", is_flag=True, help="Also report packages the lockfile does not have."),
        click.option("--ignore-digest", is_flag=True, help="Read lockfiles edited since they were written."),
        click.option(
            "--no-matrix",
            is_flag=True,
            expose_value=False,
            callback=_remember_no_matrix,
            help="Leave the risk matrix out of the text report.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _load_policy(lock: str, policy_path: Optional[str], show_extra: bool) -> Policy:
    """``--policy``, else the policy beside the lockfile; ``--show-extra`` on top of either."""
    from envcheck.policy import find_policy, load_policy
    from envcheck.rules.rulebook import BY_ID

    pol = load_policy(policy_path, BY_ID) if policy_path else find_policy(lock, BY_ID)
    return dataclasses.replace(pol, show_extra=True) if show_extra else pol


def _matrix_place(fmt: str, output: Optional[str]) -> MatrixPlace:
    """The text report's matrix: none with --no-matrix, a grid above the findings at a terminal, else below."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_NO_MATRIX):
        return MatrixPlace.NONE
    if fmt == "text" and output in (None, "-") and sys.stdout.isatty():
        return MatrixPlace.ABOVE
    return MatrixPlace.BELOW


def _emit(report: Report, fmt: Optional[str], output: Optional[str]) -> None:
    from envcheck import atomic
    from envcheck.report import reporter_for

    fmt = fmt or _default_format()
    color = fmt == "text" and output in (None, "-") and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    text = reporter_for(fmt, color=color, matrix=_matrix_place(fmt, output)).render(report) + "\n"
    if output and output != "-":
        atomic.write_text(output, text)
    else:
        click.echo(text, nl=False)
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary_path:
        try:
            with open(summary_path, "a", encoding="utf-8") as f:
                f.write(reporter_for("markdown").render(report) + "\n")
        except OSError as e:
            click.echo(f"envcheck: warning: cannot append to $GITHUB_STEP_SUMMARY ({e.strerror})", err=True)


#: ``--expected-format`` of check and diff: which kind of file LOCK/OLD is (``envcheck.expected``).
expected_format_option = click.option(
    "--expected-format",
    type=click.Choice(EXPECTED_FORMATS),
    default="auto",
    show_default=True,
    help="What LOCK/OLD is: an envcheck lockfile, a pinned requirements.txt, a pylock.toml, a uv.lock or an "
    "MLflow model (folder or MLmodel); auto detects it from the content.",
)


@cli.command()
@click.argument("lock", type=LOCK_PATH)
@target_options
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="PATH",
    help="Model files to hash instead of the recorded ones (repeat).",
)
@click.option(
    "--import",
    "do_import",
    is_flag=True,
    help="Import the modules the model needs in a child of the candidate's interpreter (runs the candidate's "
    "code: no network, bounded in time, memory and output) and judge by what happens.",
)
@click.option(
    "--load-model",
    is_flag=True,
    help="With --import: also load the model files there (runs their code: a pickle executes on load).",
)
@numerics_options
@click.option(
    "--evidence-timeout",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds each child of --import/--load-model may take.",
)
@click.option(
    "--files",
    is_flag=True,
    help="Also hash every installed file the distributions' RECORDs list and report modified, missing and "
    "unexpected files (package.files.modified).",
)
@expected_format_option
@report_options
def check(
    lock: str,
    models: Sequence[str],
    do_import: bool,
    load_model: bool,
    pid_exec: bool,
    numerics: bool,
    evidence_timeout: float,
    files: bool,
    policy_path: Optional[str],
    fmt: Optional[str],
    output: Optional[str],
    fail_on: Optional[str],
    show_extra: bool,
    ignore_digest: bool,
    expected_format: str,
    **target: Any,
) -> None:
    """Compare LOCK with this environment (or the target given): exit 1 on drift at or above --fail-on."""
    from envcheck import api
    from envcheck.evidence.interface import EvidenceError
    from envcheck.evidence.runners import request_for

    evidence = None
    if do_import or load_model:
        spec = TargetSpec(**target)
        evidence = request_for(spec, load_models=load_model, timeout=evidence_timeout, pid_exec=pid_exec)
    elif pid_exec and not numerics:
        raise EvidenceError("--pid-exec applies with --import, --load-model or --numerics")
    runner = _numerics_runner(numerics, pid_exec, target)
    report = api.check(
        lock,
        target=_target(target),
        evidence=evidence,
        numerics=runner or False,
        policy=_load_policy(lock, policy_path, show_extra),
        fail_on=fail_on,
        models=models or None,
        ignore_digest=ignore_digest,
        loaded=False,  # this process is envcheck, not the model server
        expected_format=expected_format,
        files=files,
    )
    _emit(report, fmt, output)
    sys.exit(report.return_code)


@cli.command("verify-files")
@target_options
@click.option("--policy", "policy_path", metavar="PATH", help="Policy file (its ignores and overrides apply).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Report format [default: text; github inside GitHub Actions].",
)
@click.option("-o", "--output", metavar="PATH", help="Write the report here (atomically); - for stdout.")
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default=None,
    help="Exit 1 when a finding reaches this severity [default: the policy's, else high].",
)
@click.option(
    "--no-matrix",
    is_flag=True,
    expose_value=False,
    callback=_remember_no_matrix,
    help="Leave the risk matrix out of the text report.",
)
def verify_files(
    policy_path: Optional[str], fmt: Optional[str], output: Optional[str], fail_on: Optional[str], **target: Any
) -> None:
    """Hash every installed file the target's distributions' RECORDs list and compare, without a lockfile:
    exit 1 when a distribution's files were modified, deleted or added to (at or above --fail-on)."""
    from envcheck import api

    report = api.verify_files(target=_target(target), policy=policy_path, fail_on=fail_on)
    _emit(report, fmt, output)
    sys.exit(report.return_code)


@cli.command()
@click.argument("old", type=LOCK_PATH)
@click.argument("new", type=LOCK_PATH)
@expected_format_option
@report_options
def diff(
    old: str,
    new: str,
    policy_path: Optional[str],
    fmt: Optional[str],
    output: Optional[str],
    fail_on: Optional[str],
    show_extra: bool,
    ignore_digest: bool,
    expected_format: str,
) -> None:
    """Compare two lockfiles: what changed from OLD (verified) to NEW. OLD may also be a requirements.txt,
    pylock.toml, uv.lock or MLflow model (--expected-format)."""
    from envcheck import api

    report = api.diff(
        old,
        new,
        policy=_load_policy(old, policy_path, show_extra),
        fail_on=fail_on,
        ignore_digest=ignore_digest,
        expected_format=expected_format,
    )
    _emit(report, fmt, output)
    sys.exit(report.return_code)


def _golden_info(output: str, golden: Sequence[str], target: Dict[str, Any]) -> GoldenInfo:
    """``snapshot --golden``: the files recorded beside the lockfile, and what binds them to it."""
    from envcheck.evidence.local import LocalRunner
    from envcheck.golden.case import GoldenError
    from envcheck.golden.recording import recorded
    from envcheck.golden.store import DEFAULT_LIMIT

    if output == "-":
        raise GoldenError("--golden stores the golden cases beside the lockfile: give -o PATH, not -")
    others = [k for k, v in target.items() if v not in (None, False, ()) and k != "python"]
    runner = None if others else LocalRunner(target.get("python") or sys.executable)
    return recorded(output, golden, runner, DEFAULT_LIMIT)


@cli.command()
@click.argument("lock", type=LOCK_PATH)
@click.option(
    "--endpoint", required=True, metavar="URL", help="The model server's base URL (http:// or https://)."
)
@click.option(
    "--protocol",
    type=click.Choice(CANARY_PROTOCOLS),
    default="mlflow",
    show_default=True,
    help="mlflow: POST /invocations; kserve-v2: POST /v2/models/NAME/infer; json: POST the inputs to the URL.",
)
@click.option("--model-name", default="", metavar="NAME", help="With kserve-v2: the served model's name.")
@click.option("--case", "cases", multiple=True, metavar="NAME", help="Only this golden case (repeat).")
@_positive("--timeout", default=10.0, help="Seconds each request may take, answer included.")
@_positive("--max-response-mib", default=4.0, metavar="MIB", help="A larger answer is refused (target lost).")
@report_options
def canary(
    lock: str,
    endpoint: str,
    protocol: str,
    model_name: str,
    cases: Sequence[str],
    timeout: float,
    max_response_mib: float,
    policy_path: Optional[str],
    fmt: Optional[str],
    output: Optional[str],
    fail_on: Optional[str],
    show_extra: bool,
    ignore_digest: bool,
) -> None:
    """Send the golden cases LOCK binds to a running model server and compare its answers with the recorded
    outputs: exit 1 when one differs beyond its tolerance at or above --fail-on, 2 when the server cannot be
    asked (down, timed out, an HTTP error, an answer too large or not JSON: target lost)."""
    from envcheck import api

    report = api.canary(
        lock,
        endpoint,
        protocol,
        model=model_name,
        cases=cases,
        policy=_load_policy(lock, policy_path, show_extra),
        fail_on=fail_on,
        timeout=timeout,
        max_bytes=int(max_response_mib * (1 << 20)),
        ignore_digest=ignore_digest,
    )
    _emit(report, fmt, output)
    sys.exit(report.return_code)


@cli.command()
@click.argument("locks", nargs=-1, required=True, type=LOCK_PATH)
def verify(locks: Sequence[str]) -> None:
    """Check that lockfiles are well-formed and unedited (their digest matches); for pre-commit and CI."""
    from envcheck import lockfile

    for lock in locks:
        fp = lockfile.read(lock)
        click.echo(f"ok: {printable(lock)} ({len(fp.packages)} packages, {fp.meta.digest[:19]})")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
def rules(fmt: str) -> None:
    """List the rulebook: every rule, its risks, probability, impact and severity."""
    from envcheck.show import render_rules

    click.echo(render_rules(fmt), nl=False)


@cli.command()
@click.argument("lock", type=LOCK_PATH)
@target_options
@click.option(
    "--listen",
    default="127.0.0.1:9717",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to serve /healthz, /readyz, /metrics and /report (0.0.0.0:PORT for all interfaces).",
)
@_positive(
    "--interval", default=30.0, help="Time between checks (a check with nothing changed costs a few milliseconds)."
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default=None,
    help="Not ready when a finding reaches this severity [default: the policy's, else high].",
)
@_positive(
    "--check-timeout",
    default=60.0,
    help="A check that runs longer is abandoned: /readyz says 'check timed out', the sidecar stays live.",
)
@click.option(
    "--gate",
    type=click.Choice(["startup", "always", "never"]),
    default="startup",
    show_default=True,
    help="When /readyz follows the checks: startup, ready once a check passes and from then on (later drift is "
    "reported, not gated); always, ready only while the last check passes; never, always ready (report only).",
)
@click.option(
    "--canary",
    "canary_url",
    metavar="URL",
    help="Also replay the golden cases LOCK binds against the model server at URL: at the first check, after "
    "every change of the target, and every --canary-interval; an answer that differs fails the check.",
)
@click.option(
    "--canary-protocol",
    type=click.Choice(CANARY_PROTOCOLS),
    default="mlflow",
    show_default=True,
    help="As envcheck canary --protocol.",
)
@click.option("--canary-model-name", default="", metavar="NAME", help="With kserve-v2: the served model's name.")
@click.option(
    "--canary-case", "canary_cases", multiple=True, metavar="NAME", help="Only this golden case (repeat)."
)
@_positive("--canary-interval", default=300.0, help="Time between canary runs when the target has not changed.")
@_positive("--canary-timeout", default=10.0, help="Seconds each canary request may take, answer included.")
@click.option("--policy", "policy_path", metavar="PATH", help="Policy file (default: beside the lockfile).")
@click.option("--ignore-digest", is_flag=True, help="Read a lockfile edited since it was written.")
@click.option(
    "--files",
    is_flag=True,
    help="At start and whenever the target changes, also hash its installed files against their RECORDs "
    "(a re-verify reads only the files that changed).",
)
def sidecar(
    lock: str,
    listen: str,
    interval: float,
    fail_on: Optional[str],
    check_timeout: float,
    gate: str,
    canary_url: Optional[str],
    canary_protocol: str,
    canary_model_name: str,
    canary_cases: Sequence[str],
    canary_interval: float,
    canary_timeout: float,
    policy_path: Optional[str],
    ignore_digest: bool,
    files: bool,
    **target: Any,
) -> None:
    """Watch the target's live environment against LOCK: readiness, Prometheus metrics, JSON logs.

    Runs until SIGTERM or SIGINT. A check passes when it finds nothing at or above --fail-on; a target that
    cannot be inspected (not started yet, restarted, gone) does not pass ("target lost") and is looked for again
    at each check; with --process-match the regex is matched again, so a restarted server is followed under its
    new PID. --gate decides what /readyz makes of the checks: with startup a bad rollout stalls while the old pods
    serve, and a drift that reaches every replica later cannot take them all out of the Service. With --canary
    the golden cases LOCK binds are replayed against the model server too, and an answer that differs, or a
    server that cannot be asked, fails the check.
    """
    import re

    from envcheck import api, lockfile
    from envcheck.compare import resolve_fail_on
    from envcheck.sidecar import Checker, Gate, State, parse_listen, serve

    spec = TargetSpec(**target)
    try:
        expected = lockfile.read(lock, verify=not ignore_digest)
        policy = _load_policy(lock, policy_path, show_extra=False)
        threshold = resolve_fail_on(fail_on, policy)
        host, port = parse_listen(listen)
        validate_target(spec)
        if spec.process_match is not None:
            re.compile(spec.process_match)
    except re.error as e:
        fail(f"--process-match {spec.process_match!r}: not a valid regular expression ({e})")
    except ValueError as e:  # --listen, --fail-on: the group maps EnvcheckError itself
        fail(str(e))
    given = spec.given()
    # The option's name as typed (process_match -> process-match), its value exactly as given.
    label = f"{given[0].replace('_', '-')}:{getattr(spec, given[0])}" if given else "local"
    canary = None
    if canary_url is not None:
        from envcheck.canary import parse_endpoint, protocol_for
        from envcheck.sidecar.canary import Canary

        canary = Canary(
            api.golden_of(lock, expected, canary_cases),
            parse_endpoint(canary_url),
            protocol_for(canary_protocol),
            model=canary_model_name,
            interval=canary_interval,
            timeout=canary_timeout,
            policy=policy,
        )
    checker = Checker(
        expected,
        lambda: make_target(spec),
        policy=policy,
        fail_on=threshold,
        lock_name=lock,
        target_label=label,
        canary=canary,
        verify_files=files,
    )
    state = State(
        lock, expected.meta.digest, stall_after=3 * interval + 120, gate=Gate(gate), canary=canary is not None
    )

    def log(line: str) -> None:
        click.echo(line, err=True)

    try:
        code = serve(checker, state, host=host, port=port, interval=interval, log=log, check_timeout=check_timeout)
    except OSError as e:
        fail(f"--listen {listen}: cannot listen ({e.strerror or e})")
    sys.exit(code)


@cli.command()
@click.argument("lock", type=LOCK_PATH)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["cyclonedx", "in-toto"]),
    default="cyclonedx",
    show_default=True,
    help="cyclonedx: a CycloneDX 1.6 SBOM (JSON) of the environment, model files and hardware; in-toto: an "
    "in-toto Statement v1 binding the model files to the lockfile (for cosign attest-blob --statement).",
)
@click.option("-o", "--output", metavar="PATH", help="Write the document here (atomically); - or none: stdout.")
@click.option("--ignore-digest", is_flag=True, help="Read a lockfile whose content no longer matches its digest.")
def export(lock: str, fmt: str, output: Optional[str], ignore_digest: bool) -> None:
    """Write LOCK as a CycloneDX SBOM or an in-toto Statement; the same lockfile always gives the same bytes."""
    from envcheck import lockfile
    from envcheck.exporters import export as render

    exported = render(lockfile.read(lock, verify=not ignore_digest), fmt)
    _write_document(exported.text, output, exported.notes)


@cli.command()
@click.argument("lock", type=LOCK_PATH)
@target_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REMEDY_FORMATS),
    default="requirements",
    show_default=True,
    help="requirements: for pip install -r (hashes where every package has a recorded archive hash); pylock: a "
    "PEP 751 pylock.toml for uv pip install -r (packages with a recorded archive or commit only).",
)
@click.option("-o", "--output", metavar="PATH", help="Write the file here (atomically); - or none: stdout.")
@click.option("--ignore-digest", is_flag=True, help="Read a lockfile whose content no longer matches its digest.")
def remedy(lock: str, fmt: str, output: Optional[str], ignore_digest: bool, **target: Any) -> None:
    """Write what restores the package set LOCK recorded on this environment (or the target given): every
    recorded package pinned at its recorded version. What a package manager cannot restore (Python, the OS, the
    CPU, the GPU driver) is listed in the comments at the top; so are refused entries, also warned about here."""
    from envcheck import api
    from envcheck.restore import render

    plan = api.remedy_plan(lock, _target(target), ignore_digest=ignore_digest)
    warnings = list(plan.refused)
    pins = len(plan.pins)
    if fmt == "pylock":
        from envcheck.restore.pylock import left_out

        missing = left_out(plan)
        pins -= len(missing)
        if missing:
            warnings.append(
                f"{len(missing)} of {len(plan.pins)} packages left out of the pylock.toml: installed from an "
                "index, no archive recorded (PEP 751 needs one); --format requirements restores them"
            )
    wrote = _write_document(render(plan, fmt), output, warnings)
    if wrote:
        noun = "pin" if pins == 1 else "pins"
        click.echo(f"wrote {printable(wrote)} ({pins} {noun}, {len(plan.drifted)} drifted)", err=True)


def _write_document(text: str, output: Optional[str], warnings: Sequence[str]) -> Optional[str]:
    """Warn (stderr) about what was left out, then write ``text`` to ``output`` atomically, or to stdout for none
    or ``-``; returns the path written, None for stdout."""
    from envcheck import atomic

    for note in warnings:
        click.echo(f"envcheck: warning: {printable(note)}", err=True)
    if output and output != "-":
        atomic.write_text(output, text)
        return output
    click.echo(text, nl=False)
    return None


def main(argv: Optional[Sequence[str]] = None, prog_name: Optional[str] = None) -> None:
    """Console-script entry point."""
    cli.main(args=None if argv is None else list(argv), prog_name=prog_name or "envcheck")
