"""Reference tables the rules read: kept as data, each with its source."""

from __future__ import annotations

from typing import Dict, FrozenSet, Tuple

#: Minimum Linux driver branch per CUDA major version, for minor-version compatibility. Source: NVIDIA CUDA
#: Toolkit release notes, "CUDA Toolkit and Corresponding Driver Versions" (CUDA 11.x >= 450.80.02,
#: 12.x >= 525.60.13, 13.x >= 580).
CUDA_MIN_DRIVER: Dict[int, str] = {11: "450.80.02", 12: "525.60.13", 13: "580"}

#: (package, version specifier, what its x86-64 build needs: a level or a /proc/cpuinfo flag), for snapshots
#: that do not hold the package's own build lists (``native.builds``, which win). numpy >= 2.4 raised its
#: baseline to x86-64-v2 (numpy 2.4 release notes); TensorFlow's PyPI wheels are built with AVX since 1.6.
ISA_REQUIREMENTS: Tuple[Tuple[str, str, str], ...] = (
    ("numpy", ">=2.4", "x86-64-v2"),
    ("tensorflow", ">=1.6", "avx"),
    ("tensorflow-cpu", ">=1.6", "avx"),
)

#: Flags libraries dispatch on at run time: losing one picks other kernels.
DISPATCH_FLAGS: FrozenSet[str] = frozenset(
    [
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512cd",
        "avx512dq",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "avx512vbmi",
        "avx512ifma",
        "avx_vnni",
        "amx_bf16",
        "amx_int8",
        "amx_tile",
        "asimd",
        "asimdhp",
        "asimddp",
        "asimdfhm",
        "sve",
        "sve2",
        "svebf16",
        "svei8mm",
        "bf16",
        "i8mm",
        "sme",
    ]
)

#: GPU architectures PyTorch's release wheels carry cubins for, by CUDA variant (PyTorch release matrix,
#: RELEASE.md "Release Compatibility Matrix"; ``.ci/manywheel/build_cuda.sh`` TORCH_CUDA_ARCH_LIST;
#: ``PYTORCH_RELEASES_CODE_CC`` in ``torch/cuda/__init__.py``). Each also runs on the later minors of its major
#: (``envcheck.cuda_arch``). Used when no in-process ``torch.cuda.get_arch_list()`` was recorded.
TORCH_ARCHS: Dict[str, Tuple[str, ...]] = {
    "12.6": ("5.0", "6.0", "7.0", "8.0", "8.6", "9.0"),
    "12.8": ("7.0", "8.0", "8.6", "9.0", "10.0", "12.0"),
    "12.9": ("7.0", "7.5", "8.0", "8.6", "9.0", "10.0", "12.0"),
    "13.0": ("7.5", "8.0", "8.6", "9.0", "10.0", "11.0", "12.0"),
}

#: The first release of each compiled numpy dependent whose wheels are built against numpy 2 (and so import under
#: both numpy 1.x and 2.x): an older release of it, installed beside numpy >= 2, fails at import ("numpy.dtype size
#: changed, may indicate binary incompatibility") even when its metadata does not forbid numpy 2. Only packages
#: that use numpy's C API are listed: xgboost and lightgbm call numpy through ctypes and are not affected.
#: (package, first numpy-2-ready version, source: the project's release notes or its numpy 2 tracking issue; for
#: scikit-image, 0.23.1 is the first release whose build requires numpy 2, per its pyproject.toml).
#: Overview: https://github.com/numpy/numpy/issues/26191
NUMPY2_READY: Tuple[Tuple[str, str, str], ...] = (
    ("pandas", "2.2.2", "https://pandas.pydata.org/docs/whatsnew/v2.2.2.html"),
    ("scipy", "1.13.0", "https://github.com/scipy/scipy/releases/tag/v1.13.0"),
    ("scikit-learn", "1.4.2", "https://github.com/scikit-learn/scikit-learn/releases/tag/1.4.2"),
    ("matplotlib", "3.8.4", "https://github.com/matplotlib/matplotlib/releases/tag/v3.8.4"),
    ("h5py", "3.11.0", "https://docs.h5py.org/en/stable/whatsnew/3.11.html"),
    ("numba", "0.60.0", "https://numba.readthedocs.io/en/stable/release/0.60.0-notes.html"),
    ("pyarrow", "16.0.0", "https://arrow.apache.org/release/16.0.0.html"),
    ("scikit-image", "0.23.1", "https://scikit-image.org/docs/stable/release_notes/release_0.23.html"),
    ("statsmodels", "0.14.2", "https://www.statsmodels.org/stable/release/version0.14.2.html"),
    ("opencv-python", "4.10.0.84", "https://github.com/opencv/opencv-python/releases/tag/84"),
    ("opencv-python-headless", "4.10.0.84", "https://github.com/opencv/opencv-python/releases/tag/84"),
    ("opencv-contrib-python", "4.10.0.84", "https://github.com/opencv/opencv-python/releases/tag/84"),
    ("opencv-contrib-python-headless", "4.10.0.84", "https://github.com/opencv/opencv-python/releases/tag/84"),
    ("torch", "2.3.0", "https://github.com/pytorch/pytorch/issues/107302"),
    ("tensorflow", "2.18.0", "https://github.com/tensorflow/tensorflow/releases/tag/v2.18.0"),
    ("tensorflow-cpu", "2.18.0", "https://github.com/tensorflow/tensorflow/releases/tag/v2.18.0"),
)

