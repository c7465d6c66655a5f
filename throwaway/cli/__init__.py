"""The `throwaway` command: a thin layer over the library.

Every command is a plain Click command, testable in-process with CliRunner.
`base.py` holds the group; each module adds its commands to it, imported
when one of its commands is used (base.LazyGroup).
"""

from throwaway.cli.base import main

__all__ = ["main"]
