"""Agent runs from Python: ``async with throwaway.Runs() as runs``.

    async with throwaway.Runs() as runs:
        run = await runs.start("What is the median of /mnt/data/prices.csv?",
                               model="openai:gpt-5", mounts=["data=./data"])
        await run.wait()
        print(run.status, run.answer)

Runs are durable, in Postgres (see throwaway.durable). ``wait()`` works on the
queue in this process until the run has ended, as ``throwaway run`` does; with
``Runs(detach=True)`` runs are only queued, for ``throwaway worker`` processes,
and ``wait()`` only watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from typing import Any

from throwaway.agent.loop import MAX_TURNS
from throwaway.agent.models import chosen_model_name, resolve_model
from throwaway.agent.runner import EventSink, RunSpec, make_handler, run_view, steps_view
from throwaway.durable import DEFAULT_QUEUE, Durable, RunRecord, Status
from throwaway.mcp.tools import Approve, McpServers, ServerSpec
from throwaway.vfs.spec import MountSpec


class Run:
    """One run, as last read from the database (``refresh()`` reads it again)."""

    def __init__(self, runs: Runs, record: RunRecord) -> None:
        self.runs, self.record = runs, record

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.status}>"

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def status(self) -> Status:
        """``queued``, ``running``, ``completed``, ``failed`` or ``cancelled``."""
        return self.record.status

    @property
    def answer(self) -> str | None:
        """The agent's answer once completed, else None."""
        return (self.record.result or {}).get("answer") if self.status == "completed" else None

    @property
    def error(self) -> str | None:
        """``Type: message`` of the last failure, once failed."""
        return self.record.error

    @property
    def steps(self) -> list[dict[str, Any]]:
        """Model and tool steps as ``throwaway show --json`` lists them ([] from ``list()``)."""
        return steps_view(self.record.steps or [])

    def as_json(self) -> dict[str, Any]:
        """The run as ``throwaway show --json`` prints it."""
        return run_view(self.record)

    async def refresh(self) -> Run:
        self.record = await self.runs.durable.get_run(self.id)
        return self

    async def wait(self, timeout: float | None = None) -> Run:
        """Wait until the run is completed, failed or cancelled; TimeoutError after ``timeout``."""
        self.record = await self.runs._wait(self.id, timeout)
        return self

    async def cancel(self) -> Status:
        """Stop the run; the status it had: ``queued`` (it will not start), ``running`` (its
        worker stops it at its next step) or ``cancelled``. DurableError once it has ended."""
        before = await self.runs.durable.cancel(self.id)
        await self.refresh()
        return before


class Runs:
    """Durable agent runs on one queue of one Postgres database.

    ``database_url`` defaults to $THROWAWAY_DATABASE_URL, else the embedded server.
    ``detach``: only queue runs, for other processes' workers. ``on_event(run_id,
    event)`` sees the progress of runs worked on here; ``approve(tool, arguments)``
    decides calls to MCP tools whose policy is "ask" (refused without it).
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        detach: bool = False,
        lease_seconds: int = 60,
        on_event: EventSink | None = None,
        approve: Approve | None = None,
    ) -> None:
        self.durable = Durable(database_url, queue=queue)
        self.detach, self.lease_seconds = detach, lease_seconds
        self.on_event, self.approve = on_event, approve

    async def __aenter__(self) -> Runs:
        await self.durable.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.durable.__aexit__(*exc)

    async def start(
        self,
        task: str,
        *,
        model: str | None = None,
        mounts: Iterable[str | MountSpec] = (),
        help_dirs: Iterable[str | os.PathLike] = (),
        timeout: float = 60.0,
        memory_mb: int = 1024,
        max_turns: int = MAX_TURNS,
        mcp: Iterable[str | ServerSpec] = (),
        tool_policy: dict[str, str] | None = None,
    ) -> Run:
        """Queue a run of ``task``; it has started once ``wait()`` is called (or a worker took it).

        ``model``: a pydantic-ai model name (default: $THROWAWAY_MODEL or an API key's
        default), checked now. ``mounts``: ``NAME=SOURCE[:rw]`` texts or MountSpecs.
        ``mcp``: ``NAME=COMMAND|URL`` texts or ServerSpecs; ``tool_policy``:
        ``{"server.tool": "allow"|"deny"|"ask"}``. The servers are started and their tools
        listed once before the run is queued: McpError if one cannot start, or if the
        policy names servers or tools they do not have.
        """
        servers = [ServerSpec.parse(s) if isinstance(s, str) else s for s in mcp]
        specs = [MountSpec.parse(m) if isinstance(m, str) else m for m in mounts]
        if len({m.name for m in specs}) != len(specs):
            raise ValueError("each mount needs its own NAME")
        spec = RunSpec(
            task=task, model=model_name(model), mounts=specs,
            help_dirs=[os.path.abspath(d) for d in help_dirs], timeout=timeout,
            memory_mb=memory_mb, max_turns=max_turns, mcp=[s.to_json() for s in servers],
            tool_policy=dict(tool_policy or {}),
        )  # fmt: skip
        if servers or spec.tool_policy:
            async with McpServers(servers, policy=spec.tool_policy):
                pass
        return await self.get(await self.durable.start_run(task, spec.params()))

    async def get(self, run_id: str) -> Run:
        """The run with its steps; ``run_id`` may be the start of an id (RunNotFound if no
        run's id starts so, AmbiguousRunId if several do)."""
        return Run(self, await self.durable.get_run(run_id))

    async def list(self, limit: int = 20, status: Status | None = None) -> list[Run]:
        """The newest runs first (only those with ``status``, if given), without their steps."""
        return [Run(self, r) for r in await self.durable.list_runs(limit, status)]

    async def resume(self, run_id: str) -> Run:
        """Queue a failed or cancelled run again; it continues from its stored steps."""
        await self.durable.resume(run_id)
        return await self.get(run_id)

    async def _wait(self, run_id: str, timeout: float | None) -> RunRecord:
        """The run once ended; unless detached, this process works on it (and on no other run
        of the queue) meanwhile."""
        if self.detach:
            return await self.durable.wait(run_id, timeout)
        handler = make_handler(self.durable, self.on_event, approve=self.approve)
        stop = asyncio.Event()
        work = self.durable.work(handler, lease_seconds=self.lease_seconds, stop=stop, only=run_id)
        worker = asyncio.create_task(work)
        waiter = asyncio.create_task(self.durable.wait(run_id, timeout))
        try:
            await asyncio.wait({worker, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if worker.done():  # work() ends only once stopped: it failed
                worker.result()
            record = await waiter
        except BaseException:
            waiter.cancel()
            worker.cancel()  # its run is given up at once, for another worker to continue
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            raise
        stop.set()  # lets a run it took meanwhile finish
        await worker
        return record


def model_name(model: str | None) -> str:
    """The model a run will use, checked now (a clear error here, not in the worker)."""
    name = chosen_model_name(model)
    resolve_model(name)
    if name.startswith("scripted:"):
        name = "scripted:" + os.path.abspath(name.removeprefix("scripted:"))
    return name
