"""micropip for throwaway: packages are installed through the host.

The sandbox has no network. ``await micropip.install("openpyxl")`` asks the host,
which fetches pure-Python wheels from PyPI (hash-checked, cached) or loads the
bundled Pyodide packages, and hands them in. Loaded inside Pyodide as ``micropip``.
"""

import importlib.metadata
import json

import _throwaway_host
import _throwaway_runner


async def install(
    requirements,
    keep_going=False,
    deps=True,
    credentials=None,
    pre=False,
    index_urls=None,
    *,
    verbose=False,
):
    """Install packages (a name, a requirement string, or a list of them)."""
    if isinstance(requirements, str):
        requirements = [requirements]
    request = json.dumps({"requirements": [*requirements], "deps": bool(deps), "pre": bool(pre)})
    reply = await _throwaway_host.call("install", request)
    meta = json.loads(reply.json)
    if "error" in meta:
        raise ValueError(meta["error"])
    await _throwaway_runner.install_wheels(reply.json, reply.blob)


def list():
    """Installed distributions, name -> version."""
    return {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
