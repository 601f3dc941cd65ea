"""What frameworks already imported in this process say about themselves: read from ``sys.modules`` only, never
imported here (importing torch alone takes seconds and changes the process)."""

from __future__ import annotations

import sys
from typing import Any, Mapping, Optional

from envcheck.model import TorchRuntime


def torch_runtime(modules: Optional[Mapping[str, Any]] = None) -> Optional[TorchRuntime]:
    """torch's build and numerics settings, when torch is already imported; None otherwise. Never raises."""
    torch = (sys.modules if modules is None else modules).get("torch")
    if torch is None:
        return None

    def attempt(get: Any, default: Any) -> Any:
        try:
            return get()
        except Exception:  # a half-initialised or unusual torch must not break a snapshot
            return default

    version = attempt(lambda: str(torch.__version__), "")
    cuda = attempt(lambda: str(torch.version.cuda or ""), "")
    cudnn = attempt(lambda: torch.backends.cudnn.version(), None)
    arch = attempt(lambda: tuple(str(a) for a in torch.cuda.get_arch_list()), ())
    return TorchRuntime(
        version=version,
        cuda=cuda,
        cudnn=_cudnn_text(cudnn),
        arch_list=arch,
        allow_tf32_matmul=attempt(lambda: bool(torch.backends.cuda.matmul.allow_tf32), None),
        allow_tf32_cudnn=attempt(lambda: bool(torch.backends.cudnn.allow_tf32), None),
        float32_matmul_precision=attempt(lambda: str(torch.get_float32_matmul_precision()), ""),
    )


def _cudnn_text(value: Any) -> str:
    """torch reports cuDNN as an integer: 91900 is 9.19.0."""
    if not isinstance(value, int) or value <= 0:
        return ""
    major, rest = divmod(value, 10000)
    minor, patch = divmod(rest, 100)
    return f"{major}.{minor}.{patch}"
