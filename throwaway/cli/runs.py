"""Agent run commands: run, worker, runs, show, resume, cancel, artifacts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from throwaway.agent.models import chosen_model_name, resolve_model
from throwaway.agent.runner import RunSpec, absolute_mount, make_handler, run_view
from throwaway.cli.base import EXIT_ERROR, EXIT_INTERRUPTED, main, or_exit
from throwaway.cli.options import (
    ask_on_terminal,
    limit_options,
    mcp_options,
    mount_option,
    warm_option,
)
from throwaway.cli.render import EventPrinter, for_stream, print_run, print_runs
from throwaway.durable import Durable, RunRecord
from throwaway.errors import DurableError
from throwaway.mcp.tools import McpServers, ServerSpec
from throwaway.sandbox.warmpool import warm_sandboxes
from throwaway.sandbox.workspace import unpack

T = TypeVar("T")

LEASE = click.option(
    "--lease-seconds", type=click.IntRange(5), default=60, show_default=True,
    help="How long a silent worker keeps a run before another takes it over.",
)  # fmt: skip


def model_name(model: str | None) -> str:
    """The model a run will use, checked now (a clear error here, not in the worker)."""
    name = chosen_model_name(model)
    resolve_model(name)
    if name.startswith("scripted:"):
        name = "scripted:" + os.path.abspath(name.removeprefix("scripted:"))
    return name


@main.command()
@click.argument("task")
@click.option("--model", "-m", help="A pydantic-ai model name (default: $THROWAWAY_MODEL), "
              "e.g. anthropic:claude-sonnet-4-5, openai:gpt-5, scripted:turns.json.")  # fmt: skip
@mount_option
@click.option(
    "--help-dir",
    "help_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="A folder of markdown docs or skills (SKILL.md) for `help`. Repeatable.",
)
@limit_options(timeout=60.0)
@click.option("--detach", is_flag=True, help="Only queue the run; a `throwaway worker` runs it.")
@click.option("--json", "as_json", is_flag=True, help="End with the run as JSON.")
@LEASE
@mcp_options
def run(task, model, mounts, help_dirs, timeout, memory_mb, detach, as_json, lease_seconds,
        mcp, mcp_config, tool_policy):  # fmt: skip
    """Give the agent a TASK; it writes and runs Python until it can answer.

    \b
    Every model call and tool call is a checkpoint in Postgres: if this process
    dies, `throwaway worker` (or `throwaway resume ID`) finishes the run without
    redoing finished steps. Ctrl-C cancels the run (`throwaway resume ID` continues
    it). This process works on this run only, never on other queued runs.

    \b
    Examples:
      throwaway run "What is the median of /mnt/data/prices.csv?" --mount data=./data
      throwaway run "Plot it" --model scripted:demo.json --detach
    """  # fmt: skip
    spec = RunSpec(
        task=task, model=or_exit(lambda: model_name(model)),
        mounts=[absolute_mount(m) for m in mounts],
        help_dirs=[os.path.abspath(d) for d in help_dirs], timeout=timeout, memory_mb=memory_mb,
        mcp=[s.to_json() for s in [*mcp, *mcp_config]], tool_policy=tool_policy,
    )  # fmt: skip
    or_exit(lambda: asyncio.run(check_servers(spec)))
    outcome = or_exit(lambda: asyncio.run(_run(spec, detach, lease_seconds, as_json)))
    leave(outcome)


async def check_servers(spec: RunSpec) -> None:
    """Start the run's MCP servers and list their tools once, before the run is queued: a
    server that cannot start, or a tool policy naming tools they lack, is an error now."""
    if spec.mcp or spec.tool_policy:
        async with McpServers([ServerSpec.load(m) for m in spec.mcp], policy=spec.tool_policy):
            pass


async def _run(spec: RunSpec, detach: bool, lease_seconds: int, as_json: bool):
    async with await Durable.open() as durable:
        run_id = await durable.start_run(spec.task, spec.params())
        if detach:
            click.echo(run_id)
            return None
        click.secho(f"run {run_id}", dim=True, err=True)
        outcome = await work_until_done(durable, run_id, lease_seconds, quiet=as_json)
    finish(outcome, as_json)
    return outcome


@dataclass(frozen=True)
class Outcome:
    """How a foreground run ended: its record, and whether Ctrl-C ended it."""

    record: RunRecord
    interrupted: bool = False


async def work_until_done(durable: Durable, run_id: str, lease_seconds: int, quiet: bool):
    """Work on this run (and no other) in this process, showing its progress, until it ends.

    Ctrl-C cancels the run, which stops its code at once (the sandbox is closed); the
    run keeps its finished steps, so `throwaway resume` continues it.
    """
    printer = EventPrinter(run_id, quiet=quiet)
    stop, interrupted = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(
        durable.work(
            make_handler(durable, printer, approve=ask_on_terminal),
            lease_seconds=lease_seconds,
            stop=stop,
            only=run_id,
        )
    )
    try:
        _on_ctrl_c(interrupted.set)
        record = await _unless_set(interrupted, durable.wait(run_id))
        if record is not None:
            return Outcome(record)
        with contextlib.suppress(DurableError):  # it has just ended by itself
            await durable.cancel(run_id)
        worker.cancel()  # the handler is cancelled: its sandbox and MCP servers close
        await asyncio.gather(worker, return_exceptions=True)
        return Outcome(await durable.get_run(run_id), interrupted=True)
    finally:
        _on_ctrl_c(None)
        stop.set()
        if not worker.cancelled():
            await worker


def _on_ctrl_c(callback: Callable[[], None] | None) -> None:
    """Call ``callback`` on SIGINT instead of raising KeyboardInterrupt (None: as before).
    Only the main thread gets signals: elsewhere (an embedding program) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    if callback:
        loop.add_signal_handler(signal.SIGINT, callback)
    else:
        loop.remove_signal_handler(signal.SIGINT)


