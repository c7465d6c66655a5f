"""Mount providers, for ``Sandbox(mounts={...})``: ``from throwaway import mounts``.

See throwaway.vfs.provider for the contract a provider fulfils.
"""

from throwaway.vfs.callables import Callable
from throwaway.vfs.fsspecfs import Fsspec
from throwaway.vfs.http import Http
from throwaway.vfs.localdir import LocalDir
from throwaway.vfs.provider import MountProvider, Stat

__all__ = ["Callable", "Fsspec", "Http", "LocalDir", "MountProvider", "Stat"]
