"""The judgement corpus as data: one row per verdict, over real baselines, for a reviewer to read at once.

Each row names a baseline (a real environment, ``BASELINES``), what changes in the candidate (a mutation of the
baseline's second real read, or a real candidate built by the test, ``Real``) and the verdict an expert expects:
the rule, its risks, a severity range, what the message names and what the remedy says, and which other rules may
fire beside it. A row whose ``expect`` is None is a noise class: nothing at or above low.

The classes are issue 11's; ``CLASSES`` maps each to a one-line statement of the verdict. Pure data and pure
functions: the test (``test_corpus.py``) builds the baselines and runs the rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Optional, Tuple, Union

from packaging.version import Version

from envcheck.findings import AVAILABILITY, PREDICTION, Severity
from envcheck.footprint import requirement_names
from envcheck.model import DirectUrl, Fingerprint, Package, TorchRuntime

Mutation = Callable[[Fingerprint], Fingerprint]

A = (AVAILABILITY,)
P = (PREDICTION,)
AP = (AVAILABILITY, PREDICTION)
LOW, MEDIUM, HIGH, CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL

#: The real baselines the test builds (``test_corpus.baselines``).
BASELINES: Dict[str, str] = {
    "h200": "fixtures/h200-serving/envcheck.lock: the real H200 serving machine, 198 packages, one GPU",
    "h200-in-torch": "fixtures/h200-serving/envcheck-in-torch.lock: the same, taken inside a torch process",
    "local": "this test interpreter, read in-process with the real hardware collectors (real numpy, scikit-learn)",
    "model": "this interpreter with a real pickled and joblib-dumped scikit-learn model, lockfile beside them",
}

#: The real GPU code list of the H200's cu130 torch (``torch.cuda.get_arch_list()`` in torch-process.json).
CU130_ARCHS = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")

#: The model's own packages in the local baselines: never envcheck's footprint, however this interpreter got them
#: (``pip install -e '.[test]'`` brings scikit-learn through envcheck's test extra, which would mark it ``tool``).
MODEL_STACK = ("scikit-learn",)


@dataclass(frozen=True)
class Real:
    """A candidate that is a real environment, built by the test under this name (``test_corpus.REAL``)."""

    name: str


@dataclass(frozen=True)
class Expect:
    """The finding an expert expects."""

    rule: str
    subject: str
    risks: Tuple[str, ...]
    at_least: Severity
    at_most: Severity
    names: str
    """A substring of the message: the package, variable or fact it must name."""
    remedy: str
    """A substring of the remedy."""
    remedy_not: str = ""
    """A substring the remedy must not hold (``export CUDA_VISIBLE_DEVICES=`` hides every GPU)."""
    message_not: str = ""
    """A substring the message must not hold (an untrue explanation)."""
    cause: str = ""
    """The root cause it is filed under; empty: it stands on its own (a headline)."""


@dataclass(frozen=True)
class Case:
    id: str
    cls: str
    """Its class: a key of ``CLASSES``."""
    baseline: str
    """A key of ``BASELINES``: the lockfile side."""
    candidate: Union[Mutation, Real]
    expect: Optional[Expect]
    """None: quiet (no finding at or above low)."""
    lock: Optional[Mutation] = None
    """Applied to the lockfile side only (a numpy-1 era training environment); ``candidate`` starts from the
    baseline's second read, so a change both sides share is in both."""
    also: Optional[FrozenSet[str]] = frozenset()
    """Other rules that may fire beside ``expect`` (their consequences, the version change itself); None: any."""
    caused: FrozenSet[str] = frozenset()
    """Rules whose every finding must be filed under ``expect.rule`` (root causes first)."""
    slow: bool = False
    """Reads another interpreter or writes environments (``pytest.mark.slow``)."""
    wrong_today: str = ""
    """Non-empty: envcheck's verdict is wrong today; the row holds the right one, marked xfail(strict)."""


