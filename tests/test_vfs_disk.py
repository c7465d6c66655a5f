"""Mounts behave like a real disk: rename, open handles, modes, times (real Deno + Pyodide).

As in test_vfs_operations, a snippet runs on a writable LocalDir and on a writable
fsspec memory mount and is compared with a real local folder (``same_as_local``),
or, where permission bits decide the outcome (tests may run as root on the host,
who may write anything), with the sandbox's own in-memory ``/workspace``
(``same_as_workspace``). Then the libraries that broke on the old behaviour.
"""

from __future__ import annotations

import io
import tarfile
import textwrap
import time

import test_vfs_operations
from test_vfs_operations import KINDS, PRELUDE, TREE, host_tree, same_as_local, value

from throwaway import Sandbox, mounts

env = test_vfs_operations.env  # the same fixture: a sandbox with the ops mounts, seeded cases


async def same_as_workspace(env, kind: str, snippet: str) -> str:
    """Run ``snippet`` (which sets ``result``) on a mount and on a seeded /workspace folder
    in the same sandbox; the results must be equal. Returns the result's repr."""
    sandbox_root, _, _ = env.case(kind)
    workspace = f"/workspace/disk-{sandbox_root.rsplit('/', 1)[1]}"
    seed = f"import shutil\nshutil.copytree({sandbox_root!r}, {workspace!r})\n"
    await value(env.sb, seed)
    snippet = textwrap.dedent(snippet)
    got = await value(env.sb, f"ROOT = {sandbox_root!r}\n{PRELUDE}{snippet}\nresult")
    expected = await value(env.sb, f"ROOT = {workspace!r}\n{PRELUDE}{snippet}\nresult")
    assert got == expected, f"sandbox on {kind} mount != /workspace"
    return got


# ---- rename ------------------------------------------------------------------------------------


@KINDS
async def test_a_renamed_name_is_free_at_once(env, kind):
    await same_as_local(
        env,
        kind,
        """
        os.rename(ROOT + "/a.txt", ROOT + "/z.txt")
        out = [os.path.exists(ROOT + "/a.txt"), err(os.stat, ROOT + "/a.txt")]
        open(ROOT + "/a.txt", "w").write("a new a")
        os.rename(ROOT + "/b.bin", ROOT + "/b2.bin")
        os.mkdir(ROOT + "/b.bin")
        os.rename(ROOT + "/sub", ROOT + "/sub2")
        out += [os.path.exists(ROOT + "/sub"), err(os.listdir, ROOT + "/sub"),
                err(open, ROOT + "/sub/c.txt"), sorted(os.listdir(ROOT + "/sub2")),
                open(ROOT + "/sub2/deeper/d.csv").read()]
        os.mkdir(ROOT + "/sub")
        for i in range(3):  # write a temporary file, then replace: again and again
            open(ROOT + "/tmp.part", "w").write(f"pass {i}")
            os.replace(ROOT + "/tmp.part", ROOT + "/final.txt")
        out += [open(ROOT + "/final.txt").read(), os.path.exists(ROOT + "/tmp.part"),
                open(ROOT + "/a.txt").read(), open(ROOT + "/z.txt").read()]
        out.append(sorted((rel(d), sorted(ds), sorted(fs)) for d, ds, fs in os.walk(ROOT)))
        result = out
        """,
    )


@KINDS
async def test_folder_renames_move_everything_and_refuse_a_non_empty_target(env, kind):
    await same_as_local(
        env,
        kind,
        """
        out = {
            "onto non-empty": err(os.rename, ROOT + "/empty", ROOT + "/sub"),
            "onto a file": err(os.rename, ROOT + "/empty", ROOT + "/a.txt"),
            "file onto folder": err(os.rename, ROOT + "/a.txt", ROOT + "/empty"),
        }
        os.rename(ROOT + "/sub", ROOT + "/empty")  # an empty folder is replaced
        os.rename(ROOT + "/empty/deeper", ROOT + "/deeper")
        out["tree"] = sorted((rel(d), sorted(ds), sorted(fs)) for d, ds, fs in os.walk(ROOT))
        result = out
        """,
    )


