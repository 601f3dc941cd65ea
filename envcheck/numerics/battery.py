"""The numerics battery: the source a child of the candidate's interpreter runs for ``--numerics``.

``SOURCE`` is self-contained Python (3.8 syntax) that needs only the standard library and numpy, and uses scipy,
pandas and torch when they import (torch on a CUDA device too, when it sees one: float32 matmul with TF32 off and
on, float16, bfloat16). pandas is there for what it picks up by itself: with bottleneck installed its ``std`` and
``var`` are bottleneck's, which accumulate float32 in float32; the versions it records name the accelerators
(bottleneck, numexpr) found loaded after the kernels ran, so their appearance is a named cause.

It computes a fixed set of kernels on fixed inputs and prints one line, ``MARKER`` followed by JSON: per kernel its
dtype, shape, a digest of the result's bytes and a few magnitudes (sum, largest magnitude, a sample of values), so
that a later comparison can say "bitwise equal", "within N ULP" or "different, by this much" without the full
arrays (``envcheck.numerics.results`` parses it).

The inputs are the same bytes under every numpy release: they come from a counter-based hash (splitmix64) done
in numpy's unsigned 64-bit integer arithmetic, which wraps identically everywhere, and the top 53 (float64) or
24 (float32) bits become the value exactly. numpy's random generators are avoided on purpose: their streams are
not promised stable across releases, and an input change would read as a numerics change.

Sizes include odd ones (1, 7, 127, 257) that take other BLAS kernel paths (edge handling, no blocking) than the
aligned ones (64, 1000). The CPU battery takes a second or two here (importing pandas most of it); envcheck never
imports it itself: the only way it runs is as a child's source (``envcheck.numerics.run``), or in a test.
"""

from __future__ import annotations

#: Prefixes the battery's output line, so that whatever the candidate's ``.pth`` files print is not taken for it.
MARKER = "ENVCHECK-NUMERICS "
#: Version of the battery: a lockfile recorded by another battery is compared only where kernel names agree.
BATTERY_VERSION = 1

