"""Sandbox: a Python interpreter in a locked-down Deno process, driven from the host.

    async with Sandbox(timeout=30, memory_mb=512) as sb:
        r = await sb.run("import numpy as np\\nnp.arange(3).sum()")

One Sandbox is one Deno process (never shared). Interpreter state persists
across `run` calls; if the interpreter has to be restarted (hard timeout, crash,
killed process) the result says so and the next call starts a fresh one.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import posixpath
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from throwaway.errors import SandboxError, SandboxFileError, SandboxProtocolError
from throwaway.sandbox import warmpool, warmup
from throwaway.sandbox.assets import Assets, ensure_assets
from throwaway.sandbox.functions import HostFunction, HostFunctions
from throwaway.sandbox.process import OutputHandler, SandboxProcess, boot_config, runtime_modules
from throwaway.sandbox.result import CRASHED, PROTOCOL, TIMEOUT, ExecError, ExecResult, parse_result
from throwaway.sandbox.syncsandbox import SyncSandbox
from throwaway.sandbox.workspace import MirrorFull, WorkspaceMirror, pack, unpack
from throwaway.vfs.provider import MountProvider
from throwaway.vfs.table import MountTable

log = logging.getLogger(__name__)
#: Seconds the host waits past the time limit before it kills the process itself
#: (Deno's main thread normally ends a runaway worker 0.8 s after the limit).
HOST_GRACE = 1.6
#: Seconds a run may wait for the interpreter to be ready and its packages loaded.
STARTUP_TIMEOUT = 120.0
#: Seconds a file request from the host (read_file, write_file, ...) may take.
FILE_TIMEOUT = 120.0
#: Seconds at least that saving a run's changed files may take (else the run's time limit).
COPY_TIMEOUT_MIN = 5.0
#: Bytes of a /workspace file the host reads per request when it saves the file.
COPY_CHUNK = 8 << 20
LOST = "variables are lost, and /workspace is back to how it was before this run"


class Sandbox:
    """A Pyodide interpreter in its own Deno process.

    Args:
        timeout: seconds one `run` may take (the default for `run`).
        memory_mb: cap on the interpreter's memory; past it, Python raises MemoryError.
            The whole Deno process is held to ``memory_mb`` + 1024 MB of resident
            memory (watchdog.py): past that it is ended and the run gets MemoryError.
        output_limit: characters kept per stream (stdout, stderr) per run; the
            middle of longer output is cut and the whole text saved to a file in
            /workspace/.throwaway/ (named in ``result.cut``).
        mounts: folders under /mnt, by name: ``{"data": mounts.LocalDir("./data")}``.
            Every access is decided and carried out by the host (see throwaway.vfs).
        mount_timeout: seconds one provider call may take before the sandboxed
            code gets ``TimeoutError`` (an OSError with errno ETIMEDOUT).
        functions: host functions that sandboxed code may call: ``{name: fn}``
            gives ``from throwaway_tools import name``; HostFunctions from other
            sources (MCP servers: throwaway.mcp.tools) bring their own modules.
        allow_install: whether sandboxed code and `install` may fetch pure-Python
            wheels from PyPI through the host: True, False, or a collection of
            allowed project names.
        snapshot: start from a memory snapshot of a warmed-up interpreter
            (made once per machine) instead of loading Pyodide cold.
        preload: packages to have imported before the first run, restored from
            a memory snapshot of them (made once per machine and set): milliseconds
            instead of seconds per import. None (the default): if the first run's
            code imports any of numpy, pandas, matplotlib, PIL (or scipy,
            scikit-learn), the smallest preload set that has them
            (`warmup.preload_sets`, ``$THROWAWAY_PRELOAD``); ``()``: none.
            A snapshot that does not fit ``memory_mb`` or fails to restore is
            skipped: the packages are then imported the ordinary way.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        memory_mb: int = 1024,
        output_limit: int = 100_000,
        mounts: Mapping[str, MountProvider] | None = None,
        mount_timeout: float = 30.0,
        functions: Mapping[str, Callable[..., Any]] | Iterable[HostFunction] | None = None,
        allow_install: bool | Collection[str] = True,
        snapshot: bool = True,
        preload: Iterable[str] | None = None,
    ):
        if timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        if not 128 <= memory_mb <= 4096:
            raise ValueError("memory_mb must be between 128 and 4096 (wasm32's limit)")
        if output_limit < 1000:
            raise ValueError("output_limit must be at least 1000 characters")
        self.timeout, self.memory_mb, self.output_limit = timeout, memory_mb, output_limit
        self.allow_install, self.snapshot = allow_install, snapshot
        self.mounts = MountTable(mounts or {}, timeout=mount_timeout)
        self.functions = HostFunctions(functions or ())
        self._mirror = WorkspaceMirror()
        self._runs = 0  # numbers runs across restarts (names of saved output files)
        self._process: SandboxProcess | None = None
        self._assets: Assets | None = None
        self._lock = asyncio.Lock()
        self._auto = preload is None  # choose a preload set by what the first run imports
        self._target = () if preload is None else tuple(sorted(set(preload)))  # for the next boot
        self.packages: tuple[str, ...] = ()  # imported at boot in the current process
        self._installed = False

    # ---- lifecycle ---------------------------------------------------------

    async def start(self, *, for_code: str | None = None) -> Sandbox:
        """Start the Deno process and wait until Python is ready (idempotent).

        ``for_code``: the code of the first run, if known; with the default
        ``preload``, the sandbox then boots straight into the preload set when
        that code imports from it (``throwaway exec`` does this).
        """
        if self._process is None or not self._process.alive:
            if self._assets is None:
                self._assets = await asyncio.to_thread(ensure_assets, True)
            if for_code and self._auto:
                self._target = self._preload_for(for_code) or ()
            self.mounts.spools.clear()  # a lost interpreter's large files being written
            self._process = await self._boot()
            self._process.on_call, self._process.on_sync = self._on_call, self._on_sync
            await self._request({"type": "configure", "config": self._config()})
        return self

    @property
    def pid(self) -> int | None:
        """The Deno process's id while it runs (a restart gives a new one)."""
        process = self._process
        return process.proc.pid if process is not None and process.alive else None

    @property
    def snapshot_file(self) -> str | None:
        """The memory snapshot the current interpreter was restored from, if any."""
        return self._process.config.get("snapshotPath") if self._process else None

    async def _boot(self) -> SandboxProcess:
        """A booted process: from the warm pool when one fits, else started now, from the
        snapshot of the wanted packages, falling back to the plain snapshot."""
        if process := self._from_pool():
            return process
        for packages in dict.fromkeys((self._target, ())):
            path = await self._snapshot_for(packages)
            if packages and path is None:
                continue
            process = SandboxProcess(self._assets, boot_config(self._assets, self.memory_mb, path))
            try:
                await process.start()
            except SandboxError as exc:
                if not packages:
                    raise
                warmup.mark_failed(path, str(exc))
                continue
            self.packages = packages
            return process
        raise AssertionError("unreachable: the plain boot raises")

    def _from_pool(self) -> SandboxProcess | None:
        pool = warmpool.current()
        if pool is None or not self.snapshot or pool.snapshot is None:
            return None
        # before any code, an automatic sandbox takes whatever preload set the pool has
        fits = pool.packages == self._target or (self._auto and not self._target)
        process = pool.take(self.memory_mb) if fits else None
        if process is not None:
            self.packages = pool.packages
        return process

    async def _snapshot_for(self, packages: tuple[str, ...]):
        if not self.snapshot:
            return None
        path = await warmup.ensure_snapshot(self._assets, packages)
        if path is not None and packages and not warmup.fits(path, self.memory_mb):
            log.info(
                "the snapshot of %s needs more than %d MB", ", ".join(packages), self.memory_mb
            )
            return None
        return path

    def _preload_for(self, code: str) -> tuple[str, ...] | None:
        return warmup.preload_for(code, self._assets.lock["packages"])

    async def _take_packages(self, code: str) -> None:
        """Before the first run, move to a process with a preload set if the code needs one
        (the workspace comes along; nothing else has happened in the interpreter yet)."""
        if not self._auto or self._runs or self._installed or not self.snapshot:
            return
        wanted = self._preload_for(code)
        if wanted is None or set(wanted) <= set(self.packages):
            return
        self._target = wanted
        await self._process.close()
        self._process = None
        await self.start()
        await self._restore_mirror()

    async def close(self) -> None:
        """Stop the Deno process and drop the workspace. The Sandbox can start again."""
        if self._process is not None:
            await self._process.close()
            self._process = None
        self._mirror.close()
        self._mirror = WorkspaceMirror()

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    @classmethod
    def sync(cls, **kwargs) -> SyncSandbox:
        """A blocking twin for scripts and notebooks: ``with Sandbox.sync() as sb: sb.run(...)``."""
        return SyncSandbox(cls(**kwargs))

    def _config(self) -> dict:
        assets = self._assets
        lock = assets.lock["packages"]
        import_map = {
            module: name
            for name in assets.available_packages()
            if name != "micropip"
            for module in lock[name].get("imports", [])
        }
        fonts = warmup.font_cache_path(assets)
        files = {warmup.FONT_CACHE_STAGED: str(fonts)} if fonts.is_file() else {}
        staged = assets.staged_wheels()
        wheels = {name: f"/lib/throwaway/wheels/{path.name}" for name, path in staged.items()}
        files.update({wheels[name]: str(path) for name, path in staged.items()})
        return {
            "files": files,
            "wheels": wheels,
            "mounts": [
                {"name": name, "writable": info["writable"]}
                for name, info in self.mounts.describe().items()
            ],
            "fsTimeoutMs": (self.mounts.timeout + 5) * 1000,
            "memoryMb": self.memory_mb,
            "outputLimit": self.output_limit,
            "importMap": import_map,
            "modules": {**runtime_modules(), **self.functions.module_sources()},
        }

    # ---- running code ------------------------------------------------------

    async def run(
        self, code: str, *, timeout: float | None = None, on_output: OutputHandler | None = None
    ) -> ExecResult:
        """Run code; return what it printed, its last expression, error and images.

        With ``on_output``, stdout and stderr stream instead: ``on_output(stream, text)``
        ("stdout" or "stderr") is called as the code prints (a line at a time), and the
        result's ``stdout`` and ``stderr`` are empty. Nothing is cut; past 1 MiB of
        output not yet handled, the code waits for the host (``on_output`` blocking is
        back-pressure). Never raises for problems inside the sandbox (errors, timeouts,
        crashes): those are in ``result.error``.
        Cancelling the call ends the interpreter at once (the next run starts a fresh one,
        with /workspace put back).
        """
        timeout = self.timeout if timeout is None else timeout
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        async with self._lock:
            restarted = await self._ensure_started()
            await self._take_packages(code)
            self.mounts.take_changes()
            started = time.perf_counter()
            self._runs += 1
            msg = {"type": "run", "code": code, "timeoutMs": timeout * 1e3, "runNo": self._runs}
            request = self._process.send(msg, on_output=on_output)
            ended = True  # did the interpreter end with this run?
            try:
                frame = await self._await_run(request, timeout)
            except asyncio.CancelledError:  # busy interpreter: end it now, not after a goodbye
                await asyncio.shield(self._process.kill())
                raise
            except SandboxError as exc:
                verdict = self._process.verdict
                kind = "MemoryError" if verdict and verdict.kind == "memory" else CRASHED
                result = self._lost(ExecError(kind, f"{exc}; {LOST}"), started)
            except TimeoutError:
                error = ExecError(TIMEOUT, _timeout_message(timeout, hard=True))
                result = self._lost(error, started)
            else:
                ended = frame.msg.get("restarted") is True
                result = self._parse_run(frame, started, timeout, restarted or ended)
            if ended:
                # Deno exits after a restart: make sure the process is gone, so that the
                # next call starts a new one and puts the workspace back
                await self._process.kill()
            else:
                result = await self._save_workspace(result, max(timeout, COPY_TIMEOUT_MIN))
            return replace(result, changes=result.changes.merge(self.mounts.take_changes()))

    async def _ensure_started(self) -> bool:
        """Start (or restart) the process; True if an earlier interpreter was lost, in which
        case the host's copy of /workspace is put back."""
        lost = self._process is not None and not self._process.alive
        await self.start()
        if lost:
            await self._restore_mirror()
        return lost

    async def _restore_mirror(self) -> None:
        for path, data in self._mirror.files():
            await self._request({"type": "write_file", "path": path}, data)

    async def _save_workspace(self, result: ExecResult, seconds: float) -> ExecResult:
        """Copy the run's changed files to the host; a sandbox that answers with anything
        but its files, or not in time, is ended and the run gets a ProtocolError."""
        try:
            async with asyncio.timeout(seconds):
                left_out = await self._copy_workspace(result.changes)
        except (SandboxProtocolError, TimeoutError) as exc:
            await self._process.kill()
            message = f"saving the run's files failed: {str(exc) or 'no answer in time'}; {LOST}"
            return replace(result, error=ExecError(PROTOCOL, message), restarted=True)
        if not left_out:
            return result
        note = "not kept across restarts, " + "; ".join(
            f"{len(paths)} file(s) ({', '.join(paths[:3])}{', …' if len(paths) > 3 else ''}): "
            f"{reason}" for reason, paths in left_out.items()
        )  # fmt: skip
        return replace(result, notes=[*result.notes, note])

    async def _copy_workspace(self, changes) -> dict[str, list[str]]:
        """Bring the host's mirror of /workspace up to date after a run; returns the
        files left out, by reason."""
        for path in changes.deleted:
            self._mirror.delete(path)
        left_out: dict[str, list[str]] = {}
        for path in [*changes.created, *changes.modified]:
            if not self._mirror.covers(path):
                continue
            try:
                await self._copy_file(path)
            except SandboxFileError:
                self._mirror.delete(path)  # gone again, e.g. replaced by a directory
            except MirrorFull as exc:
                self._mirror.delete(path)
                left_out.setdefault(str(exc), []).append(path)
        return left_out

    async def _copy_file(self, path: str) -> None:
        """One file, chunk by chunk, into the mirror."""
        msg = {"type": "read_file", "path": path, "offset": 0, "size": COPY_CHUNK}
        frame = await self._request(msg)
        size = frame.reply.get("size")
        if not isinstance(size, int) or size < len(frame.blob) or len(frame.blob) > COPY_CHUNK:
            raise SandboxProtocolError(f"a malformed answer to reading {path}")
        with self._mirror.writer(path, size) as out:
            out.write(frame.blob)
            offset = len(frame.blob)
            while offset < size:
                frame = await self._request({**msg, "offset": offset})
                if not 0 < len(frame.blob) <= COPY_CHUNK:
                    raise SandboxProtocolError(f"a malformed answer to reading {path}")
                out.write(frame.blob)
                offset += len(frame.blob)

    async def _await_run(self, request: int, timeout: float):
        """The run's reply. Deno enforces the limit; the host only backs it up."""
        process = self._process
        reply, started = process.pending[request], process.started[request]
        try:
            await asyncio.wait({reply, started}, timeout=STARTUP_TIMEOUT,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if not (reply.done() or started.done()):
                raise SandboxError(f"the code did not start within {STARTUP_TIMEOUT:g} s")
            return await asyncio.wait_for(reply, timeout + HOST_GRACE)
        finally:
            process.forget(request)

    def _lost(self, error: ExecError, started: float) -> ExecResult:
        duration = (time.perf_counter() - started) * 1e3
        return ExecResult(error=error, duration_ms=duration, restarted=True)

    def _parse_run(self, frame, started: float, timeout: float, restarted: bool) -> ExecResult:
        duration = (time.perf_counter() - started) * 1e3
        msg = frame.msg
        try:
            meta = json.loads(msg["json"]) if isinstance(msg.get("json"), str) else msg
        except ValueError:
            meta = {"error": {"type": "ProtocolError", "message": "unreadable reply"}}
        if not isinstance(meta, dict):
            meta = {"error": {"type": "ProtocolError", "message": "malformed reply"}}
        result = parse_result(meta, frame.blob, self.output_limit, duration, restarted)
        if msg.get("timedOut") is True:
            hard = msg.get("restarted") is True
            error = ExecError(TIMEOUT, _timeout_message(timeout, hard), _tb(result.error))
            result = replace(result, error=error)
        return result

    # ---- files -------------------------------------------------------------

    async def write_file(self, path: str, data: bytes | str) -> None:
        """Write a file in the sandbox (relative paths are under /workspace)."""
        blob = data.encode() if isinstance(data, str) else bytes(data)
        path = _sandbox_path(path)
        self._check_writable(path)
        await self._file_op({"type": "write_file", "path": path}, blob)
        if self._mirror.covers(path):
            self._keep(path, blob)

    async def read_file(self, path: str) -> bytes:
        """Read a file from the sandbox's file system."""
        return (await self._file_op({"type": "read_file", "path": _sandbox_path(path)})).blob

    async def snapshot_workspace(self) -> bytes:
        """/workspace after the last run, as a zip (identical files, identical bytes)."""
        return pack(self._mirror.files())

    async def restore_workspace(self, snapshot: bytes) -> None:
        """Make /workspace hold exactly the files of a `snapshot_workspace` zip."""
        files = unpack(snapshot)
        async with self._lock:
            await self._ensure_started()
            await self._request({"type": "clear_dir", "path": "/workspace"})
            self._mirror.close()
            self._mirror = WorkspaceMirror()
            for path, data in files:
                await self._request({"type": "write_file", "path": path}, data)
                self._keep(path, data)

    def _check_writable(self, path: str) -> None:
        """A clear error for a path under a read-only mount (the sandbox says only EACCES)."""
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "mnt":
            provider = self.mounts.mounts.get(parts[2])
            if provider is not None and not provider.writable:
                raise SandboxFileError(
                    f"cannot write {path}: /mnt/{parts[2]} is a read-only mount "
                    f"(mount it as {parts[2]}=SOURCE:rw to write there)"
                )

    def _keep(self, path: str, data: bytes) -> None:
        """Mirror a file the host wrote; past the mirror's limits it lives in the sandbox only
        (as files a run writes past them do)."""
        try:
            self._mirror.put(path, data)
        except MirrorFull:
            self._mirror.delete(path)

    async def list_files(self, path: str = "/workspace") -> list[str]:
        """Names in a sandbox directory, sorted."""
        frame = await self._file_op({"type": "list_files", "path": _sandbox_path(path)})
        names = frame.reply.get("names")
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    async def _file_op(self, msg: dict, blob: bytes = b""):
        async with self._lock:
            await self._ensure_started()
            return await self._request(msg, blob)

    async def _request(self, msg: dict, blob: bytes = b""):
        """One file request to the started process (the caller holds the lock); its
        reply, with the decoded JSON as ``.reply``. A reply that is not JSON, or none in
        time, ends the sandbox (SandboxProtocolError)."""
        process = self._process
        request = process.send(msg, blob)
        try:
            frame = await asyncio.wait_for(process.reply(request), FILE_TIMEOUT)
            reply = json.loads(frame.msg.get("json") or "{}")
        except (TimeoutError, ValueError, TypeError) as exc:
            await process.kill()
            what = "no answer in time" if isinstance(exc, TimeoutError) else "a malformed answer"
            raise SandboxProtocolError(f"the sandbox gave {what} to {msg['type']}") from None
        if not isinstance(reply, dict):
            await process.kill()
            raise SandboxProtocolError(f"the sandbox gave a malformed answer to {msg['type']}")
        if isinstance(reply.get("error"), dict):
            raise _file_error(reply["error"], msg.get("path") or msg["type"])
        return _Reply(frame.msg, frame.blob, reply)

    # ---- packages ----------------------------------------------------------

    async def install(self, *requirements: str) -> list[str]:
        """Install pure-Python packages from PyPI (or bundled Pyodide packages).

        The host resolves and downloads the wheels (hash-checked, cached); the
        sandbox never touches the network. Raises InstallError with the reason.
        """
        async with self._lock:
            await self._ensure_started()
            self._installed = True
            meta, blob = await self._resolve(list(requirements), deps=True)
            request = self._process.send({"type": "install", "json": json.dumps(meta)}, blob)
            frame = await asyncio.wait_for(self._process.reply(request), 300)
        try:
            reply = json.loads(frame.msg.get("json") or "{}")
        except (ValueError, TypeError):
            reply = None
        if not isinstance(reply, dict):
            raise SandboxProtocolError("the sandbox gave a malformed answer to install")
        if "error" in reply:
            raise SandboxError(f"installing into the sandbox failed: {reply['error']}")
        return [n for n in reply.get("installed", []) if isinstance(n, str)]

    async def _resolve(self, requirements: list[str], deps: bool) -> tuple[dict, bytes]:
        assets = self._assets
        from throwaway.sandbox import pypi  # httpx & co. load only when installing

        bundle = await pypi.resolve(
            requirements, assets.lock["packages"], assets.available_packages(),
            allow=self.allow_install, deps=deps,
        )  # fmt: skip
        return bundle.meta(), bundle.blob()

    async def _on_sync(self, request: object, blob: bytes) -> tuple[dict, bytes]:
        """Blocking calls from sandboxed code: host functions, or /mnt requests."""
        if isinstance(request, dict) and request.get("op") == "call":
            return await self.functions.call(request), b""
        return await self.mounts.handle(request, blob)

    async def _on_call(self, op: str, payload: str, blob: bytes) -> tuple[dict, bytes]:
        """Calls made by sandboxed code (micropip.install)."""
        if op != "install":
            return {"error": f"unknown host call {op!r}"}, b""
        request = json.loads(payload)
        reqs = request.get("requirements") if isinstance(request, dict) else None
        if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
            return {"error": "install expects a list of requirement strings"}, b""
        return await self._resolve(reqs, deps=request.get("deps") is not False)


@dataclass(frozen=True)
class _Reply:
    msg: dict
    blob: bytes
    reply: dict


def _file_error(error: dict, what: str) -> SandboxFileError:
    """The error of a failed file request, with the Linux errno of the name the sandbox sent."""
    name = str(error.get("errno"))
    code = getattr(errno, name, None) if name.startswith("E") else None
    if isinstance(code, int):
        return SandboxFileError(code, os.strerror(code), what)
    return SandboxFileError(f"{what}: {error.get('type')} ({error.get('message')})")


def _sandbox_path(path: str) -> str:
    if not isinstance(path, str) or not path or "\0" in path:
        raise SandboxFileError(f"invalid sandbox path: {path!r}")
    return posixpath.normpath(posixpath.join("/workspace", path))


def _timeout_message(timeout: float, hard: bool) -> str:
    text = f"the code ran past the {timeout:g} s time limit and was stopped"
    if hard:
        text += f"; the interpreter was restarted: {LOST}"
    return text


def _tb(error: ExecError | None) -> str:
    return error.traceback if error and error.type == TIMEOUT else ""
