"""Content-addressed blobs in Postgres (``throwaway.blobs``), keyed by their sha256.

Workspace snapshots are stored here so that every worker can reach them. Writing
the same bytes twice stores them once; a blob is never changed once written.
"""

from __future__ import annotations

import hashlib

from psycopg import AsyncConnection

from throwaway.errors import BlobNotFound


async def put_blob(conn: AsyncConnection, data: bytes) -> str:
    """Store ``data``; its sha256 as 64 hex digits."""
    sha = hashlib.sha256(data).hexdigest()
    await conn.execute(
        "insert into throwaway.blobs (sha256, data, size) values (%s, %s, %s)"
        " on conflict (sha256) do nothing",
        (sha, data, len(data)),
    )
    return sha


async def get_blob(conn: AsyncConnection, sha: str) -> bytes:
    """The bytes stored under ``sha``; BlobNotFound if there are none."""
    cur = await conn.execute("select data from throwaway.blobs where sha256 = %s", (sha,))
    row = await cur.fetchone()
    if row is None:
        raise BlobNotFound(sha)
    return bytes(row[0])
