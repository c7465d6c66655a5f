"""How runs look in a terminal: live progress, the runs table, one run's steps."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import PurePath
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Column, Table
from rich.text import Text

from throwaway.cli.text import for_stream, visible

if TYPE_CHECKING:  # the durable layer (psycopg) loads only for the commands that use it
    from throwaway.durable import RunRecord

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)
SHOWN = 1500  # characters of a tool result shown live
ID_SHOWN = 13  # characters of a run id that name it in hints and folders (its whole time)
SHOWN_LINES, SHOWN_CHARS = 40, 4000  # of an output in `show` without --full
COLORS = {"completed": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}


def mount_text(mount: str | dict) -> str:
    """A stored mount (MountSpec.to_json, or text from older runs) as ``NAME=SOURCE[:rw]``."""
    if isinstance(mount, str):
        return mount
    return f"{mount['name']}={mount['source']}{':rw' if mount.get('writable') else ''}"


def safe(value: object) -> str:
    """``visible`` text with rich markup escaped, for f-strings printed by rich."""
    return escape(visible(str(value)))


class EventPrinter:
    """Prints one run's events as they happen (all runs when run_id is None)."""

    def __init__(self, run_id: str | None, quiet: bool):
        self.run_id, self.quiet = run_id, quiet

    def __call__(self, run_id: str, event: dict) -> None:
        if self.quiet or (self.run_id and run_id != self.run_id):
            return
        prefix = "" if self.run_id else f"[dim]{run_id[:8]}[/dim] "
        kind = event.get("kind")
        if kind == "model":
            if event.get("text") and event.get("tool_calls"):
                err.print(f"{prefix}[bold cyan]model:[/] {safe(event['text'])}")
            for call in event.get("tool_calls", []):
                _print_call(prefix, call)
        elif kind == "tool":
            style = "green" if event.get("ok") else "red"
            text = visible(str(event.get("result", "")))
            shown = text if len(text) <= SHOWN else text[:SHOWN] + " …"
            title = f"{visible(str(event.get('name')))} result"
            err.print(Panel(Text(shown), title=title, border_style=style))
        elif kind == "retry":
            err.print(f"{prefix}[yellow]model busy ({event['reason']}); retrying in "
                      f"{event['delay']:g} s[/]")  # fmt: skip


def _print_call(prefix: str, call: dict) -> None:
    args = call.get("args")
    if call.get("name") == "run_python" and isinstance(args, dict) and "code" in args:
        err.print(f"{prefix}[bold cyan]run_python[/]")
        code = visible(str(args["code"]))
        err.print(Syntax(code, "python", theme="ansi_dark", line_numbers=False))
    else:
        err.print(f"{prefix}[bold cyan]{safe(call.get('name'))}[/] {safe(args)}")


def print_runs(records: list[RunRecord], tty: bool) -> None:
    """The runs table on a terminal; piped, one tab-separated line per run. Ids are whole."""
    if not tty:
        for r in records:
            fields = (r.id, r.status, r.created_at.isoformat(timespec="seconds"),
                      r.params.get("model", ""), took(r.seconds), r.step_count, r.task)  # fmt: skip
            line = "\t".join(" ".join(str(f).split()) for f in fields)
            click.echo(for_stream(line, sys.stdout))
        return
    if not records:
        out.print('no runs yet: try `throwaway run "..."`')
        return
    rows = [_run_row(r) for r in records]
    names = [*RUN_COLUMNS]
    for optional in ("created", "model"):  # left out, in this order, where they do not fit
        if (
            _table(names, rows, with_task=False).__rich_measure__(out, out.options).maximum + 16
            <= out.width
        ):
            break
        names.remove(optional)
    out.print(_table(names, rows, with_task=True))


RUN_COLUMNS = ("id", "status", "created", "model", "took", "steps")


def _run_row(r: RunRecord) -> dict[str, str]:
    return {
        "id": r.id, "status": f"[{COLORS.get(r.status, 'white')}]{r.status}[/]",
        "created": r.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
        "model": safe(short_model(r.params.get("model", ""))), "took": took(r.seconds),
        "steps": str(r.step_count), "task": safe(" ".join(r.task.split())),
    }  # fmt: skip


def _table(names: list[str], rows: list[dict[str, str]], with_task: bool) -> Table:
    columns = [Column(n, no_wrap=True, justify="right" if n in ("took", "steps") else "left")
               for n in names]  # fmt: skip
    if with_task:
        columns.append(Column("task", no_wrap=True, overflow="ellipsis"))
    table = Table(*columns, box=None)
    for row in rows:
        table.add_row(*(row[n] for n in names), *([row["task"]] if with_task else []))
    return table


