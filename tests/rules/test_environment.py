"""Environment variables judged by what the program sees, over the real H200 lockfile (one H200, 16 CPUs, a CUDA
torch, jax and numba installed, no TensorFlow, no MKL, GNU OpenMP only).

Each class of problem is tested on several of its members: values that hide every GPU, values that hide some,
spellings that mean the same zone, locale or thread count, variables that configure a library that is absent, and
the remedies that restore a variable.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Dict, Optional, Set, Tuple

import pytest

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.findings import AVAILABILITY, PREDICTION, Finding, Severity
from envcheck.model import NONE_FOUND, UNAVAILABLE, Fingerprint, NativeLib, Package, Source
from envcheck.rules.env_values import (
    effective_locale,
    effective_threads,
    effective_zone,
    fix,
    normalize_codeset,
    normalize_locale,
    visible_list,
)
from tests.conftest import H200

BASE = lockfile.read(H200 / "envcheck.lock")


def with_env(fp: Fingerprint, timezone: Optional[str] = None, **variables: Optional[str]) -> Fingerprint:
    """A copy with variables set (an empty string stays set, and empty) or removed (None)."""
    merged: Dict[str, str] = dict(fp.env.variables)
    for name, value in variables.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    zone = fp.env.timezone if timezone is None else timezone
    return dataclasses.replace(fp, env=dataclasses.replace(fp.env, variables=merged, timezone=zone))


def with_gpus(fp: Fingerprint, count: int) -> Fingerprint:
    device = fp.gpu.devices[0]
    devices = tuple(dataclasses.replace(device, index=i) for i in range(count))
    return dataclasses.replace(fp, gpu=dataclasses.replace(fp.gpu, devices=devices))


def findings(expected: Fingerprint, actual: Fingerprint) -> Tuple[Finding, ...]:
    return tuple(f for f in compare(expected, actual).findings if f.component == "env")


def ids(expected: Fingerprint, actual: Fingerprint) -> Set[Tuple[str, str]]:
    return {(f.id, f.subject) for f in findings(expected, actual)}


def only(expected: Fingerprint, actual: Fingerprint) -> Finding:
    (finding,) = findings(expected, actual)
    return finding


# --- 1. an empty value is not "unset": values that hide every GPU ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CUDA_VISIBLE_DEVICES", ""),
        ("CUDA_VISIBLE_DEVICES", "-1"),
        ("CUDA_VISIBLE_DEVICES", " -1 "),
        ("CUDA_VISIBLE_DEVICES", "none"),
        ("CUDA_VISIBLE_DEVICES", "NoDevFiles"),  # Slurm, for a job without GPUs
        ("CUDA_VISIBLE_DEVICES", "all"),  # not a CUDA keyword: names no device
        ("CUDA_VISIBLE_DEVICES", "1"),  # one GPU: index 1 does not exist
        ("CUDA_VISIBLE_DEVICES", "-1,0"),  # the list ends at the first invalid entry
        ("CUDA_VISIBLE_DEVICES", "0,0"),  # a device named twice: none
        ("CUDA_VISIBLE_DEVICES", "GPU-8f3c,GPU-8f3c"),
        ("NVIDIA_VISIBLE_DEVICES", "none"),
        ("NVIDIA_VISIBLE_DEVICES", "void"),
        ("NVIDIA_VISIBLE_DEVICES", ""),
    ],
)
def test_a_value_that_hides_every_gpu_is_an_availability_break(name: str, value: str) -> None:
    finding = only(BASE, with_env(BASE, **{name: value}))
    assert (finding.id, finding.subject) == ("env.device.hidden", name)
    assert AVAILABILITY in finding.risks
    assert finding.severity >= Severity.HIGH
    assert repr(value) in finding.message  # the empty value shows as '', never as "unset"
    if name in BASE.env.variables:
        assert f"export {name}={shlex.quote(BASE.env.variables[name])}" in finding.remedy
    else:
        assert f"unset {name}" in finding.remedy
        assert f"{name}=" not in finding.remedy  # `set X=` would hide every GPU again


def unread_gpus(fp: Fingerprint) -> Fingerprint:
    """The GPU section could not be read: no devices, and no word that there are none."""
    sources = {**fp.sources, "gpu": Source(UNAVAILABLE, "NVML: permission denied")}
    return dataclasses.replace(fp, gpu=dataclasses.replace(fp.gpu, devices=()), sources=sources)


def test_hidden_gpus_against_a_cuda_build_when_the_gpu_section_was_not_read() -> None:
    """Without a device list, a CUDA build of torch is the evidence that the lockfile's process used GPUs."""
    shipped = unread_gpus(BASE)  # torch ships CUDA 13.0 (gpu.cuda_shipped)
    labelled = dataclasses.replace(
        shipped,
        gpu=dataclasses.replace(shipped.gpu, cuda_shipped=()),
        packages=tuple(
            dataclasses.replace(p, version=p.version + "+cu130") if p.name == "torch" else p for p in BASE.packages
        ),
    )
    for expected in (shipped, labelled):
        assert ids(expected, with_env(expected, CUDA_VISIBLE_DEVICES="")) == {
            ("env.device.hidden", "CUDA_VISIBLE_DEVICES")
        }


