"""Exceptions raised by throwaway on the host. All derive from ThrowawayError.

Errors *inside* sandboxed code are not raised on the host: they come back as
``ExecResult.error`` so that a model can read them and try again.
"""

from __future__ import annotations


class ThrowawayError(Exception):
    """Base class of every host-side throwaway error."""


class SetupError(ThrowawayError):
    """The Pyodide runtime files could not be fetched or verified."""


class SandboxError(ThrowawayError):
    """The sandbox process could not start, or broke the protocol."""


class SandboxFileError(ThrowawayError, OSError):
    """A file operation on the sandbox's file system failed (missing file, bad path)."""


class InstallError(ThrowawayError):
    """A package could not be installed into the sandbox."""
