"""Host functions that sandboxed code can call as plain Python functions.

``Sandbox(functions={"describe": describe})`` puts a module ``throwaway_tools``
into the sandbox with one blocking function per entry, with the host
function's signature and docstring; other sources (MCP servers, see
throwaway/mcp/tools.py) add modules such as ``tools.github``. A call travels
over the same bridge as a mount read: the sandboxed code blocks while the host
runs the function. Arguments and results cross as JSON; an exception on the
host becomes ``throwaway_tools.ToolError`` in the sandbox, with the host's
message.

`journaled` wraps a function's calls (a durable run records each call as a
step, so a resumed run does not repeat a completed call).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import keyword
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

BASE_MODULE = "throwaway_tools"

BASE = '''"""Functions that run on the host: see help() of each."""

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
    return _call({key!r}, [{positional}], {{{keywords}}})
"""


class HostToolError(Exception):
    """A host function's failure whose message reaches the sandbox as it is (no type prefix)."""


#: (key, args, kwargs, run) -> result; wraps each call (see `journaled`).
CallJournal = Callable[[str, list, dict, Callable[[], Awaitable[Any]]], Awaitable[Any]]


@dataclass(frozen=True)
class HostFunction:
    """One function the sandbox can call: where it appears, how it looks, what runs."""

    module: str  # "throwaway_tools", "tools.github"
    name: str
    signature: str  # "(path, question='What is it?')"
    doc: str
    run: Callable[[list, dict], Awaitable[Any]]  # (args, kwargs) -> JSON value
    positional: str = ""  # the stub's code for the positional arguments it passes
    keywords: str = ""  # and for the keyword arguments
    preamble: str = ""  # module-level code the stub needs (e.g. a TypedDict)
    source: str = ""  # the whole stub, where its maker renders it (MCP tools); else from STUB

    @property
    def key(self) -> str:
        return f"{self.module}.{self.name}"

    def stub(self) -> str:
        if self.source:
            return f"{self.preamble}\n\n{self.source}\n"
        return self.preamble + STUB.format(
            name=self.name, signature=self.signature, doc=self.doc, key=self.key,
            positional=self.positional, keywords=self.keywords,
        )  # fmt: skip


def journaled(fn: HostFunction, journal: CallJournal) -> HostFunction:
    """``fn`` with each call made through ``journal``."""

    async def run(args: list, kwargs: dict) -> Any:
        return await journal(fn.key, args, kwargs, lambda: fn.run(args, kwargs))

    return replace(fn, run=run)


def check_identifier(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ValueError(f"function name {name!r} must be a public Python identifier")
    return name


def from_callable(name: str, fn: Callable[..., Any]) -> HostFunction:
    """A HostFunction in ``throwaway_tools`` for a Python function (sync or async)."""
    check_identifier(name)
    if not callable(fn):
        raise TypeError(f"function {name!r} is not callable")
    signature, positional, keywords = _signature(fn)

    async def run(args: list, kwargs: dict) -> Any:
        inspect.signature(fn).bind(*args, **kwargs)  # a TypeError that explains
        if inspect.iscoroutinefunction(fn):
            return await fn(*args, **kwargs)
        return await asyncio.to_thread(fn, *args, **kwargs)

    doc = inspect.getdoc(fn) or f"Runs {name} on the host."
    return HostFunction(BASE_MODULE, name, signature, doc, run, positional, keywords)


class HostFunctions:
    """The functions one sandbox may call, and the code that calls them."""

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]] | Iterable[HostFunction] = (),
        *,
        timeout: float = 600.0,
    ):
        if isinstance(functions, Mapping):
            functions = [from_callable(name, fn) for name, fn in functions.items()]
        self.timeout = timeout
        self.functions: dict[str, HostFunction] = {}
        for fn in functions:
            self.add(fn)

    def add(self, fn: HostFunction) -> None:
        self.functions[fn.key] = fn

    def module_sources(self) -> dict[str, str]:
        """Module name -> source, as the sandbox sees them (packages get an __init__)."""
        modules = {BASE_MODULE: [BASE.format(timeout_ms=int(self.timeout * 1000))]}
        for fn in self.functions.values():
            header = [f"from {BASE_MODULE} import ToolError, _call  # noqa: F401\n"]
            modules.setdefault(fn.module, header).append(fn.stub())
        sources = {name: "".join(parts) for name, parts in modules.items()}
        packages: dict[str, list[str]] = {}
        for name in sources:
            if "." in name:
                package, _, sub = name.partition(".")
                packages.setdefault(package, []).append(sub)
        for package, subs in packages.items():
            doc = f"Host functions, by source: `from {package} import {', '.join(sorted(subs))}`."
            sources[f"{package}.__init__"] = f"{doc!r}\n"
        return sources

    async def call(self, request: object) -> dict:
        """Run one call from the sandbox; never raises (errors go back as text)."""
        try:
            fn, args, kwargs = self._parse(request)
            result = await asyncio.wait_for(fn.run(args, kwargs), self.timeout)
            json.dumps(result)  # must cross as JSON
        except TimeoutError:
            return {"error": f"the host function did not finish within {self.timeout:g} s"}
        except HostToolError as exc:
            return {"error": str(exc)}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"result": result}

    def _parse(self, request: object) -> tuple[HostFunction, list, dict]:
        if not isinstance(request, dict) or request.get("function") not in self.functions:
            name = request.get("function") if isinstance(request, dict) else None
            raise LookupError(f"no host function {name!r}")
        args, kwargs = request.get("args", []), request.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise TypeError("malformed arguments")
        return self.functions[request["function"]], args, kwargs


def _signature(fn: Callable) -> tuple[str, str, str]:
    """The stub's parameter list and how it passes them on (non-JSON defaults become None)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    pieces, positional, keywords = [], [], []
    for p in params:
        default = "" if p.default is p.empty else f"={literal(p.default)}"
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
    return f"({', '.join(pieces)})", ", ".join(positional), ", ".join(keywords)


def literal(value: object) -> str:
    """Python source for a JSON-able default value, else "None"."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return "None"
    return repr(value)
