"""Options that several commands share: MCP servers and their tool policy."""

from __future__ import annotations

import click

from throwaway.mcp.tools import McpError, ServerSpec, load_config

POLICIES = ("allow", "deny", "ask")


def _servers(ctx, param, values: tuple[str, ...]) -> list[ServerSpec]:
    try:
        return [ServerSpec.parse(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _config(ctx, param, value: str | None) -> list[ServerSpec]:
    try:
        return load_config(value) if value else []
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
        help="Deny a tool, or make it need approval (refused where nobody can approve).",
    )(command)  # fmt: skip
    command = click.option(
        "--mcp-config", "mcp_config", type=click.Path(dir_okay=False), callback=_config,
        help='MCP servers from a client config file: {"mcpServers": {NAME: {...}}}.',
    )(command)  # fmt: skip
    return click.option(
        "--mcp", "mcp", multiple=True, callback=_servers, metavar="NAME=COMMAND|URL",
        help="An MCP server whose tools code can call: `from tools import NAME`. "
        "A command (stdio) or an http(s) URL. Repeatable.",
    )(command)  # fmt: skip