def test_hiding_gpus_from_a_lockfile_without_gpus_is_quiet() -> None:
    """A lockfile from a CPU machine (the probe looked and found no GPU), though torch's wheels brought CUDA
    libraries along: hiding GPUs changes nothing the model saw."""
    sources = {**BASE.sources, "gpu": Source(NONE_FOUND, "no NVIDIA GPU: nvidia-smi: not on PATH")}
    cpu = dataclasses.replace(BASE, gpu=dataclasses.replace(BASE.gpu, devices=()), sources=sources)
    assert cpu.gpu.cuda_shipped
    for value in ("", "-1", "none"):
        assert ids(cpu, with_env(cpu, CUDA_VISIBLE_DEVICES=value)) == set()
    # no CUDA build and no device list: nothing says the lockfile's process had a GPU
    bare = unread_gpus(dataclasses.replace(cpu, gpu=dataclasses.replace(cpu.gpu, cuda_shipped=())))
    assert ids(bare, with_env(bare, CUDA_VISIBLE_DEVICES="")) == set()


def test_rocm_lists_hide_gpus_on_a_rocm_build_only() -> None:
    rocm = dataclasses.replace(
        BASE,
        packages=tuple(
            dataclasses.replace(p, version="2.5.1+rocm6.2") if p.name == "torch" else p for p in BASE.packages
        ),
    )
    for name in ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        for value in ("", "-1"):
            assert ids(rocm, with_env(rocm, **{name: value})) == {("env.device.hidden", name)}
        # On NVIDIA GPUs AMD's variables change nothing: low at most
        finding = only(BASE, with_env(BASE, **{name: ""}))
        assert finding.id == "env.unused"
        assert finding.severity == Severity.LOW


def test_the_lockfiles_value_on_a_machine_without_its_device() -> None:
    """CUDA_VISIBLE_DEVICES=1 unchanged, but the candidate has one GPU: the program sees none (restoring the
    lockfile's value cannot help, so the remedy does not say so)."""
    two = with_env(with_gpus(BASE, 2), CUDA_VISIBLE_DEVICES="1")
    finding = only(two, with_env(BASE, CUDA_VISIBLE_DEVICES="1"))
    assert finding.id == "env.device.hidden"
    assert "export CUDA_VISIBLE_DEVICES=1" not in finding.remedy and "1 GPU(s)" in finding.remedy
    # the same list naming more devices than the machine has, some still there: the GPU count rule says so
    four = with_env(with_gpus(BASE, 4), CUDA_VISIBLE_DEVICES="0,1,2,3")
    assert ids(four, with_env(with_gpus(BASE, 2), CUDA_VISIBLE_DEVICES="0,1,2,3")) == set()


