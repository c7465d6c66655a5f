"""Workspace snapshots: what durable runs store and restore."""

from __future__ import annotations


async def test_a_snapshot_restores_exactly_the_files_it_holds(fresh_sandbox):
    sb = await fresh_sandbox()
    await sb.run(
        "import os\nos.makedirs('d', exist_ok=True)\nopen('a.txt', 'w').write('A')\n"
        "open('d/b.bin', 'wb').write(bytes(range(256)))"
    )
    snapshot = await sb.snapshot_workspace()
    assert snapshot == await sb.snapshot_workspace()  # same files, same bytes
    await sb.run("os.remove('a.txt'); open('later.txt', 'w').write('L')")
    await sb.restore_workspace(snapshot)
    result = await sb.run(
        "sorted(os.path.relpath(os.path.join(r, f)) for r, _, fs in os.walk('.') for f in fs),"
        " open('a.txt').read(), open('d/b.bin', 'rb').read() == bytes(range(256))"
    )
    assert result.result == "(['a.txt', 'd/b.bin'], 'A', True)"


async def test_a_snapshot_moves_to_a_fresh_sandbox(fresh_sandbox):
    first = await fresh_sandbox()
    await first.run("open('note.txt', 'w').write('carried over')")
    snapshot = await first.snapshot_workspace()
    second = await fresh_sandbox()
    await second.restore_workspace(snapshot)
    assert (await second.run("open('note.txt').read()")).result == "'carried over'"
    assert await second.snapshot_workspace() == snapshot
