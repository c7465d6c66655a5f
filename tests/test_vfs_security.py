"""The host is the authority over /mnt: hostile sandboxed code cannot read or write
outside its mounts or change a read-only mount, and broken providers or odd host
files never take the host down.

Sandboxed Python reaches the worker's JS realm (hence `postMessage` and the
emscripten FS objects), so requests are forged there the way an attacker would.
Every check ends on the host file system: nothing outside a mount is read into
any result, nothing is created, changed or deleted where it must not be.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import secrets
from pathlib import Path

import fsspec
import pytest
from snippets import ERRNO

from throwaway import Sandbox, mounts
from throwaway.vfs.provider import MountProvider, Stat
from throwaway.vfs.spool import MAX_SPOOLS
from throwaway.vfs.table import MountTable

#: Host content that no sandbox may ever see. Its size (SECRET_SIZE) must not leak either.
SECRET = f"host-secret-{secrets.token_hex(8)}"
SECRET_SIZE = 31_337
PASSWD_MARK = "root:x:0:0"


#: Gives sandboxed Python the JS realm's `Function` constructor, hence `self.postMessage`.
REALM = "from pyodide.ffi import to_js\nF = to_js({}).constructor.constructor\n"


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything about a host tree that a write could change (symlinks not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", st.st_mode)
            else:
                out[rel] = ("file", path.read_bytes(), st.st_mtime_ns, st.st_mode)
    return out


def text_of(r) -> str:
    """Everything a run handed back to the host."""
    parts = [r.stdout, r.stderr, r.result or ""]
    if r.error:
        parts += [r.error.type, r.error.message, r.error.traceback]
    return "\n".join(parts)


def assert_nothing_leaked(r) -> None:
    text = text_of(r)
    assert SECRET not in text
    assert PASSWD_MARK not in text
    assert str(SECRET_SIZE) not in text


async def ok(sb: Sandbox, code: str, timeout: float | None = None):
    r = await sb.run(code, timeout=timeout)
    assert r.error is None, r.error
    return r


def build_world(base: Path) -> Path:
    """base/secret.txt and base/secret_dir/ outside the mounts; data/ (read-only mount),
    out/ (writable mount) and other/ (a second writable mount) with links leading out."""
    (base / "secret.txt").write_text(SECRET + "x" * (SECRET_SIZE - len(SECRET)))
    (base / "secret_dir").mkdir()
    (base / "secret_dir" / "inner.txt").write_text(SECRET)
    data, out, other = base / "data", base / "out", base / "other"
    for d in (data, out, other):
        d.mkdir()
    (data / "a.txt").write_text("hello")
    (data / "sub").mkdir()
    (data / "sub" / "b.txt").write_text("bee")
    (data / "empty").mkdir()
    os.symlink(base / "secret.txt", data / "abs_link")
    os.symlink("../secret.txt", data / "rel_link")
    os.symlink(base / "secret_dir", data / "dir_link")
    os.symlink("abs_link", data / "chain_link")  # a link to a link that leads out
    os.symlink("/etc/passwd", data / "passwd_link")
    os.symlink("a.txt", data / "inside_link")  # stays inside the root: allowed
    (out / "keep.txt").write_text("keep")
    os.symlink(base / "secret.txt", out / "w_link")
    os.symlink(base / "secret_dir", out / "w_dir_link")
    return base


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return build_world(tmp_path_factory.mktemp("vfs-sec"))


def make_sandbox(world: Path, **kwargs) -> Sandbox:
    return Sandbox(
        mounts={
            "data": mounts.LocalDir(world / "data"),
            "out": mounts.LocalDir(world / "out", writable=True),
            "other": mounts.LocalDir(world / "other", writable=True),
        },
        **kwargs,
    )


@pytest.fixture(scope="module")
async def sb(world):
    sandbox = make_sandbox(world, timeout=20)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.close()


@pytest.fixture
def untouched(world):
    """Asserts at teardown that nothing outside out/ and other/ changed on the host."""
    outside = {k: v for k, v in snapshot(world).items() if not k.startswith(("out", "other"))}
    yield
    after = {k: v for k, v in snapshot(world).items() if not k.startswith(("out", "other"))}
    assert after == outside, "the host changed outside the writable mounts"


# ---- read-only mounts ---------------------------------------------------------------------


async def test_every_way_of_writing_to_a_read_only_mount_leaves_the_host_untouched(
    sb, world, untouched
):
    r = await ok(
        sb,
        ERRNO
        + "import pathlib, shutil\n"
        + "R = '/mnt/data'\n"
        + "out = [err(open, R + '/new.txt', 'w'), err(open, R + '/a.txt', 'w'),\n"
        + "  err(open, R + '/a.txt', 'a'), err(open, R + '/a.txt', 'r+'),\n"
        + "  err(open, R + '/new.txt', 'x'),\n"
        + "  err(os.open, R + '/a.txt', os.O_WRONLY | os.O_TRUNC),\n"
        + "  err(os.mkdir, R + '/d'), err(os.makedirs, R + '/sub/d/e'),\n"
        + "  err(os.remove, R + '/a.txt'), err(os.rmdir, R + '/empty'),\n"
        + "  err(os.rename, R + '/a.txt', R + '/b.txt'),\n"
        + "  err(os.replace, R + '/a.txt', R + '/sub/b.txt'),\n"
        + "  err(os.truncate, R + '/a.txt', 0), err(shutil.copy, R + '/a.txt', R + '/c.txt'),\n"
        + "  err(shutil.rmtree, R + '/sub'), err(pathlib.Path(R, 'p.txt').write_text, 'x'),\n"
        + "  err(os.symlink, '/etc/passwd', R + '/s'),\n"
        + "  err(link, R + '/a.txt', R + '/h') if link else 'ENOSYS',\n"
        + "  err(os.utime, R + '/a.txt', (0, 0))]\n"
        + "out",
    )
    codes = eval(r.result)
    # utime is allowed to be a no-op; everything else must fail
    assert all(c in ("EACCES", "EROFS", "EPERM", "ENOSYS") for c in codes[:-1]), codes


async def test_tampering_with_node_modes_in_the_sandbox_does_not_make_a_mount_writable(
    forge_sb, forge_world
):
    """The modes are only a courtesy for early errors: the host refuses on its own."""
    before = snapshot(forge_world)
    r = await ok(
        forge_sb,
        ERRNO
        + "def jserr(fn):\n"
        + "    try:\n"
        + "        fn()\n"
        + "    except Exception as e:\n"
        + "        return type(e).__name__\n"
        + "    return 'no error'\n"
        + "import pyodide_js\n"
        + "FS = pyodide_js.FS\n"
        + "root = FS.lookupPath('/mnt/data').node\n"
        + "root.mount.opts.writable = True\n"
        + "for path in ['/mnt/data', '/mnt/data/a.txt', '/mnt/data/sub', '/mnt/data/empty']:\n"
        + "    node = FS.lookupPath(path).node\n"
        + "    node.mode = node.mode | 0o777\n"
        + "R = '/mnt/data'\n"
        + "def put(path, mode, data):\n"
        + "    with open(path, mode) as f:\n"
        + "        f.write(data)\n"
        + "out = [err(put, R + '/new.txt', 'w', 'x'), err(put, R + '/a.txt', 'w', 'x'),\n"
        + "  err(put, R + '/a.txt', 'a', 'x'), err(os.mkdir, R + '/d'),\n"
        + "  err(os.remove, R + '/a.txt'), err(os.rmdir, R + '/empty'),\n"
        + "  err(os.rename, R + '/a.txt', R + '/b.txt'), err(os.truncate, R + '/a.txt', 0),\n"
        + "  jserr(lambda: FS.writeFile(R + '/js.txt', 'from js')),\n"
        + "  jserr(lambda: FS.mkdir(R + '/js_dir')), jserr(lambda: FS.unlink(R + '/a.txt'))]\n"
        + "out",
    )
    assert snapshot(forge_world) == before
    assert "no error" not in eval(r.result), r.result


async def test_renaming_from_a_read_only_mount_into_a_writable_one_leaves_the_source(
    sb, world, untouched
):
    r = await ok(sb, ERRNO + "err(os.rename, '/mnt/data/a.txt', '/mnt/out/a.txt')")
    assert r.result == repr("EXDEV")
    assert not (world / "out" / "a.txt").exists()


# ---- `..` and absolute paths -------------------------------------------------------------------


async def test_dotdot_paths_never_reach_the_host(sb, world, untouched):
    secret_path = str(world / "secret.txt")
    r = await sb.run(
        "import os\n"
        "got = []\n"
        f"for p in ['/mnt/data/../../etc/passwd', '/mnt/data/../secret.txt',\n"
        f"          '/mnt/data/sub/../../secret.txt', '/mnt/data/../../../../../../etc/passwd',\n"
        f"          '/mnt/data/..' + {secret_path!r}, '/mnt/data/' + {secret_path!r},\n"
        f"          '/mnt/data//..//secret.txt', '/mnt/data/./../secret.txt']:\n"
        "    try:\n"
        "        got.append(open(p).read())\n"
        "    except OSError as e:\n"
        "        got.append(type(e).__name__)\n"
        "os.chdir('/mnt/data/sub')\n"
        "for p in ['../../secret.txt', '../../../etc/passwd', '../../../' + "
        f"{secret_path!r}]:\n"
        "    try:\n"
        "        got.append(open(p).read())\n"
        "    except OSError as e:\n"
        "        got.append(type(e).__name__)\n"
        "os.chdir('/workspace')\n"
        "print(got)\n"
        "sorted(os.listdir('/mnt/data/..')), sorted(os.listdir('/mnt/data/sub/..'))"
    )
    assert_nothing_leaked(r)
    assert r.error is None, r.error
    assert r.result == repr(
        (["data", "other", "out"], sorted(["a.txt", "sub", "empty", *LINKS_IN_DATA]))
    )


LINKS_IN_DATA = ["abs_link", "rel_link", "dir_link", "chain_link", "passwd_link", "inside_link"]


async def test_dotdot_writes_stay_in_the_sandbox(sb, world, untouched):
    before = snapshot(world / "out")
    r = await sb.run(
        ERRNO
        + "[err(lambda: open('/mnt/out/../escaped.txt', 'w').write('x')),\n"
        + " err(lambda: open('/mnt/out/../../escaped.txt', 'w').write('x')),\n"
        + " err(os.mkdir, '/mnt/out/../escaped_dir')]"
    )
    assert r.error is None, r.error
    assert snapshot(world / "out") == before  # whatever happened, it happened in sandbox memory
    assert not any(p.name.startswith("escaped") for p in world.rglob("*"))
    assert not Path("/escaped.txt").exists()


# ---- symlinks on the host ----------------------------------------------------------------------


class fresh_links:
    """Links leading out of data/, made on the host under names the sandbox has never seen
    (the sandbox keeps nodes it has looked up), removed afterwards."""

    def __init__(self, world: Path):
        self.data, tag = world / "data", secrets.token_hex(3)
        self.targets = {
            f"abs-{tag}": world / "secret.txt",
            f"rel-{tag}": Path("../secret.txt"),
            f"passwd-{tag}": Path("/etc/passwd"),
            f"dir-{tag}": world / "secret_dir",
        }
        self.chain = f"chain-{tag}"

    def __enter__(self) -> list[str]:
        for name, target in self.targets.items():
            os.symlink(target, self.data / name)
        os.symlink(next(iter(self.targets)), self.data / self.chain)
        return [*self.targets, self.chain]

    def __exit__(self, *exc_info) -> None:
        for name in [*self.targets, self.chain]:
            (self.data / name).unlink()


ATTEMPT = (
    "import os\n"
    "got = []\n"
    "def attempt(fn, *args):\n"
    "    try:\n"
    "        got.append(repr(fn(*args)))\n"
    "    except OSError as e:\n"
    "        got.append(type(e).__name__)\n"
)


async def test_links_leading_out_of_a_mount_leak_nothing(sb, world):
    with fresh_links(world) as names:
        r = await sb.run(
            ATTEMPT
            + f"names = {names!r}\n"
            + "for name in names:\n"
            + "    p = '/mnt/data/' + name\n"
            + "    attempt(lambda: open(p).read())\n"
            + "    attempt(lambda: open(p, 'rb').read(100))\n"
            + "    attempt(lambda: os.stat(p).st_size)\n"
            + "    attempt(os.listdir, p)\n"
            + "    attempt(lambda: open(p + '/inner.txt').read())\n"
            + "with os.scandir('/mnt/data') as it:\n"
            + "    for e in it:\n"
            + "        attempt(lambda: e.stat().st_size)\n"
            + "for name in names:\n"  # again, now that the listing has been seen
            + "    p = '/mnt/data/' + name\n"
            + "    attempt(lambda: open(p).read())\n"
            + "    attempt(lambda: os.stat(p).st_size)\n"
            + "    attempt(os.path.getsize, p)\n"
            + "    attempt(lambda: open(p + '/inner.txt').read())\n"
            + "print(got)\n"
        )
    assert r.error is None, r.error
    assert_nothing_leaked(r)


async def test_a_link_that_leads_out_is_permission_denied(sb, world):
    """LocalDir: "a symlink that points elsewhere reads as permission denied"."""
    with fresh_links(world) as names:
        r = await ok(
            sb,
            ATTEMPT
            + f"for name in {names!r}:\n"
            + "    for fn in (open, os.stat, os.listdir):\n"
            + "        attempt(fn, '/mnt/data/' + name)\n"
            + "got",
        )
    assert_nothing_leaked(r)
    assert eval(r.result) == ["PermissionError"] * 3 * len(names), r.result


async def test_a_link_that_leads_out_is_permission_denied_also_right_after_a_listing(sb, world):
    with fresh_links(world) as names:
        r = await ok(
            sb,
            ATTEMPT
            + "os.listdir('/mnt/data')\n"
            + f"for name in {names!r}:\n"
            + "    attempt(lambda: os.stat('/mnt/data/' + name).st_size)\n"
            + "    attempt(open, '/mnt/data/' + name)\n"
            + "got",
        )
    assert eval(r.result) == ["PermissionError"] * 2 * len(names), r.result


async def test_a_link_that_stays_inside_the_mount_reads_its_target(sb):
    r = await ok(sb, "open('/mnt/data/inside_link').read()")
    assert r.result == repr("hello")


async def test_writes_through_links_in_a_writable_mount_never_touch_their_targets(
    sb, world, untouched
):
    r = await sb.run(
        ERRNO
        + "import shutil\n"
        + "O = '/mnt/out'\n"
        + "def put(path, mode, data):\n"
        + "    with open(path, mode) as f:\n"
        + "        f.write(data)\n"
        + "[err(put, O + '/w_link', 'w', 'overwritten'),\n"
        + " err(put, O + '/w_link', 'a', 'appended'),\n"
        + " err(os.truncate, O + '/w_link', 0),\n"
        + " err(put, O + '/w_dir_link/new.txt', 'w', 'planted'),\n"
        + " err(put, O + '/w_dir_link/inner.txt', 'w', 'overwritten'),\n"
        + " err(os.remove, O + '/w_dir_link/inner.txt'),\n"
        + " err(os.rename, O + '/w_dir_link/inner.txt', O + '/stolen.txt'),\n"
        + " err(os.rename, O + '/keep.txt', O + '/w_dir_link/planted.txt'),\n"
        + " err(os.mkdir, O + '/w_dir_link/made'),\n"
        + " err(shutil.rmtree, O + '/w_dir_link'),\n"
        + " err(shutil.copy, O + '/keep.txt', O + '/w_link')]"
    )
    assert r.error is None, r.error
    assert_nothing_leaked(r)
    codes = eval(r.result)
    assert "no error" not in codes[:-1], codes  # copying over the link may replace the link
    assert (world / "out" / "keep.txt").read_text() == "keep"
    assert not (world / "out" / "stolen.txt").exists()


async def test_sandboxed_code_cannot_make_links_or_hard_links_in_a_mount(sb, world, untouched):
    before = snapshot(world / "out")
    r = await ok(
        sb,
        ERRNO
        + "[err(os.symlink, '/etc/passwd', '/mnt/out/s'), err(os.symlink, '..', '/mnt/out/up'),\n"
        + " err(link, '/mnt/out/keep.txt', '/mnt/out/h') if link else 'ENOSYS']",
    )
    assert all(c != "no error" for c in eval(r.result))
    assert snapshot(world / "out") == before


# ---- forged requests through the JS realm ----------------------------------------------------


def post(seq: int, request: object, blob: bytes | None = None, raw: str | None = None) -> str:
    """Sandboxed code that posts one forged /mnt request to the Deno main thread."""
    json_text = raw if raw is not None else json.dumps(request)
    blob_js = f"new Uint8Array({list(blob)})" if blob is not None else "null"
    body = f"self.postMessage({{type: 'sync', seq: {seq}, json: {json_text!r}, blob: {blob_js}}})"
    return f"F({body!r})()\n"


@pytest.fixture(scope="module")
async def forge_world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("vfs-forge"))


@pytest.fixture(scope="module")
async def forge_sb(forge_world):
    sandbox = make_sandbox(forge_world, timeout=20)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.close()


async def settle(sb: Sandbox, world: Path, tag: str) -> None:
    """Post a harmless forged write last and wait until the host has done it: requests are
    answered in order, so every forged request before it has been answered too."""
    r = await sb.run(REALM + post(10**6, {"op": "write", "mount": "other", "path": tag}, b"x"))
    assert r.error is None, r.error
    for _ in range(500):
        if (world / "other" / tag).exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the host never answered the forged requests")


async def still_works(sb: Sandbox) -> None:
    """A read through the mount works again (a stray forged reply may hit one call)."""
    for _ in range(20):
        r = await sb.run("open('/mnt/data/a.txt').read()")
        if r.result == repr("hello"):
            return
        assert_nothing_leaked(r)
    raise AssertionError(f"the sandbox no longer reads its mount: {r.error}")


HOSTILE_READS = [
    {"op": "read", "mount": "data", "path": "../secret.txt", "offset": 0, "size": 100},
    {"op": "read", "mount": "data", "path": "sub/../../secret.txt", "offset": 0, "size": 100},
    {"op": "read", "mount": "data", "path": "abs_link", "offset": 0, "size": 100},
    {"op": "read", "mount": "data", "path": "dir_link/inner.txt", "offset": 0, "size": 100},
    {"op": "read", "mount": "data", "path": "passwd_link", "offset": 0, "size": 100},
    {"op": "open", "mount": "data", "path": "../secret.txt", "prefetch": 65536},
    {"op": "stat", "mount": "data", "path": "../secret.txt"},
    {"op": "list", "mount": "data", "path": ".."},
    {"op": "list", "mount": "data", "path": "dir_link"},
    {"op": "read", "mount": "..", "path": "secret.txt", "offset": 0, "size": 100},
    {"op": "read", "mount": "data/..", "path": "secret.txt", "offset": 0, "size": 100},
]


async def test_forged_reads_outside_a_mount_never_return_the_secret(forge_sb, forge_world):
    world = forge_world
    secret_path = str(world / "secret.txt")
    reads = [
        *HOSTILE_READS,
        {"op": "read", "mount": "data", "path": secret_path, "offset": 0, "size": 100},
        {"op": "read", "mount": "data", "path": "/etc/passwd", "offset": 0, "size": 100},
    ]
    code = REALM
    # seq numbers that the sandbox's own next calls will use, so forged replies may hit them
    for seq in range(1, 300):
        code += post(seq, reads[seq % len(reads)])
    code += (
        "got = []\n"
        "for _ in range(30):\n"
        "    try:\n"
        "        got.append(open('/mnt/data/a.txt').read())\n"
        "        got.append(open('/mnt/data/sub/b.txt', 'rb').read())\n"
        "        got.append(os.listdir('/mnt/data'))\n"
        "    except Exception as e:\n"
        "        got.append(repr(e))\n"
        "print(got)\n"
    )
    r = await forge_sb.run("import os\n" + code)
    assert_nothing_leaked(r)
    await settle(forge_sb, world, "settled-reads")
    await still_works(forge_sb)


async def test_forged_changes_outside_writable_mounts_do_nothing(forge_sb, forge_world):
    world = forge_world
    outside = {k: v for k, v in snapshot(world).items() if not k.startswith("other")}
    secret_path = str(world / "secret.txt")
    hostile = [
        {"op": "write", "mount": "data", "path": "pwned.txt"},  # read-only mount
        {"op": "write", "mount": "data", "path": "a.txt"},
        {"op": "create", "mount": "data", "path": "pwned.txt", "exclusive": True},
        {"op": "mkdir", "mount": "data", "path": "pwned_dir"},
        {"op": "remove", "mount": "data", "path": "a.txt"},
        {"op": "rmdir", "mount": "data", "path": "empty"},
        {"op": "rename", "mount": "data", "path": "a.txt", "dest": "moved.txt"},
        {"op": "truncate", "mount": "data", "path": "a.txt", "size": 0},
        {"op": "write", "mount": "out", "path": "../pwned.txt"},  # out of a writable mount
        {"op": "write", "mount": "out", "path": "../data/a.txt"},
        {"op": "write", "mount": "out", "path": "../secret.txt"},
        {"op": "write", "mount": "out", "path": secret_path},
        {"op": "write", "mount": "out", "path": "/tmp/pwned-by-forgery.txt"},
        {"op": "write", "mount": "out", "path": "w_link"},
        {"op": "write", "mount": "out", "path": "w_dir_link/inner.txt"},
        {"op": "write", "mount": "out", "path": "./x/../../pwned.txt"},
        {"op": "write", "mount": "out", "path": "ok/\u0000/../../pwned.txt"},
        {"op": "write", "mount": "out", "path": "a//../../pwned.txt"},
        {"op": "create", "mount": "out", "path": "../pwned.txt"},
        {"op": "mkdir", "mount": "out", "path": "../pwned_dir"},
        {"op": "mkdir", "mount": "out", "path": "w_dir_link/pwned_dir"},
        {"op": "remove", "mount": "out", "path": "../secret.txt"},
        {"op": "remove", "mount": "out", "path": "w_dir_link/inner.txt"},
        {"op": "remove", "mount": "out", "path": secret_path},
        {"op": "rmdir", "mount": "out", "path": "../secret_dir"},
        {"op": "rmdir", "mount": "out", "path": "../data/empty"},
        {"op": "truncate", "mount": "out", "path": "../secret.txt", "size": 0},
        {"op": "truncate", "mount": "out", "path": "w_link", "size": 0},
        {"op": "rename", "mount": "out", "path": "keep.txt", "dest": "../moved.txt"},
        {"op": "rename", "mount": "out", "path": "../secret.txt", "dest": "stolen.txt"},
        {"op": "rename", "mount": "out", "path": "w_dir_link/inner.txt", "dest": "stolen.txt"},
        {"op": "rename", "mount": "out", "path": "keep.txt", "dest": secret_path},
        {"op": "rename", "mount": "out", "path": "keep.txt", "dest": "w_dir_link/inner.txt"},
        {"op": "rename", "mount": "out", "path": "", "dest": "root-moved"},
        {"op": "write", "mount": "nope", "path": "pwned.txt"},  # unknown mount
        {"op": "write", "mount": "", "path": "pwned.txt"},
        {"op": "write", "mount": None, "path": "pwned.txt"},
        {"op": "write", "mount": ["out"], "path": "pwned.txt"},
        {"op": "write", "mount": "out", "path": ["pwned.txt"]},
        {"op": "write", "mount": "out", "path": None},
        {"op": "write", "mount": "out", "path": 7},
        {"op": "exec", "mount": "out", "path": "pwned.txt"},  # unknown ops
        {"op": "_exists", "mount": "out", "path": "pwned.txt"},
        {"op": "__init__", "mount": "out", "path": "pwned.txt"},
        {"op": "handle", "mount": "out", "path": "pwned.txt"},
        {"op": "read", "mount": "out", "path": "keep.txt", "offset": -1, "size": 10},  # sizes
        {"op": "read", "mount": "out", "path": "keep.txt", "offset": 0, "size": 2**70},
        {"op": "read", "mount": "out", "path": "keep.txt", "offset": 2**70, "size": 10},
        {"op": "read", "mount": "out", "path": "keep.txt", "offset": "0", "size": "10"},
        {"op": "read", "mount": "out", "path": "keep.txt", "offset": 0.5, "size": True},
        {"op": "open", "mount": "out", "path": "keep.txt", "prefetch": 2**70},
        {"op": "truncate", "mount": "out", "path": "keep.txt", "size": -1},
        {"op": "truncate", "mount": "out", "path": "keep.txt", "size": "big"},
        [1, 2, 3],
        "write",
        None,
        {"op": 7},
        {},
    ]
    code = REALM
    for i, request in enumerate(hostile):
        code += post(100_000 + i, request, b"PWNED")
    for i, raw in enumerate(["garbage{", "", "null", "[]", '"x"', "1e999", '{"op":"write"'], 1):
        code += post(200_000 + i, None, b"PWNED", raw=raw)
    code += post(300_000, {"op": "write", "mount": "out", "path": "x" * 100_000}, b"PWNED")
    r = await forge_sb.run(code)
    assert r.error is None, r.error
    await settle(forge_sb, world, "settled-changes")
    after = {k: v for k, v in snapshot(world).items() if not k.startswith("other")}
    assert after == outside
    assert not Path("/tmp/pwned-by-forgery.txt").exists()
    assert (world / "secret.txt").read_text().startswith(SECRET)
    await still_works(forge_sb)


async def test_forged_messages_with_bad_seq_or_types_are_ignored(forge_sb, forge_world):
    r = await forge_sb.run(
        REALM
        + "\n".join(
            f"F({body!r})()"
            for body in [
                "self.postMessage({type: 'sync', seq: 'x', json: '{}'})",
                "self.postMessage({type: 'sync', seq: 1.5, json: '{}'})",
                "self.postMessage({type: 'sync', json: '{}'})",
                "self.postMessage({type: 'sync', seq: -1, json: {op: 'read'}})",
                "self.postMessage({type: 'sync', seq: 2, json: '{}', blob: 'not bytes'})",
                "self.postMessage({type: 'syncreply', seq: 1, json: '{\"ok\": true}'})",
                "self.postMessage({type: 'sync', seq: 2 ** 53, json: '{}'})",
                "self.postMessage({type: 'sync', seq: 3, json: 'x'.repeat(1 << 20)})",
            ]
        )
    )
    assert r.error is None, r.error
    await settle(forge_sb, forge_world, "settled-types")
    await still_works(forge_sb)


# ---- MountTable, directly ---------------------------------------------------------------------


class Exploding(MountProvider):
    writable = True

    def __init__(self, exc: BaseException):
        self.exc = exc

    async def stat(self, path):
        raise self.exc

    list = read = write = mkdir = remove = rmdir = rename = stat


class Hanging(MountProvider):
    async def stat(self, path):
        await asyncio.sleep(3600)
        return Stat(is_dir=False)

    async def read(self, path, offset, size):
        await asyncio.sleep(3600)
        return b""


class Lister(MountProvider):
    """A provider whose listing contains names that must never reach the sandbox."""

    async def stat(self, path):
        return Stat(is_dir=True)

    async def list(self, path):
        return ["ok.txt", "..", ".", "", "a/b", "../up", "nul\0name", "\udcff", "x" * 300]


@pytest.fixture
def table(tmp_path):
    world = build_world(tmp_path)
    t = MountTable(
        {
            "data": mounts.LocalDir(world / "data"),
            "out": mounts.LocalDir(world / "out", writable=True),
            "boom": Exploding(RuntimeError("boom")),
            "weird": Exploding(OSError(99999, "no such errno")),
            "plain": Exploding(OSError("no errno at all")),
            "keys": Exploding(KeyError("k")),
            "hang": Hanging(),
            "list": Lister(),
        },
        timeout=0.5,
        max_file_bytes=1 << 20,
    )
    t.world = world
    return t


TABLE_HOSTILE = [
    *HOSTILE_READS,
    {"op": "write", "mount": "data", "path": "pwned.txt"},
    {"op": "create", "mount": "data", "path": "pwned.txt"},
    {"op": "truncate", "mount": "data", "path": "a.txt", "size": 0},
    {"op": "rename", "mount": "data", "path": "a.txt", "dest": "b.txt"},
    {"op": "write", "mount": "out", "path": "../pwned.txt"},
    {"op": "write", "mount": "out", "path": "/tmp/pwned-by-table.txt"},
    {"op": "write", "mount": "out", "path": "w_link"},
    {"op": "write", "mount": "out", "path": "w_dir_link/x.txt"},
    {"op": "write", "mount": "out", "path": "a/./b"},
    {"op": "write", "mount": "out", "path": "a//b"},
    {"op": "write", "mount": "out", "path": "a/"},
    {"op": "write", "mount": "out", "path": "nul\0.txt"},
    {"op": "write", "mount": "out", "path": "\udcff.txt"},
    {"op": "write", "mount": "out", "path": "x" * 256},
    {"op": "write", "mount": "out", "path": "/".join(["d"] * 3000)},
    {"op": "mkdir", "mount": "out", "path": "../pwned_dir"},
    {"op": "remove", "mount": "out", "path": "../secret.txt"},
    {"op": "remove", "mount": "out", "path": "w_dir_link/inner.txt"},
    {"op": "rmdir", "mount": "out", "path": "../secret_dir"},
    {"op": "rmdir", "mount": "out", "path": ""},
    {"op": "remove", "mount": "out", "path": ""},
    {"op": "rename", "mount": "out", "path": "keep.txt", "dest": "../moved.txt"},
    {"op": "rename", "mount": "out", "path": "keep.txt"},
    {"op": "rename", "mount": "out", "path": "", "dest": "x"},
    {"op": "rename", "mount": "out", "path": "w_dir_link/inner.txt", "dest": "stolen.txt"},
    {"op": "truncate", "mount": "out", "path": "../secret.txt", "size": 0},
    {"op": "truncate", "mount": "out", "path": "keep.txt"},
    {"op": "truncate", "mount": "out", "path": "keep.txt", "size": -5},
    {"op": "read", "mount": "out", "path": "keep.txt", "offset": -1, "size": 1},
    {"op": "read", "mount": "out", "path": "keep.txt", "offset": 0, "size": "1"},
    {"op": "read", "mount": "out", "path": "keep.txt", "offset": 0, "size": None},
    {"op": "read", "mount": "out", "path": "keep.txt", "offset": 0, "size": False},
    {"op": "read", "mount": "out", "path": "keep.txt", "offset": 1.0, "size": 1},
    {"op": "open", "mount": "out", "path": "keep.txt", "prefetch": -1},
    {"op": "read", "mount": "out", "path": "missing.txt", "offset": 0, "size": 1},
    {"op": "read", "mount": "out", "path": "", "offset": 0, "size": 1},
    {"op": "list", "mount": "out", "path": "keep.txt"},
    {"op": "nope", "mount": "out", "path": "keep.txt"},
    {"op": "chmod", "mount": "data", "path": "a.txt", "mode": 0o777},
    {"op": "chmod", "mount": "out", "path": "../secret.txt", "mode": 0o777},
    {"op": "chmod", "mount": "out", "path": "keep.txt", "mode": "0o777"},
    {"op": "utime", "mount": "data", "path": "a.txt", "mtime": 0},
    {"op": "utime", "mount": "out", "path": "keep.txt", "mtime": "yesterday"},
    {"op": "utime", "mount": "out", "path": "keep.txt", "mtime": 1e300},
    {"op": "utime", "mount": "out", "path": "w_link", "mtime": 0},
    {"op": "spool", "mount": "data", "path": "a.txt", "copy": True},
    {"op": "spool", "mount": "out", "path": "w_link", "copy": True},
    {"op": "put", "mount": "out", "path": "keep.txt", "spool": 999, "offset": 0},
    {"op": "put", "mount": "data", "path": "a.txt", "spool": 1, "offset": 0},
    {"op": "get", "mount": "out", "path": "keep.txt", "spool": "1", "offset": 0, "size": 1},
    {"op": "cut", "mount": "out", "path": "keep.txt", "spool": [1], "size": 0},
    {"op": "commit", "mount": "out", "path": "keep.txt", "spool": 12345},
    {"op": "commit", "mount": "out", "path": "keep.txt", "spool": True},
    {"op": "release", "mount": "out", "path": "keep.txt", "spool": None},
    {"op": "_exists", "mount": "out", "path": "keep.txt"},
    {"op": "_handle", "mount": "out", "path": "keep.txt"},
    {"op": "read", "mount": "missing", "path": "x"},
    {"op": "read", "mount": 1, "path": "x"},
    {"op": "read", "mount": {"out": 1}, "path": "x"},
    {"op": ["read"], "mount": "out", "path": "keep.txt"},
    {"op": None},
    {},
    [],
    None,
    "read",
    12,
    {"op": "read", "mount": "boom", "path": "x", "offset": 0, "size": 1},
    {"op": "stat", "mount": "boom", "path": "x"},
    {"op": "stat", "mount": "weird", "path": "x"},
    {"op": "stat", "mount": "plain", "path": "x"},
    {"op": "list", "mount": "keys", "path": ""},
    {"op": "write", "mount": "boom", "path": "x"},
    {"op": "stat", "mount": "hang", "path": "x"},
    {"op": "open", "mount": "hang", "path": "x", "prefetch": 10},
]


@pytest.mark.parametrize("request_", TABLE_HOSTILE, ids=[str(i) for i in range(len(TABLE_HOSTILE))])
async def test_mount_table_answers_hostile_requests_with_an_errno(table, request_):
    before = snapshot(table.world)
    reply, blob = await table.handle(request_, b"PWNED")
    assert set(reply) == {"errno", "message"}, reply
    assert reply["errno"] in errno.errorcode.values()
    assert blob == b""
    assert snapshot(table.world) == before
    assert SECRET not in json.dumps(reply)
    assert not Path("/tmp/pwned-by-table.txt").exists()


async def test_mount_table_errno_names_for_provider_failures(table):
    async def errno_of(request):
        reply, _ = await table.handle(request, b"")
        return reply.get("errno")

    assert await errno_of({"op": "stat", "mount": "boom", "path": "x"}) == "EIO"
    assert await errno_of({"op": "stat", "mount": "weird", "path": "x"}) == "EIO"
    assert await errno_of({"op": "stat", "mount": "keys", "path": "x"}) == "EIO"
    assert await errno_of({"op": "stat", "mount": "hang", "path": "x"}) == "ETIMEDOUT"
    assert await errno_of({"op": "write", "mount": "data", "path": "x"}) == "EROFS"
    assert await errno_of({"op": "read", "mount": "data", "path": "../secret.txt"}) == "EACCES"
    assert await errno_of({"op": "stat", "mount": "data", "path": "abs_link"}) == "EACCES"
    assert await errno_of({"op": "stat", "mount": "data", "path": "missing"}) == "ENOENT"
    assert await errno_of({"op": "stat", "mount": "nope", "path": ""}) == "ENOENT"
    assert await errno_of({"op": "frobnicate", "mount": "data", "path": ""}) == "ENOSYS"
    assert await errno_of(None) == "EINVAL"
    assert await errno_of({"op": "write", "mount": "out", "path": "x" * 256}) == "ENAMETOOLONG"


async def test_mount_table_refuses_files_over_the_size_limit(table):
    reply, _ = await table.handle({"op": "write", "mount": "out", "path": "big"}, b"x" * (2 << 20))
    assert reply["errno"] == "EFBIG"
    assert not (table.world / "out" / "big").exists()


async def test_mount_table_spools_are_capped_in_size_and_number(table):
    async def ask(op, blob=b"", **args):
        request = {"op": op, "mount": "out", "path": "spooled.bin", **args}
        return (await table.handle(request, blob))[0]

    first = (await ask("spool", blob=b"x"))["spool"]
    assert (await ask("put", spool=first, offset=(1 << 20) - 1, blob=b"xy"))["errno"] == "EFBIG"
    assert (await ask("cut", spool=first, size=(1 << 20) + 1))["errno"] == "EFBIG"
    (table.world / "out" / "huge.bin").write_bytes(b"h" * (2 << 20))
    huge = {"op": "spool", "mount": "out", "path": "huge.bin", "copy": True}
    assert (await table.handle(huge, b""))[0]["errno"] == "EFBIG"
    more = [(await ask("spool"))["spool"] for _ in range(MAX_SPOOLS - 1)]
    assert (await ask("spool"))["errno"] == "EMFILE"
    for number in [first, *more]:
        assert (await ask("release", spool=number)) == {"ok": True}
    assert table.spools.files == {}
    assert not (table.world / "out" / "spooled.bin").exists()


async def test_mount_table_refuses_to_truncate_a_file_beyond_the_size_limit(table):
    """Growing a file by truncate must obey the same limit as writing it (the host
    would otherwise build the whole zero-filled file in memory)."""
    request = {"op": "truncate", "mount": "out", "path": "keep.txt", "size": 4 << 20}
    reply, _ = await table.handle(request, b"")
    assert reply.get("errno") == "EFBIG", reply
    assert (table.world / "out" / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize("op", ["rmdir", "remove", "write", "truncate", "rename"])
async def test_mount_table_never_removes_or_replaces_a_mounts_root(tmp_path, op):
    """The sandbox cannot name a mount's root in a change (emscripten refuses with EBUSY);
    a forged request that does must not delete the host folder, even an empty one."""
    memory = fsspec.filesystem("memory")
    bucket = f"/root-{secrets.token_hex(4)}"
    memory.mkdir(bucket)
    (tmp_path / "empty").mkdir()
    t = MountTable(
        {
            "out": mounts.LocalDir(tmp_path / "empty", writable=True),
            "mem": mounts.Fsspec(f"memory://{bucket}", writable=True),
        }
    )
    for name in ("out", "mem"):
        request = {"op": op, "mount": name, "path": "", "size": 0, "dest": "elsewhere"}
        reply, _ = await t.handle(request, b"")
        assert "errno" in reply, (name, reply)
    assert (tmp_path / "empty").is_dir()
    assert not (tmp_path / "empty" / "elsewhere").exists()
    assert memory.isdir(bucket)
    memory.rm(bucket, recursive=True)


async def test_mount_table_hides_listed_names_that_are_not_plain(table):
    reply, _ = await table.handle({"op": "list", "mount": "list", "path": ""}, b"")
    assert reply["ok"] is True
    assert reply["names"] == ["ok.txt"]
    assert [e["name"] for e in reply["entries"]] in ([], ["ok.txt"])


async def test_mount_table_read_replies_are_capped_at_one_chunk(tmp_path):
    (tmp_path / "big.bin").write_bytes(b"z" * (9 << 20))
    t = MountTable({"d": mounts.LocalDir(tmp_path)})
    reply, blob = await t.handle(
        {"op": "read", "mount": "d", "path": "big.bin", "offset": 0, "size": 2**62}, b""
    )
    assert reply == {"ok": True}
    assert 0 < len(blob) <= 8 << 20


async def test_mount_table_refuses_bad_mount_names_and_providers():
    for name in ["", ".", "..", "a/b", "a b", "x\0"]:
        with pytest.raises(ValueError):
            MountTable({name: mounts.Callable(read=lambda p: b"")})
    with pytest.raises(TypeError):
        MountTable({"x": object()})


# ---- broken providers and odd host files, through a sandbox ----------------------------------


@pytest.fixture(scope="module")
async def robust(tmp_path_factory):
    base = tmp_path_factory.mktemp("vfs-robust")
    many, odd, out, big = base / "many", base / "odd", base / "out", base / "big"
    for d in (many, odd, out, big):
        d.mkdir()
    for i in range(10_000):
        (many / f"entry-{i:05d}.txt").touch()
    (odd / "ok.txt").write_text("ok")
    os.close(os.open(bytes(odd) + b"/bad-\xff\xfe.txt", os.O_CREAT | os.O_WRONLY))
    os.mkdir(bytes(odd) + b"/bad-dir-\xc3\x28")
    (odd / ("L" * 255)).write_text("long name")
    (odd / ("é" * 127)).write_text("254 bytes")

    def boom(path):
        raise RuntimeError("the backend is down")

    def listing(path):
        return ["x.txt"] if path == "" else []

    sandbox = Sandbox(
        timeout=60,
        mounts={
            "many": mounts.LocalDir(many),
            "odd": mounts.LocalDir(odd, writable=True),
            "out": mounts.LocalDir(out, writable=True),
            "big": mounts.LocalDir(big),
            "boom": mounts.Callable(read=boom, list=listing),
        },
    )
    await sandbox.start()
    try:
        yield sandbox, base
    finally:
        await sandbox.close()


async def test_a_provider_that_raises_is_eio_in_the_sandbox_and_the_host_stays_up(robust):
    sb, _ = robust
    r = await ok(
        sb,
        ERRNO
        + "[err(os.stat, '/mnt/boom/x.txt'), err(open, '/mnt/boom/x.txt'),\n"
        + " err(lambda: open('/mnt/boom/x.txt', 'rb').read())]",
    )
    assert r.result == repr(["EIO", "EIO", "EIO"])
    assert (await ok(sb, "sorted(os.listdir('/mnt/boom'))")).result == repr(["x.txt"])


async def test_a_provider_that_never_answers_is_etimedout_not_a_hang():
    answered = asyncio.Event()

    async def never(path):
        answered.set()
        await asyncio.sleep(3600)

    sb = Sandbox(timeout=30, mount_timeout=1.0, mounts={"slow": mounts.Callable(read=never)})
    async with sb:
        r = await ok(
            sb,
            ERRNO + "[err(os.stat, '/mnt/slow/x'), err(lambda: open('/mnt/slow/y').read())]",
        )
        assert answered.is_set()
        assert r.result == repr(["ETIMEDOUT", "ETIMEDOUT"])
        assert (await ok(sb, "sorted(os.listdir('/mnt'))")).result == repr(["slow"])


async def test_a_provider_that_never_answers_is_stopped_by_the_run_time_limit():
    async def never(path):
        await asyncio.sleep(3600)

    async with Sandbox(timeout=2, mounts={"slow": mounts.Callable(read=never)}) as sb:
        r = await sb.run("open('/mnt/slow/x').read()")
        assert r.error is not None and r.error.type == "TimeoutError"
        assert (await sb.run("1 + 1")).result == "2"


async def test_a_200_mb_file_goes_through_a_mount_and_back_intact(robust):
    sb, base = robust
    src_dir = base / "big"
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(src_dir / "big.bin", "wb") as f:
        for i in range(200):
            chunk = i.to_bytes(4, "little") + block[4:]
            f.write(chunk)
            digest.update(chunk)
    r = await ok(
        sb,
        "import hashlib, os\n"
        "h = hashlib.sha256()\n"
        "with open('/mnt/big/big.bin', 'rb') as src, open('/mnt/out/copy.bin', 'wb') as dst:\n"
        "    while chunk := src.read(8 << 20):\n"
        "        h.update(chunk)\n"
        "        dst.write(chunk)\n"
        "h.hexdigest(), os.path.getsize('/mnt/big/big.bin'), os.path.getsize('/mnt/out/copy.bin')",
        timeout=120,
    )
    assert r.result == repr((digest.hexdigest(), 200 << 20, 200 << 20))
    with open(base / "out" / "copy.bin", "rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == digest.hexdigest()
    assert r.changes.created == ["/mnt/out/copy.bin"]


async def test_a_folder_with_10000_entries_is_listed(robust):
    sb, _ = robust
    r = await sb.run(
        "import os\n"
        "names = os.listdir('/mnt/many')\n"
        "with os.scandir('/mnt/many') as it:\n"
        "    scanned = sum(1 for e in it if e.is_file())\n"
        "len(names), len(set(names)), min(names), max(names), scanned"
    )
    assert r.error is None, r.error
    assert r.result == repr((10_000, 10_000, "entry-00000.txt", "entry-09999.txt", 10_000))


async def test_non_utf8_host_names_are_skipped_and_the_rest_listed(robust):
    sb, _ = robust
    r = await ok(sb, "sorted(os.listdir('/mnt/odd'))")
    assert r.result == repr(sorted(["ok.txt", "L" * 255, "é" * 127]))
    r = await ok(sb, "open('/mnt/odd/ok.txt').read()")
    assert r.result == repr("ok")


async def test_names_of_255_bytes_work_and_longer_ones_fail_cleanly(robust):
    sb, base = robust
    before = snapshot(base / "odd")
    r = await ok(
        sb,
        ERRNO
        + "O = '/mnt/odd/'\n"
        + "out = [open(O + 'L' * 255).read(), open(O + 'é' * 127).read()]\n"
        + "open(O + 'N' * 255, 'w').write('new long')\n"
        + "out += [err(open, O + 'M' * 256, 'w'), err(open, O + 'é' * 128, 'w'),\n"
        + "        err(os.mkdir, O + 'D' * 300), err(open, O + 'Z' * 1000),\n"
        + "        err(os.stat, O + '/'.join(['d'] * 2100)),\n"
        + "        err(open, O + '/'.join(['d'] * 2100), 'w')]\n"
        + "out",
    )
    got = eval(r.result)
    assert got[:2] == ["long name", "254 bytes"]
    assert got[2:5] == ["ENAMETOOLONG"] * 3  # creating
    # looking up a name that cannot exist: Linux says ENAMETOOLONG, "not found" is clear too
    assert all(code in ("ENAMETOOLONG", "ENOENT") for code in got[5:]), got
    assert (base / "odd" / ("N" * 255)).read_text() == "new long"
    after = snapshot(base / "odd")
    assert set(after) - set(before) == {"N" * 255}
    assert (await ok(sb, "1 + 1")).result == "2"


async def test_a_file_over_the_mount_size_limit_fails_on_close_and_leaves_the_host_as_it_was(
    robust,
):
    sb, base = robust
    sb.mounts.max_file_bytes = 1 << 20  # the table checks it on every write
    try:
        r = await ok(
            sb,
            ERRNO
            + "f = open('/mnt/out/limit.bin', 'wb')\n"
            + "f.write(b'x' * (2 << 20))\n"
            + "err(f.close)",
        )
    finally:
        sb.mounts.max_file_bytes = 512 << 20
    assert r.result == repr("EFBIG")
    assert (base / "out" / "limit.bin").read_bytes() == b""  # made empty at open, never filled
