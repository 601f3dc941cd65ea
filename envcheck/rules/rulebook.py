"""The default rulebook: every rule envcheck applies, as data, in one place.

Each rule says which risk a change carries (availability: the model fails to import, load or run; prediction: it
runs and returns different numbers), how likely it is to hurt (probability 1-5) and how badly (impact 1-5), why it
matters and how to fix it. The README's rulebook table is generated from this list (``envcheck rules``).
Message and remedy are ``str.format`` templates over ``subject``, ``expected``, ``actual`` and rule-specific
fields the comparison supplies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from envcheck.findings import AVAILABILITY, PREDICTION

A = (AVAILABILITY,)
P = (PREDICTION,)
AP = (AVAILABILITY, PREDICTION)


@dataclass(frozen=True)
class Rule:
    id: str
    component: str
    risks: Tuple[str, ...]
    probability: int
    impact: int
    message: str
    """Template: what changed and why it matters."""
    remedy: str
    """Template: what to do."""
    observed: bool = False
    """True for a rule that reports what a check saw in the candidate (an import, a load, the numerics battery,
    a golden case), False for one guessed from metadata: its findings say ``observed`` or ``inferred``."""


_PIN = "pip install '{subject}=={expected}'"
_REBUILD = "rebuild the serving image from the training environment's lockfile (`envcheck show LOCK`)"

RULES: Tuple[Rule, ...] = (
    # --- python ---
    Rule(
        id="python.implementation",
        component="python",
        risks=A,
        probability=5,
        impact=5,
        message="Python implementation: then {expected}, now {actual} — C extensions and pickles of one do not "
        "load in the other",
        remedy="serve with {expected}, as the model was verified",
    ),
    Rule(
        id="python.version.minor",
        component="python",
        risks=A,
        probability=4,
        impact=4,
        message="Python: then {expected}, now {actual} — compiled extensions are built per minor version and "
        "pickled models may not load across it",
        remedy="serve with Python {expected_minor} (e.g. a python:{expected_minor} base "
        "image) or re-verify the model on {actual_minor}",
    ),
    Rule(
        id="python.version.patch",
        component="python",
        risks=P,
        probability=1,
        impact=2,
        message="Python patch release: then {expected}, now {actual} — rarely matters; bug fixes can change edge "
        "cases",
        remedy="pin the interpreter to {expected} if you need bit-identical behaviour",
    ),
    Rule(
        id="python.free_threaded",
        component="python",
        risks=A,
        probability=4,
        impact=4,
        message="Python build: then {expected}, now {actual} — extensions built for one ABI do not import in the "
        "other (cp3XYt wheels)",
        remedy="use the same Python build ({expected}) for serving",
    ),
    # --- os ---
    Rule(
        id="os.architecture",
        component="os",
        risks=AP,
        probability=5,
        impact=5,
        message="CPU architecture: then {expected}, now {actual} — native wheels do not load, and floating-point "
        "kernels differ",
        remedy="serve on {expected}, or rebuild and re-verify the model on {actual}",
    ),
    Rule(
        id="os.libc.family",
        component="os",
        risks=A,
        probability=5,
        impact=5,
        message="C library: then {expected}, now {actual} — manylinux and musllinux wheels are not "
        "interchangeable",
        remedy="use a {expected}-based image for serving",
    ),
    Rule(
        id="os.libc.too_old",
        component="os",
        risks=A,
        probability=5,
        impact=4,
        message="{subject}: its wheel needs glibc {needed}, the system has {actual} — it will fail to load",
        remedy="use a base image with glibc >= {needed}, or install a {subject} wheel built for "
        "manylinux_2_{older}",
    ),
    Rule(
        id="os.libc.version",
        component="os",
        risks=P,
        probability=1,
        impact=2,
        message="glibc: then {expected}, now {actual} — math library results (libm) can differ in the last bits",
        remedy="use a base image with glibc {expected} for bit-identical results",
    ),
    Rule(
        id="os.distribution",
        component="os",
        risks=P,
        probability=1,
        impact=2,
        message="distribution: then {expected}, now {actual} — system libraries differ",
        remedy=_REBUILD,
    ),
    Rule(
        id="os.kernel",
        component="os",
        risks=P,
        probability=1,
        impact=1,
        message="kernel: then {expected}, now {actual} — seldom matters to a model",
        remedy="nothing needed unless GPU drivers or containers misbehave",
    ),
    # --- packages ---
    Rule(
        id="package.missing",
        component="packages",
        risks=A,
        probability=4,
        impact=4,
        message="{subject}: then {expected}, now not installed — importing it fails",
        remedy=_PIN,
    ),
    Rule(
        id="package.missing.critical",
        component="packages",
        risks=A,
        probability=4,
        impact=5,
        message="{subject}: then {expected}, now not installed — the model files name its modules, or the policy "
        "marks it model-critical: the model cannot load",
        remedy=_PIN,
    ),
    Rule(
        id="package.missing.most",
        component="packages",
        risks=A,
        probability=5,
        impact=5,
        message="{missing} of the lockfile's {total} packages are not installed — this is another environment "
        "than the one the model was verified in (the wrong interpreter or image, or a lockfile from another "
        "machine); the missing packages are listed under this finding",
        remedy="check the environment that will serve the model (--python, --image, --container, --pid), or "
        "install the lockfile's packages (envcheck show LOCK --format json lists them)",
    ),
    Rule(
        id="package.version.major",
        component="packages",
        risks=AP,
        probability=4,
        impact=3,
        message="{subject}: then {expected}, now {actual} ({direction}, major) — APIs and serialised formats "
        "break across major versions",
        remedy=_PIN,
    ),
    Rule(
        id="package.version.numpy2",
        component="packages",
        risks=AP,
        probability=4,
        impact=4,
        message="numpy: then {expected}, now {actual} — across the numpy 1 -> 2 boundary: extension modules built "
        'against numpy 1.x fail at import ("numpy.dtype size changed, may indicate binary incompatibility"), and '
        "numpy 2's scalar promotion rules (NEP 50) change the dtype, and so the numbers, of mixed operations",
        remedy="pip install 'numpy=={expected}', or upgrade every compiled numpy dependent to a release built for "
        "numpy 2 and re-verify the model",
    ),
    Rule(
        id="package.version.minor.numeric",
        component="packages",
        risks=P,
        probability=3,
        impact=3,
        message="{subject}: then {expected}, now {actual} ({direction}, minor) — a numeric/ML library: kernels, "
        "defaults and tokenisation change in minor releases",
        remedy=_PIN,
    ),
    Rule(
        id="package.version.minor",
        component="packages",
        risks=AP,
        probability=2,
        impact=2,
        message="{subject}: then {expected}, now {actual} ({direction}, minor) — usually compatible",
        remedy=_PIN,
    ),
    Rule(
        id="package.version.patch",
        component="packages",
        risks=P,
        probability=1,
        impact=2,
        message="{subject}: then {expected}, now {actual} ({direction}, patch) — bug fixes only, as a rule",
        remedy=_PIN,
    ),
    Rule(
        id="package.version.opaque",
        component="packages",
        risks=AP,
        probability=3,
        impact=2,
        message="{subject}: then {expected}, now {actual} — not PEP 440 versions, compared verbatim: the order "
        "of the change is unknown",
        remedy=_PIN,
    ),
    Rule(
        id="package.build",
        component="packages",
        risks=P,
        probability=3,
        impact=3,
        message="{subject}: same version, other build: then {expected}, now {actual} — different compiler flags "
        "or bundled native libraries",
        remedy="reinstall the build the model was verified with: {fix}",
    ),
    Rule(
        id="package.build.gpu_dropped",
        component="packages",
        risks=AP,
        probability=3,
        impact=3,
        message="{subject}: then {expected}, now {actual} — the GPU build was replaced by a CPU one: the model "
        "fails on `.cuda()` or silently runs on the CPU",
        remedy="reinstall the GPU build: {fix}",
    ),
    Rule(
        id="package.build.files",
        component="packages",
        risks=P,
        probability=3,
        impact=3,
        message="{subject}: same version, other files: then {expected}, now {actual} — a pure-Python package "
        "whose files differ (patched, or built from other sources)",
        remedy="reinstall the files the model was verified with: {fix}",
    ),
    Rule(
        id="package.editable.changed",
        component="packages",
        risks=AP,
        probability=3,
        impact=3,
        message="{subject}: an editable install whose files changed: then {expected}, now {actual} — no version "
        "pins its code, which is read from {folder} at import",
        remedy="check out the commit of {subject} the model was verified with, or take a new snapshot once the "
        "model is re-verified with this code",
    ),
    Rule(
        id="package.source",
        component="packages",
        risks=P,
        probability=2,
        impact=3,
        message="{subject}: installed from another source: then {expected}, now {actual} — same version number, "
        "possibly other code",
        remedy="reinstall from {expected}",
    ),
    Rule(
        id="package.extra",
        component="packages",
        risks=P,
        probability=1,
        impact=1,
        message="{subject}: not in the lockfile, now {actual} — an extra package can shadow or patch others",
        remedy="pip uninstall {subject}, or take a new snapshot if it belongs",
    ),
    Rule(
        id="package.extra.changes_results",
        component="packages",
        risks=P,
        probability=3,
        impact=2,
        message="{subject} {actual}: not in the lockfile, and {host} {host_version} picks it up on its own — "
        "{why} ({source}), so results can differ from the verified ones",
        remedy="pip uninstall {subject}, or re-verify the model with it and take a new snapshot",
    ),
    # --- environment self-checks (check only) ---
    Rule(
        id="package.requirement.missing",
        component="packages",
        risks=A,
        probability=4,
        impact=4,
        message="{subject} requires {requirement}, which is not installed — importing {subject} may fail",
        remedy="pip install '{requirement}'",
    ),
    Rule(
        id="package.requirement.conflict",
        component="packages",
        risks=A,
        probability=3,
        impact=3,
        message="{subject} requires {requirement}, but {dependency} {actual} is installed — as pip check reports",
        remedy="pip install '{requirement}'",
    ),
    Rule(
        id="package.requirement.numpy2",
        component="packages",
        risks=A,
        probability=4,
        impact=4,
        message="{subject} requires {requirement}, but numpy {actual} is installed — across the numpy 1 -> 2 "
        'boundary extension modules built against numpy 1.x fail at import ("numpy.dtype size changed")',
        remedy="pip install '{requirement}', or a release of {subject} built for numpy 2",
    ),
    Rule(
        id="package.numpy2.dependent",
        component="packages",
        risks=A,
        probability=4,
        impact=4,
        message="{subject} {actual} was built against numpy 1.x, and numpy {numpy} is installed — its extension "
        'modules fail at import ("numpy.dtype size changed, may indicate binary incompatibility") or at their '
        "first call into numpy; the first {subject} built for numpy 2 is {ready} ({source})",
        remedy="pip install '{subject}>={ready}', or pip install 'numpy<2' if the model was verified with "
        "numpy 1.x",
    ),
    Rule(
        id="package.shadowed",
        component="packages",
        risks=AP,
        probability=3,
        impact=3,
        message="{subject}: installed twice on the path ({winner} wins over {shadowed}) — which one is imported "
        "depends on sys.path order",
        remedy="remove the copy you do not want (pip uninstall with the interpreter whose folder holds it); keep "
        "one {subject}",
    ),
    Rule(
        id="package.wheel.unsupported",
        component="packages",
        risks=A,
        probability=5,
        impact=4,
        message="{subject} {version}: its wheel ({tags}) does not fit this interpreter ({reason}) — it cannot "
        "load",
        remedy="reinstall {subject} with this interpreter's pip so that it picks a matching wheel",
    ),
    # --- native runtime ---
    Rule(
        id="native.blas.vendor",
        component="native",
        risks=P,
        probability=3,
        impact=3,
        message="BLAS: then {expected}, now {actual} — different vendors sum in different orders and pick "
        "different kernels: results differ in the last bits, sometimes more",
        remedy="install the packages that ship {expected} (e.g. the same numpy/scipy/torch builds)",
    ),
    Rule(
        id="native.blas.version",
        component="native",
        risks=P,
        probability=2,
        impact=2,
        message="{subject}: then {expected}, now {actual} — a new BLAS release changes kernels",
        remedy=_REBUILD,
    ),
    Rule(
        id="native.blas.kernels",
        component="native",
        risks=P,
        probability=3,
        impact=2,
        message="{subject}: kernels then {expected}, now {actual} — the library picked other kernels for this "
        "CPU (or for OPENBLAS_CORETYPE): blocking and FMA use differ, so results differ in the last bits",
        remedy="set OPENBLAS_CORETYPE={expected} in the serving environment to pin the kernels, or serve on a "
        "CPU of the training machine's generation",
    ),
    Rule(
        id="native.openmp.vendor",
        component="native",
        risks=P,
        probability=2,
        impact=2,
        message="OpenMP runtime: then {expected}, now {actual} — thread scheduling and reductions differ",
        remedy=_REBUILD,
    ),
    # --- cpu and memory ---
    Rule(
        id="cpu.isa.required",
        component="cpu",
        risks=A,
        probability=5,
        impact=5,
        message="{subject} needs {needed} (its baseline: {expected}), this CPU is {actual} — importing it fails "
        "(numpy refuses to load; other builds stop with an illegal instruction)",
        remedy="serve on a CPU with {needed}, or install a build of {subject} made for this CPU",
    ),
    Rule(
        id="cpu.isa.lost",
        component="cpu",
        risks=P,
        probability=3,
        impact=2,
        message="CPU features lost: {lost} (then {expected}, now {actual}) — {kernels}libraries dispatch to "
        "other SIMD kernels and results differ in the last bits",
        remedy="serve on a CPU of the training machine's generation",
    ),
    Rule(
        id="cpu.vendor",
        component="cpu",
        risks=P,
        probability=2,
        impact=3,
        message="CPU vendor: then {expected}, now {actual} — {libs}different code paths on each vendor",
        remedy="serve on {expected} CPUs; set MKL_CBWR=COMPATIBLE for reproducible MKL results",
    ),
    Rule(
        id="cpu.model",
        component="cpu",
        risks=P,
        probability=1,
        impact=2,
        message="CPU model: then {expected}, now {actual} — other cache sizes and kernels",
        remedy="usually nothing",
    ),
    Rule(
        id="cpu.count",
        component="cpu",
        risks=A,
        probability=2,
        impact=2,
        message="usable CPUs: then {expected}, now {actual} — slower inference; latency budgets may be missed",
        remedy="give the container {expected_count} CPUs",
    ),
    Rule(
        id="memory.limit",
        component="memory",
        risks=A,
        probability=3,
        impact=3,
        message="memory available: then {expected}, now {actual} — a model that needed the training machine's "
        "memory may be killed (OOM)",
        remedy="raise the container's memory limit to {expected}",
    ),
    # --- gpu ---
    Rule(
        id="gpu.missing",
        component="gpu",
        risks=AP,
        probability=4,
        impact=5,
        message="GPU: then {expected}, now none ({actual}) — CUDA models fail to load, or frameworks silently "
        "fall back to the CPU: slower, and other numerics",
        remedy="schedule the pod on a GPU node and expose the device (nvidia container runtime, resources.limits "
        "nvidia.com/gpu)",
    ),
    Rule(
        id="gpu.model",
        component="gpu",
        risks=P,
        probability=3,
        impact=3,
        message="GPU: then {expected}, now {actual} — other architecture: TF32/bf16 paths and cuBLAS heuristics "
        "change results",
        remedy="serve on {expected}, or re-verify the model on {actual}",
    ),
    Rule(
        id="gpu.count",
        component="gpu",
        risks=A,
        probability=3,
        impact=3,
        message="GPUs: then {expected}, now {actual} — a model sharded across devices will not fit",
        remedy="give the pod {expected} GPUs",
    ),
    Rule(
        id="gpu.memory",
        component="gpu",
        risks=A,
        probability=3,
        impact=3,
        message="GPU memory: then {expected}, now {actual} — large models or batches run out of memory",
        remedy="serve on a GPU with at least {expected}",
    ),
    Rule(
        id="gpu.mig",
        component="gpu",
        risks=A,
        probability=3,
        impact=3,
        message="MIG mode: then {expected}, now {actual} — a MIG slice has a fraction of the memory and SMs",
        remedy="serve on a GPU with MIG {expected}",
    ),
    Rule(
        id="gpu.driver.too_old",
        component="gpu",
        risks=A,
        probability=5,
        impact=5,
        message="driver {actual} is older than CUDA {cuda} needs (>= {needed}), {origin} — CUDA initialisation "
        "fails (driver too old / no kernel image)",
        remedy="upgrade the node's driver to >= {needed}, or {downgrade}",
    ),
    Rule(
        id="gpu.driver.forward_compat",
        component="gpu",
        risks=A,
        probability=2,
        impact=4,
        message="driver {actual} is older than CUDA {cuda} needs (>= {needed}), {origin}; the image's CUDA "
        "forward-compatibility libraries serve it — it runs only where the container toolkit loads them "
        "(enable-cuda-compat) on a data-center GPU",
        remedy="upgrade the node's driver to >= {needed}, or make sure the node's NVIDIA container toolkit "
        "loads the image's cuda-compat libraries",
    ),
    Rule(
        id="gpu.driver.minor_compat",
        component="gpu",
        risks=A,
        probability=2,
        impact=4,
        message="driver {actual} supports CUDA {driver_cuda}, older than the CUDA {cuda} runtime {origin} — it "
        "runs in minor-version compatibility: features newer than {driver_cuda} are missing and PTX from the "
        "newer toolkit does not JIT (CUDA_ERROR_UNSUPPORTED_PTX_VERSION: Triton/torch.compile kernels, GPUs "
        "without native code in the build)",
        remedy="upgrade the node's driver to a branch that supports CUDA {cuda}, or {downgrade}",
    ),
    Rule(
        id="gpu.arch.unsupported",
        component="gpu",
        risks=A,
        probability=5,
        impact=5,
        message="{subject}: none of the GPU code it was built with ({archs}) runs on this GPU's compute "
        "capability {actual} (cubins run on later minors of their own major only, PTX on its own and newer GPUs) "
        '— CUDA kernels fail with "no kernel image is available for execution on the device"',
        remedy="install a {package} build that includes sm_{cc_digits} (e.g. another CUDA variant), or serve on "
        "a GPU that the build covers (e.g. compute capability {expected})",
    ),
    Rule(
        id="gpu.require.unmet",
        component="gpu",
        risks=A,
        probability=5,
        impact=4,
        message="{subject}: the image requires {expected}, the node has {actual} — the NVIDIA container runtime "
        "refuses to start the container",
        remedy="run on a node whose driver satisfies {expected}, or rebuild the image on a CUDA base that fits "
        "the driver",
    ),
    Rule(
        id="gpu.require.disabled",
        component="gpu",
        risks=A,
        probability=2,
        impact=3,
        message="NVIDIA_DISABLE_REQUIRE: then {expected}, now {actual} — the container runtime no longer checks "
        "the image's CUDA requirement against the driver, so a mismatch fails later, inside the model",
        remedy="unset NVIDIA_DISABLE_REQUIRE and let the runtime check NVIDIA_REQUIRE_CUDA",
    ),
    Rule(
        id="native.blas.duplicate",
        component="native",
        risks=P,
        probability=3,
        impact=2,
        message="{subject}: {count} different builds loaded in one process ({actual}) — each library computes "
        "with its own kernels and thread pool: results depend on which one a call reaches, and threads "
        "oversubscribe",
        remedy="align the packages on one BLAS (the same numpy/scipy wheels' OpenBLAS), or limit threads with "
        "threadpoolctl",
    ),
    Rule(
        id="native.loaded.mismatch",
        component="native",
        risks=AP,
        probability=3,
        impact=3,
        message="{subject}: the process loaded {actual}, but the installed package ships {expected} — another "
        "copy on the library path (system folder, LD_LIBRARY_PATH) wins over the wheel's",
        remedy="remove the other copy from the library path, or set LD_LIBRARY_PATH so that the wheel's library "
        "loads",
    ),
    Rule(
        id="gpu.driver.version",
        component="gpu",
        risks=P,
        probability=1,
        impact=2,
        message="GPU driver: then {expected}, now {actual} — new drivers can change JIT-compiled kernels",
        remedy="pin the node's driver to {expected} for identical results",
    ),
    # --- env ---
    Rule(
        id="env.numerics",
        component="env",
        risks=P,
        probability=3,
        impact=2,
        message="{subject}: then {expected}, now {actual} — {effect}",
        remedy="{fix} in the serving environment",
    ),
    Rule(
        id="env.numpy.baseline_disabled",
        component="env",
        risks=A,
        probability=5,
        impact=5,
        message="{subject}={actual} names {features}, part of numpy's baseline ({expected}) — numpy refuses to "
        "import (RuntimeError: you cannot disable a baseline CPU feature)",
        remedy="remove {features} from {subject}: only numpy's dispatched features can be turned off",
    ),
    Rule(
        id="env.threads",
        component="env",
        risks=P,
        probability=2,
        impact=2,
        message="{subject}: then {expected}, now {actual} — the number of threads changes the order of parallel "
        "reductions, so sums differ in the last bits (and latency changes)",
        remedy="{fix} in the serving environment",
    ),
    Rule(
        id="env.locale",
        component="env",
        risks=P,
        probability=3,
        impact=3,
        message="{subject}: then {expected}, now {actual} — dates, string sorting and text features depend on it",
        remedy="{fix} in the serving environment",
    ),
    Rule(
        id="env.tzdata",
        component="env",
        risks=P,
        probability=2,
        impact=2,
        message="tzdata: then {expected}, now {actual} — timestamps in changed zones convert differently",
        remedy="use a base image with tzdata {expected}",
    ),
    Rule(
        id="env.device",
        component="env",
        risks=A,
        probability=3,
        impact=3,
        message="{subject}: then {expected}, now {actual} — it selects which accelerators the model sees",
        remedy="{fix} in the serving environment",
    ),
    Rule(
        id="env.device.hidden",
        component="env",
        risks=A,
        probability=4,
        impact=5,
        message="{subject}: then {expected}, now {actual} — {why}, so the program sees no GPU where the "
        "lockfile's saw {seen}: CUDA models fail to load, or frameworks silently run on the CPU",
        remedy="{fix} in the serving environment",
    ),
    Rule(
        id="env.device.hidden.jax",
        component="env",
        risks=AP,
        probability=4,
        impact=5,
        message="{subject}: then {expected}, now {actual} — JAX computes on the first platform listed, and that "
        "is no GPU (cuda, rocm or gpu, in lower case), so JAX runs on the CPU where the lockfile's used {seen}: "
        "many times slower, and float32 matmuls that ran in TF32 on the GPU by default run in full float32, "
        "with other rounding",
        remedy="{fix} in the serving environment",
    ),
    Rule(
        id="env.device.fewer",
        component="env",
        risks=A,
        probability=3,
        impact=3,
        message="{subject}: then {expected}, now {actual} — the program sees {now_seen} GPU(s), the lockfile's "
        "saw {seen}: a model sharded across devices will not fit",
        remedy="{fix} in the serving environment",
    ),
    Rule(
        id="env.unused",
        component="env",
        risks=P,
        probability=1,
        impact=2,
        message="{subject}: then {expected}, now {actual} — it configures {library}, which is not installed here, "
        "so it changes nothing for this environment",
        remedy="nothing needed; {fix} to match the lockfile exactly",
    ),
    Rule(
        id="env.other",
        component="env",
        risks=P,
        probability=2,
        impact=2,
        message="{subject}: then {expected}, now {actual} — a variable you asked envcheck to track",
        remedy="{fix} in the serving environment",
    ),
    # --- models ---
    Rule(
        id="model.digest",
        component="models",
        risks=AP,
        probability=5,
        impact=5,
        message="{subject}: SHA-256 then {expected}, now {actual} — it is not the model that was verified",
        remedy="deploy the verified model file, or take a new snapshot after verifying this one",
    ),
    Rule(
        id="model.missing",
        component="models",
        risks=A,
        probability=5,
        impact=5,
        message="{subject}: then present ({expected}), now missing{looked} — the model cannot load",
        remedy="deploy {subject}",
    ),
    # --- evidence (opt-in checks that ran the candidate's code) ---
    Rule(
        id="evidence.import.failed",
        component="packages",
        risks=A,
        probability=5,
        impact=5,
        message="{subject}: does not import in the candidate — {error} (seen by the import check: {how})",
        remedy="reinstall what the lockfile records (`envcheck show LOCK`), then run `envcheck check --import` "
        "again",
        observed=True,
    ),
    Rule(
        id="evidence.load.failed",
        component="models",
        risks=A,
        probability=5,
        impact=5,
        message="{subject}: does not load in the candidate — {error}{meaning} (seen by the load check: {how})",
        remedy="{remedy}",
        observed=True,
    ),
    # Observed, not guessed: the file loaded, but its library warned that another version wrote it (scikit-learn's
    # InconsistentVersionWarning). Loading is not predicting: an estimator's attributes can mean other things
    # across versions. Where a writer-version finding names the same file, the warning is quoted there instead.
    Rule(
        id="evidence.load.warned",
        component="models",
        risks=P,
        probability=4,
        impact=4,
        message="{subject}: loads in the candidate, but warns {warning} — a model read by another version of "
        "the library that wrote it may predict differently (seen by the load check: {how})",
        remedy="serve with the library version that wrote the model (the warning names it), or re-export the "
        "model with the candidate's and verify it again",
        observed=True,
    ),
    # Observed, not guessed: installed files hashed against the distribution's own RECORD (check --files,
    # verify-files). A file changed after install may break the import (availability) or change what the code
    # computes (prediction); probability 4, impact 4: high. Not moved by an import seen to work.
    Rule(
        id="package.files.modified",
        component="packages",
        risks=AP,
        probability=4,
        impact=4,
        message="{subject} {version}: installed files differ from its RECORD: {detail} (seen by hashing its files "
        "in {site})",
        remedy="reinstall it: pip install --force-reinstall --no-deps '{subject}=={version}'",
        observed=True,
    ),
    # Observed, not guessed: the battery's kernels came out different in the candidate. Probability 4 (the numbers
    # did change; whether the model's outputs cross a decision because of it is not certain); the impact given
    # here is the ceiling's stand-in: each change carries its own from the measured error (envcheck.numerics.
    # compare: within the kernel's rounding bound, envcheck.numerics.bounds, 1 -> low, under 1e-6 relative 2 ->
    # medium, 1e-6..1e-3 3 -> high, more, a changed shape or a failing kernel 5 -> critical; the cut points are
    # argued there).
    Rule(
        id="numerics.changed",
        component="native",
        risks=P,
        probability=4,
        impact=3,
        message="{subject}: {detail} (seen by the numerics battery) — likely cause: {cause}",
        remedy="{remedy}; then `envcheck check --numerics` again",
        observed=True,
    ),
    Rule(
        id="model.writer.version",
        component="models",
        risks=AP,
        probability=4,
        impact=4,
        message="{subject}: then {expected}, now {actual}, and {path} was written by {subject} {written} — {why}",
        remedy="pip install '{subject}=={written}' (the version that wrote the model), or re-export the model "
        "with {subject} {actual} and verify it again ({source})",
    ),
    Rule(
        id="model.writer.newer",
        component="models",
        risks=A,
        probability=4,
        impact=4,
        message="{subject}: then {expected}, now {actual}, older than the {written} that wrote {path} — {why}",
        remedy="pip install '{subject}>={written}' ({source})",
    ),
    Rule(
        id="model.reference.unavailable",
        component="models",
        risks=A,
        probability=5,
        impact=5,
        message="{subject}: then {expected}, now {actual} — {path} names {module}, which only {subject}{spec} "
        "has: loading the model fails with ModuleNotFoundError",
        remedy="pip install '{subject}=={expected}' ({source})",
    ),
    # Observed, not guessed: the served model answered a golden case otherwise than it did at training
    # (envcheck canary). Probability 4 (the outputs did change; whether a decision downstream flips is not
    # certain); impact 4 (high) for numbers within 1e-3 relative of the recorded ones, 5 (critical) beyond, or for
    # a label, a NaN or another shape (envcheck.canary.run, carried in the change's ``impact``).
    Rule(
        id="canary.failed",
        component="models",
        risks=P,
        probability=4,
        impact=4,
        message="golden case {subject}: {detail} — the served model no longer answers as it did when verified",
        remedy="compare the serving environment with the lockfile (`envcheck check`) and serve the verified "
        "model and environment again; re-record the golden outputs only if the change is intended",
        observed=True,
    ),
)

BY_ID: Dict[str, Rule] = {rule.id: rule for rule in RULES}

#: Numeric and ML libraries: a minor release can change their numbers.
NUMERIC_PACKAGES = frozenset(
    [
        "numpy",
        "scipy",
        "pandas",
        "scikit-learn",
        "torch",
        "torchvision",
        "torchaudio",
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-gpu",
        "keras",
        "tf-keras",
        "jax",
        "jaxlib",
        "xgboost",
        "lightgbm",
        "catboost",
        "onnxruntime",
        "onnxruntime-gpu",
        "onnx",
        "transformers",
        "tokenizers",
        "sentence-transformers",
        "sentencepiece",
        "safetensors",
        "accelerate",
        "statsmodels",
        "numba",
        "llvmlite",
        "numexpr",
        "bottleneck",
        "polars",
        "pyarrow",
        "scikit-image",
        "opencv-python",
        "opencv-python-headless",
        "triton",
        "mkl",
        "intel-openmp",
        "cupy",
        "tensorflow-probability",
        "torch-geometric",
        "timm",
        "peft",
        "diffusers",
        "xformers",
        "flash-attn",
        "vllm",
    ]
)
NUMERIC_PREFIXES = ("nvidia-", "cupy-", "jax-cuda", "onnxruntime-")

#: Churn: tools whose version says nothing about the model.
CHURN_PACKAGES = frozenset(["pip", "setuptools", "wheel", "distribute", "pkg-resources", "envcheck"])


#: Bindings and tools whose names look numeric but are not.
NOT_NUMERIC = frozenset(["nvidia-ml-py", "nvidia-ml-py3", "nvidia-pyindex"])


def is_numeric(name: str) -> bool:
    return name not in NOT_NUMERIC and (name in NUMERIC_PACKAGES or name.startswith(NUMERIC_PREFIXES))
