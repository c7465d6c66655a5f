"""Runs as records: what ``get_run``/``list_runs`` return, read from Absurd's queue tables.

A run is one Absurd *task* (its id is the task id). Absurd's own "runs" are the
attempts of a task; they show here only as ``attempts``. Absurd's task states
map to five statuses:

=========================  ============
Absurd task state          status
=========================  ============
``pending``                ``queued``    (waiting for a worker, first time or after a crash)
``sleeping``               ``queued``    (waiting for its retry time after an error)
``running``, lease expired ``queued``    (its worker went silent; the next claim takes it over)
``running``                ``running``   (claimed by a worker whose lease has not expired)
``completed``              ``completed``
``failed``                 ``failed``    (attempts used up, or the handler raised RunFailed)
``cancelled``              ``cancelled``
=========================  ============
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from throwaway.durable import storable
from throwaway.errors import DurableError, RunNotFound

Status = Literal["queued", "running", "completed", "failed", "cancelled"]

STATUS_OF_STATE: dict[str, Status] = {
    "pending": "queued",
    "sleeping": "queued",
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class StepRecord:
    """One completed step: its checkpoint name (``model``, ``model#2``, …) and stored result."""

    name: str
    result: Any
    at: datetime


@dataclass(frozen=True)
class RunRecord:
    """A run as stored. ``steps`` is in completion order; None when not loaded (``list_runs``)."""

    id: str
    task: str
    params: dict[str, Any]
    status: Status
    result: Any  # the handler's return value, once completed
    error: str | None  # "Type: message" of the last failure, once failed
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    steps: list[StepRecord] | None = None

    @property
    def done(self) -> bool:
        """True once the run can change no more by itself (completed, failed or cancelled)."""
        return self.status in ("completed", "failed", "cancelled")

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""
        out = {k: getattr(self, k) for k in ("id", "task", "params", "status", "result", "error")}
        out["attempts"] = self.attempts
        out["created_at"] = self.created_at.isoformat()
        out["finished_at"] = self.finished_at and self.finished_at.isoformat()
        if self.steps is not None:
            out["steps"] = [
                {"name": s.name, "result": s.result, "at": s.at.isoformat()} for s in self.steps
            ]
        return out


def table(prefix: str, queue: str) -> sql.Identifier:
    """Absurd's table ``absurd.<prefix>_<queue>`` (prefix ``t``, ``r`` or ``c``)."""
    return sql.Identifier("absurd", f"{prefix}_{queue}")


_RUNS = """
select t.task_id, t.params, t.state, t.attempts, t.enqueue_at, t.completed_payload,
       r.failure_reason, coalesce(r.completed_at, r.failed_at, t.cancelled_at) as finished_at,
       t.state = 'running' and r.claim_expires_at < absurd.current_time() as lease_expired
  from {t} t left join {r} r on r.run_id = t.last_attempt_run
"""


async def get_run(conn: AsyncConnection, queue: str, run_id: str) -> RunRecord:
    """The run ``run_id`` with its steps; RunNotFound if there is none."""
    task_id = _task_id(run_id)
    cur = conn.cursor(row_factory=dict_row)
    query = sql.SQL(_RUNS + " where t.task_id = %s").format(
        t=table("t", queue), r=table("r", queue)
    )
    await cur.execute(query, (task_id,))
    row = await cur.fetchone()
    if row is None:
        raise RunNotFound(run_id)
    await cur.execute(
        sql.SQL(
            "select checkpoint_name, state, updated_at from {c}"
            " where task_id = %s and status = 'committed' order by updated_at, checkpoint_name"
        ).format(c=table("c", queue)),
        (task_id,),
    )
    steps = [
        StepRecord(s["checkpoint_name"], storable.load(s["state"]), s["updated_at"])
        for s in await cur.fetchall()
    ]
    return _record(row, steps)


async def list_runs(conn: AsyncConnection, queue: str, limit: int) -> list[RunRecord]:
    """The ``limit`` newest runs, newest first, without their steps."""
    cur = conn.cursor(row_factory=dict_row)
    query = sql.SQL(_RUNS + " order by t.enqueue_at desc, t.task_id desc limit %s")
    await cur.execute(query.format(t=table("t", queue), r=table("r", queue)), (limit,))
    return [_record(row, None) for row in await cur.fetchall()]


async def requeue(conn: AsyncConnection, queue: str, run_id: str, extra_attempts: int) -> None:
    """Queue a failed or cancelled run again with ``extra_attempts`` more attempts.

    Its checkpoints are kept, so it continues where it stopped. Absurd only
    retries failed tasks: a cancelled one is marked failed first, in the same
    transaction.
    """
    task_id = _task_id(run_id)
    async with conn.transaction():
        cur = await conn.execute(
            sql.SQL("select state, attempts from {t} where task_id = %s for update").format(
                t=table("t", queue)
            ),
            (task_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise RunNotFound(run_id)
        state, attempts = row
        if state not in ("failed", "cancelled"):
            raise DurableError(await _why_not_resumable(conn, queue, task_id, state))
        if state == "cancelled":
            await conn.execute(
                sql.SQL(
                    "update {t} set state = 'failed', cancelled_at = null where task_id = %s"
                ).format(t=table("t", queue)),
                (task_id,),
            )
        await conn.execute(
            "select * from absurd.retry_task(%s, %s, jsonb_build_object('max_attempts', %s::int))",
            (queue, task_id, attempts + extra_attempts),
        )


async def cancel(conn: AsyncConnection, queue: str, run_id: str) -> Status:
    """Cancel a queued or running run; the status it had. A finished run is left as it
    is: DurableError saying why it cannot be cancelled (cancelled: returns "cancelled")."""
    task_id = _task_id(run_id)
    row = await _last_attempt(conn, queue, task_id)
    if row is None:
        raise RunNotFound(run_id)
    state, _, _, lapsed = row
    if state in ("completed", "failed"):
        raise DurableError(
            f"run {run_id} has already {state}: only queued or running runs can be"
            " cancelled; nothing was changed"
        )
    # No lock held meanwhile: cancel_task takes its locks in the order the workers do, and
    # does nothing to a run that has finished since.
    await conn.execute("select absurd.cancel_task(%s, %s)", (queue, task_id))
    if state == "cancelled":
        return "cancelled"
    return "queued" if lapsed or state != "running" else "running"  # as the table says


async def _why_not_resumable(
    conn: AsyncConnection, queue: str, task_id: uuid.UUID, state: str
) -> str:
    """Why a run that is not failed or cancelled cannot be resumed, and what happens to it."""
    run_id = str(task_id)
    if state == "completed":
        return f"run {run_id} has completed: only failed or cancelled runs can be resumed"
    if state != "running":
        return (
            f"run {run_id} is queued: a worker will start it (`throwaway worker`);"
            " only failed or cancelled runs can be resumed"
        )
    _, worker, expires, expired = await _last_attempt(conn, queue, task_id)  # requeue found it
    until = expires.astimezone().strftime("%H:%M:%S") if expires else "?"
    if expired:
        return (
            f"run {run_id} is not resumable: its worker {worker} went silent (its lease ended at"
            f" {until}); the next worker to look for runs takes it over and continues from its"
            " last step (start one with `throwaway worker`)"
        )
    return (
        f"run {run_id} is running on worker {worker}, which holds it until {until} unless it"
        " renews its lease; if that worker died, a worker takes the run over then and"
        " continues from its last step (`throwaway worker`); to stop it: `throwaway cancel`"
    )


async def _last_attempt(conn: AsyncConnection, queue: str, task_id: uuid.UUID):
    """(task state, the worker holding its last attempt, when that lease ends, whether it
    has ended), or None if there is no such run."""
    cur = await conn.execute(
        sql.SQL(
            "select t.state, r.claimed_by, r.claim_expires_at,"
            " coalesce(r.claim_expires_at <= absurd.current_time(), false)"
            " from {t} t left join {r} r on r.run_id = t.last_attempt_run where t.task_id = %s"
        ).format(t=table("t", queue), r=table("r", queue)),
        (task_id,),
    )
    return await cur.fetchone()


def _task_id(run_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(run_id)
    except ValueError:
        raise RunNotFound(run_id) from None


def _record(row: dict[str, Any], steps: list[StepRecord] | None) -> RunRecord:
    params = row["params"] or {}
    failure = storable.load(row["failure_reason"]) if row["state"] == "failed" else None
    return RunRecord(
        id=str(row["task_id"]),
        task=params.get("task", ""),
        params=storable.load(params.get("params", {})),
        status="queued" if row["lease_expired"] else STATUS_OF_STATE[row["state"]],
        result=storable.load(row["completed_payload"]),
        error=failure and f"{failure.get('name', 'Error')}: {failure.get('message', '')}",
        attempts=row["attempts"],
        created_at=row["enqueue_at"],
        finished_at=row["finished_at"]
        if row["state"] in ("completed", "failed", "cancelled")
        else None,
        steps=steps,
    )
