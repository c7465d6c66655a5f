"""The `throwaway` command group and what every command shares."""

from __future__ import annotations

import importlib
import sys
from typing import ClassVar

import click

from throwaway import errors

EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 1, 2, 124
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141  # 128 + SIGINT / SIGPIPE, as shells report them
HTTPX = ("httpx", "httpx2")  # the MCP SDK brings its own copy

#: What to do next, for each kind of error (the first class in the error's MRO that is here).
HINTS: dict[type, str] = {
    errors.AmbiguousRunId: "give more characters of the id",
    errors.RunNotFound: "`throwaway runs` lists the runs (an id prefix is enough)",
    errors.BlobNotFound: "the run's stored files are gone; run the task again",
    errors.InvalidTask: "remove the NUL characters or lone surrogates from the task",
    errors.DurableError: "`throwaway db status` says which database runs use",
    errors.SetupError: "run `throwaway setup` (it needs the network once)",
    errors.McpError: "check the server's command or URL (--mcp) and the names in --tool-policy",
}


class UserError(click.ClickException):
    """A failure the user can act on: one line of what went wrong, one of what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def show(self, file=None) -> None:
        super().show(file)  # "Error: ...", as for every error Click reports
        if self.hint:
            click.echo(f"hint: {self.hint}", file=file, err=file is None)


def as_user_error(exc: BaseException) -> UserError | None:
    """The UserError that ``exc`` stands for, or None for a bug (which keeps its traceback).

    User errors: every ThrowawayError, a database error (psycopg), a connection error (OSError,
    httpx), and an ExceptionGroup (from a task group) holding one of those.
    """
    if isinstance(exc, BaseExceptionGroup):
        found = (as_user_error(e) for e in exc.exceptions)
        return next((e for e in found if e is not None), None)
    if isinstance(exc, errors.ThrowawayError):
        hint = next((HINTS[c] for c in type(exc).__mro__ if c in HINTS), None)
        return UserError(str(exc), hint)
    if _is(exc, "psycopg", "Error"):
        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        return UserError(f"database: {first}", "`throwaway db status` says which one is used")
    if isinstance(exc, ConnectionError) or any(_is(exc, m, "TransportError") for m in HTTPX):
        return UserError(f"{type(exc).__name__}: {exc}", "check the address and that it is up")
    if isinstance(exc, OSError):
        return UserError(f"{type(exc).__name__}: {exc}")
    return None


def _is(exc: BaseException, module: str, name: str) -> bool:
    """isinstance(exc, module.name), without importing a module no command has loaded."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


class LazyGroup(click.Group):
    """A group whose commands' modules are imported only when a command is used, so
    that `throwaway exec` does not pay for importing the agent and MCP stacks.

    A user error from any command (see ``as_user_error``) ends it with one line and a hint.
    """

    #: command name -> (module that defines it with ``@main.command``, its short help,
    #: shown by --help without importing the module; test_cli_startup checks they agree)
    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "artifacts": ("runs", "Copy a run's final /workspace files (and the images it showed) "
                      "into DIRECTORY."),
        "cancel": ("runs", "Stop a run: a queued one never starts; a running one stops at its "
                   "next step."),
        "config": ("config", "The config file's path and the defaults it sets for each command."),
        "db": ("db", "The database that holds runs: $THROWAWAY_DATABASE_URL, or an embedded "
               "Postgres."),
        "demo": ("demo", "Fetch a forecast through a mount, chart it, check the chart, answer."),
        "doctor": ("doctor", "Check that throwaway can work here, and say what to fix where "
                   "it cannot."),
        "exec": ("sandbox", "Run a Python FILE (or - for stdin) in a fresh sandbox."),
        "mcp": ("mcp", "Serve the sandbox to MCP clients (Claude Desktop, IDEs, agent "
                "frameworks)."),
        "resume": ("runs", "Continue a failed or cancelled run from its last checkpoint."),
        "run": ("runs", "Give the agent a TASK; it writes and runs Python until it can answer."),
        "runs": ("runs", "The newest runs: id, status, model, duration, steps, task."),
        "setup": ("sandbox", "Fetch and verify the Pyodide runtime (idempotent; offline "
                  "once done)."),
        "show": ("runs", "A run and its steps: each model turn, each cell of code with its "
                 "output, the files."),
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
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            error = as_user_error(exc)
            if error is None:
                raise
            raise error from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from LAZY for the commands not imported yet."""
        real = self.commands
        stubs = {n: click.Command(n, help=h) for n, (_, h) in self.LAZY.items() if n not in real}
        self.commands = {**stubs, **real}
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = real


def _print_versions(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from throwaway.versions import versions

    for name, version in versions():
        click.echo(f"{name:<10} {version}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version", is_flag=True, is_eager=True, expose_value=False, callback=_print_versions,
    help="Show the versions of throwaway, Pyodide, Deno, Python and Postgres, and exit.",
)  # fmt: skip
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
    Check it:     throwaway doctor           (says what to fix)

    Runs live in Postgres ($THROWAWAY_DATABASE_URL, else an embedded one: see
    `throwaway db`); runtime files under $THROWAWAY_HOME (your cache folder).
    Defaults for options: `throwaway config`.
    """
    from throwaway.cli import config  # the config file: its defaults for the options

    if ctx.invoked_subcommand in config.COMMANDS:
        ctx.default_map = config.default_map(config.load(config.config_path()))
