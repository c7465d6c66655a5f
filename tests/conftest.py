"""Fixtures shared by the tests: real Deno, real Pyodide, real Postgres, no mocks.

Starting a sandbox costs seconds of CPU, so tests that leave the interpreter
usable share one (``sandbox``); tests that kill, crash or restart it make their
own with ``fresh_sandbox``, which closes whatever it started.

Postgres: the server at ``$THROWAWAY_TEST_SERVER_URL`` (default
postgresql://postgres@127.0.0.1:5432/postgres) must be up; ``database`` gives each
test an empty database of its own on it, dropped (with its connections) afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from throwaway import Sandbox

#: A host secret set before any sandbox starts; isolation tests check it never gets in.
SECRET = f"throwaway-secret-{secrets.token_hex(8)}"
os.environ["THROWAWAY_TEST_SECRET"] = SECRET
#: No config file of the person running the tests changes the commands' defaults.
os.environ["THROWAWAY_CONFIG"] = f"/nonexistent-{secrets.token_hex(8)}/config.toml"

SERVER_URL = os.environ.get(
    "THROWAWAY_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_databases = itertools.count()
SESSION = secrets.token_hex(3)  # tells apart the databases of test sessions run at once


@pytest.fixture(scope="session")
async def sandbox():
    """One sandbox shared by every test that leaves its interpreter usable."""
    sb = Sandbox(timeout=10)
    await sb.start()
    try:
        yield sb
    finally:
        await sb.close()


@pytest.fixture
async def fresh_sandbox():
    """A factory of started sandboxes (``await fresh_sandbox(timeout=2)``), closed at teardown."""
    made: list[Sandbox] = []

    async def make(**kwargs) -> Sandbox:
        sb = Sandbox(**kwargs)
        made.append(sb)
        return await sb.start()

    try:
        yield make
    finally:
        for sb in made:
            await sb.close()


@pytest.fixture(scope="session")
def databases():
    """A factory of new, empty databases on the test server: ``with databases() as url:``
    (dropped, with their connections, on exit). Fails loudly if the server is down."""
    try:
        admin = psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        raise RuntimeError(
            f"the tests need a Postgres server at {SERVER_URL} (set THROWAWAY_TEST_SERVER_URL "
            f"to another one): {err}"
        ) from err

    @contextlib.contextmanager
    def new() -> Iterator[str]:
        name = f"tw_test_{SESSION}_{next(_databases)}"
        admin.execute(f"create database {name}")
        try:
            yield make_conninfo(SERVER_URL, dbname=name)
        finally:
            admin.execute(f"drop database if exists {name} with (force)")

    with admin:
        yield new


@pytest.fixture
def database(databases) -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped after the test."""
    with databases() as url:
        yield url


@pytest.fixture
def tw(tmp_path, database):
    """Throwaway processes (test_agent_runs.Throwaway) on a fresh database of the server."""
    from test_agent_runs import Throwaway

    cl = Throwaway({"THROWAWAY_DATABASE_URL": database}, database, tmp_path)
    try:
        yield cl
    finally:
        cl.close()


@pytest.fixture
async def durable(tw):
    """A client on tw's database, to watch runs closely while processes work on them."""
    from throwaway.durable import Durable

    async with Durable(tw.url) as d:
        yield d
