"""Host functions that sandboxed code can call: ``from throwaway_tools import describe``.

``Sandbox(functions={"describe": describe})`` puts a module ``throwaway_tools``
into the sandbox with one plain, blocking Python function per entry, with the
host function's signature and docstring. A call travels over the same bridge
as a mount read: the sandboxed code blocks while the host runs the function
(awaited if async, in a thread if not). Arguments and results cross as JSON;
an exception on the host becomes ``throwaway_tools.ToolError`` in the sandbox,
with the host's message.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import keyword
from collections.abc import Callable, Mapping
from typing import Any

TEMPLATE = '''"""Functions that run on the host: see help() of each."""

import json as _json

import _throwaway_host


class ToolError(Exception):
    """A host function failed; the message says why."""


def _call(name, args, kwargs):
    request = _json.dumps({{"function": name, "args": args, "kwargs": kwargs}})
    reply = _json.loads(_throwaway_host.call_sync(request, {timeout_ms}))
    if reply.get("errno") == "EINTR":
        raise InterruptedError(f"{{name}}: interrupted at the time limit")
    if reply.get("errno"):
        raise TimeoutError(f"{{name}}: the host did not answer in time")
    if "error" in reply:
        raise ToolError(reply["error"])
    return reply.get("result")
'''

STUB = """

def {name}{signature}:
    {doc!r}
    return _call({name!r}, [{positional}], {{{keywords}}})
"""


class HostFunctions:
    """The functions one sandbox may call, and the code that calls them."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]], *, timeout: float = 600.0):
        for name, fn in functions.items():
            if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                raise ValueError(f"function name {name!r} must be a public Python identifier")
            if not callable(fn):
                raise TypeError(f"function {name!r} is not callable")
        self.functions, self.timeout = dict(functions), timeout

    def module_source(self) -> str:
        """The source of ``throwaway_tools`` as the sandbox sees it."""
        parts = [TEMPLATE.format(timeout_ms=int(self.timeout * 1000))]
        for name, fn in self.functions.items():
            parts.append(_stub(name, fn))
        return "".join(parts)

    async def call(self, request: object) -> dict:
        """Run one call from the sandbox; never raises (errors go back as text)."""
        try:
            name, args, kwargs = _parse(request, self.functions)
            fn = self.functions[name]
            if inspect.iscoroutinefunction(fn):
                result = await asyncio.wait_for(fn(*args, **kwargs), self.timeout)
            else:
                result = await asyncio.wait_for(
                    asyncio.to_thread(fn, *args, **kwargs), self.timeout
                )
            json.dumps(result)  # must cross as JSON
        except TimeoutError:
            return {"error": f"the host function did not finish within {self.timeout:g} s"}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"result": result}


def _parse(request: object, functions: Mapping[str, Callable]) -> tuple[str, list, dict]:
    if not isinstance(request, dict) or request.get("function") not in functions:
        raise LookupError(f"no host function {request.get('function')!r}"
                          if isinstance(request, dict) else "malformed call")  # fmt: skip
    args, kwargs = request.get("args", []), request.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise TypeError("malformed arguments")
    name = request["function"]
    inspect.signature(functions[name]).bind(*args, **kwargs)  # a TypeError that explains
    return name, args, kwargs


def _stub(name: str, fn: Callable) -> str:
    """A sandbox-side function with fn's parameters (defaults that are not JSON: None)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    pieces, positional, keywords = [], [], []
    for p in params:
        default = "" if p.default is p.empty else f"={_literal(p.default)}"
        if p.kind is p.VAR_POSITIONAL:
            pieces.append(f"*{p.name}")
            positional.append(f"*{p.name}")
        elif p.kind is p.VAR_KEYWORD:
            pieces.append(f"**{p.name}")
            keywords.append(f"**{p.name}")
        else:
            if p.kind is p.KEYWORD_ONLY and not any(x.startswith("*") for x in pieces):
                pieces.append("*")
            pieces.append(f"{p.name}{default}")
            keywords.append(f"{p.name!r}: {p.name}")
    doc = inspect.getdoc(fn) or f"Runs {name} on the host."
    return STUB.format(name=name, signature=f"({', '.join(pieces)})", doc=doc,
                       positional=", ".join(positional), keywords=", ".join(keywords))  # fmt: skip


def _literal(value: object) -> str:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return "None"
    return repr(value)
