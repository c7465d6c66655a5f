"""throwaway: an agent runtime that runs throwaway Python in a locked-down sandbox."""

import importlib

from throwaway import mounts
from throwaway.errors import (
    BlobNotFound,
    DescribeError,
    DurableError,
    FatalModelError,
    InstallError,
    InvalidTask,
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

#: Loaded on first use: the agent and durable stacks take seconds to import.
LAZY = {"MountSpec": "throwaway.vfs.spec", "Run": "throwaway.runs", "Runs": "throwaway.runs"}

__all__ = [
    "BlobNotFound", "DescribeError", "DurableError", "ExecError", "ExecResult",
    "FatalModelError", "InstallError", "InvalidTask", "ModelConfigError", "ModelProviderError",
    "MountSpec", "OutputCut", "RetryableModelError", "Run", "RunFailed", "RunNotFound", "Runs",
    "Sandbox", "SandboxError", "SandboxFileError", "SandboxPool", "SetupError", "SyncSandbox",
    "ThrowawayError", "WarmPool", "keep_warm", "mounts", "stop_warm",
]  # fmt: skip


def __getattr__(name: str):
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'throwaway' has no attribute {name!r}")
