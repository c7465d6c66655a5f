"""Options that several commands share: limits, mounts, MCP servers and their policy."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from throwaway.cli.text import visible
from throwaway.vfs.spec import MountSpec

POLICIES = ("allow", "deny", "ask")


def limit_options(timeout: float):
    """--timeout SECONDS (default ``timeout``) and --memory MB."""

    def decorate(command):
        command = click.option(
            "--memory", "memory_mb", type=click.IntRange(128, 4096), default=1024,
            show_default=True, help="Memory cap of the sandbox in MB (MemoryError past it).",
        )(command)  # fmt: skip
        return click.option(
            "--timeout", type=click.FloatRange(min=0, min_open=True), default=timeout,
            show_default=True, help="Seconds one run of code may take.",
        )(command)  # fmt: skip

    return decorate


#: --warm N: booted sandboxes kept ready by a long-lived command (worker, mcp).
warm_option = click.option(
    "--warm", type=click.IntRange(0, 16), default=1, show_default=True, metavar="N",
    help="Sandboxes kept booted, with numpy, pandas, matplotlib and PIL imported, so the "
    "next session starts in milliseconds (each idle one holds ~0.5 GB); 0 for none.",
)  # fmt: skip


def _mounts(ctx, param, values: tuple[str, ...]) -> list[MountSpec]:
    specs = []
    for text in values:
        try:
            specs.append(spec := MountSpec.parse(text))
            spec.provider()  # an fsspec URL is checked by making its file system
        except (ValueError, OSError) as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    if len({s.name for s in specs}) != len(specs):
        raise click.BadParameter("each mount needs its own NAME", ctx, param)
    return specs


def mount_option(command):
    """--mount NAME=SOURCE[:rw], checked; the command gets MountSpecs."""
    return click.option(
        "--mount", "mounts", multiple=True, callback=_mounts, metavar="NAME=SOURCE[:rw]",
        help="Make SOURCE appear at /mnt/NAME: a folder, an http(s) URL or an fsspec URL; "
        "read-only unless it ends in :rw. Repeatable.",
    )(command)  # fmt: skip


def _servers(ctx, param, values: tuple[str, ...]) -> list:
    if not values:
        return []
    from throwaway.mcp.tools import ServerSpec  # the MCP SDK loads only when it is used

    try:
        return [ServerSpec.parse(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _config(ctx, param, value: str | None) -> list:
    if not value:
        return []
    from throwaway.errors import McpError
    from throwaway.mcp.tools import load_config

    try:
        return load_config(value)
    except (McpError, ValueError) as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _policy(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    policy = {}
    for text in values:
        tool, _, rule = text.rpartition("=")
        if not tool or rule not in POLICIES:
            raise click.BadParameter(
                f"{text!r}: use SERVER.TOOL=allow|deny|ask (or SERVER.*=...), "
                "e.g. github.delete_repo=deny", ctx, param,
            )  # fmt: skip
        policy[tool] = rule
    return policy


def mcp_options(command):
    """--mcp NAME=COMMAND|URL, --mcp-config FILE, --tool-policy SERVER.TOOL=RULE."""
    command = click.option(
        "--tool-policy", "tool_policy", multiple=True, callback=_policy,
        metavar="SERVER.TOOL=allow|deny|ask",
        help="Deny a tool, or make it need approval: asked on the terminal, refused where "
        "nobody can answer (a worker, no TTY). Repeatable.",
    )(command)  # fmt: skip
    command = click.option(
        "--mcp-config", "mcp_config", type=click.Path(dir_okay=False), callback=_config,
        help='MCP servers from a client config file: {"mcpServers": {NAME: {"command", '
        '"args", "env", "cwd"} or {"url", "headers"}}}.',
    )(command)  # fmt: skip
    return click.option(
        "--mcp", "mcp", multiple=True, callback=_servers, metavar="NAME=COMMAND|URL",
        help="An MCP server whose tools code can call: `from tools import NAME`. "
        "A command (stdio; it gets this process's environment) or an http(s) URL. Repeatable.",
    )(command)  # fmt: skip


async def ask_on_terminal(tool: str, arguments: dict) -> bool:
    """Approval of a tool call by the person at the terminal (refused without one)."""
    if not sys.stdin.isatty():
        return False
    shown = visible(json.dumps(arguments, ensure_ascii=False))  # arguments come from code
    question = f"Allow {visible(tool)}({shown[:500]})?"
    return await asyncio.to_thread(click.confirm, question, default=False, err=True)
