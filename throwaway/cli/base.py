"""The `throwaway` command group and what every command shares."""

from __future__ import annotations

import sys

import click

from throwaway.errors import ThrowawayError

EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 1, 2, 124


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="throwaway")
def main() -> None:
    """Run throwaway Python in a sandbox with no network and no host access.

    \b
    First time:   throwaway setup          (fetches Pyodide once, then works offline)
    Run a file:   throwaway exec script.py
    From stdin:   echo 'print(6 * 7)' | throwaway exec -

    Files live under $THROWAWAY_HOME (default: your user cache folder).
    """


def or_exit(action):
    """Run action; turn a ThrowawayError into a readable message and exit 1."""
    try:
        return action()
    except ThrowawayError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_ERROR)