CLASSES: Dict[str, str] = {
    "requirements": "requirements are read as Python reads them (multi-line License headers included)",
    "self-checks": "self-checks agree with pip check; numpy<2 under numpy 2 is availability, high or worse",
    "numpy2": "numpy 1 -> 2 and the compiled dependents too old for it, availability, high or worse",
    "env-values": "values by meaning: hidden GPUs high, aliases and defaults quiet, `unset X` remedies",
    "extras": "extras that change results (bottleneck, numexpr beside pandas) medium; other extras quiet",
    "editable": "an editable install whose files changed is reported",
    "footprint": "envcheck's own footprint missing is quiet",
    "same-bytes": "the same bytes from another source are quiet; other bytes are one build finding",
    "root-causes": "one root cause, one headline: its consequences are filed under it",
    "model-paths": "model paths are relative to the lockfile, found from any working directory",
    "model": "a real pickled scikit-learn model: its file, its library's version and presence",
    "gpu-kernels": "GPU code by NVIDIA's rules: sm_86 cubins run on 8.9; 9.0a does not carry over",
    "messages": "messages say what is true: a pure-Python RECORD change is 'files differ'; shadowing names both",
    "identity": "a snapshot compared with itself, however read, is quiet",
}


# --- mutations --------------------------------------------------------------------------------------------------


def _r(fp: Fingerprint, **changes: object) -> Fingerprint:
    return dataclasses.replace(fp, **changes)  # type: ignore[arg-type]


def both(*mutations: Mutation) -> Mutation:
    def go(fp: Fingerprint) -> Fingerprint:
        for m in mutations:
            fp = m(fp)
        return fp

    return go


def package(name: str, **changes: object) -> Mutation:
    def go(fp: Fingerprint) -> Fingerprint:
        assert fp.package(name) is not None, f"the baseline has no {name}"
        pkgs = tuple(dataclasses.replace(p, **changes) if p.name == name else p for p in fp.packages)  # type: ignore[arg-type]
        return _r(fp, packages=pkgs)

    return go


def without(*names: str) -> Mutation:
    return lambda fp: _r(fp, packages=tuple(p for p in fp.packages if p.name not in names))


def adding(pkg: Package) -> Mutation:
    return lambda fp: _r(fp, packages=tuple(sorted((*fp.packages, pkg), key=lambda p: p.name)))


def without_tool(fp: Fingerprint) -> Fingerprint:
    """The serving side of envcheck's footprint: every package marked ``tool`` gone."""
    return _r(fp, packages=tuple(p for p in fp.packages if not p.tool))


def release(name: str, version: str, requires: Tuple[str, ...]) -> Mutation:
    """Another real release of ``name``: its version and its real Requires-Dist (other files, other RECORD)."""
    return package(name, version=version, requires=requires, record_digest="sha256:" + "5" * 64)


def older_minor(name: str) -> Mutation:
    """``name`` one minor release older than the baseline's (whatever this interpreter has)."""

    def go(fp: Fingerprint) -> Fingerprint:
        pkg = fp.package(name)
        assert pkg is not None, f"the baseline has no {name}"
        v = Version(pkg.version)
        assert v.minor > 0, pkg.version
        return package(name, version=f"{v.major}.{v.minor - 1}.0", record_digest="sha256:" + "6" * 64)(fp)

    return go


def env(**variables: Optional[str]) -> Mutation:
    """Set variables (an empty value stays set, and empty); None unsets one."""

    def go(fp: Fingerprint) -> Fingerprint:
        merged = {**fp.env.variables, **variables}
        kept = {k: v for k, v in merged.items() if v is not None}
        return _r(fp, env=dataclasses.replace(fp.env, variables=kept))

    return go


def threads_at_default(fp: Fingerprint) -> Fingerprint:
    """OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to what the libraries use anyway on this machine's CPUs."""
    count = str(fp.cpu.affinity_count or fp.cpu.logical_cpus)
    return env(OMP_NUM_THREADS=count, OPENBLAS_NUM_THREADS=count)(fp)


def torch_archs(*archs: str) -> Mutation:
    """torch's recorded GPU code list (``torch.cuda.get_arch_list()``, as an in-process snapshot records it)."""
    return lambda fp: _r(fp, gpu=dataclasses.replace(fp.gpu, torch=TorchRuntime(arch_list=archs)))


