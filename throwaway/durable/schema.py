"""Install and migrate what the durable layer needs in a database: Absurd's schema, the
blob table, a queue.

Absurd's schema comes from the SQL bundled in ``absurdctl`` (the same version as
``absurd-sdk``), so installing works offline. It lives in the schema ``absurd``;
each queue is a set of tables ``absurd.t_<queue>`` (tasks), ``r_<queue>`` (runs,
i.e. attempts), ``c_<queue>`` (checkpoints), ``e_``/``w_`` (events, waits).
Blobs live in ``throwaway.blobs``, shared by all queues (they are content-addressed).

Throwaway's own tables change through :data:`MIGRATIONS`, a list of functions
applied once each, in order, and recorded by name in ``throwaway.migrations`` (as
Simon Willison's ``llm`` does). A new change is a new function at the end of the
list; an applied one is never edited. The first, ``m001_initial``, is the schema
from before migrations existed and is written to be idempotent, so a database made
then (tables present, no ``throwaway.migrations``) is adopted as it is.

:func:`ensure_schema` is idempotent and safe when several processes call it at
once: it migrates in one transaction while holding an advisory lock, and checks
again once it holds the lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import absurdctl
from psycopg import AsyncConnection

from throwaway.errors import DurableError

ABSURD_VERSION = absurdctl.ABSURD_SCHEMA_TARGET_VERSION

_LOCK = 0x7468726F77617921  # advisory lock key for installing: "throwaw!" in ASCII

_MIGRATIONS_DDL = """
create schema if not exists throwaway;
create table if not exists throwaway.migrations (
    name text primary key,
    applied_at timestamptz not null default now()
);
"""


async def m001_initial(conn: AsyncConnection) -> None:
    """Absurd's schema (unless installed) and the blob table."""
    cur = await conn.execute("select to_regclass('absurd.queues') is not null")
    if not (await cur.fetchone())[0]:
        await conn.execute(absurdctl.BUNDLED_SCHEMA_SQL)
    await conn.execute(
        """
        create table if not exists throwaway.blobs (
            sha256 text primary key,
            data bytea not null,
            size bigint not null,
            created_at timestamptz not null default now()
        )
        """
    )


Migration = Callable[[AsyncConnection], Awaitable[None]]

#: Every migration, oldest first; each runs once per database, in its own install transaction.
MIGRATIONS: list[Migration] = [m001_initial]


async def ensure_schema(conn: AsyncConnection, queue: str) -> None:
    """Apply the migrations not yet applied and create ``queue`` if missing.

    Raises DurableError if another version of Absurd's schema is installed.
    """
    if await _ready(conn, queue):
        return
    # A session lock, then a new transaction: a transaction that was already open while
    # it waited would still see the catalog as it was before the other process's install.
    await conn.execute("select pg_advisory_lock(%s)", (_LOCK,))
    try:
        async with conn.transaction():
            if await _ready(conn, queue):
                return
            await conn.execute(_MIGRATIONS_DDL)
            for migration in await _pending(conn):
                await migration(conn)
                await conn.execute(
                    "insert into throwaway.migrations (name) values (%s)", (migration.__name__,)
                )
            await _check_version(conn)
            await conn.execute("select absurd.create_queue(%s)", (queue,))
    finally:
        await conn.execute("select pg_advisory_unlock(%s)", (_LOCK,))


async def _ready(conn: AsyncConnection, queue: str) -> bool:
    """Whether every migration is applied and ``queue`` exists (checking Absurd's version)."""
    if await _pending(conn):
        return False
    await _check_version(conn)
    cur = await conn.execute(
        "select exists(select 1 from absurd.queues where queue_name = %s)", (queue,)
    )
    return (await cur.fetchone())[0]


async def _pending(conn: AsyncConnection) -> list[Migration]:
    cur = await conn.execute("select to_regclass('throwaway.migrations') is not null")
    if not (await cur.fetchone())[0]:
        return list(MIGRATIONS)
    cur = await conn.execute("select name from throwaway.migrations")
    applied = {name for (name,) in await cur.fetchall()}
    return [m for m in MIGRATIONS if m.__name__ not in applied]


async def _check_version(conn: AsyncConnection) -> None:
    cur = await conn.execute("select absurd.get_schema_version()")
    found = (await cur.fetchone())[0]
    if found != ABSURD_VERSION:
        raise DurableError(
            f"this database has Absurd's schema {found}, throwaway needs {ABSURD_VERSION}: "
            f"migrate it with `absurdctl migrate` (absurdctl {ABSURD_VERSION})"
            " or use another database"
        )
