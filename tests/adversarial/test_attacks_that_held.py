"""Attacks that the boundary held, kept as regression tests.

Deno's permissions are the boundary (Pyodide is not: sandboxed Python reaches
the JS realm). More of these, one per kind of host access, are in
tests/test_sandbox_isolation.py, tests/test_sandbox_limits.py (forged frames and
replies) and tests/test_vfs_security.py (mount path policy).
"""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
from adversarial.helpers import still_works
from snippets import js, js_async
from test_mcp_server import start_http_server

from throwaway.sandbox.assets import find_assets

DENIED = {
    "read_outside_assets": "return Deno.readTextFileSync('/etc/hostname')",
    "read_next_to_assets": f"return Deno.readDirSync('{find_assets().root.parent}')",
    "env": "return Deno.env.get('THROWAWAY_TEST_SECRET')",
    "spawn": "return new Deno.Command('/bin/sh', {args: ['-c', 'id']}).outputSync()",
    "dlopen": "return Deno.dlopen('/lib/x86_64-linux-gnu/libc.so.6', {})",
    "sys_info": "return Deno.hostname()",
    "chmod": f"return Deno.chmodSync('{find_assets().root}', 0o777)",
    "symlink": "return Deno.symlinkSync('/etc', '/tmp/x')",
}

DENIED_ASYNC = {
    "net_connect": "return await Deno.connect({hostname: '127.0.0.1', port: 5432})",
    "net_fetch": "return await fetch('http://127.0.0.1:5432/')",
    "net_dns": "return await Deno.resolveDns('example.com', 'A')",
    "import_outside": "return await import('file:///etc/passwd')",
    "import_remote": "return await import('https://example.com/x.js')",
}


@pytest.mark.parametrize("name", list(DENIED))
async def test_denied(sandbox, name):
    r = await sandbox.run(js(DENIED[name]))
    assert r.error is not None and r.result is None, f"{name}: {r.result}"
    await still_works(sandbox)


@pytest.mark.parametrize("name", list(DENIED_ASYNC))
async def test_denied_async(sandbox, name):
    r = await sandbox.run(js_async(DENIED_ASYNC[name]))
    assert r.error is not None and r.result is None, f"{name}: {r.result}"
    await still_works(sandbox)


async def test_permission_requests_are_denied(sandbox):
    r = await sandbox.run(js_async(
        "const out = [];"
        "for (const name of ['run', 'net', 'env', 'ffi', 'sys', 'write', 'read'])"
        " out.push((await Deno.permissions.request({name})).state); return out.join()"
    ))  # fmt: skip
    assert r.result == "'" + ",".join(["denied"] * 7) + "'", r.error


async def test_permission_query_shows_nothing_granted(sandbox):
    r = await sandbox.run(js_async(
        "const out = {}; for (const name of ['run', 'net', 'env', 'ffi', 'sys', 'write'])"
        " out[name] = (await Deno.permissions.query({name})).state; return JSON.stringify(out)"
    ))  # fmt: skip
    states = json.loads(eval(r.result))
    assert set(states.values()) == {"denied"}, states


INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "attacker", "version": "1"}},
}  # fmt: skip
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def mcp_http():
    with start_http_server("--timeout", "10") as server:
        yield server


@pytest.mark.e2e
def test_mcp_http_refuses_a_foreign_host_header(mcp_http):
    """DNS rebinding: a page on attacker.example resolving to 127.0.0.1 sends its own Host."""
    r = httpx.post(mcp_http.url, json=INITIALIZE, headers={**ACCEPT, "Host": "attacker.example"})
    assert r.status_code in (400, 403, 421), r.status_code


@pytest.mark.e2e
def test_mcp_http_refuses_a_foreign_origin(mcp_http):
    r = httpx.post(mcp_http.url, json=INITIALIZE,
                   headers={**ACCEPT, "Origin": "http://attacker.example"})  # fmt: skip
    assert r.status_code in (400, 403), r.status_code


@pytest.mark.e2e
def test_mcp_http_refuses_a_guessed_session_id(mcp_http):
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "run_python", "arguments": {"code": "1"}}}  # fmt: skip
    headers = {**ACCEPT, "Mcp-Session-Id": secrets.token_hex(16)}
    r = httpx.post(mcp_http.url, json=call, headers=headers)
    assert r.status_code in (400, 404), r.status_code
    ok = httpx.post(mcp_http.url, json=INITIALIZE, headers=ACCEPT)
    assert ok.status_code == 200  # and the server is still up