@KINDS
async def test_a_file_renamed_while_open_for_writing_keeps_its_data(env, kind):
    await same_as_local(
        env,
        kind,
        """
        f = open(ROOT + "/w.txt", "w")
        f.write("one")
        f.flush()
        os.rename(ROOT + "/w.txt", ROOT + "/moved.txt")
        f.write(" two")
        f.close()
        g = open(ROOT + "/sub/c.txt", "a")
        os.rename(ROOT + "/sub", ROOT + "/sub-moved")  # the folder of an open file
        g.write("line 4\\n")
        g.close()
        result = (os.path.exists(ROOT + "/w.txt"), open(ROOT + "/moved.txt").read(),
                  open(ROOT + "/sub-moved/c.txt").read())
        """,
    )


# ---- open handles ------------------------------------------------------------------------------


@KINDS
async def test_an_unlinked_open_file_stays_readable_and_is_not_written_back(env, kind):
    await same_as_local(
        env,
        kind,
        """
        import tempfile
        f = open(ROOT + "/gone.txt", "w+")
        f.write("data")
        f.flush()
        os.remove(ROOT + "/gone.txt")
        f.write(" more")
        f.seek(0)
        out = [f.read()]
        f.close()
        g = open(ROOT + "/big.bin", "rb")
        head = g.read(10)
        os.remove(ROOT + "/big.bin")
        out.append((head, len(g.read())))
        g.close()
        with tempfile.TemporaryFile(dir=ROOT) as t:
            t.write(b"scratch")
            t.seek(0)
            out.append(t.read())
        with tempfile.SpooledTemporaryFile(max_size=10, dir=ROOT) as s:
            s.write(b"x" * 100)  # rolls over to a real file
            s.seek(0)
            out.append(len(s.read()))
        out.append(sorted(os.listdir(ROOT)))
        result = out
        """,
    )


@KINDS
async def test_closing_a_duplicate_fd_leaves_the_original_writable(env, kind):
    await same_as_local(
        env,
        kind,
        """
        f = open(ROOT + "/d.txt", "w")
        os.close(os.dup(f.fileno()))
        f.write("still writing")
        f.close()
        fd = os.open(ROOT + "/e.bin", os.O_WRONLY | os.O_CREAT)
        fd2 = os.dup(fd)
        os.write(fd2, b"ab")
        os.close(fd)
        os.write(fd2, b"cd")  # a dup shares the offset
        os.close(fd2)
        result = (open(ROOT + "/d.txt").read(), open(ROOT + "/e.bin", "rb").read())
        """,
    )


@KINDS
async def test_open_handles_see_each_others_writes(env, kind):
    await same_as_local(
        env,
        kind,
        """
        w1 = open(ROOT + "/shared.txt", "w")
        w2 = open(ROOT + "/shared.txt", "r+")  # a second writer
        r = open(ROOT + "/shared.txt")
        w1.write("hello")
        w1.flush()
        out = [r.read()]
        w2.seek(5)
        w2.write(" world")
        w2.flush()
        r.seek(0)
        out.append(r.read())
        w1.close()
        w2.close()
        r.seek(0)
        out.append(r.read())
        r.close()
        old = open(ROOT + "/a.txt")  # opened before another handle rewrote it
        with open(ROOT + "/a.txt", "w") as w:
            w.write("rewritten")
        out.append(old.read())
        old.close()
        result = out
        """,
    )


# ---- modes and times -----------------------------------------------------------------------------


