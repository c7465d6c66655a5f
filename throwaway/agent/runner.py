"""Agent runs as durable tasks: what a run is (RunSpec), how a worker executes one,
and how a stored run reads back (steps with their kind, tool name, args, result).

A run's parameters are plain JSON (the task, the model's name, mount specs,
limits) so that any worker process can rebuild everything from them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic_ai.messages import ToolCallPart

from throwaway.agent.loop import MAX_TURNS, Agent, journal_calls
from throwaway.agent.models import resolve_model
from throwaway.agent.session import SessionSpec, open_session
from throwaway.durable import Durable, RunContext, RunRecord, StepRecord
from throwaway.errors import McpError, ModelConfigError, RunFailed
from throwaway.mcp.tools import Approve
from throwaway.vfs.spec import MountSpec, providers

EventSink = Callable[[str, dict], None]  # (run id, event)


@dataclass
class RunSpec:
    """Everything a worker needs to execute a run."""

    task: str
    model: str
    mounts: list[MountSpec] = field(default_factory=list)
    help_dirs: list[str] = field(default_factory=list)
    timeout: float = 60.0
    memory_mb: int = 1024
    max_turns: int = MAX_TURNS
    mcp: list[str | dict] = field(default_factory=list)  # NAME=COMMAND|URL, or ServerSpec JSON
    tool_policy: dict[str, str] = field(default_factory=dict)  # "server.tool": allow|deny|ask

    def params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RunSpec:
        spec = cls(**{k: v for k, v in params.items() if k in cls.__dataclass_fields__})
        spec.mounts = [MountSpec.load(m) for m in spec.mounts]
        return spec


class DurableJournal:
    """The loop's journal on a durable run: steps in Absurd, snapshots as blobs."""

    def __init__(self, ctx: RunContext, durable: Durable):
        self.ctx, self.durable = ctx, durable
        self.step = ctx.step
        self.put_blob = durable.put_blob
        self.get_blob = durable.get_blob


def make_handler(
    durable: Durable, on_event: EventSink | None = None, approve: Approve | None = None
):
    """The worker's handler: executes one run and returns its result JSON.

    ``approve(tool, arguments)`` decides calls to tools whose policy is "ask".
    """

    async def handle(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
        spec = RunSpec.from_params(params)
        try:
            model = resolve_model(spec.model)
        except ModelConfigError as exc:  # retrying would not help
            raise RunFailed(str(exc)) from exc
        emit = (lambda event: on_event(ctx.run_id, event)) if on_event else (lambda event: None)
        journal = DurableJournal(ctx, durable)
        session_spec = SessionSpec(
            mounts=providers(spec.mounts), timeout=spec.timeout,
            memory_mb=spec.memory_mb, mcp=spec.mcp, tool_policy=spec.tool_policy,
            help_dirs=spec.help_dirs,
        )  # fmt: skip
        calls = journal_calls(journal, emit)
        async with contextlib.AsyncExitStack() as stack:
            opening = open_session(session_spec, model, approve=approve, journal=calls)
            try:
                session = await stack.enter_async_context(opening)
            except McpError as exc:  # a server cannot start, or a policy names unknown tools:
                raise RunFailed(str(exc)) from exc  # a retry would meet the same error
            await ctx.keep_lease(session.sandbox.start())  # seconds on a busy machine
            agent = Agent(model, session.toolbox, journal, on_event=emit, max_turns=spec.max_turns)
            answer = await agent.run(spec.task, session.instructions)
            workspace = await durable.put_blob(await session.sandbox.snapshot_workspace())
        return {"answer": answer, "workspace": workspace}

    return handle


def run_view(record: RunRecord) -> dict[str, Any]:
    """A run as `throwaway show --json` prints it."""
    out = record.as_json()
    out["answer"] = (record.result or {}).get("answer") if record.status == "completed" else None
    out["steps"] = steps_view(record.steps or [])
    return out


def steps_view(steps: list[StepRecord]) -> list[dict[str, Any]]:
    """Model and tool steps, each with when it ended (``at``) and how long it took
    (``seconds``); a tool step gets its name and args from the model step before it."""
    calls: dict[str, dict] = {}
    view = []
    for step in steps:
        if step.name.startswith("call:"):
            entry = _code_call(step.result or {})
        elif step.name.startswith("tool:"):
            entry = _tool(calls.get(step.name.removeprefix("tool:").split("#")[0], {}), step)
        else:
            entry = _model(step.result or {}, calls)
        when = {"at": step.at.isoformat(), "seconds": step.seconds}
        view.append({"step": step.name, **entry, **when})
    return view


def tool_args(args: str | dict | None) -> dict[str, Any]:
    """A tool call's arguments as a dict, whichever way the model sent them (OpenAI sends a
    JSON string); arguments that are not a JSON object come as ``{"INVALID_JSON": text}``."""
    return ToolCallPart("", args).args_as_dict()


def _model(result: dict, calls: dict[str, dict]) -> dict[str, Any]:
    parts = result.get("parts", [])
    requested = [p for p in parts if p.get("part_kind") == "tool-call"]
    for part in requested:
        calls[part.get("tool_call_id")] = part
    text = "".join(p.get("content", "") for p in parts if p.get("part_kind") == "text")
    tool_calls = [{"name": p.get("tool_name"), "args": tool_args(p.get("args"))} for p in requested]
    return {"kind": "model", "text": text, "tool_calls": tool_calls}


def _tool(call: dict, step: StepRecord) -> dict[str, Any]:
    result = step.result or {}
    return {"kind": "tool", "name": call.get("tool_name"), "args": tool_args(call.get("args")),
            "ok": result.get("ok"), "result": result.get("text")}  # fmt: skip


def _code_call(record: dict) -> dict[str, Any]:
    return {"kind": "tool", "name": record.get("function"), "args": record.get("kwargs"),
            "ok": True, "result": record.get("result"), "from_code": True,
            "ms": record.get("ms")}  # fmt: skip
