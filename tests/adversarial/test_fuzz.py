"""Fuzzing (Hypothesis) of what parses sandbox output on the host.

- The frame decoder (protocol.FrameReader): whatever bytes Deno's stdout
  carries, it returns tagged frames with a dict, skips the rest, or raises
  ProtocolViolation (which ends that sandbox); it never raises anything else,
  and genuine frames between stray bytes come through intact.
- The mount path policy (vfs/paths.py, applied by MountTable): no request, with
  any path, reads or changes anything outside the mount's root, symlinks
  included; a refused request is an errno reply, never an exception.
"""

from __future__ import annotations

import asyncio
import json
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from throwaway import mounts
from throwaway.sandbox import protocol
from throwaway.vfs.paths import clean
from throwaway.vfs.table import MountTable

TAG = b"T" * 8 + b"\x00\xffTAGTAG"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tagged(msg: dict, blob: bytes = b"") -> bytes:
    data = json.dumps(msg).encode()
    return TAG + struct.pack(">II", len(data), len(blob)) + data + blob


async def decode(stream: bytes) -> list[protocol.Frame]:
    reader = asyncio.StreamReader(limit=1 << 16)
    reader.feed_data(stream)
    reader.feed_eof()
    frames, frame_reader = [], protocol.FrameReader(reader, TAG)
    while (frame := await frame_reader.read()) is not None:
        frames.append(frame)
    return frames


stray = st.binary(max_size=300).filter(lambda b: TAG[:4] not in b)
frames = st.tuples(
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20), max_size=4),
    st.binary(max_size=64),
)


@FUZZ
@given(st.binary(max_size=2000) | st.lists(st.binary(max_size=40) | st.just(TAG)).map(b"".join))
def test_any_stdout_bytes_decode_to_frames_or_a_violation(stream):
    try:
        found = asyncio.run(decode(stream))
    except protocol.ProtocolViolation:
        return
    assert all(isinstance(f.msg, dict) and isinstance(f.blob, bytes) for f in found)


@FUZZ
@given(st.lists(st.tuples(stray, frames), max_size=6), stray)
def test_genuine_frames_survive_stray_output_between_them(pieces, tail):
    stream = b"".join(noise + tagged(msg, blob) for noise, (msg, blob) in pieces) + tail
    found = asyncio.run(decode(stream))
    assert [(f.msg, f.blob) for f in found] == [(msg, blob) for _, (msg, blob) in pieces]


@FUZZ
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_oversized_length_fields_are_a_violation_not_an_allocation(json_len, blob_len):
    stream = TAG + struct.pack(">II", json_len, blob_len) + b"{}"
    try:
        asyncio.run(decode(stream))
    except protocol.ProtocolViolation:
        assert json_len > protocol.MAX_JSON or blob_len > protocol.MAX_BLOB


# ---- mount path policy -----------------------------------------------------------------

SECRET = b"host secret outside the mount"
segment = st.sampled_from(
    ["", ".", "..", "a.txt", "sub", "b.txt", "out", "in", "x", "\x00", "..\x00", "\udcff",
     "a" * 300, "sub/..", "/", "//", "\\", "..\\..", "~", "%2e%2e"]
)  # fmt: skip
paths = st.lists(segment, max_size=6).map("/".join) | st.text(max_size=40)


def make_tree(base: Path) -> tuple[Path, Path]:
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "a.txt").write_text("inside")
    (root / "sub" / "b.txt").write_text("inside too")
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "out").symlink_to(outside)  # a link that leaves the mount
    (root / "in").symlink_to(root / "sub")  # one that stays inside
    return root, outside


def outside_state(outside: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in outside.rglob("*") if p.is_file()}


@FUZZ
@given(path=paths)
def test_clean_paths_never_leave_the_root(path):
    try:
        cleaned = clean(path)
    except OSError:
        return
    parts = cleaned.split("/") if cleaned else []
    assert not cleaned.startswith("/") and "\0" not in cleaned
    assert all(p not in ("", ".", "..") for p in parts)


OPS = ["stat", "list", "read", "open", "write", "create", "truncate", "mkdir", "remove",
       "rmdir", "rename"]  # fmt: skip


@FUZZ
@given(op=st.sampled_from(OPS), path=paths, dest=paths, size=st.integers(0, 64))
def test_no_request_reaches_outside_the_mount(op, path, dest, size):
    with tempfile.TemporaryDirectory() as base:
        root, outside = make_tree(Path(base))
        before = outside_state(outside)
        table = MountTable({"m": mounts.LocalDir(root, writable=True)}, timeout=5)
        request = {"op": op, "mount": "m", "path": path, "dest": dest, "offset": 0,
                   "size": size, "prefetch": 64, "exclusive": False}  # fmt: skip
        reply, data = asyncio.run(table.handle(request, b"x" * size))
        assert isinstance(reply, dict) and ("ok" in reply or "errno" in reply)
        assert SECRET not in data and SECRET not in json.dumps(reply).encode()
        assert outside_state(outside) == before
