"""The `throwaway` command group and what every command shares."""

from __future__ import annotations

import importlib
import sys
from typing import ClassVar

import click

from throwaway.errors import ThrowawayError

EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 124, 130, 141


class LazyGroup(click.Group):
    """A group whose commands' modules are imported only when a command is used, so
    that `throwaway --help` imports none of them and `throwaway exec` not the agent
    and MCP stacks."""

    #: command name -> (module that defines it with ``@main.command``, its short help,
    #: shown by --help without importing the module; test_cli_startup checks they agree)
    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "artifacts": ("runs", "Copy a run's final /workspace files (and the images it showed) "
                      "into DIRECTORY."),
        "cancel": ("runs", "Stop a run: it is not started again; a worker running it stops "
                   "at its next step."),
        "config": ("config", "The config file's path and the defaults it sets for each command."),
        "db": ("db", "The database that holds runs: $THROWAWAY_DATABASE_URL, or an embedded "
               "Postgres."),
        "demo": ("demo", "Fetch a forecast through a mount, chart it, check the chart, answer."),
        "exec": ("sandbox", "Run a Python FILE (or - for stdin) in a fresh sandbox."),
        "mcp": ("mcp", "Serve the sandbox to MCP clients (Claude Desktop, IDEs, agent "
                "frameworks)."),
        "resume": ("runs", "Continue a failed or cancelled run from its last checkpoint."),
        "run": ("runs", "Give the agent a TASK; it writes and runs Python until it can answer."),
        "runs": ("runs", "The newest runs, with their status."),
        "setup": ("sandbox", "Fetch and verify the Pyodide runtime (idempotent; offline "
                  "once done)."),
        "show": ("runs", "A run and its steps: each model turn and tool call, with results."),
        "worker": ("runs", "Work on queued runs, and on runs whose worker died, until Ctrl-C."),
    }  # fmt: skip

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.LAZY:
            importlib.import_module(f"throwaway.cli.{self.LAZY[name][0]}")
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.BadParameter as exc:
            from throwaway.cli.config import blame

            raise (blame(exc) or exc) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from LAZY for the commands not imported yet."""
        real = self.commands
        stubs = {n: click.Command(n, help=h) for n, (_, h) in self.LAZY.items() if n not in real}
        self.commands = {**stubs, **real}
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = real


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="throwaway")
@click.pass_context
def main(ctx: click.Context) -> None:
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
    Defaults for options: `throwaway config`.
    """
    from throwaway.cli import config  # the config file: its defaults for the options

    if ctx.invoked_subcommand in config.COMMANDS:
        ctx.default_map = config.default_map(config.load(config.config_path()))


def or_exit(action):
    """Run action; turn a ThrowawayError into a readable message and exit 1."""
    try:
        return action()
    except ThrowawayError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_ERROR)