@pytest.mark.parametrize(
    ("value", "now"), [("0", 1), ("1,0,5", 2), ("1gpu2,2ampere", 2), ("3", 1), ("GPU-8f3c", 1)]
)
def test_a_value_that_hides_some_gpus_is_a_finding(value: str, now: int) -> None:
    four = with_gpus(BASE, 4)
    finding = only(four, with_env(four, CUDA_VISIBLE_DEVICES=value))
    assert (finding.id, finding.subject) == ("env.device.fewer", "CUDA_VISIBLE_DEVICES")
    assert AVAILABILITY in finding.risks
    assert f"sees {now} GPU(s)" in finding.message
    assert finding.remedy.startswith("unset CUDA_VISIBLE_DEVICES")


@pytest.mark.parametrize(
    ("value", "count", "seen"),
    [
        ("", 4, ()),
        ("-1", 4, ()),
        ("0,2,-1,1", 4, ("0", "2")),  # the Programming Guide's own example
        ("2,1", 4, ("2", "1")),
        ("01, 2", 4, ("1", "2")),
        ("0,4", 4, ("0",)),
        ("0,0", 4, ()),  # a repeated device leaves none
        ("0,1,0", 4, ()),
        ("1gpu2,2ampere", 4, ("1", "2")),  # strtoul: the number an entry starts with
        ("+1", 4, ("1",)),
        ("GPU-8f3c,GPU-77aa", None, ("GPU-8f3c", "GPU-77aa")),
        ("GPU-8f3c,0", None, ("GPU-8f3c",)),  # a UUID list ends at the first entry that is not one
        ("MIG-1,GPU-2", None, ("MIG-1",)),
        ("0,GPU-8f3c", None, ("0",)),
        ("7", None, ("7",)),
        ("NoDevFiles", None, ()),
    ],
)
def test_visible_list_follows_cuda(value: str, count: Optional[int], seen: Tuple[str, ...]) -> None:
    assert visible_list(value, count) == seen


@pytest.mark.parametrize(
    ("then", "now"),
    [
        (None, "0"),  # one GPU: "0" is what unset shows
        ("0", None),
        (None, " 0 "),
        (None, "0,1"),  # the list ends at the device that does not exist; device 0 is still there
    ],
)
def test_device_values_that_show_the_same_gpus_are_quiet(then: Optional[str], now: Optional[str]) -> None:
    assert ids(with_env(BASE, CUDA_VISIBLE_DEVICES=then), with_env(BASE, CUDA_VISIBLE_DEVICES=now)) == set()


@pytest.mark.parametrize(("then", "now"), [("GPU-8f3c", "GPU-77aa"), ("0", "GPU-77aa"), ("GPU-8f3c,GPU-1", "0,1")])
def test_gpus_named_by_uuid_are_the_nodes_identity(then: str, now: str) -> None:
    """A UUID names one physical GPU, so it differs on every node: as many GPUs by UUID is the same thing."""
    four = with_gpus(BASE, 4)
    assert ids(with_env(four, CUDA_VISIBLE_DEVICES=then), with_env(four, CUDA_VISIBLE_DEVICES=now)) == set()


def test_other_gpus_of_the_same_number_are_a_device_change() -> None:
    four = with_gpus(BASE, 4)
    assert ids(with_env(four, CUDA_VISIBLE_DEVICES="0"), with_env(four, CUDA_VISIBLE_DEVICES="2")) == {
        ("env.device", "CUDA_VISIBLE_DEVICES")
    }


@pytest.mark.parametrize(
    ("name", "then", "now"),
    [
        ("NVIDIA_VISIBLE_DEVICES", "0", "GPU-6a2f0d7e-0000"),  # the node's allocation, by UUID
        ("NVIDIA_VISIBLE_DEVICES", "0", "all"),
        ("CUDA_DEVICE_ORDER", None, "PCI_BUS_ID"),  # one GPU: nothing to order
        ("CUDA_DEVICE_ORDER", None, "FASTEST_FIRST"),  # the default
        ("JAX_PLATFORMS", None, ""),  # jax reads empty as unset
    ],
)
def test_device_spellings_with_the_same_meaning_are_quiet(
    name: str, then: Optional[str], now: Optional[str]
) -> None:
    assert ids(with_env(BASE, **{name: then}), with_env(BASE, **{name: now})) == set()


