"""Replacing a file whole: the old content stays until the new one is complete."""

from __future__ import annotations

import stat

import pytest

from throwaway.atomicfile import atomic_writer, write_atomic


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as out:
        out.write(b"half of the new")
        assert target.read_bytes() == b"old"  # nobody sees the new content yet
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_the_new_content_replaces_the_old_with_the_mode_asked_for(tmp_path):
    target = tmp_path / "script.sh"
    target.write_bytes(b"old")
    with atomic_writer(target, mode=0o750) as out:
        out.write(b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["script.sh"]


def test_write_atomic_makes_the_folder_and_takes_any_name_length(tmp_path):
    target = tmp_path / "a" / "b" / ("n" * 255)  # the longest name: the temp name still fits
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data"
