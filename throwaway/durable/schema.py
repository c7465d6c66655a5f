"""Install what the durable layer needs in a database: Absurd's schema, a queue, the blob table.

Absurd's schema comes from the SQL bundled in ``absurdctl`` (the same version as
``absurd-sdk``), so installing works offline. It lives in the schema ``absurd``;
each queue is a set of tables ``absurd.t_<queue>`` (tasks), ``r_<queue>`` (runs,
i.e. attempts), ``c_<queue>`` (checkpoints), ``e_``/``w_`` (events, waits).
Blobs live in ``throwaway.blobs``, shared by all queues (they are content-addressed).

:func:`ensure_schema` is idempotent and safe when several processes call it at
once: the install runs in one transaction while holding an advisory lock, and
checks again once it holds the lock.
"""

from __future__ import annotations

import absurdctl
from psycopg import AsyncConnection

from throwaway.errors import DurableError

ABSURD_VERSION = absurdctl.ABSURD_SCHEMA_TARGET_VERSION

_LOCK = 0x7468726F77617921  # advisory lock key for installing: "throwaw!" in ASCII

_BLOBS_DDL = """
create schema if not exists throwaway;
create table if not exists throwaway.blobs (
    sha256 text primary key,
    data bytea not null,
    size bigint not null,
    created_at timestamptz not null default now()
);
"""


async def ensure_schema(conn: AsyncConnection, queue: str) -> None:
    """Install Absurd's schema and the blob table if missing, and create ``queue``.

    Raises DurableError if another version of Absurd's schema is installed.
    """
    if await _installed(conn, queue):
        return
    # A session lock, then a new transaction: a transaction that was already open while
    # it waited would still see the catalog as it was before the other process's install.
    await conn.execute("select pg_advisory_lock(%s)", (_LOCK,))
    try:
        async with conn.transaction():
            if await _installed(conn, queue):
                return
            cur = await conn.execute("select to_regclass('absurd.queues') is not null")
            if not (await cur.fetchone())[0]:
                await conn.execute(absurdctl.BUNDLED_SCHEMA_SQL)
            await _check_version(conn)
            await conn.execute(_BLOBS_DDL)
            await conn.execute("select absurd.create_queue(%s)", (queue,))
    finally:
        await conn.execute("select pg_advisory_unlock(%s)", (_LOCK,))


async def _installed(conn: AsyncConnection, queue: str) -> bool:
    cur = await conn.execute(
        "select to_regclass('absurd.queues') is not null"
        " and to_regclass('throwaway.blobs') is not null"
    )
    if not (await cur.fetchone())[0]:
        return False
    await _check_version(conn)
    cur = await conn.execute(
        "select exists(select 1 from absurd.queues where queue_name = %s)", (queue,)
    )
    return (await cur.fetchone())[0]


async def _check_version(conn: AsyncConnection) -> None:
    cur = await conn.execute("select absurd.get_schema_version()")
    found = (await cur.fetchone())[0]
    if found != ABSURD_VERSION:
        raise DurableError(
            f"this database has Absurd's schema {found}, throwaway needs {ABSURD_VERSION}: "
            f"migrate it with `absurdctl migrate` (absurdctl {ABSURD_VERSION})"
            " or use another database"
        )