# --- 1b. JAX_PLATFORMS hides the GPU from JAX alone --------------------------------------------------------------


def with_packages(fp: Fingerprint, *added: Package, drop: Tuple[str, ...] = ()) -> Fingerprint:
    kept = [p for p in fp.packages if p.name not in drop]
    return dataclasses.replace(fp, packages=tuple(sorted((*kept, *added), key=lambda p: p.name)))


@pytest.mark.parametrize(
    ("then", "now"),
    [
        (None, "cpu"),
        (None, "cpu,cuda"),  # the GPU is initialised, but JAX computes on the first platform: the CPU
        ("cuda", "cpu"),
        ("gpu", "tpu"),
        ("cuda", "CUDA"),  # JAX takes names as written: CUDA is no platform it knows
        ("", "cpu"),  # empty is unset: every platform, the GPU first
    ],
)
def test_jax_platforms_without_a_gpu_first_hide_the_gpu_from_jax(then: Optional[str], now: str) -> None:
    finding = only(with_env(BASE, JAX_PLATFORMS=then), with_env(BASE, JAX_PLATFORMS=now))
    assert (finding.id, finding.subject) == ("env.device.hidden.jax", "JAX_PLATFORMS")
    assert set(finding.risks) == {AVAILABILITY, PREDICTION}
    assert finding.severity >= Severity.HIGH
    assert "1 GPU(s)" in finding.message and repr(now) in finding.message
    restore = "unset JAX_PLATFORMS" if then is None else f"export JAX_PLATFORMS={shlex.quote(then)}"
    assert finding.remedy.startswith(restore)


@pytest.mark.parametrize(
    ("then", "now"),
    [
        (None, "cuda"),
        (None, "gpu"),
        ("cuda", "gpu"),
        ("cuda,cpu", "cuda"),
        ("gpu", "cuda,cpu"),
        (None, ""),
        ("cpu", "cpu,cuda"),  # the CPU first on both sides
    ],
)
def test_jax_platforms_that_keep_the_gpu_first_are_quiet(then: Optional[str], now: Optional[str]) -> None:
    assert ids(with_env(BASE, JAX_PLATFORMS=then), with_env(BASE, JAX_PLATFORMS=now)) == set()


def test_jax_platforms_other_changes_stay_a_device_change() -> None:
    # verified on the CPU, served on the GPU (or another platform): a change, not a hidden GPU
    for then, now in (("cpu", None), ("cpu", "tpu")):
        expected, actual = with_env(BASE, JAX_PLATFORMS=then), with_env(BASE, JAX_PLATFORMS=now)
        assert ids(expected, actual) == {("env.device", "JAX_PLATFORMS")}
    # a lockfile from a CPU machine: JAX ran on the CPU there too
    sources = {**BASE.sources, "gpu": Source(NONE_FOUND, "no NVIDIA GPU")}
    cpu = dataclasses.replace(BASE, gpu=dataclasses.replace(BASE.gpu, devices=()), sources=sources)
    assert ids(cpu, with_env(cpu, JAX_PLATFORMS="cpu")) == {("env.device", "JAX_PLATFORMS")}


def test_jax_platforms_without_jax_is_low() -> None:
    no_jax = with_packages(BASE, drop=("jax", "jaxlib"))
    finding = only(no_jax, with_env(no_jax, JAX_PLATFORMS="cpu"))
    assert (finding.id, finding.severity) == ("env.unused", Severity.LOW)
    assert "JAX" in finding.message and "not installed" in finding.message


# --- 2. equivalent values are equal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tz", ["UTC", "Etc/UTC", ":UTC", ":Etc/UTC", "UTC0", "GMT", "Etc/GMT+0", "Universal", "Zulu", ""]
)
def test_a_tz_naming_utc_on_a_utc_machine_changes_nothing(tz: str) -> None:
    assert BASE.env.timezone == "Etc/UTC"
    assert ids(BASE, with_env(BASE, TZ=tz, timezone=tz.lstrip(":"))) == set()
    assert ids(with_env(BASE, TZ=tz, timezone=tz.lstrip(":")), BASE) == set()