@KINDS
async def test_chmod_and_mkdir_modes_are_kept(env, kind):
    await same_as_workspace(
        env,
        kind,
        """
        import stat
        mode = lambda p: oct(stat.S_IMODE(os.stat(ROOT + "/" + p).st_mode))
        os.chmod(ROOT + "/a.txt", 0o444)
        os.mkdir(ROOT + "/private", 0o700)
        open(ROOT + "/tool", "w").write("#!/bin/sh\\n")
        os.chmod(ROOT + "/tool", 0o755)
        out = [mode("a.txt"), mode("private"), mode("tool"), err(open, ROOT + "/a.txt", "w"),
               os.access(ROOT + "/tool", os.X_OK), os.access(ROOT + "/a.txt", os.W_OK),
               shutil.which("tool", path=ROOT) == ROOT + "/tool"]
        os.chmod(ROOT + "/a.txt", 0o644)
        with open(ROOT + "/tool", "a") as f:  # rewriting keeps the mode
            f.write("exit 0\\n")
        os.rename(ROOT + "/tool", ROOT + "/tool2")
        out += [mode("a.txt"), mode("tool2"), err(open, ROOT + "/a.txt", "a")]
        result = out
        """,
    )


async def test_a_local_dir_chmods_the_real_file(env):
    sandbox_root, mount_side, _ = env.case("local")
    await value(env.sb, f"import os\nos.chmod({sandbox_root!r} + '/a.txt', 0o600)")
    import os
    import stat

    assert stat.S_IMODE(os.stat(f"{mount_side}/a.txt").st_mode) == 0o600


@KINDS
async def test_utime_sets_the_modification_time(env, kind):
    got = await same_as_workspace(
        env,
        kind,
        """
        os.utime(ROOT + "/a.txt", (1_000_000_000, 1_000_000_000))
        os.utime(ROOT + "/sub", (1_200_000_000, 1_200_000_000))
        f = open(ROOT + "/b.bin", "ab")
        f.write(b"x")
        f.flush()
        os.utime(ROOT + "/b.bin", (1_100_000_000, 1_100_000_000))  # while open and written
        f.close()
        result = [os.stat(ROOT + p).st_mtime for p in ("/a.txt", "/sub", "/b.bin")]
        with os.scandir(ROOT) as it:
            result.append(sorted((e.name, e.stat().st_mtime) for e in it if e.name == "a.txt"))
        """,
    )
    assert eval(got)[:3] == [1e9, 1.2e9, 1.1e9]


@KINDS
async def test_listed_entries_carry_real_mtimes(env, kind):
    before = time.time() - 3600
    got = await value(
        env.sb,
        f"import os\nR = {env.case(kind)[0]!r}\n"
        "with os.scandir(R) as it:\n"
        "    listed = {e.name: e.stat().st_mtime for e in it}\n"
        "listed",
    )
    assert all(m > before for m in eval(got).values()), got


# ---- symlinks ------------------------------------------------------------------------------------