def gpu_device(name: str, cc: str, memory: int) -> Mutation:
    def go(fp: Fingerprint) -> Fingerprint:
        devices = tuple(
            dataclasses.replace(d, name=name, compute_capability=cc, memory_total_bytes=memory)
            for d in fp.gpu.devices
        )
        assert devices, "the baseline has no GPU"
        return _r(fp, gpu=dataclasses.replace(fp.gpu, devices=devices))

    return go


def retag(old: str, new: str) -> Mutation:
    """Every wheel tag rebuilt: ``cp312`` -> ``cp313``, ``x86_64`` -> ``aarch64``..."""

    def one(pkg: Package) -> Package:
        tags = tuple(t.replace(old, new) for t in pkg.wheel_tags)
        if tags == pkg.wheel_tags:
            return pkg
        return dataclasses.replace(pkg, wheel_tags=tags, record_digest="sha256:" + "7" * 64)

    return lambda fp: _r(fp, packages=tuple(one(p) for p in fp.packages))


def section(name: str, **changes: object) -> Mutation:
    return lambda fp: _r(fp, **{name: dataclasses.replace(getattr(fp, name), **changes)})


def model_stack_untooled(fp: Fingerprint) -> Fingerprint:
    """``MODEL_STACK`` and what it requires marked as the model's own (never envcheck's footprint)."""
    by_name = {p.name: p for p in fp.packages}
    ours, todo = set(), [n for n in MODEL_STACK if n in by_name]
    while todo:
        name = todo.pop()
        if name in ours:
            continue
        ours.add(name)
        todo += [r for r in requirement_names(by_name[name], fp.python.markers, by_name) if r in by_name]
    return _r(fp, packages=tuple(dataclasses.replace(p, tool=False) if p.name in ours else p for p in fp.packages))


def B200(fp: Fingerprint) -> Fingerprint:
    return gpu_device("NVIDIA B200", "10.0", 191_514_607_616)(fp)


#: Real Requires-Dist of two scikit-learn releases (their wheels' METADATA, extras left out): 1.4.1.post1 is the
#: release that added ``numpy<2``; 1.3.2 predates numpy 2 and does not forbid it.
SKLEARN_1_4_1_POST1 = ("numpy<2.0,>=1.19.5", "scipy>=1.6.0", "joblib>=1.2.0", "threadpoolctl>=2.0.0")
SKLEARN_1_3_2 = ("numpy>=1.17.3", "scipy>=1.5.0", "joblib>=1.1.1", "threadpoolctl>=2.0.0")

NUMPY_1 = both(package("numpy", version="1.26.4"), package("pandas", version="2.1.4"))
"""A numpy-1 era training environment: numpy 1.26.4 with pandas 2.1.4 (built against numpy 1). The candidate
keeps pandas 2.1.4 beside the H200's numpy 2.5.2, and its xarray's ``pandas>=2.2`` is then (truly) unmet."""

_CU130 = torch_archs(*CU130_ARCHS)
_SM90A = torch_archs("sm_90a")
_SIX_VCS = DirectUrl(url="https://github.com/benjaminp/six.git", kind="vcs", vcs="git", commit_id="a" * 40)
_SIX_ARCHIVE = DirectUrl(url="file:///wheels/six-1.17.0-py2.py3-none-any.whl", kind="archive")
_PKG_BUILD = frozenset(["package.build", "package.build.files", "package.source"])

