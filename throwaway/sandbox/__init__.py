"""The sandbox: Pyodide in a Deno process with every permission denied.

Host side: `Sandbox` (sandbox.py) over `SandboxProcess` (process.py) over the
frame format (protocol.py). Deno side: runtime/main.js (relay, time limits) and
runtime/worker.js (Pyodide), with runtime/runner.py running inside Python.
"""

from throwaway.sandbox.pool import SandboxPool
from throwaway.sandbox.result import ExecError, ExecResult, OutputCut
from throwaway.sandbox.sandbox import Sandbox
from throwaway.sandbox.syncsandbox import SyncSandbox
from throwaway.sandbox.warmpool import WarmPool, keep_warm, stop_warm

__all__ = [
    "ExecError", "ExecResult", "OutputCut", "Sandbox", "SandboxPool", "SyncSandbox",
    "WarmPool", "keep_warm", "stop_warm",
]  # fmt: skip
