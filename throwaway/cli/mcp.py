"""`throwaway mcp`: serve the sandbox to MCP clients over stdio or streamable HTTP."""

from __future__ import annotations

import anyio
import click

from throwaway.cli.base import main, or_exit
from throwaway.cli.options import limit_options, mount_option, providers, warm_option
from throwaway.sandbox import assets


@main.command("mcp")
@click.option(
    "--http",
    "port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve streamable HTTP at http://127.0.0.1:PORT/mcp instead of stdio "
    "(0: any free port; the URL is printed to stderr).",
)
@limit_options(timeout=30.0)
@mount_option
@click.option(
    "--max-sessions",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="HTTP: sandboxes open at once (each is a process); more sessions are refused.",
)
@warm_option
def mcp_(
    port: int | None, timeout: float, memory_mb: int, mounts, max_sessions: int, warm: int
) -> None:
    """Serve the sandbox to MCP clients (Claude Desktop, IDEs, agent frameworks).

    \b
    Tools: run_python(code), read_file(path), write_file(path, content),
    list_files(path). Each client gets its own sandbox, made on its first call:
    variables, imports and /workspace persist between its calls and are never
    seen by another client. Images the code shows come back as images; an
    exception, a timeout or a MemoryError comes back as a tool error with the
    traceback. The limits and mounts given here apply to every sandbox.

    \b
    stdio (the default) serves the client that started the process; --http
    serves any number on 127.0.0.1 only (whoever reaches the port can run
    code), closing a session's sandbox when it ends or after 30 idle minutes.

    \b
    Examples:
      throwaway mcp --timeout 60 --mount data=./data
      throwaway mcp --http 8765 --mount out=./out:rw
    In an MCP client's configuration (e.g. Claude Desktop's mcpServers):
      {"command": "throwaway", "args": ["mcp", "--mount", "data=/abs/path/data"]}
    """  # fmt: skip
    from throwaway.mcp.server import ServerSettings, ThrowawayMCP, listen  # loads the MCP SDK

    settings = ServerSettings(
        timeout=timeout, memory_mb=memory_mb, mounts=providers(mounts),
        max_sandboxes=max_sessions, warm=warm,
    )  # fmt: skip
    or_exit(lambda: assets.ensure_assets(quiet=True))  # fetch once now, not in the first call
    server = ThrowawayMCP(settings, single_client=port is None)
    if port is None:
        anyio.run(server.run_stdio)
        return
    try:
        sock, url = listen(port)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}") from None
    click.echo(f"throwaway MCP server listening on {url} (Ctrl-C stops it)", err=True)
    anyio.run(server.serve_http, sock)
