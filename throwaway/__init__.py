"""throwaway: an agent runtime that runs throwaway Python in a locked-down sandbox."""

from throwaway import mounts
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

__all__ = [
    "DescribeError", "ExecError", "ExecResult", "FatalModelError", "InstallError",
    "ModelConfigError", "ModelProviderError", "OutputCut", "RetryableModelError", "Sandbox",
    "SandboxError", "SandboxFileError", "SandboxPool", "SetupError", "SyncSandbox",
    "ThrowawayError", "WarmPool", "keep_warm", "mounts", "stop_warm",
]  # fmt: skip
