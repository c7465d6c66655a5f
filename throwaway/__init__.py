"""throwaway: an agent runtime that runs throwaway Python in a locked-down sandbox."""

from throwaway import mounts
from throwaway.errors import (
    InstallError,
    SandboxError,
    SandboxFileError,
    SetupError,
    ThrowawayError,
)
from throwaway.sandbox import ExecError, ExecResult, OutputCut, Sandbox, SandboxPool, SyncSandbox

__all__ = [
    "ExecError", "ExecResult", "InstallError", "OutputCut", "Sandbox", "SandboxError",
    "SandboxFileError", "SandboxPool", "SetupError", "SyncSandbox", "ThrowawayError", "mounts",
]  # fmt: skip
