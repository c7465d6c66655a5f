"""/workspace past its limits: files left out with a note, never an exception.

The host keeps /workspace across restarts in chunks, up to WORKSPACE_LIMIT bytes
and MAX_FILES files. A file past either is left out of the host's copy (the
model is told, in ``result.notes``); it is still there until the interpreter
restarts.
"""

from __future__ import annotations

from adversarial.helpers import kill_sandbox, still_works

from throwaway.sandbox.sandbox import COPY_CHUNK
from throwaway.sandbox.workspace import MAX_FILES, WORKSPACE_LIMIT


async def test_a_file_over_the_workspace_limit_is_left_out_with_a_note(fresh_sandbox):
    sb = await fresh_sandbox(timeout=30)
    r = await sb.run(f"open('huge.bin', 'wb').truncate({WORKSPACE_LIMIT + (1 << 20)})\n"
                     "open('small.txt', 'w').write('kept')")  # fmt: skip
    assert r.ok, r.error
    assert r.changes.created == ["/workspace/huge.bin", "/workspace/small.txt"]
    assert len(r.notes) == 1 and "huge.bin" in r.notes[0]
    assert f"{WORKSPACE_LIMIT >> 20} MB" in r.notes[0]
    assert (await sb.run("import os; os.path.getsize('huge.bin')")).result == str(
        WORKSPACE_LIMIT + (1 << 20)
    )
    await kill_sandbox(sb)  # a restart puts back what was kept
    r = await sb.run("import os; sorted(os.listdir('.'))")
    assert r.restarted and "'small.txt'" in r.result and "huge.bin" not in r.result
    await still_works(sb)


async def test_a_file_bigger_than_a_chunk_survives_a_restart_byte_for_byte(fresh_sandbox):
    sb = await fresh_sandbox(timeout=30)
    size = 3 * COPY_CHUNK + 12345
    code = f"import random\nrandom.seed(7)\nopen('data.bin', 'wb').write(random.randbytes({size}))"
    assert (await sb.run(code)).ok
    digest = "import hashlib; hashlib.sha256(open('data.bin', 'rb').read()).hexdigest()"
    before = (await sb.run(digest)).result
    await kill_sandbox(sb)
    r = await sb.run(digest)
    assert r.restarted and r.result == before


async def test_more_files_than_the_limit_are_counted_in_a_note(fresh_sandbox):
    sb = await fresh_sandbox(timeout=60)
    extra = 5
    code = (
        "import os\nos.makedirs('many', exist_ok=True)\n"
        f"for i in range({MAX_FILES + extra}):\n"
        "    open(f'many/{i:05}.txt', 'w').write('x')"
    )
    r = await sb.run(code)
    assert r.ok, r.error
    assert len(r.changes.created) == MAX_FILES + extra  # all reported
    assert len(r.notes) == 1 and f"{extra} file(s)" in r.notes[0]
    assert f"{MAX_FILES:,} files" in r.notes[0]
    snapshot = await sb.snapshot_workspace()
    import io
    import zipfile

    assert len(zipfile.ZipFile(io.BytesIO(snapshot)).namelist()) == MAX_FILES
    await still_works(sb)


async def test_printing_over_a_gigabyte_keeps_the_interpreter_and_saves_what_fits(fresh_sandbox):
    sb = await fresh_sandbox(timeout=120)
    await sb.run("x = 'still here'")
    r = await sb.run("s = 'x' * (1 << 20)\nfor _ in range(1100): print(s)")
    assert r.error is None and not r.restarted
    cut = r.cut["stdout"]
    assert cut.total_chars == 1100 * ((1 << 20) + 1)
    assert "more characters not saved" not in r.stdout and "the first " in r.stdout
    limit = int((await sb.run("import _throwaway_runner as r; r.SAVE_LIMIT")).result)
    size = int((await sb.run(f"import os; os.path.getsize({cut.saved_to!r})")).result)
    assert limit < size < limit + 1000 < cut.total_chars  # what fits, and a note of the rest
    assert (await sb.run("x")).result == "'still here'"
    await still_works(sb)