@pytest.mark.parametrize(
    ("tz", "recorded", "zone"),
    [
        (None, "Etc/UTC", "UTC"),
        ("UTC", "UTC", "UTC"),
        (":UTC", "UTC", "UTC"),
        ("UTC0", "UTC0", "UTC"),
        ("/usr/share/zoneinfo/Etc/UTC", "/usr/share/zoneinfo/Etc/UTC", "UTC"),
        ("", "", "UTC"),  # glibc: an empty TZ is UTC
        ("Etc/GMT+5", "Etc/GMT+5", "UTC-05:00"),
        ("EST5", "EST5", "UTC-05:00"),
        ("<+0530>-5:30", "<+0530>-5:30", "UTC+05:30"),
        ("US/Eastern", "US/Eastern", "America/New_York"),
        (None, "Asia/Calcutta", "Asia/Kolkata"),
        ("EST5EDT", "EST5EDT", "EST5EDT"),  # daylight saving: not a fixed offset
    ],
)
def test_effective_zone(tz: Optional[str], recorded: str, zone: str) -> None:
    assert effective_zone(tz, recorded) == zone


def test_a_real_timezone_change_is_reported_once_with_a_remedy() -> None:
    finding = only(BASE, with_env(BASE, TZ="Europe/Berlin", timezone="Europe/Berlin"))
    assert (finding.id, finding.subject) == ("env.locale", "TZ")
    assert "unset TZ" in finding.remedy and "export TZ=Etc/UTC" in finding.remedy
    berlin = with_env(BASE, TZ="Europe/Berlin", timezone="Europe/Berlin")
    back = only(berlin, BASE)
    assert back.remedy.startswith("export TZ=Europe/Berlin")
    assert ids(BASE, with_env(BASE, timezone="Europe/Berlin")) == {("env.locale", "timezone")}
    assert ids(BASE, with_env(BASE, timezone="UTC")) == set()  # /etc/localtime -> UTC, not Etc/UTC


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("C.UTF-8", "C.utf8"),
        ("C.UTF-8", "C.UTF8"),
        ("en_US.UTF-8", "en_US.utf8"),
        ("de_DE.ISO-8859-1", "de_DE.iso88591"),
        ("de_DE.8859-1", "de_DE.ISO8859-1"),
        ("sr_RS.UTF-8@latin", "sr_RS.utf8@latin"),
        ("POSIX", "C"),
    ],
)
def test_locale_aliases_are_equal(a: str, b: str) -> None:
    assert normalize_locale(a) == normalize_locale(b)
    assert ids(with_env(BASE, LC_ALL=a, LANG=a), with_env(BASE, LC_ALL=b, LANG=b)) == set()


def test_locale_codesets_normalise_as_glibc() -> None:
    assert normalize_codeset("UTF-8") == normalize_codeset("utf8") == "utf8"
    assert normalize_codeset("8859-1") == "iso88591"
    assert normalize_locale("en_US.UTF-8") != normalize_locale("en_US.ISO-8859-1")


@pytest.mark.parametrize(
    "changes",
    [
        {"LANG": "de_DE.UTF-8"},  # LC_ALL (en_US.UTF-8) decides every category
        {"LC_NUMERIC": "de_DE.UTF-8"},
        {"LC_ALL": "en_US.utf8", "LANG": None},
        {"LANGUAGE": ""},  # gettext: an empty list is no list
    ],
)
def test_locale_variables_masked_or_respelled_are_quiet(changes: Dict[str, Optional[str]]) -> None:
    assert ids(BASE, with_env(BASE, **changes)) == set()


def test_an_empty_locale_variable_is_unset() -> None:
    unset = with_env(BASE, LC_ALL=None)
    assert effective_locale(with_env(BASE, LC_ALL="").env.variables) == effective_locale(unset.env.variables)
    assert ids(unset, with_env(BASE, LC_ALL="")) == set()


