"""throwaway: an agent runtime that runs throwaway Python in a locked-down sandbox.

The names below load on first use (PEP 562), so that `import throwaway` (and the
`throwaway` command, which imports it) does not pay for the sandbox, the agent and
durable stacks, httpx and fsspec until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from throwaway.errors import (
    BlobNotFound,
    DescribeError,
    DurableError,
    FatalModelError,
    InstallError,
    InvalidTask,
    McpError,
    ModelConfigError,
    ModelProviderError,
    RetryableModelError,
    RunFailed,
    RunNotFound,
    SandboxError,
    SandboxFileError,
    SetupError,
    ThrowawayError,
)

if TYPE_CHECKING:
    from throwaway import mounts
    from throwaway.runs import Run, Runs
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
    from throwaway.vfs.spec import MountSpec

#: name -> module it comes from, imported on first use
_LAZY = {
    **dict.fromkeys(
        ["ExecError", "ExecResult", "OutputCut", "Sandbox", "SandboxPool", "SyncSandbox",
         "WarmPool", "keep_warm", "stop_warm"], "throwaway.sandbox",
    ),
    "mounts": "throwaway.mounts",
    "MountSpec": "throwaway.vfs.spec",
    "Run": "throwaway.runs",
    "Runs": "throwaway.runs",
}  # fmt: skip

__all__ = [
    "BlobNotFound", "DescribeError", "DurableError", "ExecError", "ExecResult",
    "FatalModelError", "InstallError", "InvalidTask", "McpError", "ModelConfigError",
    "ModelProviderError",
    "MountSpec", "OutputCut", "RetryableModelError", "Run", "RunFailed", "RunNotFound", "Runs",
    "Sandbox", "SandboxError", "SandboxFileError", "SandboxPool", "SetupError", "SyncSandbox",
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
