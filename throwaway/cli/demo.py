"""`throwaway demo`: watch an agent run on embedded defaults."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from throwaway.agent.models import chosen_model_name
from throwaway.cli.base import EXIT_ERROR, main
from throwaway.cli.render import EventPrinter
from throwaway.cli.runs import Outcome, finish, last_workspace, on_terminal
from throwaway.demo import SCRIPT, TASK, weather_api
from throwaway.runs import model_name
from throwaway.sandbox.workspace import unpack


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("throwaway-out"),
    show_default=True,
    help="Where to save the chart.",
)
@click.option("--model", "-m", help="A model name; default: $THROWAWAY_MODEL, an API key's "
              "default model, or the scripted model.")  # fmt: skip
def demo(out_dir: Path, model: str | None) -> None:
    """Fetch a forecast through a mount, chart it, check the chart, answer.

    \b
    A local server stands in for a weather API; the sandbox reaches it only
    through /mnt/web, which the host fetches. Runs are durable, in the embedded
    Postgres (or $THROWAWAY_DATABASE_URL).
    """
    name = chosen_model_name(model)
    if not name:
        name = f"scripted:{SCRIPT}"
        click.secho("No API key or model configured: running on the scripted model, which "
                    "replays the steps a real model would take.\nSet ANTHROPIC_API_KEY or "
                    "OPENAI_API_KEY (or THROWAWAY_MODEL) to watch a real one.", fg="yellow",
                    err=True)  # fmt: skip
    else:
        click.secho(f"model: {name}", err=True)
    with weather_api() as url:
        name = model_name(name)
        click.secho(f"task: {TASK}\n", bold=True, err=True)
        record, chart = asyncio.run(_demo(name, f"web={url}"))
    finish(Outcome(record), as_json=False)
    if chart is None:
        click.secho("the run left no /workspace/forecast.png", fg="red", err=True)
        sys.exit(EXIT_ERROR)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "forecast.png"
    path.write_bytes(chart)
    click.secho(f"\nThe chart is at {path.resolve()}", fg="green", err=True)
    click.secho(f"See every step with: throwaway show {record.id}", dim=True, err=True)


async def _demo(model: str, mount: str):
    printer = EventPrinter(None, quiet=False)
    async with on_terminal(printer) as runs:
        run = await runs.start(TASK, model=model, mounts=[mount])
        printer.run_id = run.id
        await run.wait()
        sha = last_workspace(run.record)
        files = dict(unpack(await runs.durable.get_blob(sha))) if sha else {}
    return run.record, files.get("/workspace/forecast.png")
