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

from throwaway.agent.loop import MAX_TURNS
from throwaway.agent.runner import make_handler, run_view
from throwaway.cli.base import EXIT_ERROR, EXIT_INTERRUPTED, main
from throwaway.cli.options import (
    ask_on_terminal,
    limit_options,
    mcp_options,
    mount_option,
    warm_option,
)
from throwaway.cli.render import ID_SHOWN, EventPrinter, for_stream, print_run, print_runs
from throwaway.durable import Durable, RunRecord
from throwaway.durable.runs import STATUSES
from throwaway.errors import DurableError
from throwaway.runs import Run, Runs, model_name
from throwaway.sandbox.warmpool import warm_sandboxes
from throwaway.sandbox.workspace import unpack

T = TypeVar("T")

LEASE = click.option(
    "--lease-seconds", type=click.IntRange(5), default=60, show_default=True,
    help="How long a silent worker keeps a run before another takes it over.",
)  # fmt: skip


def _task(ctx, param, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("the task is empty: say what the agent should do", ctx, param)
    return value


@main.command()
@click.argument("task", callback=_task)
@click.option("--model", "-m", help="A pydantic-ai model name (default: $THROWAWAY_MODEL), "
              "e.g. anthropic:claude-sonnet-4-5, openai:gpt-5, scripted:turns.json.")  # fmt: skip
@mount_option
@click.option(
    "--help-dir",
    "help_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="A folder of markdown docs or skills (SKILL.md) for `help`. Repeatable.",
)
@limit_options(timeout=60.0)
@click.option(
    "--max-turns", type=click.IntRange(1), default=MAX_TURNS, show_default=True,
    help="Model turns the agent may take; a run that needs more fails, saying so.",
)  # fmt: skip
@click.option("--detach", is_flag=True, help="Only queue the run; a `throwaway worker` runs it.")
@click.option("--json", "as_json", is_flag=True, help="End with the run as JSON "
              "(as `show --json`; with --detach, the queued run).")  # fmt: skip
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
    help="Where to save the files and images the run leaves "
    "[default: ./throwaway-out/<start of the run's id>]",
)  # fmt: skip
@LEASE
@mcp_options
def run(task, model, mounts, help_dirs, timeout, memory_mb, max_turns, detach, as_json, out_dir,
        lease_seconds, mcp, mcp_config, tool_policy):  # fmt: skip
    """Give the agent a TASK; it writes and runs Python until it can answer.

    \b
    Every model call and tool call is a checkpoint in Postgres: if this process
    dies, `throwaway worker` (or `throwaway resume ID`) finishes the run without
    redoing finished steps. At the end, the files the run left in /workspace and
    the images it showed are saved under --out (images in its images/ folder).
    Ctrl-C cancels the run (`throwaway resume ID` continues it). This process
    works on this run only, never on other queued runs.

    \b
    Examples:
      throwaway run "What is the median of /mnt/data/prices.csv?" --mount data=./data
      throwaway run "Plot it" --model scripted:demo.json --detach
    """  # fmt: skip
    options = {
        "model": model_name(model), "mounts": mounts, "help_dirs": help_dirs,
        "timeout": timeout, "memory_mb": memory_mb, "max_turns": max_turns,
        "mcp": [*mcp, *mcp_config],
        "tool_policy": tool_policy,
    }  # fmt: skip
    leave(asyncio.run(_run(task, options, detach, lease_seconds, as_json, out_dir)))


async def _run(
    task: str, options: dict, detach: bool, lease_seconds: int, as_json: bool, out_dir: Path | None
):
    printer = EventPrinter(None, quiet=as_json)
    async with on_terminal(printer, detach=detach, lease_seconds=lease_seconds) as runs:
        run = await runs.start(task, **options)
        if detach:
            click.echo(json.dumps(run.as_json(), indent=2) if as_json else run.id)
            return None
        printer.run_id = run.id
        click.secho(f"run {run.id}", dim=True, err=True)
        outcome = await wait_here(run)
        files = await final_files(runs.durable, run.record)
    finish(outcome, as_json)
    folder = out_dir or Path("throwaway-out") / run.id[:ID_SHOWN]
    report_saved(folder, save_outputs(files, folder))
    return outcome


def on_terminal(printer: EventPrinter, **options) -> Runs:
    """Runs whose progress ``printer`` shows, with approvals asked on the terminal."""
    return Runs(on_event=printer, approve=ask_on_terminal, **options)


@dataclass(frozen=True)
class Outcome:
    """How a foreground run ended: its record, and whether Ctrl-C ended it."""

    record: RunRecord
    interrupted: bool = False


async def wait_here(run: Run) -> Outcome:
    """Wait for ``run``, worked on in this process; Ctrl-C cancels it, which stops its code
    at once (the sandbox is closed). It keeps its finished steps: `throwaway resume`
    continues it."""
    interrupted = asyncio.Event()
    _on_ctrl_c(interrupted.set)
    try:
        if await _unless_set(interrupted, run.wait()) is not None:
            return Outcome(run.record)
    finally:
        _on_ctrl_c(None)
    with contextlib.suppress(DurableError):  # it has just ended by itself
        await run.cancel()
    return Outcome((await run.refresh()).record, interrupted=True)


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
        await asyncio.gather(*tasks, return_exceptions=True)  # e.g. the sandbox is closed
    return tasks[0].result() if not tasks[0].cancelled() else None


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
        async with Durable() as durable, warm_sandboxes(warm):
            click.secho(f"worker on {durable.queue}: waiting for runs (Ctrl-C stops)", err=True)
            handler = make_handler(durable, EventPrinter(None, quiet=False))
            await durable.work(handler, concurrency=concurrency, lease_seconds=lease_seconds)

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        click.secho("worker stopped; its runs will be taken over by another worker", err=True)


