"""throwaway: an agent runtime that runs throwaway Python in a locked-down sandbox.

The names below load on first use (PEP 562), so that `import throwaway` (and the
`throwaway` command, which imports it) does not pay for the sandbox, httpx and
fsspec until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from throwaway.errors import (
    DescribeError,
    FatalModelError,
    InstallError,
    ModelConfigError,
    ModelProviderError,
    RetryableModelError,
    SandboxError,
    SandboxFileError,
    SetupError,
    ThrowawayError,
)

if TYPE_CHECKING:
    from throwaway import mounts
    from throwaway.sandbox import (
        ExecError,
        ExecResult,
        OutputCut,
        Sandbox,
        SandboxPool,
        SyncSandbox,
        WarmPool,
        keep_warm,
        stop_warm,
    )

#: name -> module it comes from, imported on first use
_LAZY = {
    **dict.fromkeys(
        ["ExecError", "ExecResult", "OutputCut", "Sandbox", "SandboxPool", "SyncSandbox",
         "WarmPool", "keep_warm", "stop_warm"], "throwaway.sandbox",
    ),
    "mounts": "throwaway.mounts",
}  # fmt: skip

__all__ = [
    "DescribeError", "ExecError", "ExecResult", "FatalModelError", "InstallError",
    "ModelConfigError", "ModelProviderError", "OutputCut", "RetryableModelError", "Sandbox",
    "SandboxError", "SandboxFileError", "SandboxPool", "SetupError", "SyncSandbox",
    "ThrowawayError", "WarmPool", "keep_warm", "mounts", "stop_warm",
]  # fmt: skip


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'throwaway' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if name == "mounts" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
