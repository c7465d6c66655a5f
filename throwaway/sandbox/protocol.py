"""The wire format between the host and a Deno sandbox process (stdio).

Host -> Deno (stdin)::

    16-byte tag (once, first)        then frames:  [u32 json_len][u32 blob_len][json][blob]

Deno -> host (stdout)::

    [16-byte tag][u32 json_len][u32 blob_len][json][blob]

Lengths are big-endian. ``json`` is a UTF-8 JSON object; ``blob`` carries bytes
(file contents, PNGs, wheels) so they never pass through JSON.

The tag is a fresh random secret per process, known to the host and Deno's main
thread only; the Pyodide worker never sees it. Sandboxed code can write to the
process's stdout (it reaches the JS realm), but without the tag its bytes are
skipped as stray output, never taken for a frame. Frames over the size limits
end the sandbox. Everything decoded here is still untrusted: callers validate.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import struct
from dataclasses import dataclass

TAG_SIZE = 16
HEADER = struct.Struct(">II")
MAX_JSON = 64 << 20
MAX_BLOB = 1 << 30


class ProtocolViolation(Exception):
    """The sandbox sent something that cannot be a frame of ours."""


@dataclass(frozen=True)
class Frame:
    msg: dict
    blob: bytes


def new_tag() -> bytes:
    return secrets.token_bytes(TAG_SIZE)


def encode(msg: dict, blob: bytes = b"") -> bytes:
    """A host -> Deno frame."""
    data = json.dumps(msg, separators=(",", ":")).encode()
    return HEADER.pack(len(data), len(blob)) + data + blob


class FrameReader:
    """Reads tagged frames from Deno's stdout, skipping anything else."""

    def __init__(self, stream: asyncio.StreamReader, tag: bytes):
        self.stream, self.tag = stream, tag
        self.stray_bytes = 0

    async def read(self) -> Frame | None:
        """The next frame, or None at end of stream."""
        while True:
            if not await self._seek_tag():
                return None
            try:
                json_len, blob_len = HEADER.unpack(await self.stream.readexactly(HEADER.size))
                if json_len > MAX_JSON or blob_len > MAX_BLOB:
                    raise ProtocolViolation(f"frame too large ({json_len} + {blob_len} bytes)")
                data = await self.stream.readexactly(json_len)
                blob = await self.stream.readexactly(blob_len) if blob_len else b""
            except asyncio.IncompleteReadError:
                return None
            try:
                msg = json.loads(data)
            except ValueError:
                self.stray_bytes += len(data)
                continue  # a frame corrupted by interleaved stray output: skip it
            if isinstance(msg, dict):
                return Frame(msg, blob)

    async def _seek_tag(self) -> bool:
        while True:
            try:
                skipped = await self.stream.readuntil(self.tag)
                self.stray_bytes += len(skipped) - len(self.tag)
                return True
            except asyncio.IncompleteReadError:
                return False
            except asyncio.LimitOverrunError as err:
                keep = len(self.tag) - 1  # the tag may straddle the boundary
                drop = max(err.consumed - keep, 1)
                self.stray_bytes += len(await self.stream.readexactly(drop))
