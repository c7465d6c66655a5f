"""`throwaway mcp`: serve the sandbox to MCP clients over stdio or streamable HTTP."""

from __future__ import annotations

import anyio
import click

from throwaway.cli.base import main
from throwaway.cli.options import limit_options, mount_option, warm_option
from throwaway.sandbox import assets
from throwaway.vfs.spec import providers


@main.command("mcp")
@click.option(
    "--http",
    "port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio "
    "(0: any free port; the URL is printed to stderr).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="HTTP: the address to listen on; off loopback a --token is required.",
)
@click.option(
    "--token",
    envvar="THROWAWAY_MCP_TOKEN",
    help="HTTP: every request must send 'Authorization: Bearer TOKEN' "
    "(at least 16 characters; default: $THROWAWAY_MCP_TOKEN).",
)
@click.option(
    "--session-header",
    metavar="NAME",
    help="HTTP, 2026-07-28 protocol: a call without a session handle uses the sandbox "
    "named by this request header (e.g. X-Session), for clients that cannot pass handles.",
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
def mcp_(port, host, token, session_header, timeout, memory_mb, mounts, max_sessions, warm) -> None:
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
    serves any number, closing a session's sandbox when it ends or after 30
    idle minutes. Whoever reaches the port can run code: --http listens on
    127.0.0.1 unless --host says otherwise, and off loopback it refuses to
    start without a bearer token (--token or $THROWAWAY_MCP_TOKEN).

    \b
    Clients of the 2026-07-28 protocol have no sessions: the first result
    begins with 'session: HANDLE', and later calls that pass session=HANDLE
    reach the same sandbox. With --session-header NAME, a call that sends the
    header NAME instead reaches the sandbox of that header's value.

    \b
    Examples:
      throwaway mcp --timeout 60 --mount data=./data
      throwaway mcp --http 8765 --mount out=./out:rw
      THROWAWAY_MCP_TOKEN=... throwaway mcp --http 8765 --host 0.0.0.0
    In an MCP client's configuration (e.g. Claude Desktop's mcpServers):
      {"command": "throwaway", "args": ["mcp", "--mount", "data=/abs/path/data"]}
    """  # fmt: skip
    from throwaway.mcp.server import ServerSettings, ThrowawayMCP, TokenRequired, listen

    settings = ServerSettings(
        timeout=timeout, memory_mb=memory_mb, mounts=providers(mounts), max_sandboxes=max_sessions,
        token=token or None, session_header=session_header, warm=warm,
    )  # fmt: skip
    assets.ensure_assets(quiet=True)  # fetch once now, not in the first call
    server = ThrowawayMCP(settings, single_client=port is None)
    if port is None:
        anyio.run(server.run_stdio)
        return
    try:
        sock, url = listen(port, host, settings.token)
    except TokenRequired as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror}") from None
    click.echo(f"throwaway MCP server listening on {url} (Ctrl-C stops it)", err=True)
    anyio.run(server.serve_http, sock)