# fmt: off
CASES: Tuple[Case, ...] = (
    # --- requirements read as Python reads them ------------------------------------------------------------------
    Case("req-real-skimage-metadata", "requirements", "local", Real("skimage-metadata-on-path"),
         Expect("package.requirement.missing", "scikit-image", A, HIGH, HIGH, "lazy-loader",
                "pip install 'lazy-loader>=0.4'"),
         # true: its wheel is cp312, and what else it requires that this environment lacks
         also=frozenset(["package.wheel.unsupported", "package.requirement.missing"]), slow=True),
    Case("req-h200-dependency-removed", "requirements", "h200", without("python-dateutil"),
         Expect("package.requirement.missing", "pandas", A, HIGH, HIGH, "python-dateutil>=2.8.2",
                "pip install 'python-dateutil>=2.8.2'"),
         also=frozenset(["package.missing", "package.requirement.missing"])),
    # --- self-checks = pip check ---------------------------------------------------------------------------------
    Case("req-numpy-lt-2-under-numpy-2", "self-checks", "local",
         release("scikit-learn", "1.4.1.post1", SKLEARN_1_4_1_POST1),
         Expect("package.requirement.numpy2", "scikit-learn", A, HIGH, CRITICAL, "numpy.dtype size changed",
                "pip install 'numpy<2.0,>=1.19.5'"),
         also=frozenset(["package.version.minor.numeric", "package.numpy2.dependent"])),
    Case("req-pip-check-agrees", "self-checks", "h200",
         adding(Package("legacy-app", "1.0", requires=("absent-a>=1", "six>=99", "numpy<2"))),
         Expect("package.requirement.conflict", "legacy-app", A, MEDIUM, HIGH, "six",
                "pip install 'six>=99'"),
         also=frozenset(["package.requirement.missing", "package.requirement.numpy2"])),
    # --- numpy 1 -> 2 --------------------------------------------------------------------------------------------
    Case("numpy-1-to-2", "numpy2", "h200", package("pandas", version="2.1.4"),
         Expect("package.version.numpy2", "numpy", AP, HIGH, CRITICAL, "numpy.dtype size changed",
                "pip install 'numpy==1.26.4'"),
         lock=NUMPY_1, also=frozenset(["package.numpy2.dependent", "package.requirement.conflict"])),
    Case("numpy2-dependent-pandas", "numpy2", "h200", package("pandas", version="2.1.4"),
         Expect("package.numpy2.dependent", "pandas", A, HIGH, CRITICAL, "built against numpy 1.x",
                "pip install 'pandas>=2.2.2'", cause="package.version.numpy2"),
         lock=NUMPY_1, also=frozenset(["package.version.numpy2", "package.requirement.conflict"])),
    Case("numpy2-dependent-real-sklearn", "numpy2", "local", release("scikit-learn", "1.3.2", SKLEARN_1_3_2),
         Expect("package.numpy2.dependent", "scikit-learn", A, HIGH, CRITICAL, "built against numpy 1.x",
                "pip install 'scikit-learn>=1.4.2'"),
         also=frozenset(["package.version.minor.numeric"])),
    # --- environment values by meaning ---------------------------------------------------------------------------
    Case("cuda-visible-devices-empty", "env-values", "h200", env(CUDA_VISIBLE_DEVICES=""),
         Expect("env.device.hidden", "CUDA_VISIBLE_DEVICES", A, HIGH, CRITICAL, "sees no GPU",
                "unset CUDA_VISIBLE_DEVICES", remedy_not="export")),
    Case("cuda-visible-devices-minus-1", "env-values", "h200", env(CUDA_VISIBLE_DEVICES="-1"),
         Expect("env.device.hidden", "CUDA_VISIBLE_DEVICES", A, HIGH, CRITICAL, "sees no GPU",
                "unset CUDA_VISIBLE_DEVICES", remedy_not="export")),
    Case("tz-utc-on-utc-machine", "env-values", "h200", env(TZ="UTC"), None),
    Case("tz-etc-utc-path-on-utc-machine", "env-values", "h200", env(TZ=":/usr/share/zoneinfo/Etc/UTC"), None),
    Case("tz-other-zone", "env-values", "h200", env(TZ="Europe/Berlin"),
         Expect("env.locale", "TZ", P, MEDIUM, MEDIUM, "Europe/Berlin", "unset TZ (so that /etc/localtime")),
    Case("locale-codeset-alias", "env-values", "h200", env(LANG="C.utf8", LC_ALL="en_US.utf8"), None),
    Case("locale-real-c-utf8-alias", "env-values", "local", env(LANG="C.utf8"), None,
         lock=env(LANG="C.UTF-8")),
    Case("threads-at-default-h200", "env-values", "h200", env(OMP_NUM_THREADS="16", MKL_NUM_THREADS="16"), None),
    Case("threads-at-default-this-machine", "env-values", "local", threads_at_default, None),
    Case("threads-changed", "env-values", "h200", env(OMP_NUM_THREADS="4"),
         Expect("env.threads", "OMP_NUM_THREADS", P, LOW, LOW, "order of parallel reductions",
                "unset OMP_NUM_THREADS", remedy_not="export")),
    Case("tf-variable-without-tensorflow", "env-values", "h200", env(TF_ENABLE_ONEDNN_OPTS="0"),
         Expect("env.unused", "TF_ENABLE_ONEDNN_OPTS", P, LOW, LOW, "TensorFlow",
                "unset TF_ENABLE_ONEDNN_OPTS", remedy_not="export")),
    Case("kmp-variable-without-intel-openmp", "env-values", "local", env(KMP_AFFINITY="granularity=fine,compact"),
         Expect("env.unused", "KMP_AFFINITY", P, LOW, LOW, "OpenMP", "unset KMP_AFFINITY", remedy_not="export")),
    # --- extras that change results ------------------------------------------------------------------------------
    Case("bottleneck-beside-pandas", "extras", "h200",
         adding(Package("bottleneck", "1.4.2", wheel_tags=("cp312-cp312-manylinux_2_17_x86_64",))),
         Expect("package.extra.changes_results", "bottleneck", P, MEDIUM, HIGH, "pandas",
                "pip uninstall bottleneck")),
    Case("numexpr-beside-pandas", "extras", "h200",
         adding(Package("numexpr", "2.11.0", wheel_tags=("cp312-cp312-manylinux_2_27_x86_64",))),
         Expect("package.extra.changes_results", "numexpr", P, MEDIUM, HIGH, "pandas",
                "pip uninstall numexpr")),
    Case("bottleneck-without-pandas", "extras", "local",
         both(without("pandas"), adding(Package("bottleneck", "1.4.2", wheel_tags=("py3-none-any",)))), None,
         lock=without("pandas")),
    Case("other-extra-quiet", "extras", "local", adding(Package("left-pad", "1.0", wheel_tags=("py3-none-any",))),
         None),
    # --- editable installs ---------------------------------------------------------------------------------------
    Case("editable-files-changed", "editable", "local", Real("editable-edited"),
         Expect("package.editable.changed", "corpus-editable", AP, MEDIUM, HIGH, "editable install",
                "check out the commit of corpus-editable"),
         slow=True),
    # --- envcheck's own footprint --------------------------------------------------------------------------------
    Case("footprint-missing-real", "footprint", "local", without_tool, None),
    # --- same bytes from another source --------------------------------------------------------------------------
    Case("same-bytes-from-the-index", "same-bytes", "h200", package("tomli-w", direct_url=None), None),
    Case("same-bytes-from-git", "same-bytes", "h200", package("six", direct_url=_SIX_VCS), None),
    Case("other-bytes-other-source", "same-bytes", "h200",
         package("six", direct_url=_SIX_ARCHIVE, record_digest="sha256:" + "1" * 64),
         Expect("package.build.files", "six", P, MEDIUM, MEDIUM, "files differ", "reinstall the files",
                message_not="compiler flags")),
    # --- root causes first ---------------------------------------------------------------------------------------
    Case("h200-lockfile-on-this-machine", "root-causes", "h200", Real("this-machine"),
         Expect("package.missing.most", "packages", A, CRITICAL, CRITICAL, "of the lockfile's 198 packages",
                "--python"),
         also=None, caused=frozenset(["package.missing"])),
    Case("python-minor-upgrade", "root-causes", "h200",
         both(section("python", version="3.13.1", interpreter_tag="cp313", abi_tag="cp313"),
              retag("cp312", "cp313")),
         Expect("python.version.minor", "python", A, HIGH, HIGH, "3.13.1", "Python 3.12"),
         also=frozenset(["package.build"]), caused=frozenset(["package.build"])),
    Case("architecture", "root-causes", "h200",
         both(section("os", machine="aarch64"), retag("x86_64", "aarch64")),
         Expect("os.architecture", "architecture", AP, CRITICAL, CRITICAL, "aarch64", "serve on x86_64"),
         also=frozenset(["package.build"]), caused=frozenset(["package.build"])),
    Case("libc-family", "root-causes", "h200",
         both(section("os", libc_family="musl", libc_version="1.2.5"), retag("manylinux", "musllinux")),
         Expect("os.libc.family", "libc", A, CRITICAL, CRITICAL, "musl", "glibc-based image"),
         also=None, caused=frozenset(["package.build", "os.libc.too_old", "os.libc.version"])),
    # --- model paths relative to the lockfile --------------------------------------------------------------------
    Case("model-checked-from-another-folder", "model-paths", "model", Real("model-from-another-folder"), None),
    Case("model-moved-with-its-lockfile", "model-paths", "model", Real("model-moved"), None),
    # --- a real pickled scikit-learn model -----------------------------------------------------------------------
    Case("model-retrained", "model", "model", Real("model-retrained"),
         Expect("model.digest", "model.pkl", AP, CRITICAL, CRITICAL, "not the model that was verified",
                "deploy the verified model file")),
    Case("model-joblib-file-gone", "model", "model", Real("model-joblib-gone"),
         Expect("model.missing", "model.joblib", A, CRITICAL, CRITICAL, "cannot load", "deploy model.joblib")),
    Case("model-sklearn-version-moved", "model", "model", older_minor("scikit-learn"),
         Expect("model.writer.version", "scikit-learn", AP, HIGH, HIGH, "was written by scikit-learn",
                "pip install 'scikit-learn==", message_not="usually compatible"),
         also=frozenset(["model.writer.version"])),  # one per model file: the pickle and the joblib dump
    Case("model-pickle-names-numpy-core-under-numpy-1", "model", "model", package("numpy", version="1.26.4"),
         Expect("model.reference.unavailable", "numpy", A, CRITICAL, CRITICAL, "numpy._core",
                "pip install 'numpy=="),
         also=None),
    Case("model-sklearn-missing", "model", "model", without("scikit-learn"),
         Expect("package.missing.critical", "scikit-learn", A, CRITICAL, CRITICAL, "model files name its modules",
                "pip install 'scikit-learn=="),
         also=frozenset(["package.requirement.missing"])),
    Case("model-identical", "model", "model", Real("model-identical"), None),
    # --- GPU code by the vendor's rules --------------------------------------------------------------------------
    Case("l4-runs-sm86-cubins", "gpu-kernels", "h200-in-torch",
         both(_CU130, gpu_device("NVIDIA L4", "8.9", 24_152_899_584)),
         Expect("gpu.model", "gpu", P, MEDIUM, MEDIUM, "NVIDIA L4", "re-verify the model"),
         lock=_CU130, also=frozenset(["gpu.memory"])),
    Case("b200-runs-sm100-cubins", "gpu-kernels", "h200-in-torch", both(_CU130, B200),
         Expect("gpu.model", "gpu", P, MEDIUM, MEDIUM, "NVIDIA B200", "re-verify the model"), lock=_CU130),
    Case("sm90a-only-build-on-b200", "gpu-kernels", "h200-in-torch", both(_SM90A, B200),
         Expect("gpu.arch.unsupported", "torch", A, CRITICAL, CRITICAL, "no kernel image", "sm_100"),
         lock=_SM90A, also=frozenset(["gpu.model"])),
    Case("sm90a-only-build-on-h200", "gpu-kernels", "h200-in-torch", _SM90A, None),
    # --- true messages -------------------------------------------------------------------------------------------
    Case("pure-python-record-change", "messages", "h200", package("six", record_digest="sha256:" + "2" * 64),
         Expect("package.build.files", "six", P, MEDIUM, MEDIUM, "files differ", "reinstall the files",
                message_not="compiler flags")),
    Case("compiled-record-change", "messages", "h200", package("numpy", record_digest="sha256:" + "3" * 64),
         Expect("package.build", "numpy", P, MEDIUM, MEDIUM, "other build", "reinstall the build")),
    Case("shadowing-names-both-folders", "messages", "local", Real("joblib-shadowed"),
         Expect("package.shadowed", "joblib", AP, MEDIUM, MEDIUM, "shadow-folder", "keep one joblib"),
         also=_PKG_BUILD, slow=True),
    # --- identity ------------------------------------------------------------------------------------------------
    Case("h200-itself", "identity", "h200", lambda fp: fp, None),
    Case("h200-in-torch-itself", "identity", "h200-in-torch", lambda fp: fp, None),
    Case("local-read-twice", "identity", "local", lambda fp: fp, None),
    Case("local-in-process-vs-python-target", "identity", "local", Real("local-by-python-target"), None,
         slow=True),
)
# fmt: on