def tar_with_a_link() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("pkg/lib/real.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"real"))
        link = tarfile.TarInfo("pkg/current")
        link.type, link.linkname = tarfile.SYMTYPE, "lib/real.txt"
        tf.addfile(link)
    return buf.getvalue()


async def test_links_that_stay_inside_a_local_dir_work_as_in_the_workspace(env):
    await same_as_workspace(
        env,
        "local",
        f"""
        import io, tarfile
        os.symlink("a.txt", ROOT + "/l1")
        os.symlink("../a.txt", ROOT + "/sub/l2")
        os.symlink("sub", ROOT + "/l3")
        os.symlink("missing", ROOT + "/dangling")
        out = [open(ROOT + "/l1").read(), open(ROOT + "/sub/l2").read(),
               sorted(os.listdir(ROOT + "/l3")), rel(os.readlink(ROOT + "/l1")),
               os.path.islink(ROOT + "/l1"), os.path.islink(ROOT + "/a.txt"),
               os.path.lexists(ROOT + "/dangling"), os.path.exists(ROOT + "/dangling")]
        with os.scandir(ROOT) as it:
            out.append(sorted((e.name, e.is_symlink(), e.is_dir()) for e in it))
        open(ROOT + "/l1", "a").write("through the link")
        out.append(open(ROOT + "/a.txt").read())
        os.remove(ROOT + "/l1")
        out.append((os.path.exists(ROOT + "/a.txt"), os.path.lexists(ROOT + "/l1")))
        with tarfile.open(fileobj=io.BytesIO({tar_with_a_link()!r})) as tf:
            tf.extractall(ROOT + "/x", filter="data")
        out.append((open(ROOT + "/x/pkg/current").read(), os.path.islink(ROOT + "/x/pkg/current")))
        result = out
        """,
    )


@KINDS
async def test_links_that_would_leave_the_mount_are_refused(env, kind):
    root, mount_side, _ = env.case(kind)  # a folder in the mount: ../.. leaves it
    before = host_tree(kind, mount_side)
    got = await value(
        env.sb,
        PRELUDE
        + f"R = {root!r}\n"
        + "[err(os.symlink, t, R + '/bad') for t in\n"
        + " ['/etc/passwd', '../..', '../../x', 'sub/../../../x', '/mnt/rw2/x', '/workspace']]",
    )
    assert eval(got) == ["EPERM"] * 6
    assert host_tree(kind, mount_side) == before


async def test_fsspec_mounts_make_no_links(env):
    root, _, _ = env.case("memory")
    got = await value(env.sb, PRELUDE + f"err(os.symlink, 'a.txt', {root!r} + '/l1')")
    assert got == repr("EPERM")


# ---- mmap ----------------------------------------------------------------------------------------


@KINDS
async def test_mmap_reads_a_private_copy_and_writes_back_a_shared_one(env, kind):
    await same_as_local(
        env,
        kind,
        """
        import mmap
        with open(ROOT + "/big.bin", "rb") as f:
            m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            out = [len(m), m[:4], m[70_000:70_004], m.find(b"\\xfa\\x00\\x01")]
            m.close()
        with open(ROOT + "/b.bin", "r+b") as f:
            m = mmap.mmap(f.fileno(), 0)
            m[:3] = b"XYZ"
            m.flush()
            m.close()
        out.append(open(ROOT + "/b.bin", "rb").read()[:5])
        result = out
        """,
    )


# ---- listings bring their stats ------------------------------------------------------------------


class CountingDir(mounts.LocalDir):
    """A LocalDir that counts the stat calls it answers."""

    stats = 0

    async def stat(self, path):
        CountingDir.stats += 1
        return await super().stat(path)


async def test_os_walk_with_sizes_asks_the_host_once_per_folder(tmp_path):
    for d in range(3):
        (tmp_path / f"d{d}").mkdir()
        for i in range(400):
            (tmp_path / f"d{d}" / f"f{i}.txt").write_bytes(b"x" * i)
    async with Sandbox(mounts={"m": CountingDir(tmp_path)}) as sb:
        r = await sb.run(
            "import os, time\ntime.sleep(0.2)\n"
            "sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk('/mnt/m') for f in fs)"
        )
        CountingDir.stats = 0
        r = await sb.run(
            "sum(os.stat(os.path.join(d, f)).st_size for d, _, fs in os.walk('/mnt/m') for f in fs)"
        )
    assert r.result == str(3 * sum(range(400)))
    assert CountingDir.stats <= 10, CountingDir.stats  # not one per file


# ---- real libraries ------------------------------------------------------------------------------


@KINDS
async def test_rotating_file_handler_keeps_every_backup(env, kind):
    await same_as_local(
        env,
        kind,
        """
        import logging, logging.handlers
        h = logging.handlers.RotatingFileHandler(ROOT + "/app.log", maxBytes=100, backupCount=3)
        log = logging.Logger("rotating")
        log.addHandler(h)
        for i in range(20):
            log.warning("message number %02d, padded to some length", i)
        h.close()
        result = {n: open(ROOT + "/" + n).read() for n in sorted(os.listdir(ROOT)) if "log" in n}
        """,
    )


@KINDS
async def test_numpy_save_and_load_with_mmap(env, kind):
    root, mount_side, _ = env.case(kind)
    got = await value(
        env.sb,
        "import numpy as np\n"
        f"R = {root!r}\n"
        "x = np.arange(100_000, dtype=np.int64)\n"
        "np.save(R + '/a.npy', x)\n"
        "m = np.load(R + '/a.npy', mmap_mode='r')\n"
        "c = np.load(R + '/a.npy', mmap_mode='c'); c[0] = -1\n"
        "(int(m.sum()), int(m[12345]), int(c[0]), int(np.load(R + '/a.npy')[0]))",
    )
    assert got == repr((sum(range(100_000)), 12345, -1, 0))
    assert len(host_tree(kind, mount_side)["a.npy"]) == 128 + 800_000


@KINDS
async def test_two_sqlite3_connections_share_one_database(env, kind):
    root, _, _ = env.case(kind)
    got = await value(
        env.sb,
        "import sqlite3\n"
        f"R = {root!r}\n"
        "a = sqlite3.connect(R + '/db.sqlite')\n"
        "b = sqlite3.connect(R + '/db.sqlite')\n"
        "a.execute('create table t (x)'); a.execute('insert into t values (1)'); a.commit()\n"
        "seen = b.execute('select x from t').fetchall()\n"
        "b.execute('insert into t values (2)'); b.commit()\n"
        "out = (seen, a.execute('select x from t order by x').fetchall())\n"
        "a.close(); b.close()\n"
        "out + (sqlite3.connect(R + '/db.sqlite').execute('select count(*) from t').fetchone(),)",
    )
    assert got == repr(([(1,)], [(1,), (2,)], (2,)))


@KINDS
async def test_shutil_copy2_keeps_the_mtime_and_mode(env, kind):
    # compared with a local folder: emscripten's own /workspace stamps chmod() as a change
    got = await same_as_local(
        env,
        kind,
        """
        import stat
        os.utime(ROOT + "/a.txt", (1_000_000_000, 1_000_000_000))
        os.chmod(ROOT + "/a.txt", 0o640)
        shutil.copy2(ROOT + "/a.txt", ROOT + "/copy.txt")
        st = os.stat(ROOT + "/copy.txt")
        result = (st.st_mtime, oct(stat.S_IMODE(st.st_mode)), open(ROOT + "/copy.txt").read())
        """,
    )
    assert eval(got)[:2] == (1e9, "0o640")


def tar_with_modes_and_times() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, mode, mtime in [("bin/run.sh", 0o755, 1_000_000_000), ("data.txt", 0o600, 1.5e9)]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = 5, mode, mtime
            tf.addfile(info, io.BytesIO(b"hello"))
        folder = tarfile.TarInfo("bin")
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o750, 1_200_000_000
        tf.addfile(folder)
    return buf.getvalue()


@KINDS
async def test_tarfile_extracts_modes_and_times(env, kind):
    got = await same_as_local(
        env,
        kind,
        f"""
        import io, stat, tarfile
        with tarfile.open(fileobj=io.BytesIO({tar_with_modes_and_times()!r})) as tf:
            tf.extractall(ROOT + "/x", filter="fully_trusted")
        result = [(p, oct(stat.S_IMODE(os.stat(ROOT + "/x/" + p).st_mode)),
                   os.stat(ROOT + "/x/" + p).st_mtime) for p in ("bin", "bin/run.sh", "data.txt")]
        """,
    )
    assert eval(got) == [
        ("bin", "0o750", 1.2e9),
        ("bin/run.sh", "0o755", 1e9),
        ("data.txt", "0o600", 1.5e9),
    ]


async def test_zipfile_and_make_archive_of_fsspec_files(env):
    root, _, _ = env.case("memory")
    got = await value(
        env.sb,
        "import os, shutil, zipfile\n"
        f"R = {root!r}\n"
        "shutil.make_archive('/workspace/fs-archive', 'zip', R)\n"
        "with zipfile.ZipFile(R + '/out.zip', 'w') as zf:\n"
        "    zf.write(R + '/a.txt', 'a.txt')\n"
        "    zf.write(R + '/sub', 'sub')\n"
        "sorted(zipfile.ZipFile('/workspace/fs-archive.zip').namelist()), "
        "zipfile.ZipFile(R + '/out.zip').read('a.txt')",
    )
    names, a = eval(got)
    assert "sub/deeper/d.csv" in names and a == TREE["a.txt"]


# ---- large files: written through a spool on the host --------------------------------------------


@KINDS
async def test_a_file_past_the_spill_size_reads_writes_seeks_and_truncates_as_on_disk(env, kind):
    """Past 16 MiB a file being written lives in a host spool: every access must still work."""
    await same_as_local(
        env,
        kind,
        """
        import hashlib
        piece = bytes(range(256)) * 4096  # 1 MiB
        with open(ROOT + "/large.bin", "w+b") as f:
            for i in range(20):
                f.write(piece[i:] + piece[:i])
            f.seek(5 << 20)
            f.write(b"X" * 100)  # inside, away from the window
            f.seek(0, 2)
            f.write(b"tail")
            f.seek((5 << 20) - 2)
            middle = f.read(104)
            f.truncate(18 << 20)
            f.seek(30 << 20)
            f.write(b"end")  # a hole of zeros before it
            f.seek((18 << 20) - 1)
            hole = f.read(4)
        with open(ROOT + "/big.bin", "ab") as f:  # a small file that grows past the size
            f.write(piece * 17)
        with open(ROOT + "/large.bin", "r+b") as f:  # opened when already large
            f.seek(1)
            f.write(b"Y")
        digest = lambda p: hashlib.sha256(open(ROOT + p, "rb").read()).hexdigest()
        result = (middle, hole, os.path.getsize(ROOT + "/large.bin"), digest("/large.bin"),
                  digest("/big.bin"))
        """,
    )


@KINDS
async def test_a_large_file_unlinked_while_open_stays_readable(env, kind):
    await same_as_local(
        env,
        kind,
        """
        with open(ROOT + "/large.bin", "wb") as f:
            f.write(b"z" * (20 << 20))
        r = open(ROOT + "/large.bin", "rb")
        os.remove(ROOT + "/large.bin")
        data = r.read()
        r.close()
        result = (len(data), data[-3:], sorted(os.listdir(ROOT)))
        """,
    )


async def test_a_large_file_past_the_mount_limit_fails_and_the_host_keeps_nothing(tmp_path):
    async with Sandbox(mounts={"out": mounts.LocalDir(tmp_path, writable=True)}) as sb:
        sb.mounts.max_file_bytes = 24 << 20  # the table checks every piece it is sent
        r = await sb.run(
            "import errno\nf = open('/mnt/out/limit.bin', 'wb')\ncodes = []\n"
            "for i in range(40):\n"
            "    try:\n        f.write(b'x' * (1 << 20))\n"
            "    except OSError as e:\n        codes.append(errno.errorcode[e.errno])\n"
            "        break\n"
            "try:\n    f.close()\n"
            "except OSError as e:\n    codes.append(errno.errorcode[e.errno])\n"
            "(i, codes)"
        )
        assert r.error is None, r.error
        written, codes = eval(r.result)
        # refused when a piece crosses the limit: at most one 8 MiB window after it
        assert 24 <= written <= 32 and codes == ["EFBIG", "EFBIG"], r.result
        assert (tmp_path / "limit.bin").read_bytes() == b""  # made at open, never filled
        assert sb.mounts.spools.files == {}  # released on close
        assert (await sb.run("open('/mnt/out/ok.txt', 'w').write('ok')")).error is None
    assert (tmp_path / "ok.txt").read_text() == "ok"


async def test_a_callable_mount_keeps_modes_and_times_for_the_session():
    store: dict[str, bytes] = {}

    def read(path: str) -> bytes:
        if path not in store:
            raise FileNotFoundError(path)
        return store[path]

    provider = mounts.Callable(read=read, list=lambda p: sorted(store), write=store.__setitem__)
    async with Sandbox(mounts={"crm": provider}) as sb:
        r = await sb.run(
            "import os, stat\nopen('/mnt/crm/note.txt', 'w').write('n')\n"
            "os.chmod('/mnt/crm/note.txt', 0o600)\nos.utime('/mnt/crm/note.txt', (1e9, 1e9))"
        )
        assert r.error is None, r.error
        r = await sb.run(
            "st = os.stat('/mnt/crm/note.txt')\n(oct(stat.S_IMODE(st.st_mode)), st.st_mtime)"
        )
    assert r.result == repr(("0o600", 1e9))
    assert store == {"note.txt": b"n"}
