"""One Deno process running one Pyodide worker, seen from the host.

Owns the subprocess, the frame reader, and the matching of replies to requests.
It knows nothing about what a request means; ``Sandbox`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import json
import os
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

import deno

from throwaway.errors import SandboxError
from throwaway.sandbox import bytecode, protocol
from throwaway.sandbox.assets import Assets
from throwaway.sandbox.watchdog import INTERVAL, Verdict, Watchdog

RUNTIME_DIR = Path(__file__).parent / "runtime"
#: Python modules of the runtime, written into every sandbox: file name -> module name.
RUNTIME_MODULES = {
    "errnos.py": "_throwaway_errno",
    "runner.py": "_throwaway_runner",
    "backend.py": "_throwaway_backend",
    "micropip.py": "micropip",
}
STARTUP_TIMEOUT = 120.0
STDERR_KEEP = 16_384
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
#: Deno's cache folder: a path under a character device, so that nothing (the Web Cache
#: API, V8's code cache, module analysis caches) can be created there, even by root.
NO_DENO_DIR = "/dev/null/deno"
#: Blocking calls (/mnt, host functions) the host works on at once for one sandbox. The
#: honest worker makes one at a time (plus, rarely, one it gave up on); more are dropped.
MAX_SYNC_INFLIGHT = 4
#: Asynchronous calls (micropip.install) at once; more are refused.
MAX_CALLS_INFLIGHT = 2

#: A handler for calls from sandboxed code: (op, json text, blob) -> (reply dict, blob).
CallHandler = Callable[[str, str, bytes], Awaitable[tuple[dict, bytes]]]
#: A handler for blocking calls (/mnt requests, host functions):
#: (request, blob) -> (reply dict, blob); never raises.
SyncHandler = Callable[[object, bytes], Awaitable[tuple[dict, bytes]]]
#: Where a streamed run's output goes as it is printed: (stream name, text) -> None.
OutputHandler = Callable[[str, str], None]


def deno_command(assets: Assets, memory_mb: int = 1024) -> list[str]:
    """Deno with every permission denied except reading public runtime files, no code
    cache, and each JS heap (main thread, worker) capped at ``memory_mb``."""
    readable = f"{assets.root},{RUNTIME_DIR}"
    return [
        deno.find_deno_bin(), "run", "--quiet", "--no-prompt", "--no-config", "--no-lock",
        "--node-modules-dir=manual", "--no-remote", "--cached-only", "--no-code-cache",
        f"--allow-read={readable}", "--deny-write", "--deny-net", "--deny-env",
        "--deny-run", "--deny-ffi", "--deny-sys", "--deny-import",
        f"--v8-flags=--max-old-space-size={memory_mb}",
        str(RUNTIME_DIR / "main.js"),
    ]  # fmt: skip


def deno_env(assets: Assets) -> dict[str, str]:
    """A bare environment: no API keys or other host secrets reach Deno."""
    return {
        "PATH": "/usr/bin:/bin",
        "DENO_DIR": NO_DENO_DIR,
        "NO_COLOR": "1",
        "DENO_NO_UPDATE_CHECK": "1",
    }


def runtime_modules() -> dict[str, str]:
    """module name -> source of the runtime's Python modules."""
    return {module: (RUNTIME_DIR / name).read_text() for name, module in RUNTIME_MODULES.items()}


def boot_config(assets: Assets, memory_mb: int, snapshot: Path | None = None) -> dict:
    """What a process needs to boot: the runtime, the memory cap, the snapshot to restore.
    Everything else about a session comes later, with its "configure" request."""
    config = {
        "memoryMb": memory_mb,
        "indexURL": f"{assets.core_dir}/",
        "packageCacheDir": f"{bytecode.package_dir(assets)}/",
    }
    if snapshot is not None:
        config["snapshotPath"] = str(snapshot)
    if (cache := code_cache_path(assets)).is_file():
        config["codeCache"] = str(cache)
    return config


def code_cache_path(assets: Assets) -> Path:
    """V8's code cache of pyodide.asm.js, made with the plain snapshot (warmup.py); valid
    for one Deno (V8) build, which V8 checks itself."""
    return assets.root / "warm" / f"pyodide.asm-deno-{version('deno')}.v8cache"


