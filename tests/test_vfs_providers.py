"""Mount providers with real back ends: a web server on loopback (Http), plain and async
Python functions (Callable), fsspec's memory and zip file systems (Fsspec), and the
command-line specs that build them (spec.MountSpec).

One sandbox mounts all of them; provider-only behaviour (limits, time-outs) is
checked on the provider directly.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import http.server
import json
import secrets
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

import fsspec
import pytest
from snippets import ERRNO

from throwaway import Sandbox, mounts
from throwaway.vfs.spec import MountSpec

DOC = {"name": "widget", "sizes": [1, 2, 3], "ok": True}
BIG = secrets.token_bytes(200_000)
ZIP_BIG = secrets.token_bytes(150_000)
MEMORY = fsspec.filesystem("memory")


# ---- a web server on loopback ----------------------------------------------------------


class Server:
    """http.server in a thread; counts the requests per path."""

    def __init__(self):
        hits: Counter[str] = Counter()
        self.hits = hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits[self.path] += 1
                if self.path == "/x.json":
                    self.reply(200, json.dumps(DOC).encode(), "application/json")
                elif self.path == "/counter":
                    self.reply(200, f"hit {hits[self.path]}".encode())
                elif self.path == "/big":
                    self.reply(200, BIG)
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/x.json")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/slow":
                    time.sleep(2)
                    self.reply(200, b"late")
                elif self.path == "/error":
                    self.reply(500, b"server error")
                else:
                    self.reply(404, b"not found")

            def reply(self, status, body, kind="application/octet-stream"):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    s = Server()
    try:
        yield s
    finally:
        s.close()


# ---- one sandbox with every provider ---------------------------------------------------------


RECORDS = {
    "a.txt": "record a",
    "b.txt": b"record b\x00\xff",
    "customers/c1.json": json.dumps({"id": 1}),
    "customers/c2.json": json.dumps({"id": 2}),
    "unicode.txt": "grüße ✓",
    "unlisted.txt": "readable, though no listing names it",
}


class Backend:
    """Your own back end: records in a dict, counting the calls the mount makes."""

    def __init__(self):
        self.records = dict(RECORDS)
        self.saved: dict[str, bytes] = {}
        self.reads: Counter[str] = Counter()

    def read(self, path):
        self.reads[path] += 1
        if path in self.saved:
            return self.saved[path]
        if path not in self.records:
            raise FileNotFoundError(path)
        return self.records[path]

    def list(self, path):
        if path == "":
            return ["a.txt", "b.txt", "customers/", "unicode.txt", *self.saved]
        if path == "customers":
            return ["c1.json", "c2.json"]
        raise FileNotFoundError(path)

    def write(self, path, data):
        self.saved[path] = data

    async def aread(self, path):
        await asyncio.sleep(0.001)
        return self.read(path)

    async def alist(self, path):
        await asyncio.sleep(0.001)
        return self.list(path)


@pytest.fixture(scope="module")
async def env(server, tmp_path_factory):
    base = tmp_path_factory.mktemp("vfs-providers")
    zip_path = base / "archive.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("readme.txt", "read me")
        zf.writestr("docs/guide/intro.md", "# Intro\n")
        zf.writestr("docs/big.bin", ZIP_BIG, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("data/table.csv", "a,b\n1,2\n")
    bucket, ro_bucket = f"/prov-{secrets.token_hex(4)}", f"/prov-ro-{secrets.token_hex(4)}"
    MEMORY.mkdir(bucket)
    MEMORY.pipe_file(f"{ro_bucket}/seed.txt", b"seeded")
    sync_backend, async_backend, rw_backend = Backend(), Backend(), Backend()
    sb = Sandbox(
        timeout=30,
        mounts={
            "web": mounts.Http(
                {
                    "x.json": f"{server.url}/x.json",
                    "gone.txt": f"{server.url}/missing",
                    "broken.txt": f"{server.url}/error",
                    "counter.txt": f"{server.url}/counter",
                    "big.bin": f"{server.url}/big",
                    "moved.json": f"{server.url}/redirect",
                },
                cache_seconds=600,
            ),
            "crm": mounts.Callable(read=sync_backend.read, list=sync_backend.list),
            "acrm": mounts.Callable(read=async_backend.aread, list=async_backend.alist),
            "crmrw": mounts.Callable(
                read=rw_backend.read, list=rw_backend.list, write=rw_backend.write
            ),
            "nolist": mounts.Callable(read=sync_backend.read),
            "mem": mounts.Fsspec(f"memory://{bucket}", writable=True),
            "memro": mounts.Fsspec(f"memory://{ro_bucket}"),
            "zip": mounts.Fsspec(f"zip://::{zip_path}"),
        },
    )
    await sb.start()
    try:
        yield {
            "sb": sb,
            "zip": zip_path,
            "bucket": bucket,
            "ro_bucket": ro_bucket,
            "sync": sync_backend,
            "async": async_backend,
            "rw": rw_backend,
        }
    finally:
        await sb.close()
        for b in (bucket, ro_bucket):
            MEMORY.rm(b, recursive=True)


async def value(sb: Sandbox, code: str):
    r = await sb.run(code)
    assert r.error is None, r.error
    return eval(r.result) if r.result is not None else None


# ---- Http --------------------------------------------------------------------------------------


async def test_http_mount_lists_exactly_the_named_resources(env):
    """Listing names the resources; it works even though two of them answer with errors."""
    got = await value(env["sb"], "import os\nsorted(os.listdir('/mnt/web'))")
    assert got == sorted(
        ["x.json", "gone.txt", "broken.txt", "counter.txt", "big.bin", "moved.json"]
    )


async def test_http_resource_reads_as_a_file(env):
    got = await value(
        env["sb"],
        "import json, os\n"
        "(json.load(open('/mnt/web/x.json')), os.path.getsize('/mnt/web/x.json'),\n"
        " os.path.isfile('/mnt/web/x.json'))",
    )
    assert got == (DOC, len(json.dumps(DOC)), True)


async def test_http_large_body_reads_at_offsets(env):
    got = await value(
        env["sb"],
        "import hashlib\n"
        "with open('/mnt/web/big.bin', 'rb') as f:\n"
        "    f.seek(150_000)\n"
        "    part = f.read(16)\n"
        "    f.seek(0)\n"
        "    whole = hashlib.sha256(f.read()).hexdigest()\n"
        "(part, whole)",
    )
    assert got == (BIG[150_000:150_016], hashlib.sha256(BIG).hexdigest())


async def test_http_redirect_of_a_named_resource_is_followed(env):
    got = await value(env["sb"], "import json\njson.load(open('/mnt/web/moved.json'))")
    assert got == DOC


async def test_http_error_status_is_an_oserror(env):
    got = await value(
        env["sb"],
        ERRNO + "[err(os.stat, '/mnt/web/gone.txt'), err(os.stat, '/mnt/web/broken.txt'),\n"
        " err(open, '/mnt/web/gone.txt'), err(lambda: open('/mnt/web/broken.txt').read())]",
    )
    assert got[:2] == ["EIO", "EIO"]
    assert all(code != "no error" for code in got[2:]), got


async def test_http_body_is_cached_and_fetched_once(env, server):
    before = server.hits["/counter"]
    got = await value(
        env["sb"],
        "import os\n"
        "(os.path.getsize('/mnt/web/counter.txt'), open('/mnt/web/counter.txt').read(),\n"
        " open('/mnt/web/counter.txt').read())",
    )
    again = await value(env["sb"], "open('/mnt/web/counter.txt').read()")
    assert server.hits["/counter"] - before <= 1
    assert got[1] == got[2] == again
    assert got[0] == len(got[1])


async def test_http_mount_fetches_only_listed_urls(env, server):
    got = await value(
        env["sb"],
        ERRNO + "[err(open, '/mnt/web/secret'), err(open, '/mnt/web/missing'),\n"
        " err(open, '/mnt/web/../web/other.json'), err(os.stat, '/mnt/web/x.json/../secret'),\n"
        " err(open, '/mnt/web/http:'), err(os.listdir, '/mnt/web/x.json')]",
    )
    assert all(code != "no error" for code in got), got
    assert "ENOENT" in got
    listed = {"/x.json", "/missing", "/error", "/counter", "/big", "/redirect"}
    assert set(server.hits) <= listed, server.hits


async def test_http_mount_is_read_only(env):
    got = await value(
        env["sb"],
        ERRNO + "[err(open, '/mnt/web/new.txt', 'w'), err(open, '/mnt/web/x.json', 'w'),\n"
        " err(os.remove, '/mnt/web/x.json'), err(os.mkdir, '/mnt/web/d')]",
    )
    assert all(code in ("EACCES", "EROFS", "EPERM") for code in got), got


async def test_http_provider_limits_time_and_errors_directly(server):
    small = mounts.Http({"big": f"{server.url}/big"}, max_bytes=1000)
    with pytest.raises(OSError) as info:
        await small.read("big", 0, 10)
    assert info.value.errno == errno.EFBIG

    slow = mounts.Http({"slow": f"{server.url}/slow"}, timeout=0.2)
    with pytest.raises(OSError) as info:
        await slow.stat("slow")
    assert info.value.errno == errno.ETIMEDOUT

    with pytest.raises(FileNotFoundError):
        await slow.read("not-listed", 0, 10)

    closed = mounts.Http({"x": "http://127.0.0.1:9/x"})  # the discard port: nobody listens
    with pytest.raises(OSError) as info:
        await closed.read("x", 0, 10)
    assert info.value.errno == errno.EIO

    fresh = mounts.Http({"c": f"{server.url}/counter"}, cache_seconds=0)
    first, second = await fresh.read("c", 0, 100), await fresh.read("c", 0, 100)
    assert first != second  # no caching: each read fetches


@pytest.mark.parametrize("name", ["", "a/b", ".", "..", "/abs"])
def test_http_refuses_names_that_are_not_plain(name):
    with pytest.raises(ValueError):
        mounts.Http({name: "https://example.org/"})


# ---- Callable ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mount", ["crm", "acrm"])
async def test_callable_mount_lists_and_reads(env, mount):
    got = await value(
        env["sb"],
        f"import json, os\nR = '/mnt/{mount}'\n"
        "(sorted(os.listdir(R)), sorted(os.listdir(R + '/customers')),\n"
        " open(R + '/a.txt').read(), open(R + '/b.txt', 'rb').read(),\n"
        " json.load(open(R + '/customers/c2.json')), open(R + '/unicode.txt').read(),\n"
        " os.path.isdir(R + '/customers'), os.path.isfile(R + '/a.txt'),\n"
        " os.path.getsize(R + '/b.txt'),\n"
        " sorted(f for _, _, fs in os.walk(R) for f in fs))",
    )
    assert got == (
        ["a.txt", "b.txt", "customers", "unicode.txt"],
        ["c1.json", "c2.json"],
        "record a",
        b"record b\x00\xff",
        {"id": 2},
        "grüße ✓",
        True,
        True,
        len(RECORDS["b.txt"]),
        ["a.txt", "b.txt", "c1.json", "c2.json", "unicode.txt"],
    )


@pytest.mark.parametrize("mount", ["crm", "acrm"])
async def test_callable_missing_record_is_file_not_found(env, mount):
    """The back end raises FileNotFoundError(path), as the Callable docstring asks."""
    got = await value(
        env["sb"],
        ERRNO + f"R = '/mnt/{mount}'\n"
        "[err(open, R + '/nope.txt'), err(os.stat, R + '/nope.txt'),\n"
        " err(os.path.getsize, R + '/customers/nope.json')]",
    )
    assert got == ["ENOENT", "ENOENT", "ENOENT"], got


@pytest.mark.parametrize("mount", ["crm", "acrm"])
async def test_callable_without_a_write_function_is_read_only(env, mount):
    got = await value(
        env["sb"],
        ERRNO + f"R = '/mnt/{mount}'\n"
        "[err(open, R + '/new.txt', 'w'), err(open, R + '/a.txt', 'a'), err(os.mkdir, R + '/d'),\n"
        " err(os.remove, R + '/a.txt'), err(os.rename, R + '/a.txt', R + '/z.txt')]",
    )
    assert all(code in ("EACCES", "EROFS", "EPERM") for code in got), got


async def test_callable_read_is_called_once_for_stat_open_and_read(env):
    backend = env["sync"]
    backend.reads.clear()
    await value(
        env["sb"],
        "import os\n"
        "os.stat('/mnt/crm/unlisted.txt')\n"
        "with open('/mnt/crm/unlisted.txt', 'rb') as f:\n"
        "    f.read()",
    )
    assert backend.reads["unlisted.txt"] == 1


async def test_callable_with_a_write_function_is_writable(env):
    backend = env["rw"]
    r = await env["sb"].run(
        "with open('/mnt/crmrw/new.txt', 'w') as f:\n"
        "    f.write('saved through the back end')\n"
        "open('/mnt/crmrw/new.txt').read()"
    )
    assert r.error is None, r.error
    assert r.result == repr("saved through the back end")
    assert backend.saved["new.txt"] == b"saved through the back end"
    assert "/mnt/crmrw/new.txt" in r.changes.created


async def test_callable_without_list_reads_but_does_not_list(env):
    got = await value(
        env["sb"],
        ERRNO + "[open('/mnt/nolist/a.txt').read(), err(os.listdir, '/mnt/nolist')]",
    )
    assert got[0] == "record a"
    assert got[1] in ("EACCES", "ENOTDIR", "ENOSYS")


async def test_callable_results_of_the_wrong_type_are_eio():
    provider = mounts.Callable(read=lambda path: 42)
    with pytest.raises(OSError) as info:
        await provider.stat("x")
    assert info.value.errno == errno.EIO


# ---- Fsspec: memory (writable) and zip (read-only) -----------------------------------------------


async def test_fsspec_memory_mount_round_trips_with_the_host(env):
    bucket = env["bucket"]
    MEMORY.pipe_file(f"{bucket}/from-host.txt", b"put by the host")
    r = await env["sb"].run(
        "import os\n"
        "os.makedirs('/mnt/mem/made/deep')\n"
        "with open('/mnt/mem/made/deep/from-sandbox.bin', 'wb') as f:\n"
        "    f.write(bytes(range(256)))\n"
        "open('/mnt/mem/from-host.txt').read(), sorted(os.listdir('/mnt/mem'))"
    )
    assert r.error is None, r.error
    assert eval(r.result) == ("put by the host", ["from-host.txt", "made"])
    assert MEMORY.cat_file(f"{bucket}/made/deep/from-sandbox.bin") == bytes(range(256))
    assert r.changes.created == ["/mnt/mem/made/deep/from-sandbox.bin"]


async def test_fsspec_memory_mount_without_writable_refuses_changes(env):
    got = await value(
        env["sb"],
        ERRNO + "[open('/mnt/memro/seed.txt').read(), err(open, '/mnt/memro/new.txt', 'w'),\n"
        " err(open, '/mnt/memro/seed.txt', 'a'), err(os.remove, '/mnt/memro/seed.txt'),\n"
        " err(os.mkdir, '/mnt/memro/d')]",
    )
    assert got[0] == "seeded"
    assert all(code in ("EACCES", "EROFS") for code in got[1:]), got
    assert MEMORY.find(env["ro_bucket"]) == [f"{env['ro_bucket']}/seed.txt"]
    assert MEMORY.cat_file(f"{env['ro_bucket']}/seed.txt") == b"seeded"


async def test_fsspec_over_a_file_system_object_and_a_root():
    fs = fsspec.filesystem("memory")
    root = f"/objroot-{secrets.token_hex(4)}"
    fs.pipe_file(f"{root}/inner/x.txt", b"x")
    provider = mounts.Fsspec(fs, root=root)
    assert await provider.list("") == ["inner"]
    assert await provider.read("inner/x.txt", 0, 10) == b"x"
    fs.rm(root, recursive=True)


async def test_fsspec_zip_mount_reads_the_archive(env):
    got = await value(
        env["sb"],
        "import hashlib, os\n"
        "R = '/mnt/zip'\n"
        "walk = sorted((os.path.relpath(d, R), sorted(ds), sorted(fs))\n"
        "              for d, ds, fs in os.walk(R))\n"
        "with open(R + '/docs/big.bin', 'rb') as f:\n"
        "    f.seek(100_000)\n"
        "    part = f.read(8)\n"
        "    f.seek(0)\n"
        "    digest = hashlib.sha256(f.read()).hexdigest()\n"
        "(walk, open(R + '/readme.txt').read(), open(R + '/docs/guide/intro.md').read(),\n"
        " part, digest, os.path.getsize(R + '/docs/big.bin'), os.path.isdir(R + '/docs/guide'))",
    )
    assert got == (
        [
            (".", ["data", "docs"], ["readme.txt"]),
            ("data", [], ["table.csv"]),
            ("docs", ["guide"], ["big.bin"]),
            ("docs/guide", [], ["intro.md"]),
        ],
        "read me",
        "# Intro\n",
        ZIP_BIG[100_000:100_008],
        hashlib.sha256(ZIP_BIG).hexdigest(),
        len(ZIP_BIG),
        True,
    )


async def test_fsspec_zip_mount_is_read_only_and_the_archive_unchanged(env):
    before = Path(env["zip"]).read_bytes()
    got = await value(
        env["sb"],
        ERRNO + "[err(open, '/mnt/zip/new.txt', 'w'), err(open, '/mnt/zip/readme.txt', 'a'),\n"
        " err(os.remove, '/mnt/zip/readme.txt'), err(os.mkdir, '/mnt/zip/d'),\n"
        " err(os.rename, '/mnt/zip/readme.txt', '/mnt/zip/r.txt'), err(open, '/mnt/zip/nope')]",
    )
    assert all(code in ("EACCES", "EROFS") for code in got[:-1]), got
    assert got[-1] == "ENOENT"
    assert Path(env["zip"]).read_bytes() == before


async def test_pandas_reads_csv_from_a_zip_mount(env):
    got = await value(
        env["sb"],
        "import pandas as pd\ndf = pd.read_csv('/mnt/zip/data/table.csv')\n"
        "list(df.columns), df.values.tolist()",
    )
    assert got == (["a", "b"], [[1, 2]])


# ---- spec.MountSpec ------------------------------------------------------------------------------


def test_mount_specs_of_local_folders_are_absolute(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    spec = MountSpec.parse("data=./data")
    assert spec == MountSpec("data", str(tmp_path / "data"), writable=False)
    provider = spec.provider()
    assert isinstance(provider, mounts.LocalDir)
    assert provider.root == (tmp_path / "data").resolve() and not provider.writable
    assert MountSpec.parse("out=./data:rw").provider().writable
    assert not MountSpec.parse("out=./data:ro").writable
    assert MountSpec.parse(f"abs={tmp_path / 'data'}").source == str(tmp_path / "data")
    assert MountSpec.parse("My-Data_1.x=data").name == "My-Data_1.x"
    assert str(MountSpec.parse("out=data:rw")) == f"out={tmp_path / 'data'}:rw"


def test_mount_specs_load_what_they_store_and_the_text_form(tmp_path):
    spec = MountSpec.parse(f"out={tmp_path}:rw")
    assert spec.to_json() == {"name": "out", "source": str(tmp_path), "writable": True}
    assert MountSpec.load(spec.to_json()) == spec
    assert MountSpec.load(f"out={tmp_path}:rw") == spec  # runs queued before MountSpec


def test_mount_specs_of_web_resources():
    spec = MountSpec.parse("web=https://example.org/files/x.json")
    provider = spec.provider()
    assert spec.name == "web" and isinstance(provider, mounts.Http)
    assert provider.resources == {"x.json": "https://example.org/files/x.json"}
    assert not provider.writable
    assert MountSpec.parse("site=https://example.org/").provider().resources == {
        "index.html": "https://example.org/"
    }
    assert MountSpec.parse("ro=http://example.org/a.csv:ro").provider().resources == {
        "a.csv": "http://example.org/a.csv"
    }


def test_mount_specs_of_fsspec_urls(tmp_path):
    provider = MountSpec.parse("m=memory://spec-bucket:rw").provider()
    assert isinstance(provider, mounts.Fsspec) and provider.writable
    assert not MountSpec.parse("m=memory://spec-bucket").provider().writable
    zip_path = tmp_path / "a.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("x.txt", "x")
    assert isinstance(MountSpec.parse(f"z=zip://::{zip_path}").provider(), mounts.Fsspec)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "data",
        "=./data",
        "data=",
        "data=:rw",
        "a/b=./data",
        "..=./data",
        ".=./data",
        "has space=./data",
        "web=https://example.org/x.json:rw",
        "data=./does-not-exist",
        "data=./a-file.txt",
    ],
)
def test_mount_specs_refuse_bad_text_with_a_value_error(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "a-file.txt").write_text("x")
    with pytest.raises(ValueError):
        MountSpec.parse(spec)
