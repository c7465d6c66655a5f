"""Nothing one sandbox writes survives its process or reaches another sandbox.

Deno writes some things itself despite --deny-write: the Web Cache API stores
responses under DENO_DIR, and V8's code cache grows with every module imported.
Each sandbox gets a DENO_DIR that cannot exist (under /dev/null) and no code cache.
"""

from __future__ import annotations

from pathlib import Path

from snippets import js, js_async

from throwaway.sandbox.assets import find_assets
from throwaway.sandbox.process import NO_DENO_DIR, deno_command, deno_env

PUT = (
    "const c = await caches.open('c');"
    "await c.put(new Request('http://x/k'), new Response('x'.repeat(1 << 20)));"
    "return 'stored';"
)


def process_settings(sb) -> tuple[dict[str, str], list[str]]:
    """The environment and command line the running Deno process really has."""
    pid = sb.pid
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return env, Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_deno_gets_no_cache_folder_and_no_code_cache():
    assets = find_assets()
    assert deno_env(assets)["DENO_DIR"] == NO_DENO_DIR
    assert Path(NO_DENO_DIR).parent.is_char_device()
    command = deno_command(assets)
    assert "--no-code-cache" in command
    assert not any(arg.startswith("--location") for arg in command)


async def test_cache_api_cannot_store_anything(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10)
    r = await sb.run(js_async(PUT))
    assert r.error is not None and r.result != "'stored'"
    assert "cache storage" in r.error.message.lower()
    await sb.close()
    other = await fresh_sandbox(timeout=10)
    r = await other.run(js_async("return (await caches.keys()).length"))
    assert r.error is not None  # no cache to read back either
    assert not Path(NO_DENO_DIR).exists()


async def test_data_url_imports_have_no_code_cache_to_grow(fresh_sandbox):
    sb = await fresh_sandbox(timeout=20)
    env, command = process_settings(sb)
    assert env["DENO_DIR"] == NO_DENO_DIR and "--no-code-cache" in command
    body = (
        "for (let i = 0; i < 200; i++) {"
        "  const src = 'export const v' + i + ' = ' + 'i+'.repeat(2000) + '1';"
        "  await import('data:text/javascript,' + src);"
        "} return 'imported';"
    )
    r = await sb.run(js_async(body))
    assert r.result == "'imported'" or r.error is not None
    assert not Path(NO_DENO_DIR).exists()
    assert env.keys() <= {"PATH", "DENO_DIR", "NO_COLOR", "DENO_NO_UPDATE_CHECK"}


async def test_nothing_is_written_outside_the_process(sandbox):
    r = await sandbox.run(js("return Deno.env.toObject()"))
    assert r.error is not None  # --deny-env holds
    r = await sandbox.run(js("Deno.writeTextFileSync('/tmp/x', 'y')"))
    assert r.error is not None and "NotCapable" in r.error.message
