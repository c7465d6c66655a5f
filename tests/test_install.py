"""Installing packages: the host resolves and fetches, the sandbox never touches the network."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from throwaway import InstallError


def make_wheel(name: str, version: str, body: str, requires: tuple[str, ...] = ()) -> bytes:
    """A minimal pure-Python wheel."""
    buf = io.BytesIO()
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{name}/__init__.py", body)
        zf.writestr(f"{dist}/METADATA", meta)
        zf.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{dist}/RECORD", "")
    return buf.getvalue()


@pytest.fixture
def local_index(monkeypatch):
    """A PEP 691 simple index on loopback; returns {project: [(filename, data, sha256)]}."""
    projects: dict[str, list[tuple[str, bytes, str]]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            parts = self.path.strip("/").split("/")
            if parts[0] == "files":
                for files in projects.values():
                    for filename, data, _ in files:
                        if filename == parts[1]:
                            return self._send(200, data, "application/octet-stream")
            elif parts[0] in projects:
                base = f"http://127.0.0.1:{server.server_port}/files/"
                listing = [
                    {"filename": f, "url": base + f, "hashes": {"sha256": h}}
                    for f, _, h in projects[parts[0]]
                ]
                body = json.dumps({"files": listing}).encode()
                return self._send(200, body, "application/vnd.pypi.simple.v1+json")
            self._send(404, b"not found", "text/plain")

        def _send(self, status, body, ctype):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("THROWAWAY_PYPI_URL", f"http://127.0.0.1:{server.server_port}")
    yield projects
    server.shutdown()


def publish(projects, name, version, body, requires=(), sha256=None):
    data = make_wheel(name, version, body, requires)
    filename = f"{name}-{version}-py3-none-any.whl"
    projects.setdefault(name, []).append(
        (filename, data, sha256 or hashlib.sha256(data).hexdigest())
    )


async def test_install_fetches_the_newest_wheel_with_dependencies(sandbox, local_index):
    publish(local_index, "tw_dep", "1.0", "VALUE = 41")
    publish(local_index, "tw_app", "0.9", "OLD = True")
    publish(local_index, "tw_app", "1.2", "from tw_dep import VALUE\nANSWER = VALUE + 1",
            requires=("tw_dep>=1", "tw_never; sys_platform == 'win32'"))  # fmt: skip
    installed = await sandbox.install("tw_app")
    assert installed == ["tw_app==1.2", "tw_dep==1.0"]
    result = await sandbox.run("import tw_app; tw_app.ANSWER")
    assert result.result == "42"


async def test_micropip_inside_the_sandbox_goes_through_the_host(sandbox, local_index):
    publish(local_index, "tw_micro", "2.0", "NAME = 'micro'")
    result = await sandbox.run("import micropip\nawait micropip.install('tw_micro')\n"
                               "import tw_micro; tw_micro.NAME")  # fmt: skip
    assert result.error is None, result.error
    assert result.result == "'micro'"


async def test_a_wheel_that_does_not_match_its_hash_is_refused(sandbox, local_index):
    publish(local_index, "tw_evil", "1.0", "PWNED = True", sha256="0" * 64)
    with pytest.raises(InstallError, match="does not match the sha256"):
        await sandbox.install("tw_evil")
    result = await sandbox.run("import tw_evil")
    assert result.error.type == "ModuleNotFoundError"


async def test_unknown_package_is_a_clear_error(sandbox, local_index):
    with pytest.raises(InstallError, match="no package named 'tw-missing'"):
        await sandbox.install("tw-missing")
    result = await sandbox.run("import micropip\nawait micropip.install('tw-missing')")
    assert result.error.type == "ValueError"
    assert "no package named" in result.error.message


async def test_invalid_requirement_is_a_clear_error(sandbox):
    with pytest.raises(InstallError, match="not a valid requirement"):
        await sandbox.install("openpyxl>>>1")


async def test_allow_list_refuses_other_packages(fresh_sandbox, local_index):
    publish(local_index, "tw_ok", "1.0", "")
    publish(local_index, "tw_other", "1.0", "")
    sb = await fresh_sandbox(allow_install={"tw-ok"})
    assert await sb.install("tw_ok") == ["tw_ok==1.0"]
    with pytest.raises(InstallError, match="not on this sandbox's list"):
        await sb.install("tw_other")


async def test_bundled_pyodide_packages_install_offline(sandbox):
    assert await sandbox.install("pillow") == ["pillow"]
    result = await sandbox.run("import PIL; PIL.__name__")
    assert result.result == "'PIL'"


async def test_micropip_install_of_a_bundled_package_works_in_the_sandbox(fresh_sandbox):
    sb = await fresh_sandbox(timeout=120)  # pandas takes seconds to load on a busy machine
    code = "import micropip\nawait micropip.install('pandas')\nimport pandas\npandas.__version__"
    result = await sb.run(code)
    assert result.error is None, result.error
    assert result.result.startswith("'2.")


async def test_real_pypi_pure_package(sandbox):
    """The real index: openpyxl is pure Python and pulls in et-xmlfile."""
    installed = await sandbox.install("openpyxl")
    assert any(name.startswith("openpyxl==") for name in installed)
    assert any(name.startswith("et_xmlfile==") for name in installed)
    result = await sandbox.run(
        "import openpyxl\nwb = openpyxl.Workbook(); wb.active['A1'] = 7\nwb.save('t.xlsx')\n"
        "openpyxl.load_workbook('t.xlsx').active['A1'].value"
    )
    assert result.result == "7"


async def test_real_pypi_compiled_only_package_is_refused(sandbox):
    with pytest.raises(InstallError, match="no pure-Python wheel"):
        await sandbox.install("psycopg2-binary")


async def test_install_can_be_disabled(fresh_sandbox, local_index):
    publish(local_index, "tw_any", "1.0", "")
    sb = await fresh_sandbox(allow_install=False)
    with pytest.raises(InstallError, match="disabled"):
        await sb.install("tw_any")
    result = await sb.run("import micropip\nawait micropip.install('tw_any')")
    assert "disabled" in result.error.message