def short_model(name: str) -> str:
    """A model's name as the runs table shows it: a script by its file name."""
    if name.startswith("scripted:"):
        return "scripted:" + PurePath(name.removeprefix("scripted:")).name
    return name


def took(seconds: float | None) -> str:
    """A duration for people: ``0.8 s``, ``12 s``, ``4 m 05 s``, ``2 h 03 m``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 1:
        return f"{secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{minutes} m {secs:02d} s" if hours < 1 else f"{hours} h {minutes:02d} m"


def print_run(view: dict, full: bool = False) -> None:
    """One run: what it was given, each step with its time, code and output, its files."""
    params = view.get("params") or {}
    color = COLORS.get(view["status"], "white")
    out.print(f"[bold]{view['id']}[/]  [{color}]{view['status']}[/]  {took(view.get('seconds'))}"
              f"  attempts: {view['attempts']}")  # fmt: skip
    out.print(f"[bold]model:[/]  {safe(params.get('model', '?'))}")
    if params.get("mounts"):
        out.print(f"[bold]mounts:[/] {safe(', '.join(map(mount_text, params['mounts'])))}")
    out.print(f"[bold]task:[/]   {safe(view['task'])}")
    steps = view["steps"]
    if view.get("answer") and steps and steps[-1].get("text") == view["answer"]:
        steps = [*steps[:-1], {**steps[-1], "text": ""}]  # the answer is shown below
    for step in steps:
        _print_step(step, full)
    if view.get("answer"):
        out.print(Panel(Text(visible(view["answer"])), title="answer", border_style="green"))
    if view.get("error"):
        out.print(f"[red]error:[/] {safe(view['error'])}")
    _print_files(view)


def _print_step(step: dict, full: bool) -> None:
    when = datetime.fromisoformat(step["at"]).astimezone().strftime("%H:%M:%S")
    seconds = step.get("seconds")
    head = f"[dim]{when}[/] [dim]{took(seconds)}[/]" if seconds is not None else f"[dim]{when}[/]"
    if step["kind"] == "model":
        calls = ", ".join(c["name"] or "?" for c in step["tool_calls"])
        out.print(f"\n{head} [cyan]model[/]" + (f" [dim]→ {safe(calls)}[/]" if calls else ""))
        if step["text"]:
            out.print(Text(visible(step["text"])))
        return
    args = step.get("args") or {}
    if step.get("from_code"):
        ms = step.get("ms")
        took_ms = f" [dim]{ms:g} ms[/]" if ms is not None else ""
        out.print(f"{head} [magenta]code called {safe(step['name'])}[/]({safe(_args(args))})"
                  f"{took_ms}")  # fmt: skip
        out.print(Text(summarized(visible(_text(step["result"])), full), style="dim"))
        return
    ok = "" if step.get("ok") else " [red]failed[/]"
    if step["name"] == "run_python" and isinstance(args.get("code"), str):
        out.print(f"\n{head} [magenta]run_python[/]{ok}")
        out.print(Syntax(visible(args["code"]), "python", theme="ansi_dark", word_wrap=True))
    else:
        out.print(f"\n{head} [magenta]{safe(step['name'])}[/]({safe(_args(args))}){ok}")
    out.print(Text(summarized(visible(_text(step["result"])), full)))


def summarized(text: str, full: bool) -> str:
    """``text``, or when not ``full`` its first lines, saying how much more there is."""
    if full:
        return text
    lines = text.splitlines()
    if len(lines) > SHOWN_LINES:
        rest = len(lines) - SHOWN_LINES
        return "\n".join(lines[:SHOWN_LINES]) + f"\n… {rest} more lines, --full shows all"
    if len(text) > SHOWN_CHARS:
        rest = len(text) - SHOWN_CHARS
        return text[:SHOWN_CHARS] + f"\n… {rest:,} more characters, --full shows all"
    return text


def _args(args: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _print_files(view: dict) -> None:
    files = view.get("files") or []
    if not files:
        return
    copy = f"throwaway artifacts {view['id'][:ID_SHOWN]} DIR"
    out.print(f"\n[bold]files[/] in its final /workspace ([dim]{copy}[/] copies them):")
    for f in files:
        out.print(f"  {safe(f['path'])}  [dim]{f['size']:,} bytes[/]")
