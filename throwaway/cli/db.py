"""`throwaway db`: where runs are stored, and stopping the embedded Postgres."""

from __future__ import annotations

import os

import click

from throwaway.cli.base import main
from throwaway.durable import stop_embedded
from throwaway.durable.database import URL_ENV, data_dir, running_url


@main.group()
def db() -> None:
    """The database that holds runs: $THROWAWAY_DATABASE_URL, or an embedded Postgres.

    The embedded server starts on first use and keeps running for every
    throwaway process (CLI calls and workers share it) until `throwaway db stop`.
    """


@db.command()
def status() -> None:
    """Which database runs use, and whether the embedded one is up."""
    if os.environ.get(URL_ENV):
        click.echo(f"{URL_ENV} is set: runs are stored at that server")
        return
    url = running_url()
    state = f"running ({url})" if url else "stopped (starts on first use)"
    click.echo(f"embedded Postgres in {data_dir() / 'postgres'}: {state}")


@db.command()
def stop() -> None:
    """Stop the embedded Postgres (runs stay stored; it starts again when needed)."""
    click.echo("stopped" if stop_embedded() else "the embedded Postgres was not running")