def _widen_pipes(proc: asyncio.subprocess.Process) -> None:
    """1 MiB pipes instead of 64 KiB: big files cross in far fewer system calls."""
    for stream in (proc.stdin, proc.stdout):
        transport = getattr(stream, "transport", None) or getattr(stream, "_transport", None)
        fd = transport.get_extra_info("pipe").fileno() if transport else None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)


class SandboxProcess:
    """A running Deno sandbox: send requests, await replies, answer its calls.

    ``config`` is the boot configuration (`boot_config`); the handlers of the
    sandbox's calls may be set later, by the session that takes the process.
    """

    def __init__(
        self,
        assets: Assets,
        config: dict,
        on_call: CallHandler | None = None,
        on_sync: SyncHandler | None = None,
    ):
        self.assets, self.config, self.on_call, self.on_sync = assets, config, on_call, on_sync
        self.tag = protocol.new_tag()
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: dict[int, asyncio.Future[protocol.Frame]] = {}
        self.started: dict[int, asyncio.Future[None]] = {}  # set when Deno reports a long run
        self.outputs: dict[int, OutputHandler] = {}  # streamed runs: request id -> handler
        self.ids = itertools.count(1)
        self.ready = asyncio.Event()
        self.stderr_tail = b""
        self.snapshot = b""  # filled by a process started with config makeSnapshot
        self.code_cache = b""  # V8's code cache of pyodide.asm.js, from the same process
        self.tasks: set[asyncio.Task] = set()
        self.syncs = self.calls = 0  # blocking and asynchronous calls being answered
        self.verdict: Verdict | None = None  # why the watchdog ended the process

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        """Spawn Deno, hand it the tag and boot config, wait until Python is booted."""
        self.proc = await asyncio.create_subprocess_exec(
            *deno_command(self.assets, self.config.get("memoryMb", 1024)),
            cwd=self.assets.root, env=deno_env(self.assets),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=1 << 20, start_new_session=True,
        )  # fmt: skip
        _widen_pipes(self.proc)
        self._spawn(self._read_frames())
        self._spawn(self._drain_stderr())
        self._spawn(self._watch(Watchdog(self.proc.pid, self.config.get("memoryMb", 1024))))
        self.proc.stdin.write(self.tag + protocol.encode({"config": self.config}))
        try:
            await asyncio.wait_for(self._until_ready(), STARTUP_TIMEOUT)
        except (TimeoutError, SandboxError) as exc:
            await self.kill()
            raise SandboxError(f"the sandbox did not start: {exc}\n{self.diagnostics()}") from None
        except BaseException:  # cancelled while starting: leave no process behind
            await asyncio.shield(self.kill())
            raise

    async def _until_ready(self) -> None:
        ready = asyncio.create_task(self.ready.wait())
        exited = asyncio.create_task(self.proc.wait())
        try:
            await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            exited.cancel()
        if not self.ready.is_set():
            raise SandboxError(f"Deno exited with status {self.proc.returncode}")

    def diagnostics(self) -> str:
        return self.stderr_tail.decode(errors="replace").strip()[-4000:]

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def send(self, msg: dict, blob: bytes = b"", on_output: OutputHandler | None = None) -> int:
        """Send a request; return its id (the reply is awaited with `reply`). A run sent
        with ``on_output`` streams: its stdout and stderr go there as they are printed."""
        if not self.alive:
            raise SandboxError("the sandbox process is not running")
        msg = {**msg, "id": next(self.ids)}
        if on_output is not None:
            msg["stream"] = True
            self.outputs[msg["id"]] = on_output
        self.pending[msg["id"]] = asyncio.get_running_loop().create_future()
        self.started[msg["id"]] = asyncio.get_running_loop().create_future()
        self.proc.stdin.write(protocol.encode(msg, blob))
        return msg["id"]

    async def reply(self, request_id: int) -> protocol.Frame:
        """The reply to a request; SandboxError if the process dies first."""
        try:
            return await self.pending[request_id]
        finally:
            self.forget(request_id)

    def forget(self, request_id: int) -> None:
        """Stop waiting for a request's reply (and output)."""
        self.pending.pop(request_id, None)
        self.started.pop(request_id, None)
        self.outputs.pop(request_id, None)

    async def _read_frames(self) -> None:
        reader = protocol.FrameReader(self.proc.stdout, self.tag)
        try:
            while (frame := await reader.read()) is not None:
                self._dispatch(frame)
        except protocol.ProtocolViolation as exc:
            self.stderr_tail += f"\n[protocol violation: {exc}]".encode()
            await self.kill()
        finally:
            await self._fail_pending()

    def _dispatch(self, frame: protocol.Frame) -> None:
        msg, event = frame.msg, frame.msg.get("event")
        if event == "ready":
            self.ready.set()
        elif event == "codecache" and self.config.get("makeSnapshot"):
            self.code_cache = frame.blob
        elif event == "snapshot" and self.config.get("makeSnapshot"):
            self.snapshot = frame.blob
            self.ready.set()
        elif event == "started" and msg.get("id") in self.started:
            if not self.started[msg["id"]].done():
                self.started[msg["id"]].set_result(None)
        elif event == "output" and msg.get("id") in self.outputs:
            stream, text = msg.get("stream"), msg.get("text")
            if stream in ("stdout", "stderr") and isinstance(text, str):
                self.outputs[msg["id"]](stream, text)
        elif event == "sync" and isinstance(msg.get("seq"), int) and self.on_sync:
            if self.syncs < MAX_SYNC_INFLIGHT:  # else dropped: the caller times out
                self.syncs += 1
                self._spawn(self._answer_sync(msg, frame.blob))
        elif event == "call" and isinstance(msg.get("callId"), int):
            self.calls += 1
            self._spawn(self._answer_call(msg, frame.blob))
        elif event is None and msg.get("id") in self.pending:
            future = self.pending[msg["id"]]
            if not future.done():
                future.set_result(frame)

    async def _answer_call(self, msg: dict, blob: bytes) -> None:
        try:
            if self.on_call is None:
                raise SandboxError("no session has configured this sandbox")
            if self.calls > MAX_CALLS_INFLIGHT:
                reply, out = {"error": f"at most {MAX_CALLS_INFLIGHT} host calls at once"}, b""
            else:
                reply, out = await self.on_call(str(msg.get("op")), str(msg.get("json")), blob)
        except Exception as exc:
            reply, out = {"error": f"{type(exc).__name__}: {exc}"}, b""
        try:
            frame = {"type": "reply", "callId": msg["callId"], "json": json.dumps(reply)}
            await self._write(protocol.encode(frame, out))
        finally:
            self.calls -= 1

    async def _answer_sync(self, msg: dict, blob: bytes) -> None:
        try:
            try:
                request = json.loads(msg.get("json") or "null")
            except ValueError:
                request = None
            if not self.pending:  # between runs nothing of the sandbox may act on the host
                reply, out = {"errno": "EPERM", "message": "the sandbox is between runs"}, b""
            else:
                reply, out = await self.on_sync(request, blob)
            frame = {"type": "syncreply", "seq": msg["seq"], "json": json.dumps(reply)}
            await self._write(protocol.encode(frame, out))
        finally:
            self.syncs -= 1

    async def _write(self, data: bytes) -> None:
        """Write to Deno and wait until the pipe has taken it (bounds what queues up)."""
        if self.alive:
            self.proc.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await self.proc.stdin.drain()

    async def _watch(self, watchdog: Watchdog) -> None:
        """End the process when the watchdog says so (memory, or CPU between runs)."""
        while self.alive:
            await asyncio.sleep(INTERVAL)
            busy = bool(self.pending) or not self.ready.is_set()
            if verdict := watchdog.check(busy):
                self.verdict = verdict
                self.stderr_tail += f"\n[watchdog: {verdict.message}]".encode()
                await self.kill()

    async def _drain_stderr(self) -> None:
        while chunk := await self.proc.stderr.read(65536):
            self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_KEEP:]

    async def _fail_pending(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 2)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(SandboxError(self._exit_reason()))

    def _exit_reason(self) -> str:
        if self.verdict:
            return self.verdict.message
        code = self.proc.returncode if self.proc else None
        if code is not None and code < 0:
            return f"the sandbox process was killed (signal {-code})"
        return f"the sandbox process exited (status {code})"

    async def kill(self) -> None:
        """Stop the process and everything it started, now."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 5)

    async def close(self) -> None:
        """Ask Deno to exit; kill it if it does not."""
        if self.alive:
            with contextlib.suppress(Exception):
                self.proc.stdin.write(protocol.encode({"type": "shutdown"}))
                await asyncio.wait_for(self.proc.wait(), 2)
        await self.kill()
        for task in list(self.tasks):
            task.cancel()
