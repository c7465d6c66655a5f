"""SyncSandbox: the blocking twin of Sandbox, for scripts and notebooks.

    with Sandbox.sync(timeout=10) as sb:
        print(sb.run("1 + 1").result)

It runs the async Sandbox on an event loop in a private thread, so it also works
where an event loop is already running (Jupyter).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from throwaway.sandbox.result import ExecResult


class SyncSandbox:
    """Same methods as Sandbox, without ``await``."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro: Coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def start(self) -> SyncSandbox:
        self._call(self.sandbox.start())
        return self

    def close(self) -> None:
        self._call(self.sandbox.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def __enter__(self) -> SyncSandbox:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def run(self, code: str, *, timeout: float | None = None) -> ExecResult:
        return self._call(self.sandbox.run(code, timeout=timeout))

    def write_file(self, path: str, data: bytes | str) -> None:
        self._call(self.sandbox.write_file(path, data))

    def read_file(self, path: str) -> bytes:
        return self._call(self.sandbox.read_file(path))

    def list_files(self, path: str = "/workspace") -> list[str]:
        return self._call(self.sandbox.list_files(path))

    def install(self, *requirements: str) -> list[str]:
        return self._call(self.sandbox.install(*requirements))
