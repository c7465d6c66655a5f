"""Fixtures for the sandbox tests: real Deno, real Pyodide, no mocks.

Starting a sandbox costs seconds of CPU, so tests that leave the interpreter
usable share one (``sandbox``); tests that kill, crash or restart it make their
own with ``fresh_sandbox``, which closes whatever it started.
"""

from __future__ import annotations

import os
import secrets

import pytest

from throwaway import Sandbox

#: A host secret set before any sandbox starts; isolation tests check it never gets in.
SECRET = f"throwaway-secret-{secrets.token_hex(8)}"
os.environ["THROWAWAY_TEST_SECRET"] = SECRET
#: No config file of the person running the tests changes the commands' defaults.
os.environ["THROWAWAY_CONFIG"] = f"/nonexistent-{secrets.token_hex(8)}/config.toml"


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