#: Packages that another installed package picks up on its own at run time, changing the numbers it returns:
#: (extra package, the packages that use it as PEP 508 requirements, what changes, source). Any other package new
#: in the candidate is quiet unless ``show_extra`` asks for it.
RESULT_CHANGING_EXTRAS: Tuple[Tuple[str, Tuple[str, ...], str, str], ...] = (
    (
        "bottleneck",
        ("pandas",),
        "pandas computes NaN-skipping reductions (sum, mean, std, ...) with it when it is installed "
        "(option compute.use_bottleneck)",
        "https://pandas.pydata.org/docs/getting_started/install.html#performance-dependencies-recommended",
    ),
    (
        "numexpr",
        ("pandas",),
        "pandas evaluates arithmetic and comparisons on large frames with it when it is installed "
        "(option compute.use_numexpr)",
        "https://pandas.pydata.org/docs/getting_started/install.html#performance-dependencies-recommended",
    ),
    (
        "pyarrow",
        ("pandas>=3",),
        "pandas 3 stores strings in the pyarrow-backed string dtype when pyarrow is installed",
        "https://pandas.pydata.org/docs/whatsnew/v3.0.0.html",
    ),
    (
        "mkl",
        ("numpy", "scipy"),
        "Intel MKL is loaded as the BLAS/LAPACK of builds that look for it: other kernels, other summation order",
        "https://pypi.org/project/mkl/",
    ),
    (
        "scipy-openblas32",
        ("numpy", "scipy"),
        "the OpenBLAS wheel numpy and scipy builds link against at run time: another BLAS build and kernels",
        "https://github.com/MacPython/openblas-libs",
    ),
    (
        "scipy-openblas64",
        ("numpy", "scipy"),
        "the OpenBLAS wheel numpy and scipy builds link against at run time: another BLAS build and kernels",
        "https://github.com/MacPython/openblas-libs",
    ),
    (
        "intel-extension-for-pytorch",
        ("torch",),
        "it replaces torch operators with its own kernels (ipex.optimize, auto-mixed precision)",
        "https://intel.github.io/intel-extension-for-pytorch/",
    ),
    (
        "scikit-learn-intelex",
        ("scikit-learn",),
        "sklearnex patches scikit-learn estimators with oneDAL implementations (patch_sklearn)",
        "https://uxlfoundation.github.io/scikit-learn-intelex/latest/",
    ),
)

#: Extras of ``RESULT_CHANGING_EXTRAS`` that provide BLAS/LAPACK: a host that bundles its own BLAS (numpy's and
#: scipy's PyPI wheels carry OpenBLAS in ``numpy.libs``/``scipy.libs``, torch links MKL statically) never loads
#: them, so they count only beside a host build that ships no BLAS of its own.
BLAS_PROVIDER_EXTRAS: FrozenSet[str] = frozenset(["mkl", "scipy-openblas32", "scipy-openblas64"])

