"""Start-up cost of the `throwaway` command: what each command imports (not how long)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import click

from throwaway.cli import main
from throwaway.cli.base import LazyGroup

#: A fresh interpreter runs the command given in argv, then lists the top-level
#: packages and throwaway modules it imported.
IMPORTS = """
import sys
from throwaway.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted({m.split(".")[0] for m in sys.modules}))
print(sorted(m for m in sys.modules if m.startswith("throwaway")))
"""
HEAVY = {"mcp", "pydantic_ai", "pydantic", "psycopg", "httpx", "fsspec", "rich", "packaging"}


def imported_by(*args: str, stdin: str = "") -> tuple[set[str], set[str]]:
    run = [sys.executable, "-c", IMPORTS, *args]
    out = subprocess.run(run, input=stdin, capture_output=True, text=True, env=os.environ,
                         timeout=300)  # fmt: skip
    packages, modules = out.stdout.splitlines()[-2:]
    return set(eval(packages)), set(eval(modules))


def test_help_imports_no_command_module_and_no_heavy_library():
    packages, modules = imported_by("--help")
    assert not packages & (HEAVY | {"asyncio", "psutil", "deno"})
    assert modules == {"throwaway", "throwaway.errors", "throwaway.cli", "throwaway.cli.base"}


def test_import_throwaway_loads_only_the_errors_until_a_name_is_used():
    code = "import sys, throwaway; print(sorted(m for m in sys.modules if m[:9] == 'throwaway'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "['throwaway', 'throwaway.errors']"
    code = "import throwaway; print(throwaway.Sandbox.__name__, throwaway.mounts.LocalDir.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "Sandbox LocalDir", out.stderr


def test_exec_of_plain_code_loads_neither_the_agent_nor_httpx_fsspec_or_rich():
    packages, modules = imported_by("exec", "-", stdin="print(1)\n")
    assert not packages & HEAVY
    assert not {m for m in modules if m.startswith(("throwaway.agent", "throwaway.durable"))}


def test_the_short_help_listed_for_each_lazy_command_is_its_own():
    ctx = click.Context(main)
    for name, (module, short) in LazyGroup.LAZY.items():
        importlib.import_module(f"throwaway.cli.{module}")
        assert main.get_command(ctx, name).get_short_help_str(limit=1000) == short, name


def test_help_lists_every_command_with_its_short_help():
    from click.testing import CliRunner

    r = CliRunner().invoke(main, ["--help"], terminal_width=200)
    assert r.exit_code == 0
    for name, (_, short) in LazyGroup.LAZY.items():
        assert f"  {name} " in r.output and short in r.output, name
