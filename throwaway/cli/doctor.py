"""`throwaway doctor`: check the set-up, Deno, the database and the cache; say what to fix."""

from __future__ import annotations

import sys

import click

from throwaway.cli.base import EXIT_ERROR, main
from throwaway.doctor import checks

MARKS = {"ok": ("ok  ", "green"), "fail": ("FAIL", "red"), "skip": ("skip", "yellow")}


@main.command()
def doctor() -> None:
    """Check that throwaway can work here, and say what to fix where it cannot.

    \b
    Checks: the Pyodide files (fetched, each matching its hash), the warm-up
    (compiled packages, memory snapshots), that Deno runs, that a sandbox
    starts, that the database answers (embedded or $THROWAWAY_DATABASE_URL),
    and that the cache folder ($THROWAWAY_HOME) is writable, with its size.
    Exit status 1 if any check fails.
    """
    failed = 0
    for check in checks():
        mark, color = MARKS[check.status]
        click.echo(f"{click.style(mark, fg=color)} {check.name}: {check.detail}")
        if check.fix:
            click.echo(f"     fix: {check.fix}")
        failed += check.status == "fail"
    if failed:
        click.secho(f"{failed} check{'s' * (failed > 1)} failed", fg="red", err=True)
        sys.exit(EXIT_ERROR)