@main.command("runs")
@click.option("--limit", "-n", type=click.IntRange(1), default=20, show_default=True)
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--json", "as_json", is_flag=True)
def list_runs(limit: int, status: str | None, as_json: bool) -> None:
    """The newest runs: id, status, model, duration, steps, task.

    Ids are printed whole; any command that takes a RUN_ID also takes its start,
    as long as only one run's id starts so. Piped, each run is one tab-separated line.
    """
    records = asyncio.run(_with_durable(lambda d: d.list_runs(limit, status)))
    if as_json:
        click.echo(json.dumps([r.as_json() for r in records], indent=2))
    else:
        print_runs(records, sys.stdout.isatty())


@main.command()
@click.argument("run_id")
@click.option("--full", is_flag=True, help="Every line of every output (long ones are cut).")
@click.option("--json", "as_json", is_flag=True, help="id, task, status, answer, steps, ...")
def show(run_id: str, full: bool, as_json: bool) -> None:
    """A run and its steps: each model turn, each cell of code with its output, the files.

    RUN_ID may be the start of an id.
    """

    async def fetch() -> tuple[RunRecord, list[tuple[str, bytes]]]:
        async with Durable() as durable:
            record = await durable.get_run(run_id)
            return record, [] if as_json else await final_files(durable, record)

    record, files = asyncio.run(fetch())
    if as_json:
        click.echo(json.dumps(run_view(record), indent=2))
    else:
        print_run(run_view(record), [(path, len(data)) for path, data in files], full=full)


@main.command()
@click.argument("run_id")
@click.option("--detach", is_flag=True, help="Only queue it again; a worker picks it up.")
@click.option("--json", "as_json", is_flag=True, help="End with the run as JSON.")
@LEASE
def resume(run_id: str, detach: bool, as_json: bool, lease_seconds: int) -> None:
    """Continue a failed or cancelled run from its last checkpoint."""

    async def go():
        printer = EventPrinter(run_id, quiet=as_json)
        async with on_terminal(printer, detach=detach, lease_seconds=lease_seconds) as runs:
            run = await runs.resume(run_id)
            printer.run_id = run.id  # the whole id, when RUN_ID was its start
            return None if detach else await wait_here(run)

    outcome = asyncio.run(go())
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
    """Stop a run: a queued one never starts; a running one stops at its next step.

    Its worker notices within a second or so. `throwaway resume` continues a cancelled run.
    """

    async def go() -> tuple[str, str]:
        async with Durable() as durable:
            whole = await durable.resolve(run_id)
            return whole, await durable.cancel(whole)

    whole, before = asyncio.run(go())
    click.echo(CANCELLED[before].format(id=whole))


@main.command()
@click.argument("run_id")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def artifacts(run_id: str, directory: Path) -> None:
    """Copy a run's final /workspace files (and the images it showed) into DIRECTORY."""

    async def fetch() -> list[tuple[str, bytes]]:
        async with Durable() as durable:
            return await final_files(durable, await durable.get_run(run_id))

    files = asyncio.run(fetch())
    for path, data in files:
        target = directory / path.removeprefix("/workspace/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        click.echo(str(target))
    if not files:
        click.secho("no files in this run's workspace", err=True)


async def final_files(durable: Durable, record: RunRecord) -> list[tuple[str, bytes]]:
    """The run's last /workspace snapshot: (absolute path, bytes) of each file."""
    sha = last_workspace(record)
    return unpack(await durable.get_blob(sha)) if sha else []


def save_outputs(files: list[tuple[str, bytes]], folder: Path) -> list[Path]:
    """Write a run's /workspace files into ``folder``; the images it showed and the long
    outputs it saved (under /workspace/.throwaway/) go to images/ and outputs/."""
    saved = []
    for path, data in files:
        target = folder / path.removeprefix("/workspace/").removeprefix(".throwaway/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        saved.append(target)
    return saved


def report_saved(folder: Path, paths: list[Path], shown: int = 8) -> None:
    """Say on stderr where a run's files were saved."""
    if not paths:
        return
    names = [str(p.relative_to(folder)) for p in paths]
    more = f", and {len(names) - shown} more" if len(names) > shown else ""
    click.secho(f"files: {folder}{os.sep} ({', '.join(names[:shown])}{more})", err=True)


def last_workspace(record: RunRecord) -> str | None:
    if isinstance(record.result, dict) and record.result.get("workspace"):
        return record.result["workspace"]
    for step in reversed(record.steps or []):
        if step.name.startswith("tool:") and isinstance(step.result, dict):
            return step.result.get("workspace")
    return None


async def _with_durable(action):
    async with Durable() as durable:
        return await action(durable)
