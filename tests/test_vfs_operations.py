"""File operations on /mnt mounts, as sandboxed Python sees them (real Deno + Pyodide).

Most tests run one snippet twice: inside the sandbox against a mount, and on the
host against a real local directory with the same contents. The values the
snippet computes, and the file tree it leaves behind, must be the same. The
mount under test is a writable local folder (``LocalDir``) and a writable
fsspec memory file system, so both kinds of provider are held to what a real
directory does.

Also here: the audit of changed files (``result.changes``), including after a
timeout.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import struct
import textwrap
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pytest

from throwaway import Sandbox, mounts

#: Seeded into every case directory (sandbox side and host reference alike).
TREE = {
    "a.txt": b"hello world\n",
    "b.bin": bytes(range(256)) * 4,
    "sub/c.txt": b"line 1\nline 2\nline 3\n",
    "sub/deeper/d.csv": b"x,y\n1,2\n3,4\n",
    "big.bin": bytes(range(251)) * 1000,  # past the 64 KiB that comes with `open`
}
EMPTY_DIRS = ["empty"]

#: Available to every snippet, in the sandbox and on the host.
PRELUDE = textwrap.dedent(
    """\
    import errno, os, pathlib, shutil

    def err(fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except OSError as e:
            return errno.errorcode.get(e.errno, e.errno)
        return "no error"

    def rel(path):
        return os.path.relpath(path, ROOT)
    """
)

MEMORY = fsspec.filesystem("memory")


@dataclass
class Env:
    sb: Sandbox
    base: Path  # host folder holding the mounted folders and the references
    bucket: str  # the memory file system's root for the "mem" mount
    counter = 0

    def case(self, kind: str) -> tuple[str, str, Path]:
        """A fresh seeded case folder: (path in the sandbox, host path of the mount side,
        host reference folder). The mount side is seeded through the host, never the sandbox."""
        Env.counter += 1
        name = f"case{Env.counter}"
        ref = self.base / "ref" / name
        seed_local(ref)
        if kind == "local":
            seed_local(self.base / "rw" / name)
            return f"/mnt/rw/{name}", str(self.base / "rw" / name), ref
        root = f"{self.bucket}/{name}"
        for rel_path, data in TREE.items():
            # folders made explicitly, as on a file system (an object store's implied
            # folders vanish with their last file)
            MEMORY.makedirs(f"{root}/{rel_path}".rpartition("/")[0], exist_ok=True)
            MEMORY.pipe_file(f"{root}/{rel_path}", data)
        for d in EMPTY_DIRS:
            MEMORY.mkdir(f"{root}/{d}")
        return f"/mnt/mem/{name}", root, ref


def seed_local(root: Path) -> None:
    for rel_path, data in TREE.items():
        (root / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (root / rel_path).write_bytes(data)
    for d in EMPTY_DIRS:
        (root / d).mkdir()


def local_tree(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            out[os.path.relpath(os.path.join(dirpath, f), root)] = Path(dirpath, f).read_bytes()
    return out


def memory_tree(root: str) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for path, info in MEMORY.find(root, withdirs=True, detail=True).items():
        rel_path = path.rstrip("/")[len(root.rstrip("/")) + 1 :]
        if not rel_path:
            continue
        out[rel_path] = "dir" if info["type"] == "directory" else MEMORY.cat_file(path)
    return out


def host_tree(kind: str, root: str) -> dict[str, bytes | str]:
    return local_tree(Path(root)) if kind == "local" else memory_tree(root)


async def value(sb: Sandbox, code: str):
    """Run code whose last expression is the answer; fail the test on any error."""
    r = await sb.run(code)
    assert r.error is None, f"{r.error}\n--- stdout:\n{r.stdout}"
    return r.result


def on_host(root: Path, snippet: str) -> str:
    ns: dict = {"ROOT": str(root)}
    exec(compile(PRELUDE + snippet, "<host reference>", "exec"), ns)
    return repr(ns["result"])


async def same_as_local(env: Env, kind: str, snippet: str) -> str:
    """Run ``snippet`` (which sets ``result``) on a mount and on a real local folder;
    the results and the trees left behind must be equal. Returns the result's repr."""
    sandbox_root, mount_side, ref = env.case(kind)
    snippet = textwrap.dedent(snippet)
    got = await value(env.sb, f"ROOT = {sandbox_root!r}\n{PRELUDE}{snippet}\nresult")
    expected = on_host(ref, snippet)
    assert got == expected, f"sandbox on {kind} mount != real local folder"
    assert host_tree(kind, mount_side) == local_tree(ref), "the trees left behind differ"
    return got


KINDS = pytest.mark.parametrize("kind", ["local", "memory"])


def png(width: int, height: int, pixels: list[tuple[int, int, int]]) -> bytes:
    """A minimal RGB PNG, built by hand (the host has no imaging library)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\0" + b"".join(bytes(p) for p in pixels[y * width : (y + 1) * width])
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


ZIP_BIG = secrets.token_bytes(300_000)
PIXELS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30), (40, 50, 60), (70, 80, 90)]


@pytest.fixture(scope="module")
async def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("vfs-ops")
    for name in ("ro", "rw", "rw2", "ref"):
        (base / name).mkdir()
    seed_local(base / "ro")
    (base / "ro" / "table.csv").write_text("name,qty,price\napple,3,0.5\npear,2,1.25\nfig,10,0.1\n")
    (base / "ro" / "pic.png").write_bytes(png(3, 2, PIXELS))
    with zipfile.ZipFile(base / "ro" / "archive.zip", "w") as zf:
        zf.writestr("hello.txt", "hi from the zip")
        zf.writestr("nested/dir/big.bin", ZIP_BIG, compress_type=zipfile.ZIP_STORED)
        zf.writestr("nested/packed.txt", "abc" * 50_000, compress_type=zipfile.ZIP_DEFLATED)
    bucket = f"/ops-{secrets.token_hex(4)}"
    MEMORY.mkdir(bucket)
    sb = Sandbox(
        timeout=60,
        mounts={
            "ro": mounts.LocalDir(base / "ro"),
            "rw": mounts.LocalDir(base / "rw", writable=True),
            "rw2": mounts.LocalDir(base / "rw2", writable=True),
            "mem": mounts.Fsspec(f"memory://{bucket}", writable=True),
        },
    )
    await sb.start()
    try:
        yield Env(sb, base, bucket)
    finally:
        await sb.close()
        MEMORY.rm(bucket, recursive=True)


# ---- opening, reading, writing ---------------------------------------------------------


@KINDS
async def test_text_modes_r_w_a_and_r_plus(env, kind):
    await same_as_local(
        env,
        kind,
        """
        out = []
        with open(ROOT + "/a.txt") as f:
            out.append(f.read())
        with open(ROOT + "/new.txt", "w") as f:
            out.append(f.write("first\\n"))
        with open(ROOT + "/new.txt", "a") as f:
            f.write("second\\n")
        with open(ROOT + "/a.txt", "a") as f:
            f.write("appended\\n")
        with open(ROOT + "/sub/c.txt", "r+") as f:
            out.append(f.readline())
            f.seek(0)
            f.write("LINE")
        with open(ROOT + "/sub/c.txt") as f:
            out.append(f.readlines())
        with open(ROOT + "/a.txt", "w") as f:  # "w" truncates
            f.write("short")
        out.append(open(ROOT + "/new.txt").read())
        result = out
        """,
    )


@KINDS
async def test_binary_modes_rb_wb_ab_and_r_plus_b(env, kind):
    await same_as_local(
        env,
        kind,
        """
        out = []
        with open(ROOT + "/b.bin", "rb") as f:
            data = f.read()
        out.append((len(data), data[:4], data[-4:]))
        with open(ROOT + "/out.bin", "wb") as f:
            f.write(bytes(range(10)))
        with open(ROOT + "/out.bin", "ab") as f:
            f.write(b"\\xff" * 3)
        with open(ROOT + "/b.bin", "r+b") as f:
            f.seek(100)
            f.write(b"XYZ")
            f.seek(0, 2)
            f.write(b"END")
        out.append(open(ROOT + "/out.bin", "rb").read())
        b = open(ROOT + "/b.bin", "rb").read()
        out.append((len(b), b[98:105], b[-5:]))
        result = out
        """,
    )


@KINDS
async def test_seek_tell_and_reads_at_offsets(env, kind):
    await same_as_local(
        env,
        kind,
        """
        out = []
        with open(ROOT + "/big.bin", "rb") as f:
            out.append(f.tell())
            f.seek(70_000)              # past the first 64 KiB
            out.append((f.tell(), f.read(5)))
            f.seek(-10, 2)
            out.append((f.tell(), f.read()))
            f.seek(-3, 1)
            out.append(f.read(100))
            f.seek(1_000_000)           # past the end: reads nothing
            out.append(f.read(10))
            f.seek(65_530)              # across the 64 KiB boundary
            out.append(f.read(12))
        with open(ROOT + "/a.txt", "rb", buffering=0) as f:
            out.append((f.read(5), f.tell(), os.pread(f.fileno(), 3, 6)))
        result = out
        """,
    )


@KINDS
async def test_writes_at_offsets_past_the_end_leave_a_zero_filled_gap(env, kind):
    await same_as_local(
        env,
        kind,
        """
        with open(ROOT + "/gap.bin", "wb") as f:
            f.write(b"ab")
            f.seek(10)
            f.write(b"cd")
            f.seek(1)
            f.write(b"Z")
        with open(ROOT + "/a.txt", "r+b") as f:
            f.truncate(4)
        os.truncate(ROOT + "/sub/c.txt", 3)
        result = (open(ROOT + "/gap.bin", "rb").read(), open(ROOT + "/a.txt", "rb").read(),
                  os.path.getsize(ROOT + "/sub/c.txt"))
        """,
    )


@KINDS
async def test_a_file_read_while_open_for_writing_shows_the_writes(env, kind):
    await same_as_local(
        env,
        kind,
        """
        with open(ROOT + "/a.txt", "r+") as f:
            f.write("HELLO")
            f.seek(0)
            result = f.read()
        """,
    )


# ---- metadata and listing ----------------------------------------------------------------


@KINDS
async def test_stat_exists_isdir_isfile_getsize(env, kind):
    await same_as_local(
        env,
        kind,
        """
        import stat
        out = {}
        for name in ["a.txt", "b.bin", "big.bin", "sub", "empty", "sub/deeper/d.csv", "missing"]:
            p = ROOT + "/" + name
            out[name] = (os.path.exists(p), os.path.isdir(p), os.path.isfile(p),
                         os.path.getsize(p) if os.path.isfile(p) else None)
        st = os.stat(ROOT + "/b.bin")
        out["stat"] = (st.st_size, stat.S_ISREG(st.st_mode), stat.S_ISDIR(os.stat(ROOT).st_mode))
        result = out
        """,
    )


@KINDS
async def test_listdir_scandir_and_walk(env, kind):
    await same_as_local(
        env,
        kind,
        """
        out = {"root": sorted(os.listdir(ROOT)), "sub": sorted(os.listdir(ROOT + "/sub")),
               "empty": os.listdir(ROOT + "/empty")}
        with os.scandir(ROOT) as it:
            out["scandir"] = sorted(
                (e.name, e.is_dir(), e.is_file(), e.stat().st_size if e.is_file() else None)
                for e in it)
        out["walk"] = sorted((rel(d), sorted(ds), sorted(fs)) for d, ds, fs in os.walk(ROOT))
        result = out
        """,
    )


@KINDS
async def test_pathlib_read_text_write_bytes_iterdir_glob(env, kind):
    await same_as_local(
        env,
        kind,
        """
        root = pathlib.Path(ROOT)
        out = [root.joinpath("a.txt").read_text(), (root / "sub" / "c.txt").read_bytes()]
        (root / "p.bin").write_bytes(b"\\x00\\x01")
        (root / "p.txt").write_text("path text")
        out.append(sorted(p.name for p in root.iterdir()))
        out.append(sorted(str(p.relative_to(root)) for p in root.glob("*.txt")))
        out.append(sorted(str(p.relative_to(root)) for p in root.glob("**/*.csv")))
        out.append(sorted(str(p.relative_to(root)) for p in root.rglob("*")))
        out.append([(root / "sub").is_dir(), (root / "nope").exists(),
                    (root / "p.bin").stat().st_size])
        result = out
        """,
    )


# ---- making, removing, renaming ------------------------------------------------------------


@KINDS
async def test_mkdir_makedirs_and_files_in_new_folders(env, kind):
    await same_as_local(
        env,
        kind,
        """
        os.mkdir(ROOT + "/made")
        os.makedirs(ROOT + "/x/y/z")
        os.makedirs(ROOT + "/x/y", exist_ok=True)
        open(ROOT + "/x/y/z/f.txt", "w").write("deep")
        pathlib.Path(ROOT, "p", "q").mkdir(parents=True)
        result = (sorted(os.listdir(ROOT)), os.listdir(ROOT + "/x/y/z"), os.listdir(ROOT + "/made"))
        """,
    )


@KINDS
async def test_remove_rmdir_and_removedirs(env, kind):
    await same_as_local(
        env,
        kind,
        """
        os.remove(ROOT + "/a.txt")
        pathlib.Path(ROOT, "b.bin").unlink()
        os.rmdir(ROOT + "/empty")
        os.remove(ROOT + "/sub/deeper/d.csv")
        os.removedirs(ROOT + "/sub/deeper")   # stops at sub, which is not empty
        result = (sorted(os.listdir(ROOT)), os.path.exists(ROOT + "/a.txt"))
        """,
    )


@KINDS
async def test_shutil_rmtree(env, kind):
    await same_as_local(
        env,
        kind,
        """
        shutil.rmtree(ROOT + "/sub")
        result = sorted(os.listdir(ROOT))
        """,
    )


@KINDS
async def test_rename_files_within_a_mount(env, kind):
    await same_as_local(
        env,
        kind,
        """
        os.rename(ROOT + "/a.txt", ROOT + "/renamed.txt")
        os.rename(ROOT + "/sub/c.txt", ROOT + "/c-moved.txt")        # to another folder
        os.replace(ROOT + "/renamed.txt", ROOT + "/b.bin")            # over an existing file
        pathlib.Path(ROOT, "c-moved.txt").rename(ROOT + "/empty/c.txt")
        result = (sorted(os.listdir(ROOT)), open(ROOT + "/b.bin").read(),
                  os.listdir(ROOT + "/sub"), os.listdir(ROOT + "/empty"))
        """,
    )


@KINDS
async def test_rename_a_folder_within_a_mount(env, kind):
    await same_as_local(
        env,
        kind,
        """
        os.rename(ROOT + "/sub", ROOT + "/moved")
        os.rename(ROOT + "/moved/deeper", ROOT + "/empty/deeper")
        result = (sorted(os.listdir(ROOT)), sorted(os.listdir(ROOT + "/moved")),
                  open(ROOT + "/empty/deeper/d.csv").read())
        """,
    )


@KINDS
async def test_shutil_copy_copytree_and_move_within_a_mount(env, kind):
    await same_as_local(
        env,
        kind,
        """
        shutil.copy(ROOT + "/a.txt", ROOT + "/a-copy.txt")
        shutil.copyfile(ROOT + "/big.bin", ROOT + "/sub/big-copy.bin")
        shutil.copytree(ROOT + "/sub", ROOT + "/sub-copy")
        shutil.move(ROOT + "/b.bin", ROOT + "/empty")
        result = sorted(rel(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
        """,
    )


@KINDS
async def test_shutil_copy_between_a_mount_and_the_workspace(env, kind):
    sandbox_root, mount_side, _ = env.case(kind)
    got = await value(
        env.sb,
        f"""
import hashlib, os, shutil
os.makedirs("/workspace/ops-copy", exist_ok=True)
shutil.copy({sandbox_root!r} + "/big.bin", "/workspace/ops-copy/big.bin")
with open("/workspace/ops-copy/made.txt", "w") as f:
    f.write("made in the workspace")
shutil.copy("/workspace/ops-copy/made.txt", {sandbox_root!r} + "/from-workspace.txt")
shutil.copytree("/workspace/ops-copy", {sandbox_root!r} + "/tree")
hashlib.sha256(open("/workspace/ops-copy/big.bin", "rb").read()).hexdigest()
""",
    )
    assert got == repr(hashlib.sha256(TREE["big.bin"]).hexdigest())
    tree = host_tree(kind, mount_side)
    assert tree["from-workspace.txt"] == b"made in the workspace"
    assert tree["tree/big.bin"] == TREE["big.bin"]
    assert tree["tree/made.txt"] == b"made in the workspace"


# ---- when written data reaches the host ---------------------------------------------------------


@KINDS
async def test_written_data_reaches_the_host_when_the_execution_ends_and_on_close(env, kind):
    sandbox_root, mount_side, _ = env.case(kind)
    await value(
        env.sb,
        f"f = open({sandbox_root!r} + '/pending.txt', 'w')\nf.write('x' * 100_000)\nf.flush()",
    )
    assert host_tree(kind, mount_side)["pending.txt"] == b"x" * 100_000  # flushed, file still open
    await value(env.sb, "f.write('more')")  # held in Python's own buffer until flushed
    assert host_tree(kind, mount_side)["pending.txt"] == b"x" * 100_000
    await value(env.sb, "f.close()")
    assert host_tree(kind, mount_side)["pending.txt"] == b"x" * 100_000 + b"more"


# ---- libraries reading from a mount ------------------------------------------------------------


async def test_pandas_read_csv_from_a_mount(env):
    got = await value(
        env.sb,
        "import pandas as pd\n"
        "df = pd.read_csv('/mnt/ro/table.csv')\n"
        "(list(df.columns), int(df.qty.sum()), float((df.qty * df.price).sum()), len(df))",
    )
    assert got == repr((["name", "qty", "price"], 15, 5.0, 3))


async def test_pandas_writes_csv_to_a_writable_mount(env):
    sandbox_root, mount_side, _ = env.case("local")
    await value(
        env.sb,
        "import pandas as pd\n"
        f"pd.DataFrame({{'a': [1, 2], 'b': ['x', 'y']}}).to_csv({sandbox_root!r} + '/df.csv', "
        "index=False)",
    )
    assert Path(mount_side, "df.csv").read_text() == "a,b\n1,x\n2,y\n"


async def test_pil_image_open_from_a_mount(env):
    got = await value(
        env.sb,
        "from PIL import Image\n"
        "im = Image.open('/mnt/ro/pic.png')\n"
        "(im.size, im.mode, [im.getpixel((x, y)) for y in range(2) for x in range(3)])",
    )
    assert got == repr(((3, 2), "RGB", PIXELS))


async def test_zipfile_reads_an_archive_that_lives_in_a_mount(env):
    got = await value(
        env.sb,
        "import hashlib, zipfile\n"
        "with zipfile.ZipFile('/mnt/ro/archive.zip') as zf:\n"
        "    names = sorted(zf.namelist())\n"
        "    hello = zf.read('hello.txt').decode()\n"
        "    big = hashlib.sha256(zf.read('nested/dir/big.bin')).hexdigest()\n"
        "    packed = len(zf.read('nested/packed.txt'))\n"
        "(names, hello, big, packed)",
    )
    names = ["hello.txt", "nested/dir/big.bin", "nested/packed.txt"]
    assert got == repr((names, "hi from the zip", hashlib.sha256(ZIP_BIG).hexdigest(), 150_000))


async def test_zipfile_writes_an_archive_into_a_writable_mount(env):
    sandbox_root, mount_side, _ = env.case("local")
    await value(
        env.sb,
        "import zipfile\n"
        f"with zipfile.ZipFile({sandbox_root!r} + '/out.zip', 'w') as zf:\n"
        "    zf.writestr('inside.txt', 'zipped in the sandbox')\n",
    )
    with zipfile.ZipFile(io.BytesIO(Path(mount_side, "out.zip").read_bytes())) as zf:
        assert zf.read("inside.txt") == b"zipped in the sandbox"


# ---- errors as Python sees them ----------------------------------------------------------------


@KINDS
async def test_errno_of_failing_operations_matches_a_local_folder(env, kind):
    await same_as_local(
        env,
        kind,
        """
        result = {
            "open missing": err(open, ROOT + "/missing.txt"),
            "stat missing": err(os.stat, ROOT + "/missing.txt"),
            "listdir missing": err(os.listdir, ROOT + "/missing"),
            "remove missing": err(os.remove, ROOT + "/missing.txt"),
            "rename missing": err(os.rename, ROOT + "/missing.txt", ROOT + "/x.txt"),
            "write in missing folder": err(open, ROOT + "/missing/x.txt", "w"),
            "open folder for writing": err(open, ROOT + "/sub", "w"),
            "open folder for reading": err(open, ROOT + "/sub"),
            "remove folder": err(os.remove, ROOT + "/sub"),
            "listdir file": err(os.listdir, ROOT + "/a.txt"),
            "rmdir file": err(os.rmdir, ROOT + "/a.txt"),
            "stat below file": err(os.stat, ROOT + "/a.txt/x"),
            "mkdir existing folder": err(os.mkdir, ROOT + "/sub"),
            "mkdir existing file": err(os.mkdir, ROOT + "/a.txt"),
            "makedirs existing": err(os.makedirs, ROOT + "/sub/deeper"),
            "exclusive create existing": err(open, ROOT + "/a.txt", "x"),
            "rmdir non-empty": err(os.rmdir, ROOT + "/sub"),
            "rename file over folder": err(os.rename, ROOT + "/a.txt", ROOT + "/empty"),
        }
        """,
    )


@KINDS
async def test_folder_renames_onto_existing_entries_fail_like_a_local_folder(env, kind):
    await same_as_local(
        env,
        kind,
        """
        result = {
            "folder over non-empty folder": err(os.rename, ROOT + "/empty", ROOT + "/sub"),
            "folder over file": err(os.rename, ROOT + "/empty", ROOT + "/a.txt"),
        }
        """,
    )


@KINDS
async def test_paths_below_a_file_fail_as_in_the_workspace(env, kind):
    """Emscripten reports some paths below a file differently from Linux (open: ENOENT,
    mkdir: EACCES, where Linux says ENOTDIR); a mount must at least behave like the
    sandbox's own in-memory /workspace."""
    sandbox_root, _, _ = env.case(kind)
    got = await value(
        env.sb,
        PRELUDE
        + "open('/workspace/ops-file.txt', 'w').close()\n"
        + f"M, W = {sandbox_root!r} + '/a.txt', '/workspace/ops-file.txt'\n"
        + "[(err(open, M + '/x'), err(open, W + '/x')),\n"
        + " (err(open, M + '/x', 'w'), err(open, W + '/x', 'w')),\n"
        + " (err(os.mkdir, M + '/x'), err(os.mkdir, W + '/x'))]",
    )
    for in_mount, in_workspace in eval(got):
        assert in_mount == in_workspace
        assert in_mount in ("ENOTDIR", "ENOENT", "EACCES")


@KINDS
async def test_rename_between_two_mounts_is_exdev_and_shutil_move_copies(env, kind):
    sandbox_root, mount_side, _ = env.case(kind)
    (env.base / "rw2" / "exdev").mkdir(exist_ok=True)
    got = await value(
        env.sb,
        PRELUDE
        + f"src = {sandbox_root!r}\n"
        + "out = [err(os.rename, src + '/a.txt', '/mnt/rw2/exdev/a.txt'),\n"
        + "       err(os.rename, src + '/sub', '/mnt/rw2/exdev/sub'),\n"
        + "       err(os.rename, src + '/b.bin', '/workspace/b.bin')]\n"
        + "shutil.move(src + '/a.txt', '/mnt/rw2/exdev/a.txt')\n"
        + "shutil.move(src + '/sub', '/mnt/rw2/exdev/sub')\n"
        + "shutil.move(src + '/b.bin', '/workspace/moved-b.bin')\n"
        + "out + [os.path.exists(src + '/a.txt'), os.path.exists(src + '/sub'),\n"
        + "       os.path.getsize('/workspace/moved-b.bin')]",
    )
    assert got == repr(["EXDEV", "EXDEV", "EXDEV", False, False, len(TREE["b.bin"])])
    tree = host_tree(kind, mount_side)
    assert "a.txt" not in tree and "sub" not in tree and "b.bin" not in tree
    moved = local_tree(env.base / "rw2" / "exdev")
    assert moved["a.txt"] == TREE["a.txt"]
    assert moved["sub/deeper/d.csv"] == TREE["sub/deeper/d.csv"]


async def test_changes_to_a_read_only_mount_fail_with_eacces_or_erofs(env):
    before = local_tree(env.base / "ro")
    got = await value(
        env.sb,
        PRELUDE
        + "R = '/mnt/ro'\n"
        + "[err(open, R + '/new.txt', 'w'), err(open, R + '/a.txt', 'w'),\n"
        + " err(open, R + '/a.txt', 'a'), err(open, R + '/a.txt', 'r+'),\n"
        + " err(open, R + '/new.txt', 'x'), err(open, R + '/new.bin', 'wb'),\n"
        + " err(os.mkdir, R + '/d'), err(os.makedirs, R + '/d/e'),\n"
        + " err(os.remove, R + '/a.txt'), err(os.rmdir, R + '/empty'),\n"
        + " err(os.rename, R + '/a.txt', R + '/b.txt'), err(os.truncate, R + '/a.txt', 0),\n"
        + " err(shutil.copy, R + '/a.txt', R + '/copy.txt'),\n"
        + " err(pathlib.Path(R, 'p.txt').write_text, 'x')]",
    )
    codes = eval(got)
    assert codes and all(c in ("EACCES", "EROFS", "EPERM") for c in codes), codes
    assert local_tree(env.base / "ro") == before


async def test_errors_are_the_matching_oserror_subclasses(env):
    got = await value(
        env.sb,
        "out = []\n"
        "for fn in [lambda: open('/mnt/ro/missing'), lambda: open('/mnt/ro/sub', 'rb'),\n"
        "           lambda: os.listdir('/mnt/ro/a.txt'), lambda: os.mkdir('/mnt/rw'),\n"
        "           lambda: open('/mnt/ro/new', 'w')]:\n"
        "    try:\n"
        "        fn()\n"
        "    except OSError as e:\n"
        "        out.append(type(e).__name__)\n"
        "out",
    )
    assert got == repr(
        [
            "FileNotFoundError",
            "IsADirectoryError",
            "NotADirectoryError",
            "FileExistsError",
            "PermissionError",
        ]
    )


async def test_mounts_are_listed_under_mnt(env):
    got = await value(env.sb, "sorted(os.listdir('/mnt'))")
    assert got == repr(["mem", "ro", "rw", "rw2"])


# ---- the audit: result.changes -----------------------------------------------------------------


@KINDS
async def test_changes_list_created_modified_and_deleted_files_in_a_mount(env, kind):
    sandbox_root, _, _ = env.case(kind)
    r = await env.sb.run(
        f"R = {sandbox_root!r}\n"
        "import os\n"
        "open(R + '/new.txt', 'w').write('new')\n"
        "open(R + '/a.txt', 'a').write('more')\n"
        "os.remove(R + '/b.bin')\n"
        "os.rename(R + '/sub/c.txt', R + '/c-renamed.txt')\n"
        "os.makedirs(R + '/made/deep')\n"
        "open(R + '/made/deep/f.txt', 'w').write('f')\n"
        "open(R + '/tmp.txt', 'w').write('gone again')\n"
        "os.remove(R + '/tmp.txt')\n"
    )
    assert r.error is None, r.error
    assert r.changes.created == sorted(
        [
            f"{sandbox_root}/new.txt",
            f"{sandbox_root}/c-renamed.txt",
            f"{sandbox_root}/made/deep/f.txt",
        ]
    )
    assert r.changes.modified == [f"{sandbox_root}/a.txt"]
    assert r.changes.deleted == sorted([f"{sandbox_root}/b.bin", f"{sandbox_root}/sub/c.txt"])


async def test_changes_list_workspace_files(env):
    await value(env.sb, "open('/workspace/audit-old.txt', 'w').write('old')\n"
                "open('/workspace/audit-del.txt', 'w').write('old')")  # fmt: skip
    r = await env.sb.run(
        "import os\n"
        "open('/workspace/audit-new.txt', 'w').write('new')\n"
        "open('/workspace/audit-old.txt', 'a').write(' and more')\n"
        "os.remove('/workspace/audit-del.txt')\n"
    )
    assert r.error is None, r.error
    assert "/workspace/audit-new.txt" in r.changes.created
    assert "/workspace/audit-old.txt" in r.changes.modified
    assert "/workspace/audit-del.txt" in r.changes.deleted


async def test_reads_are_not_changes(env):
    sandbox_root, _, _ = env.case("local")
    r = await env.sb.run(
        f"import os\nopen({sandbox_root!r} + '/a.txt').read()\nos.listdir({sandbox_root!r})\n"
        f"open({sandbox_root!r} + '/a.txt', 'r+').close()\n"  # opened for writing, unchanged
        "open('/mnt/ro/a.txt').read()"
    )
    assert r.error is None, r.error
    assert not r.changes, r.changes


async def test_a_failed_run_still_reports_its_changes(env):
    sandbox_root, _, _ = env.case("local")
    r = await env.sb.run(f"open({sandbox_root!r} + '/before-error.txt', 'w').write('x')\n1 / 0")
    assert r.error is not None and r.error.type == "ZeroDivisionError"
    assert r.changes.created == [f"{sandbox_root}/before-error.txt"]


async def test_changes_are_reported_when_the_run_times_out(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    async with Sandbox(timeout=2, mounts={"out": mounts.LocalDir(out, writable=True)}) as sb:
        r = await sb.run(
            "import os\n"
            "open('/mnt/out/new.txt', 'w').write('written before the loop')\n"
            "os.remove('/mnt/out/old.txt')\n"
            "open('/workspace/ws-new.txt', 'w').write('also')\n"
            "while True:\n    pass\n"
        )
        assert r.error is not None and r.error.type == "TimeoutError"
        assert "/mnt/out/new.txt" in r.changes.created
        assert "/mnt/out/old.txt" in r.changes.deleted
        assert "/workspace/ws-new.txt" in r.changes.created
        assert (out / "new.txt").read_text() == "written before the loop"
        assert (await sb.run("1 + 1")).result == "2"


async def test_renaming_a_folder_in_an_fsspec_mount_moves_it(env):
    sandbox_root, mount_side, _ = env.case("memory")
    got = await value(
        env.sb,
        f"import os\nR = {sandbox_root!r}\nos.rename(R + '/sub', R + '/moved')\n"
        "(sorted(os.listdir(R)), open(R + '/moved/deeper/d.csv').read())",
    )
    assert eval(got)[1] == TREE["sub/deeper/d.csv"].decode()
    tree = host_tree("memory", mount_side)
    assert "sub" not in tree and tree["moved/c.txt"] == TREE["sub/c.txt"]
