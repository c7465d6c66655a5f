"""How runs look in a terminal: live progress, the runs table, one run's steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from throwaway.cli.text import for_stream, visible  # noqa: F401  (also imported from here)

if TYPE_CHECKING:  # the durable layer (psycopg) loads only for the commands that use it
    from throwaway.durable import RunRecord

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)
SHOWN = 1500  # characters of a tool result shown live


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


def print_runs(records: list[RunRecord]) -> None:
    table = Table("id", "status", "created", "task", box=None)
    colors = {"completed": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}
    for r in records:
        status = f"[{colors.get(r.status, 'white')}]{r.status}[/]"
        task = safe(r.task if len(r.task) <= 60 else r.task[:59] + "…")
        table.add_row(r.id, status, r.created_at.strftime("%Y-%m-%d %H:%M"), task)
    out.print(table if records else 'no runs yet: try `throwaway run "..."`')


def print_run(view: dict) -> None:
    out.print(f"[bold]{view['id']}[/]  {view['status']}  attempts: {view['attempts']}")
    out.print(f"[bold]task:[/] {safe(view['task'])}")
    for step in view["steps"]:
        if step["kind"] == "model":
            if step["text"]:
                out.print(f"[cyan]{step['step']}:[/] {safe(step['text'])}")
            for call in step["tool_calls"]:
                out.print(f"[cyan]{step['step']}:[/] calls {safe(call['name'])}")
        else:
            result = str(step["result"] or "")
            short = result[:300] + ("…" if len(result) > 300 else "")
            out.print(f"[magenta]{step['step']}[/] {safe(step['name'])}: {safe(short)}")
    if view.get("answer"):
        out.print(Panel(Text(visible(view["answer"])), title="answer", border_style="green"))
    if view.get("error"):
        out.print(f"[red]error:[/] {safe(view['error'])}")