SOURCE = r'''
import hashlib, json, sys, time

MARKER = "ENVCHECK-NUMERICS "
SAMPLE = 12
#: Elements of the pandas reductions' inputs: long enough for a float32 accumulation to lose digits.
PANDAS_N = 1000003
#: Libraries pandas picks up by itself when they are installed, and which change what its methods compute.
ACCELERATORS = ("bottleneck", "numexpr")


def _inputs(np, n, seed, dtype):
    """n values in [-1, 1), the same bytes under every numpy: splitmix64 over a counter."""
    m64 = np.uint64
    start = ((seed + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = np.arange(n, dtype=np.uint64) * m64(0x9E3779B97F4A7C15) + m64(start)
    x = (x ^ (x >> m64(30))) * m64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> m64(27))) * m64(0x94D049BB133111EB)
    x = x ^ (x >> m64(31))
    if dtype == "float32":
        u = (x >> m64(40)).astype(np.float32) * np.float32(2.0 ** -24)
        return u * np.float32(2.0) - np.float32(1.0)
    u = (x >> m64(11)).astype(np.float64) * (2.0 ** -53)
    return u * 2.0 - 1.0


def _record(np, name, value):
    a = np.ascontiguousarray(np.asarray(value))
    if a.dtype.kind == "c":
        a = np.ascontiguousarray(a.view(a.real.dtype))
    flat = a.reshape(-1)
    entry = {"name": name, "dtype": str(a.dtype), "shape": list(a.shape)}
    entry["digest"] = hashlib.sha256(a.tobytes()).hexdigest()[:16]
    if flat.size:
        wide = flat.astype(np.float64)
        entry["sum"] = repr(float(wide.sum()))
        entry["max_abs"] = repr(float(np.abs(wide).max()))
        step = max(1, flat.size // SAMPLE)
        entry["sample"] = [repr(float(v)) for v in wide[::step][:SAMPLE]]
    return entry


def _kernels(np):
    """(name, thunk) for every kernel, in a fixed order."""
    out = []
    for dtype in ("float64", "float32"):
        short = "f64" if dtype == "float64" else "f32"
        for n in (1, 7, 64, 127, 257, 1000):
            a = _inputs(np, n * n, 1 + n, dtype).reshape(n, n)
            b = _inputs(np, n * n, 2 + n, dtype).reshape(n, n)
            out.append(("numpy.matmul %s %dx%d" % (short, n, n), lambda a=a, b=b: a @ b))
        for n in (257, 1000):
            a = _inputs(np, n * n, 3 + n, dtype).reshape(n, n)
            v = _inputs(np, n, 4 + n, dtype)
            out.append(("numpy.dot matvec %s %d" % (short, n), lambda a=a, v=v: np.dot(a, v)))
        for n in (7, 127, 100003):
            u = _inputs(np, n, 5 + n, dtype)
            w = _inputs(np, n, 6 + n, dtype)
            out.append(("numpy.dot %s %d" % (short, n), lambda u=u, w=w: np.dot(u, w)))
        big = _inputs(np, 1000003, 7, dtype)
        out.append(("numpy.sum %s" % short, lambda big=big: big.sum()))
        out.append(("numpy.mean %s" % short, lambda big=big: big.mean()))
        out.append(("numpy.std %s" % short, lambda big=big: big.std()))
        x = _inputs(np, 100003, 8, dtype)
        pos = np.abs(x) + x.dtype.type(0.5)
        out.append(("numpy.exp %s" % short, lambda x=x: np.exp(x * x.dtype.type(20))))
        out.append(("numpy.log %s" % short, lambda pos=pos: np.log(pos)))
        out.append(("numpy.sin %s" % short, lambda x=x: np.sin(x * x.dtype.type(100))))
        out.append(("numpy.tanh %s" % short, lambda x=x: np.tanh(x * x.dtype.type(3))))
    a = _inputs(np, 257 * 257, 9, "float64").reshape(257, 257) + np.eye(257) * 8.0
    rhs = _inputs(np, 257, 10, "float64")
    out.append(("numpy.linalg.solve f64 257", lambda: np.linalg.solve(a, rhs)))
    m = _inputs(np, 127 * 64, 11, "float64").reshape(127, 64)
    out.append(("numpy.linalg.svd f64 127x64", lambda: np.linalg.svd(m, compute_uv=False)))
    s = _inputs(np, 4096, 12, "float64")
    out.append(("numpy.fft.fft f64 4096", lambda: np.fft.fft(s)))
    odd = _inputs(np, 1000, 13, "float64")
    out.append(("numpy.fft.rfft f64 1000", lambda: np.fft.rfft(odd)))
    return out


def _scipy_kernels(np):
    try:
        import scipy.linalg
        import scipy.special
    except Exception:
        return []
    a = _inputs(np, 257 * 257, 14, "float64").reshape(257, 257) + np.eye(257) * 8.0
    x = _inputs(np, 100003, 15, "float64") * 10.0
    return [
        ("scipy.linalg.lu_factor f64 257", lambda: scipy.linalg.lu_factor(a)[0]),
        ("scipy.special.gammaln f64", lambda: scipy.special.gammaln(np.abs(x) + 0.1)),
        ("scipy.special.erf f64", lambda: scipy.special.erf(x)),
    ]


def _torch_kernels(np):
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return []
    try:
        import torch
    except Exception:
        return []
    out = []
    for n in (127, 1000):
        a = torch.from_numpy(_inputs(np, n * n, 16 + n, "float32").reshape(n, n))
        b = torch.from_numpy(_inputs(np, n * n, 17 + n, "float32").reshape(n, n))
        out.append(("torch.matmul cpu f32 %dx%d" % (n, n), lambda a=a, b=b: torch.matmul(a, b).numpy()))
    return out


def _pandas_kernels(np):
    """pandas Series.std and Series.var over the battery's long inputs, when pandas imports: pandas hands them to
    bottleneck when that is installed (float32 then accumulates in float32), else reduces them itself in float64.
    The +1000 inputs show cancellation: a one-pass or float32 accumulation loses most of the digits there."""
    import importlib.util

    if importlib.util.find_spec("pandas") is None:
        return []
    try:
        import pandas
    except Exception:
        return []
    out = []
    for dtype in ("float64", "float32"):
        short = "f64" if dtype == "float64" else "f32"
        big = _inputs(np, PANDAS_N, 20, dtype)
        for offset in (0, 1000):
            values = big + big.dtype.type(offset) if offset else big
            series = pandas.Series(values, copy=False)
            suffix = " +%d" % offset if offset else ""
            for method in ("std", "var"):
                name = "pandas.Series.%s %s %d%s" % (method, short, PANDAS_N, suffix)
                # bottleneck's result comes back as a Python float: recorded in the data's type, it is compared
                # by value (a float32 computed in float32 converts back exactly) rather than as a changed dtype
                out.append((name, lambda s=series, m=method, t=big.dtype.type: t(getattr(s, m)())))
    return out


def _torch_gpu_kernels(np):
    """torch matmul on the first CUDA device, when torch is already imported (by _torch_kernels) and sees one:
    float32 with TF32 off ("highest") and on ("high"), float16 and bfloat16; results copied back as float32."""
    torch = sys.modules.get("torch")
    if torch is None:
        return []
    try:
        if not torch.cuda.is_available():
            return []
        device = torch.device("cuda", 0)
    except Exception:
        return []

    def matmul(a, b, precision, dtype):
        def thunk():
            before = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision(precision)
            try:
                c = torch.matmul(a.to(dtype), b.to(dtype))
                torch.cuda.synchronize()
                return c.float().cpu().numpy()
            finally:
                torch.set_float32_matmul_precision(before)
        return thunk

    out = []
    for n in (127, 1000):
        a = torch.from_numpy(_inputs(np, n * n, 18 + n, "float32").reshape(n, n)).to(device)
        b = torch.from_numpy(_inputs(np, n * n, 19 + n, "float32").reshape(n, n)).to(device)
        for label, precision, dtype in (
            ("f32 tf32-off", "highest", torch.float32),
            ("f32 tf32-on", "high", torch.float32),
            ("f16", "highest", torch.float16),
            ("bf16", "highest", torch.bfloat16),
        ):
            out.append(("torch.matmul cuda %s %dx%d" % (label, n, n), matmul(a, b, precision, dtype)))
    return out


def _openblas(np):
    """Which OpenBLAS kernels and thread count the loaded OpenBLAS uses (read through ctypes), if one is."""
    import ctypes

    seen = {}
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    out = []
    for path in paths[:4]:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        info = {"path": path.rsplit("/", 1)[-1]}
        for prefix in ("scipy_openblas_", "openblas_", ""):
            for suffix in ("64_", ""):
                for key, name in (("core", "get_corename"), ("config", "get_config")):
                    fn = getattr(lib, prefix + name + suffix, None) if prefix else None
                    if fn is not None and key not in info:
                        fn.restype = ctypes.c_char_p
                        info[key] = (fn() or b"").decode("ascii", "replace").strip()
                fn = getattr(lib, prefix + "get_num_threads" + suffix, None) if prefix else None
                if fn is not None and "threads" not in info:
                    fn.restype = ctypes.c_int
                    info["threads"] = str(fn())
        if len(info) > 1 and info["path"] not in seen:
            seen[info["path"]] = True
            out.append(info)
    return out


def run(np=None):
    """The battery's result as a dict (what the child prints after MARKER)."""
    if np is None:
        import numpy as np
    started = time.perf_counter()
    kernels = []
    every = _kernels(np) + _scipy_kernels(np) + _pandas_kernels(np) + _torch_kernels(np) + _torch_gpu_kernels(np)
    for name, thunk in every:
        try:
            with np.errstate(all="ignore"):
                kernels.append(_record(np, name, thunk()))
        except Exception as e:
            kernels.append({"name": name, "error": ("%s: %s" % (type(e).__name__, e))[:200]})
    versions = {"numpy": np.__version__}
    # an accelerator in sys.modules after the kernels ran is one pandas picked up: its appearance is visible
    for mod in ("scipy", "pandas", "torch") + ACCELERATORS:
        if mod in sys.modules:
            versions[mod] = str(getattr(sys.modules[mod], "__version__", ""))
    if any(k["name"].startswith("torch.matmul cuda") and "error" not in k for k in kernels):
        torch = sys.modules["torch"]
        try:
            props = torch.cuda.get_device_properties(0)
            versions["torch cuda"] = str(torch.version.cuda)
            versions["cuda device"] = "%s sm_%d%d" % (props.name, props.major, props.minor)
        except Exception:
            pass
    return {
        "battery": 1,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "versions": versions,
        "openblas": _openblas(np),
        "kernels": kernels,
        "elapsed_ms": int((time.perf_counter() - started) * 1000),
    }


if __name__ == "__main__":
    try:
        import numpy
    except Exception as e:
        sys.stdout.write(MARKER + json.dumps({"battery": 1, "error": ("%s: %s" % (type(e).__name__, e))[:200]}))
        sys.stdout.write("\n")
        sys.exit(0)
    sys.stdout.write(MARKER + json.dumps(run(numpy), sort_keys=True) + "\n")
'''