def test_a_locale_that_changes_is_reported() -> None:
    finding = only(BASE, with_env(BASE, LC_ALL="de_DE.UTF-8"))
    assert (finding.id, finding.subject) == ("env.locale", "LC_ALL")
    assert finding.remedy.startswith("export LC_ALL=en_US.UTF-8")
    dropped = only(BASE, with_env(BASE, LC_ALL=None))  # LANG=C.UTF-8 now decides
    assert dropped.subject == "LC_ALL" and dropped.remedy.startswith("export LC_ALL=en_US.UTF-8")


@pytest.mark.parametrize(
    ("name", "then", "now"),
    [
        ("OMP_NUM_THREADS", None, "16"),  # 16 CPUs in the affinity mask: libgomp's default
        ("OMP_NUM_THREADS", "16", None),
        ("OMP_NUM_THREADS", None, "016"),
        ("OMP_NUM_THREADS", None, ""),  # libgomp ignores an empty value
        ("OPENBLAS_NUM_THREADS", None, "16"),
        ("NUMBA_NUM_THREADS", "16", None),
        ("OMP_NUM_THREADS", "4", " 4"),
    ],
)
def test_thread_counts_equal_to_the_default_are_quiet(name: str, then: Optional[str], now: Optional[str]) -> None:
    assert ids(with_env(BASE, **{name: then}), with_env(BASE, **{name: now})) == set()


def test_thread_defaults_follow_each_sides_cpus() -> None:
    eight = dataclasses.replace(BASE, cpu=dataclasses.replace(BASE.cpu, affinity_count=8, affinity="0-7"))
    assert effective_threads("OMP_NUM_THREADS", None, eight) == "8"
    assert ids(BASE, with_env(eight, OMP_NUM_THREADS="16")) == set()  # the model's 16 threads, pinned
    assert ids(BASE, with_env(BASE, OMP_NUM_THREADS="8")) == {("env.threads", "OMP_NUM_THREADS")}
    finding = only(BASE, with_env(BASE, OMP_NUM_THREADS="8"))
    assert finding.remedy.startswith("unset OMP_NUM_THREADS")


def cpus(fp: Fingerprint, count: int) -> Fingerprint:
    cpu = dataclasses.replace(fp.cpu, logical_cpus=count, affinity_count=count, affinity=f"0-{count - 1}")
    return dataclasses.replace(fp, cpu=cpu)


NUMEXPR_NEW = with_packages(cpus(BASE, 32), Package("numexpr", "2.10.2"))  # caps its default at 16
NUMEXPR_OLD = with_packages(cpus(BASE, 32), Package("numexpr", "2.8.4"))  # caps it at 8


@pytest.mark.parametrize(
    ("fp", "changes"),
    [
        (NUMEXPR_NEW, {"NUMEXPR_NUM_THREADS": "16"}),
        (NUMEXPR_OLD, {"NUMEXPR_NUM_THREADS": "8"}),
        (with_packages(BASE, Package("numexpr", "2.10.2")), {"NUMEXPR_NUM_THREADS": "16"}),  # 16 CPUs
        (with_env(NUMEXPR_NEW, OMP_NUM_THREADS="4"), {"NUMEXPR_NUM_THREADS": "4"}),  # numexpr reads OMP next
        (with_env(NUMEXPR_NEW, NUMEXPR_NUM_THREADS="4"), {"NUMEXPR_MAX_THREADS": "64"}),  # the pool's default
        (with_env(NUMEXPR_NEW, NUMEXPR_MAX_THREADS="24"), {"NUMEXPR_NUM_THREADS": "24"}),  # starts the whole pool
    ],
)
def test_numexpr_thread_defaults_are_quiet(fp: Fingerprint, changes: Dict[str, Optional[str]]) -> None:
    assert ids(fp, with_env(fp, **changes)) == set()


