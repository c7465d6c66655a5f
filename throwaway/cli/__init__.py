"""The `throwaway` command: a thin layer over the library.

Every command is a plain Click command, testable in-process with CliRunner.
`base.py` holds the group; each module adds its commands to it.
"""

from throwaway.cli import db, demo, mcp, runs, sandbox  # noqa: F401 - they register commands
from throwaway.cli.base import main

__all__ = ["main"]