# --- model files ------------------------------------------------------------------------------------------------

#: How the library that wrote a model file reads it back in other versions: (package, level, direction, risks,
#: why, source). ``level``: the smallest version move that breaks (``minor``, ``major``); ``direction``: ``both``
#: (any move of that level), or ``older`` (only a reader older than the writer). ``risks``: ``AP``
#: (availability and prediction) or ``A``.
WRITER_STORIES: Tuple[Tuple[str, str, str, str, str, str], ...] = (
    (
        "scikit-learn",
        "minor",
        "both",
        "AP",
        "scikit-learn supports loading a pickled estimator only in the version that wrote it: in another one it "
        "fails to unpickle (AttributeError on changed internals) or predicts differently "
        "(InconsistentVersionWarning)",
        "https://scikit-learn.org/stable/model_persistence.html",
    ),
    (
        "xgboost",
        "minor",
        "older",
        "A",
        "XGBoost loads JSON/UBJSON models written by older releases, not by newer ones",
        "https://xgboost.readthedocs.io/en/stable/tutorials/saving_model.html",
    ),
    (
        "lightgbm",
        "major",
        "older",
        "A",
        "a LightGBM text model carries its format version (version=v4 from LightGBM 4); an older major release "
        "rejects the newer format",
        "https://github.com/microsoft/LightGBM/blob/master/src/boosting/gbdt_model_text.cpp",
    ),
    (
        "keras",
        "major",
        "older",
        "A",
        "a .keras file written by Keras 3 does not load in Keras 2 (tf-keras)",
        "https://keras.io/guides/migrating_to_keras_3/",
    ),
)

#: Module paths a model file may name that exist only in some releases of their distribution: (module, package,
#: the versions that have it, source). A pickle naming one fails to load where the
#: installed release lacks it, whatever its version metadata says.
MODULE_PATHS: Tuple[Tuple[str, str, str, str], ...] = (
    # numpy 2 renamed numpy.core to numpy._core; arrays pickled under numpy 2 name numpy._core.multiarray
    # (https://numpy.org/doc/stable/numpy_2_0_migration_guide.html#numpy-core-namespace)
    ("numpy._core", "numpy", ">=2.0", "https://numpy.org/doc/stable/numpy_2_0_migration_guide.html"),
    # pandas 2.0 removed Int64Index, UInt64Index and Float64Index with their module
    ("pandas.core.indexes.numeric", "pandas", "<2.0", "https://pandas.pydata.org/docs/whatsnew/v2.0.0.html"),
    # scikit-learn 0.23 removed sklearn.externals.joblib; 0.24 removed the modules 0.22 made private
    ("sklearn.externals.joblib", "scikit-learn", "<0.23", "https://scikit-learn.org/stable/whats_new/v0.23.html"),
    ("sklearn.ensemble.forest", "scikit-learn", "<0.24", "https://scikit-learn.org/stable/whats_new/v0.22.html"),
    (
        "sklearn.ensemble.gradient_boosting",
        "scikit-learn",
        "<0.24",
        "https://scikit-learn.org/stable/whats_new/v0.22.html",
    ),
    ("sklearn.tree.tree", "scikit-learn", "<0.24", "https://scikit-learn.org/stable/whats_new/v0.22.html"),
    (
        "sklearn.linear_model.logistic",
        "scikit-learn",
        "<0.24",
        "https://scikit-learn.org/stable/whats_new/v0.22.html",
    ),
    ("sklearn.linear_model.base", "scikit-learn", "<0.24", "https://scikit-learn.org/stable/whats_new/v0.22.html"),
    ("sklearn.svm.classes", "scikit-learn", "<0.24", "https://scikit-learn.org/stable/whats_new/v0.22.html"),
    (
        "sklearn.preprocessing.data",
        "scikit-learn",
        "<0.24",
        "https://scikit-learn.org/stable/whats_new/v0.22.html",
    ),
    (
        "sklearn.neighbors.classification",
        "scikit-learn",
        "<0.24",
        "https://scikit-learn.org/stable/whats_new/v0.22.html",
    ),
    ("sklearn.decomposition.pca", "scikit-learn", "<0.24", "https://scikit-learn.org/stable/whats_new/v0.22.html"),
)