@pytest.mark.parametrize(
    ("fp", "changes", "name"),
    [
        (NUMEXPR_NEW, {"NUMEXPR_NUM_THREADS": "8"}, "NUMEXPR_NUM_THREADS"),
        (NUMEXPR_OLD, {"NUMEXPR_NUM_THREADS": "16"}, "NUMEXPR_NUM_THREADS"),
        (NUMEXPR_NEW, {"NUMEXPR_NUM_THREADS": "32"}, "NUMEXPR_NUM_THREADS"),  # every CPU is not numexpr's default
        # set alone, the pool's size is also the thread count numexpr starts with: 64, not 16
        (NUMEXPR_NEW, {"NUMEXPR_MAX_THREADS": "64"}, "NUMEXPR_MAX_THREADS"),
    ],
)
def test_numexpr_thread_changes_are_reported(
    fp: Fingerprint, changes: Dict[str, Optional[str]], name: str
) -> None:
    assert ids(fp, with_env(fp, **changes)) == {("env.threads", name)}


def test_numexpr_default_unknown_before_the_cap() -> None:
    """numexpr 2.6.9 started every CPU's worth of threads; without a known cap the value is compared as written."""
    ancient = with_packages(cpus(BASE, 32), Package("numexpr", "2.6.9"))
    assert effective_threads("NUMEXPR_NUM_THREADS", None, ancient) == ""
    assert effective_threads("NUMEXPR_NUM_THREADS", None, NUMEXPR_NEW) == "16"
    assert ids(ancient, with_env(ancient, NUMEXPR_NUM_THREADS="16")) == {("env.threads", "NUMEXPR_NUM_THREADS")}


TF = with_packages(cpus(BASE, 32), Package("tensorflow", "2.18.0"))
DEEPMD = with_packages(TF, Package("deepmd-kit", "3.0.1"))


@pytest.mark.parametrize(
    ("fp", "changes"),
    [
        (TF, {"TF_NUM_INTRAOP_THREADS": "32"}),  # the affinity mask: TensorFlow's MaxParallelism
        (TF, {"TF_NUM_INTEROP_THREADS": "32"}),
        (TF, {"TF_NUM_INTRAOP_THREADS": "0"}),  # 0 is "the system picks"
        (TF, {"TF_NUM_INTEROP_THREADS": "many"}),  # not a number: safe_strto32 fails, the default
        (DEEPMD, {"TF_INTRA_OP_PARALLELISM_THREADS": "0", "TF_INTER_OP_PARALLELISM_THREADS": "0"}),
        (DEEPMD, {"TF_INTRA_OP_PARALLELISM_THREADS": "32"}),
        (with_env(DEEPMD, TF_NUM_INTRAOP_THREADS="4"), {"TF_INTRA_OP_PARALLELISM_THREADS": "4"}),
    ],
)
def test_tensorflow_thread_defaults_are_quiet(fp: Fingerprint, changes: Dict[str, Optional[str]]) -> None:
    assert ids(fp, with_env(fp, **changes)) == set()


def test_tensorflow_thread_changes_are_reported() -> None:
    assert ids(TF, with_env(TF, TF_NUM_INTRAOP_THREADS="4")) == {("env.threads", "TF_NUM_INTRAOP_THREADS")}
    assert ids(TF, with_env(TF, TF_NUM_INTEROP_THREADS="16")) == {("env.threads", "TF_NUM_INTEROP_THREADS")}
    changed = {("env.threads", "TF_INTRA_OP_PARALLELISM_THREADS")}
    assert ids(DEEPMD, with_env(DEEPMD, TF_INTRA_OP_PARALLELISM_THREADS="4")) == changed
    # Intel's oneDNN/OpenMP build sizes the inter-op pool from OpenMP: the default is not known here
    intel = with_packages(cpus(BASE, 32), Package("intel-tensorflow", "2.14.0"))
    assert ids(intel, with_env(intel, TF_NUM_INTEROP_THREADS="32")) == {("env.threads", "TF_NUM_INTEROP_THREADS")}
    # DeePMD-kit's names, not TensorFlow's: with TensorFlow alone they change nothing
    finding = only(TF, with_env(TF, TF_INTRA_OP_PARALLELISM_THREADS="4"))
    assert finding.id == "env.unused" and "DeePMD-kit" in finding.message


