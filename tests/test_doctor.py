"""`throwaway --version` and `throwaway doctor`, on this machine's real set-up and on broken
copies of it (an empty THROWAWAY_HOME, a changed package file, an unreachable database)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_cli_startup import HEAVY, imported_by

from throwaway import versions
from throwaway.cli import main
from throwaway.durable import database
from throwaway.sandbox import assets

THROWAWAY = str(Path(sys.executable).with_name("throwaway"))
SERVER_URL = os.environ.get("THROWAWAY_TEST_SERVER_URL", "postgresql://root@127.0.0.1:5432/test")
REFUSED_URL = "postgresql://root@127.0.0.1:1/x"


def invoke(*args: str, **env: str | None):
    return CliRunner().invoke(main, list(args), env=env)


def lines_of(output: str) -> dict[str, str]:
    """doctor's output as {check name: its line and any fix line after it}."""
    found: dict[str, str] = {}
    name = ""
    for line in output.splitlines():
        if line.startswith("     fix: "):
            found[name] += "\n" + line.strip()
            continue
        name = line[5:].split(":")[0]
        found[name] = line
    return found


@pytest.fixture
def empty_home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


# ---- --version -------------------------------------------------------------------------


def test_version_lists_throwaway_pyodide_deno_python_and_postgres():
    r = invoke("--version", THROWAWAY_DATABASE_URL=None)
    assert r.exit_code == 0, r.output
    rows = [line.split(None, 1) for line in r.stdout.splitlines()]
    assert [name for name, _ in rows] == ["throwaway", "Pyodide", "Deno", "Python", "Postgres"]
    shown = dict(rows)
    assert shown["throwaway"] == version("throwaway")
    assert shown["Pyodide"] == f"{assets.PYODIDE_VERSION} (Python 3.12.7 in the sandbox)"
    assert shown["Deno"] == version("deno")
    assert shown["Python"] == f"{platform.python_version()} (the host's)"
    assert shown["Postgres"].startswith("18.") and shown["Postgres"].endswith("(embedded)")


def test_version_starts_nothing_and_loads_no_heavy_library():
    packages, modules = imported_by("--version")
    assert not packages & (HEAVY | {"asyncio", "deno", "psutil"})
    assert modules == {
        "throwaway", "throwaway.errors", "throwaway.cli", "throwaway.cli.base",
        "throwaway.versions", "throwaway.sandbox", "throwaway.sandbox.assets",
    }  # fmt: skip


def test_version_needs_no_setup_and_names_a_database_url(empty_home):
    r = invoke("--version", THROWAWAY_HOME=str(empty_home), THROWAWAY_DATABASE_URL=SERVER_URL)
    assert r.exit_code == 0, r.output
    assert f"{assets.PYODIDE_VERSION} (not set up yet: run `throwaway setup`)" in r.stdout
    assert "the server at $THROWAWAY_DATABASE_URL" in r.stdout
    assert versions.URL_ENV == database.URL_ENV  # named twice so that --version loads no psycopg


# ---- doctor ------------------------------------------------------------------------------


def test_doctor_passes_on_a_machine_that_is_set_up():
    setup = invoke("setup", "--quiet")  # idempotent; makes what a runtime change made stale
    assert setup.exit_code == 0, setup.output
    r = invoke("doctor", THROWAWAY_DATABASE_URL=SERVER_URL)
    assert r.exit_code == 0, r.output
    checks = lines_of(r.stdout)
    assert list(checks) == [
        f"Pyodide {assets.PYODIDE_VERSION}", "warm-up", "Deno", "sandbox", "database",
        "cache folder",
    ]  # fmt: skip
    assert all(line.startswith("ok ") for line in checks.values()), r.stdout
    assert "each matching the lock" in checks[f"Pyodide {assets.PYODIDE_VERSION}"]
    assert f"Deno: {version('deno')} runs" in checks["Deno"]
    assert "runs Python 3.12.7" in checks["sandbox"]
    assert "($THROWAWAY_DATABASE_URL) answers" in checks["database"]
    assert "writable" in checks["cache folder"]
    assert re.search(r", \d+(\.\d+)? (B|kB|MB|GB|TB)$", checks["cache folder"]), checks[
        "cache folder"
    ]


def test_doctor_on_an_empty_home_says_to_run_setup(empty_home):
    env = {**os.environ, "THROWAWAY_HOME": str(empty_home), "THROWAWAY_DATABASE_URL": SERVER_URL}
    proc = subprocess.run(
        [THROWAWAY, "doctor"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    checks = lines_of(proc.stdout)
    pyodide = checks[f"Pyodide {assets.PYODIDE_VERSION}"]
    assert pyodide.startswith("FAIL") and f"not set up in {empty_home}" in pyodide
    assert pyodide.endswith("fix: run `throwaway setup`")
    assert checks["warm-up"].startswith("skip") and checks["sandbox"].startswith("skip")
    for name in ("Deno", "database"):
        assert checks[name].startswith("ok "), proc.stdout
    assert checks["cache folder"] == f"ok   cache folder: {empty_home}: writable, 0 MB"
    assert "1 check failed" in proc.stderr


def test_doctor_names_a_package_file_that_no_longer_matches_the_lock(empty_home):
    """A copy of the real set-up (links to its files), with one package file changed."""
    real = assets.find_assets()
    root = empty_home / real.root.name
    (root / "packages").mkdir(parents=True)
    (root / "node_modules").symlink_to(real.root / "node_modules")
    (root / "complete.json").symlink_to(real.root / "complete.json")
    lock = real.lock["packages"]
    for name in real.available_packages():
        file = lock[name]["file_name"]
        (root / "packages" / file).symlink_to(real.packages_dir / file)
    changed = root / "packages" / lock["six"]["file_name"]
    changed.unlink()
    changed.write_bytes(b"not the wheel")
    r = invoke("doctor", THROWAWAY_HOME=str(empty_home), THROWAWAY_DATABASE_URL=SERVER_URL)
    assert r.exit_code == 1
    pyodide = lines_of(r.stdout)[f"Pyodide {assets.PYODIDE_VERSION}"]
    assert pyodide.startswith("FAIL") and "files missing or changed: six" in pyodide
    assert pyodide.endswith("fix: run `throwaway setup` (it fetches them again)")


@pytest.mark.parametrize(
    ("url", "said"),
    [(REFUSED_URL, "cannot connect: "), ("notaurl", "is not a Postgres URL")],
    ids=["refused", "malformed"],
)
def test_doctor_says_what_to_do_about_the_database(empty_home, url, said):
    r = invoke("doctor", THROWAWAY_HOME=str(empty_home), THROWAWAY_DATABASE_URL=url)
    assert r.exit_code == 1
    database = lines_of(r.stdout)["database"]
    assert database.startswith("FAIL") and said in database
    assert "fix: check $THROWAWAY_DATABASE_URL (postgresql://USER@HOST:5432/DBNAME)" in database


def test_doctor_refuses_a_cache_folder_that_is_a_file(tmp_path):
    home = tmp_path / "file"
    home.write_text("not a folder")
    r = invoke("doctor", THROWAWAY_HOME=str(home), THROWAWAY_DATABASE_URL=SERVER_URL)
    assert r.exit_code == 1
    cache = lines_of(r.stdout)["cache folder"]
    assert cache.startswith("FAIL") and f"{home} is not a folder" in cache
    assert "point $THROWAWAY_HOME at a folder you can write" in cache
