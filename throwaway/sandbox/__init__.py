"""The sandbox: Pyodide in a Deno process with every permission denied.

Host side: `Sandbox` (sandbox.py) over `SandboxProcess` (process.py) over the
frame format (protocol.py). Deno side: runtime/main.js (relay, time limits) and
runtime/worker.js (Pyodide), with runtime/runner.py running inside Python.

The names below load on first use (PEP 562), so that a light submodule (assets,
for `throwaway --version`) does not bring the whole sandbox with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from throwaway.sandbox.pool import SandboxPool
    from throwaway.sandbox.result import ExecError, ExecResult, OutputCut
    from throwaway.sandbox.sandbox import Sandbox
    from throwaway.sandbox.syncsandbox import SyncSandbox
    from throwaway.sandbox.warmpool import WarmPool, keep_warm, stop_warm

#: name -> submodule it comes from, imported on first use
_LAZY = {
    "ExecError": "result", "ExecResult": "result", "OutputCut": "result", "Sandbox": "sandbox",
    "SandboxPool": "pool", "SyncSandbox": "syncsandbox", "WarmPool": "warmpool",
    "keep_warm": "warmpool", "stop_warm": "warmpool",
}  # fmt: skip

__all__ = [
    "ExecError", "ExecResult", "OutputCut", "Sandbox", "SandboxPool", "SyncSandbox",
    "WarmPool", "keep_warm", "stop_warm",
]  # fmt: skip


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'throwaway.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"throwaway.sandbox.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