# --- 3. a variable for a library that is not installed is low at most -------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "TF_ENABLE_ONEDNN_OPTS",
        "TF_NUM_INTRAOP_THREADS",
        "KMP_AFFINITY",
        "KMP_BLOCKTIME",
        "MKL_CBWR",
        "MKL_NUM_THREADS",
    ],
)
def test_a_variable_for_an_absent_library_is_low(name: str) -> None:
    finding = only(BASE, with_env(BASE, **{name: "1"}))
    assert finding.id == "env.unused"
    assert finding.severity == Severity.LOW
    assert "not installed" in finding.message


def test_the_same_variables_count_when_their_library_is_there() -> None:
    iomp = NativeLib("openmp", "intel", "torch/lib/libiomp5.so", "torch")
    with_iomp = dataclasses.replace(BASE, native=dataclasses.replace(BASE.native, shipped=(iomp,)))
    assert ids(with_iomp, with_env(with_iomp, KMP_AFFINITY="compact")) == {("env.numerics", "KMP_AFFINITY")}
    tf = Package("tensorflow", "2.18.0")
    with_tf = dataclasses.replace(BASE, packages=tuple(sorted((*BASE.packages, tf), key=lambda p: p.name)))
    assert ids(with_tf, with_env(with_tf, TF_ENABLE_ONEDNN_OPTS="0")) == {
        ("env.numerics", "TF_ENABLE_ONEDNN_OPTS")
    }
    mkl = Package("mkl", "2025.0.0")
    with_mkl = dataclasses.replace(BASE, packages=tuple(sorted((*BASE.packages, mkl), key=lambda p: p.name)))
    assert ids(with_mkl, with_env(with_mkl, MKL_CBWR="AVX2")) == {("env.numerics", "MKL_CBWR")}
    # installed here: jax and numba
    assert ids(BASE, with_env(BASE, XLA_FLAGS="--xla_gpu_autotune_level=0")) == {("env.numerics", "XLA_FLAGS")}
    assert ids(BASE, with_env(BASE, NUMBA_NUM_THREADS="2")) == {("env.threads", "NUMBA_NUM_THREADS")}


# --- 4. remedies ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "command"),
    [
        ("X", None, "unset X"),
        ("CUDA_VISIBLE_DEVICES", "", "export CUDA_VISIBLE_DEVICES=''"),
        ("XLA_FLAGS", "--a=1 --b=2", "export XLA_FLAGS='--a=1 --b=2'"),
        ("LC_ALL", "en_US.UTF-8", "export LC_ALL=en_US.UTF-8"),
        ("V", "it's", "export V='it'\"'\"'s'"),
    ],
)
def test_remedies_restore_the_value_exactly(name: str, value: Optional[str], command: str) -> None:
    assert fix(name, value) == command
    if value is not None:
        assert shlex.split(command.split(" ", 1)[1]) == [f"{name}={value}"]


def test_no_remedy_sets_a_variable_to_empty_when_the_lockfile_had_none() -> None:
    for name, value in (("NVIDIA_TF32_OVERRIDE", "0"), ("PYTHONHASHSEED", "0"), ("CUDA_VISIBLE_DEVICES", "")):
        finding = only(BASE, with_env(BASE, **{name: value}))
        assert finding.remedy.startswith(f"unset {name}")
        assert f"{name}=" not in finding.remedy


def test_an_empty_value_in_the_lockfile_is_restored_as_empty() -> None:
    hidden = with_env(BASE, CUDA_VISIBLE_DEVICES="")
    finding = only(hidden, BASE)  # the model was verified with no GPU; the candidate shows one
    assert finding.id == "env.device"
    assert "then ''" in finding.message and "now unset" in finding.message
    assert finding.remedy.startswith("export CUDA_VISIBLE_DEVICES=''")


def test_an_identical_environment_with_empty_values_is_quiet() -> None:
    fp = with_env(BASE, CUDA_VISIBLE_DEVICES="", TZ="", LC_ALL="", OMP_NUM_THREADS="", JAX_PLATFORMS="cpu")
    assert findings(fp, fp) == ()
