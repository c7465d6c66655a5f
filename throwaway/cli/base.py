"""The `throwaway` command group and what every command shares."""

from __future__ import annotations

import importlib
import sys
from typing import ClassVar

import click

from throwaway.errors import ThrowawayError

EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 1, 2, 124
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class LazyGroup(click.Group):
    """A group whose commands' modules are imported only when a command is used, so
    that `throwaway exec` does not pay for importing the agent and MCP stacks."""

    #: command name -> module that defines it (with ``@main.command``)
    LAZY: ClassVar[dict[str, str]] = {
        "db": "db", "demo": "demo", "mcp": "mcp", "run": "runs", "worker": "runs",
        "runs": "runs", "show": "runs", "resume": "runs", "cancel": "runs",
        "artifacts": "runs", "setup": "sandbox", "exec": "sandbox",
    }  # fmt: skip

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.LAZY:
            importlib.import_module(f"throwaway.cli.{self.LAZY[name]}")
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="throwaway")
def main() -> None:
    """An agent that solves tasks by writing throwaway Python, run in a sandbox
    with no network and no host access.

    \b
    See it work:  throwaway demo           (no API key needed)
    Ask it:       throwaway run "How many rows in /mnt/data/x.csv?" --mount data=./data
    Look back:    throwaway runs; throwaway show RUN_ID; throwaway artifacts RUN_ID DIR
    Scale out:    throwaway run ... --detach; throwaway worker
    Run a file:   throwaway exec script.py   (or - for stdin)
    As a server:  throwaway mcp              (MCP over stdio; --http PORT)
    First time:   throwaway setup            (fetches Pyodide once, then works offline)

    Runs live in Postgres ($THROWAWAY_DATABASE_URL, else an embedded one: see
    `throwaway db`); runtime files under $THROWAWAY_HOME (your cache folder).
    """


def or_exit(action):
    """Run action; turn a ThrowawayError into a readable message and exit 1."""
    try:
        return action()
    except ThrowawayError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_ERROR)
