"""The agent loop: ask the model, run its tool calls, repeat; every call a journaled step.

Each model call is the step ``model`` (the journal numbers repeats: ``model#2`` …)
and each tool call the step ``tool:<call id>``, so a run executed again after a
crash replays its log instead of redoing finished work. A tool step records the
workspace snapshot it left behind; before a tool step runs, the sandbox is put
back to the snapshot that step started from, so a re-run sees the same files.
Variables are not restored: the model is told when the interpreter is new.

Calls that code makes to host functions (MCP tools, describe) are steps too,
``call:<module>.<name>``, recorded with their arguments, result and duration; a
code step that runs again after a crash gets them back from the journal instead
of calling the tool again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic_ai.messages import (
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters

from throwaway.agent.prompt import system_prompt
from throwaway.agent.tools import ToolArgumentsError, Toolbox
from throwaway.errors import FatalModelError, RetryableModelError, RunFailed
from throwaway.sandbox.workspace import pack

MODEL_RETRY_DELAYS = (1.0, 4.0, 15.0)
MAX_TURNS = 40  # model turns per run, unless the run says otherwise
EMPTY_WORKSPACE = pack([])


class Journal(Protocol):
    """Where a run's steps and workspace snapshots are kept (durable or in memory)."""

    async def step(self, name: str, fn: Callable[[], Awaitable[Any]]) -> Any: ...
    async def put_blob(self, data: bytes) -> str: ...
    async def get_blob(self, sha: str) -> bytes: ...


@dataclass
class MemoryJournal:
    """A journal that lives as long as the process: for runs that need no durability."""

    steps: list[tuple[str, Any]] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    _names: Counter = field(default_factory=Counter)

    async def step(self, name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        self._names[name] += 1
        count = self._names[name]
        value = await fn()
        self.steps.append((name if count == 1 else f"{name}#{count}", value))
        return value

    async def put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        return sha

    async def get_blob(self, sha: str) -> bytes:
        return self.blobs[sha]


@dataclass
class Agent:
    """One run of the loop for one task."""

    model: Model
    toolbox: Toolbox
    journal: Journal
    on_event: Callable[[dict], None] = lambda event: None
    max_turns: int = MAX_TURNS
    _workspace: str | None = field(default=None, init=False)  # snapshot the sandbox holds
    _ran_code: bool = field(default=False, init=False)

    async def run(self, task: str, tools_index: str = "") -> str:
        """The model's final answer. Raises RunFailed when the run cannot go on."""
        self.toolbox.sandbox.functions.journal = self._journal_call
        prompt = system_prompt(self.toolbox.sandbox, self.toolbox.help_index, tools_index)
        messages: list = [ModelRequest(parts=[SystemPromptPart(prompt), UserPromptPart(task)])]
        params = ModelRequestParameters(
            function_tools=self.toolbox.definitions, allow_text_output=True
        )
        workspace: str | None = None  # the snapshot the next tool step starts from
        for _ in range(self.max_turns):
            raw = await self.journal.step("model", lambda: self._ask(messages, params))
            response = ModelMessagesTypeAdapter.validate_python([raw])[0]
            messages.append(response)
            calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
            requested = [{"name": c.tool_name, "args": c.args_as_dict()} for c in calls]
            self.on_event({"kind": "model", "text": _text(response), "tool_calls": requested})
            if not calls:
                return _text(response)
            parts = []
            for call in calls:
                outcome = await self.journal.step(
                    f"tool:{call.tool_call_id}", lambda c=call, w=workspace: self._tool(c, w)
                )
                workspace = outcome["workspace"]
                parts.append(_tool_reply(call, outcome))
                self.on_event({"kind": "tool", "name": call.tool_name, "args": call.args_as_dict(),
                               "ok": outcome["ok"], "result": outcome["text"]})  # fmt: skip
            messages.append(ModelRequest(parts=parts))
        raise RunFailed(
            f"the model gave no final answer in {self.max_turns} turns, the run's limit "
            "(`throwaway run --max-turns N` sets it)"
        )

    async def _ask(self, messages: list, params: ModelRequestParameters) -> dict:
        """One model call, retried on rate limits and server errors; JSON for the journal."""
        for delay in (*MODEL_RETRY_DELAYS, None):
            try:
                response: ModelResponse = await self.model.request(messages, None, params)
                return ModelMessagesTypeAdapter.dump_python([response], mode="json")[0]
            except RetryableModelError as exc:
                if delay is None:
                    raise RunFailed(f"the model provider kept failing: {exc}") from exc
                self.on_event({"kind": "retry", "reason": str(exc), "delay": delay})
                await asyncio.sleep(delay)
            except FatalModelError as exc:
                raise RunFailed(f"the model provider refused the request: {exc}") from exc
        raise AssertionError("unreachable")

    async def _journal_call(self, key: str, args: list, kwargs: dict, run) -> Any:
        """A host-function call from code, as a step: (function, args, result, ms)."""

        async def call() -> dict:
            started = time.perf_counter()
            result = await run()
            ms = round((time.perf_counter() - started) * 1e3, 1)
            return {"function": key, "args": _brief(args), "kwargs": _brief(kwargs),
                    "result": result, "ms": ms}  # fmt: skip

        record = await self.journal.step(f"call:{key}", call)
        size = len(json.dumps(record["result"]))
        self.on_event({"kind": "call", "function": key, "kwargs": kwargs, "ms": record["ms"],
                       "size": size})  # fmt: skip
        return record["result"]

    async def _tool(self, call: ToolCallPart, workspace: str | None) -> dict:
        """Run one tool call from the workspace it started from; JSON for the journal."""
        note = ""
        if workspace != self._workspace:
            snapshot = await self.journal.get_blob(workspace) if workspace else EMPTY_WORKSPACE
            await self.toolbox.sandbox.restore_workspace(snapshot)
            if workspace and not self._ran_code:
                note = ("[The run was resumed in a new interpreter: variables from earlier steps "
                        "are gone; files in /workspace were restored.]\n")  # fmt: skip
        try:
            args = call.args_as_dict()
            text, ok = await self.toolbox.call(call.tool_name, args, call.tool_call_id), True
        except (ToolArgumentsError, ValueError) as exc:
            text, ok = str(exc), False
        self._ran_code = True
        self._workspace = await self.journal.put_blob(
            await self.toolbox.sandbox.snapshot_workspace()
        )
        return {"ok": ok, "text": note + text, "workspace": self._workspace}


def _text(response: ModelResponse) -> str:
    return "".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()


def _tool_reply(call: ToolCallPart, outcome: dict) -> ToolReturnPart:
    """The tool's answer; a call that could not run goes back as a retry with the reason."""
    return ToolReturnPart(
        call.tool_name, outcome["text"], tool_call_id=call.tool_call_id,
        outcome="success" if outcome["ok"] else "retried",
    )  # fmt: skip


def _brief(value: Any) -> Any:
    """Arguments as the journal shows them: long strings (a file sent along) as their size."""
    if isinstance(value, str) and len(value) > 2000:
        return f"<{len(value):,} characters>"
    if isinstance(value, list):
        return [_brief(v) for v in value]
    if isinstance(value, dict):
        return {k: _brief(v) for k, v in value.items()}
    return value
