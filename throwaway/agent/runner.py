"""Agent runs as durable tasks: what a run is (RunSpec), how a worker executes one,
and how a stored run reads back (steps with their kind, tool name, args, result).

A run's parameters are plain JSON (the task, the model's name, mount specs,
limits) so that any worker process can rebuild everything from them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from throwaway.agent.help import HelpIndex
from throwaway.agent.loop import Agent
from throwaway.agent.models import resolve_model
from throwaway.agent.tools import Toolbox
from throwaway.durable import Durable, RunContext, RunRecord
from throwaway.errors import ModelConfigError, RunFailed
from throwaway.mcp.tools import Approve, McpError, McpServers, ServerSpec
from throwaway.sandbox.sandbox import Sandbox
from throwaway.vfs.spec import parse_mount

EventSink = Callable[[str, dict], None]  # (run id, event)


@dataclass
class RunSpec:
    """Everything a worker needs to execute a run."""

    task: str
    model: str
    mounts: list[str] = field(default_factory=list)  # NAME=SOURCE[:rw], absolute paths
    help_dirs: list[str] = field(default_factory=list)
    timeout: float = 60.0
    memory_mb: int = 1024
    mcp: list[str | dict] = field(default_factory=list)  # NAME=COMMAND|URL, or ServerSpec JSON
    tool_policy: dict[str, str] = field(default_factory=dict)  # "server.tool": allow|deny|ask

    def params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RunSpec:
        return cls(**{k: v for k, v in params.items() if k in cls.__dataclass_fields__})


def absolute_mount(spec: str) -> str:
    """A mount spec with its local folder made absolute (workers may run elsewhere)."""
    name, _, source = spec.partition("=")
    suffix = source[-3:] if source.endswith((":rw", ":ro")) else ""
    path = source.removesuffix(suffix)
    if "://" in path:
        return spec
    return f"{name}={os.path.abspath(os.path.expanduser(path))}{suffix}"


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
        servers = McpServers(
            [ServerSpec.load(m) for m in spec.mcp], policy=spec.tool_policy, approve=approve
        )
        emit = (lambda event: on_event(ctx.run_id, event)) if on_event else (lambda event: None)
        async with _started(servers):
            index = HelpIndex([Path(d) for d in spec.help_dirs], texts=servers.docs())
            toolbox = Toolbox(None, model, index)  # its sandbox is set below
            sandbox = Sandbox(
                timeout=spec.timeout, memory_mb=spec.memory_mb,
                mounts=dict(parse_mount(m) for m in spec.mounts),
                functions=[*toolbox.sandbox_functions(), *servers.functions()],
            )  # fmt: skip
            toolbox.sandbox = sandbox
            await ctx.keep_lease(sandbox.start())  # seconds on a busy machine: keep the run
            async with sandbox:
                agent = Agent(model, toolbox, DurableJournal(ctx, durable), on_event=emit)
                answer = await agent.run(spec.task, tools_index=servers.index())
                workspace = await durable.put_blob(await sandbox.snapshot_workspace())
        return {"answer": answer, "workspace": workspace}

    return handle


@contextlib.asynccontextmanager
async def _started(servers: McpServers):
    """The run's MCP servers, connected; one that cannot start (or a policy naming tools
    they do not have) fails the run at once: a retry would meet the same error."""
    try:
        await servers.start()
    except McpError as exc:
        raise RunFailed(str(exc)) from exc
    try:
        yield servers
    finally:
        await servers.close()


def run_view(record: RunRecord) -> dict[str, Any]:
    """A run as `throwaway show --json` prints it."""
    out = record.as_json()
    out["answer"] = (record.result or {}).get("answer") if record.status == "completed" else None
    out["steps"] = steps_view(record.steps or [])
    return out


def steps_view(steps) -> list[dict[str, Any]]:
    """Model and tool steps; a tool step gets its name and args from the model step before it."""
    calls: dict[str, dict] = {}
    view = []
    for step in steps:
        if step.name.startswith("call:"):
            record = step.result or {}
            view.append({"kind": "tool", "step": step.name, "name": record.get("function"),
                         "args": record.get("kwargs"), "ok": True, "result": record.get("result"),
                         "from_code": True, "ms": record.get("ms")})  # fmt: skip
        elif step.name.startswith("tool:"):
            call_id = step.name.removeprefix("tool:").split("#")[0]
            call = calls.get(call_id, {})
            result = step.result or {}
            view.append({"kind": "tool", "step": step.name, "name": call.get("tool_name"),
                         "args": call.get("args"), "ok": result.get("ok"),
                         "result": result.get("text")})  # fmt: skip
        else:
            parts = (step.result or {}).get("parts", [])
            for part in parts:
                if part.get("part_kind") == "tool-call":
                    calls[part.get("tool_call_id")] = part
            text = "".join(p.get("content", "") for p in parts if p.get("part_kind") == "text")
            tool_calls = [{"name": p.get("tool_name"), "args": p.get("args")} for p in parts
                          if p.get("part_kind") == "tool-call"]  # fmt: skip
            view.append({"kind": "model", "step": step.name, "text": text,
                         "tool_calls": tool_calls})  # fmt: skip
    return view