async def _unless_set(event: asyncio.Event, work: Awaitable[T]) -> T | None:
    """The result of ``work``, or None once ``event`` is set first (``work`` is cancelled)."""
    tasks = [asyncio.ensure_future(work), asyncio.ensure_future(event.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    return tasks[0].result() if tasks[0].done() and not tasks[0].cancelled() else None


def leave(outcome: Outcome | None) -> NoReturn:
    """Exit with the run's status: 0 completed, 130 after Ctrl-C, else 1.

    ``gc.freeze()`` first: the interpreter's last collection, over the agent stack's
    objects, takes seconds on a busy machine, and nothing needs collecting at exit.
    """
    gc.freeze()
    if outcome is None or outcome.record.status == "completed":
        sys.exit(0)
    sys.exit(EXIT_INTERRUPTED if outcome.interrupted else EXIT_ERROR)


def finish(outcome: Outcome, as_json: bool) -> None:
    record = outcome.record
    if as_json:
        click.echo(json.dumps(run_view(record), indent=2))
    elif record.status == "completed":
        click.echo(for_stream(run_view(record)["answer"], sys.stdout))
    if record.status == "cancelled":
        why = "interrupted (Ctrl-C): " if outcome.interrupted else ""
        click.secho(f"{why}run {record.id} is cancelled; `throwaway resume {record.id}` "
                    "continues it from its last finished step", fg="yellow", err=True)  # fmt: skip
    elif record.status != "completed" and not as_json:
        click.secho(f"run {record.id} {record.status}: {record.error or ''}", fg="red", err=True)


@main.command()
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Runs to work on at once.",
)
@LEASE
@warm_option
def worker(concurrency: int, lease_seconds: int, warm: int) -> None:
    """Work on queued runs, and on runs whose worker died, until Ctrl-C."""

    async def serve() -> None:
        async with await Durable.open() as durable, warm_sandboxes(warm):
            click.secho(f"worker on {durable.queue}: waiting for runs (Ctrl-C stops)", err=True)
            handler = make_handler(durable, EventPrinter(None, quiet=False))
            await durable.work(handler, concurrency=concurrency, lease_seconds=lease_seconds)

    try:
        or_exit(lambda: asyncio.run(serve()))
    except KeyboardInterrupt:
        click.secho("worker stopped; its runs will be taken over by another worker", err=True)


@main.command("runs")
@click.option("--limit", "-n", type=click.IntRange(1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_runs(limit: int, as_json: bool) -> None:
    """The newest runs, with their status."""
    records = or_exit(lambda: asyncio.run(_with_durable(lambda d: d.list_runs(limit))))
    if as_json:
        click.echo(json.dumps([r.as_json() for r in records], indent=2))
    else:
        print_runs(records)


@main.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="id, task, status, answer, steps, ...")
def show(run_id: str, as_json: bool) -> None:
    """A run and its steps: each model turn and tool call, with results."""
    record = or_exit(lambda: asyncio.run(_with_durable(lambda d: d.get_run(run_id))))
    if as_json:
        click.echo(json.dumps(run_view(record), indent=2))
    else:
        print_run(run_view(record))


@main.command()
@click.argument("run_id")
@click.option("--detach", is_flag=True, help="Only queue it again; a worker picks it up.")
@click.option("--json", "as_json", is_flag=True, help="End with the run as JSON.")
@LEASE
def resume(run_id: str, detach: bool, as_json: bool, lease_seconds: int) -> None:
    """Continue a failed or cancelled run from its last checkpoint."""

    async def go():
        async with await Durable.open() as durable:
            await durable.resume(run_id)
            if detach:
                return None
            return await work_until_done(durable, run_id, lease_seconds, quiet=as_json)

    outcome = or_exit(lambda: asyncio.run(go()))
    if outcome is not None:
        finish(outcome, as_json)
        leave(outcome)


#: What `cancel` did, by the status the run had.
CANCELLED = {
    "queued": "cancelled {id}: it will not start",
    "running": "cancel requested: the worker running {id} stops it at its next step "
    "(within a second or so)",
    "cancelled": "run {id} was already cancelled",
}


@main.command()
@click.argument("run_id")
def cancel(run_id: str) -> None:
    """Stop a run: a queued run never starts; a running one is stopped by its worker at its
    next step (within a second or so). `throwaway resume` continues a cancelled run."""
    before = or_exit(lambda: asyncio.run(_with_durable(lambda d: d.cancel(run_id))))
    click.echo(CANCELLED[before].format(id=run_id))


@main.command()
@click.argument("run_id")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def artifacts(run_id: str, directory: Path) -> None:
    """Copy a run's final /workspace files (and the images it showed) into DIRECTORY."""

    async def fetch() -> list[tuple[str, bytes]]:
        async with await Durable.open() as durable:
            record = await durable.get_run(run_id)
            sha = last_workspace(record)
            return unpack(await durable.get_blob(sha)) if sha else []

    files = or_exit(lambda: asyncio.run(fetch()))
    for path, data in files:
        target = directory / path.removeprefix("/workspace/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        click.echo(str(target))
    if not files:
        click.secho("no files in this run's workspace", err=True)


def last_workspace(record: RunRecord) -> str | None:
    if isinstance(record.result, dict) and record.result.get("workspace"):
        return record.result["workspace"]
    for step in reversed(record.steps or []):
        if step.name.startswith("tool:") and isinstance(step.result, dict):
            return step.result.get("workspace")
    return None


async def _with_durable(action):
    async with await Durable.open() as durable:
        return await action(durable)
