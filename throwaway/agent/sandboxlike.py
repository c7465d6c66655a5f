"""What the agent needs of a sandbox: the part of `Sandbox` the toolbox and the prompt use.

Loop tests pass a small in-memory fake that has these; runs pass a real `Sandbox`.
"""

from __future__ import annotations

from typing import Any, Protocol

from throwaway.sandbox.result import ExecResult


class MountsLike(Protocol):
    def describe(self) -> dict[str, dict[str, Any]]:
        """name -> {"about": str, "writable": bool}"""
        ...


class SandboxLike(Protocol):
    timeout: float  # seconds per run

    @property
    def mounts(self) -> MountsLike: ...

    async def run(self, code: str) -> ExecResult: ...
    async def read_file(self, path: str) -> bytes: ...
    async def write_file(self, path: str, data: bytes | str) -> None: ...
    async def snapshot_workspace(self) -> bytes: ...
    async def restore_workspace(self, snapshot: bytes) -> None: ...
