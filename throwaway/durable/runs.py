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
from throwaway.errors import AmbiguousRunId, DurableError, RunNotFound

Status = Literal["queued", "running", "completed", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("queued", "running", "completed", "failed", "cancelled")

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
    at: datetime  # when it was stored
    started: datetime | None = None  # when it began: the step before it ended, or its attempt began

    @property
    def seconds(self) -> float | None:
        """How long the step took (None when its start is not known)."""
        return self.started and round((self.at - self.started).total_seconds(), 3)


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
    started_at: datetime | None = None  # when a worker first took it
    step_count: int = 0  # steps stored so far

    @property
    def seconds(self) -> float | None:
        """From the first start to the end (or until now while it is not done)."""
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(self.started_at.tzinfo)
        return round((end - self.started_at).total_seconds(), 3)

    @property
    def done(self) -> bool:
        """True once the run can change no more by itself (completed, failed or cancelled)."""
        return self.status in ("completed", "failed", "cancelled")

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""
        out = {k: getattr(self, k) for k in ("id", "task", "params", "status", "result", "error")}
        out["attempts"] = self.attempts
        out["created_at"] = self.created_at.isoformat()
        out["started_at"] = self.started_at and self.started_at.isoformat()
        out["finished_at"] = self.finished_at and self.finished_at.isoformat()
        out["seconds"], out["step_count"] = self.seconds, self.step_count
        if self.steps is not None:
            out["steps"] = [
                {"name": s.name, "result": s.result, "at": s.at.isoformat(), "seconds": s.seconds}
                for s in self.steps
            ]
        return out


def table(prefix: str, queue: str) -> sql.Identifier:
    """Absurd's table ``absurd.<prefix>_<queue>`` (prefix ``t``, ``r`` or ``c``)."""
    return sql.Identifier("absurd", f"{prefix}_{queue}")


_RUNS = """
select * from (
  select t.task_id, t.params, t.state, t.attempts, t.enqueue_at, t.first_started_at,
         t.completed_payload, r.failure_reason,
         coalesce(r.completed_at, r.failed_at, t.cancelled_at) as finished_at,
         case when t.state in ('pending', 'sleeping') then 'queued'
              when t.state = 'running' and r.claim_expires_at < absurd.current_time() then 'queued'
              else t.state end as status,
         (select count(*) from {c} c where c.task_id = t.task_id and c.status = 'committed')
           as step_count
    from {t} t left join {r} r on r.run_id = t.last_attempt_run
) runs
"""


async def get_run(conn: AsyncConnection, queue: str, run_id: str) -> RunRecord:
    """The run ``run_id`` (or the one run whose id starts with it) with its steps;
    RunNotFound if there is none, AmbiguousRunId if the prefix fits several."""
    task_id = await resolve(conn, queue, run_id)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_query(queue, " where task_id = %s"), (task_id,))
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
    rows = await cur.fetchall()
    await cur.execute(
        sql.SQL("select started_at from {r} where task_id = %s and started_at is not null").format(
            r=table("r", queue)
        ),
        (task_id,),
    )
    starts = [s["started_at"] for s in await cur.fetchall()]
    return _record(row, _steps(rows, starts))


def _steps(rows: list[dict], attempt_starts: list[datetime]) -> list[StepRecord]:
    """Steps with their start: the later of the step before it and its attempt's start."""
    steps, previous = [], None
    for row in rows:
        at = row["updated_at"]
        began = max((s for s in attempt_starts if s <= at), default=None)
        started = max((t for t in (previous, began) if t is not None), default=None)
        steps.append(StepRecord(row["checkpoint_name"], storable.load(row["state"]), at, started))
        previous = at
    return steps


async def list_runs(
    conn: AsyncConnection, queue: str, limit: int, status: Status | None = None
) -> list[RunRecord]:
    """The ``limit`` newest runs (with this ``status``, if given), newest first, without steps."""
    cur = conn.cursor(row_factory=dict_row)
    where = " where %(status)s::text is null or status = %(status)s"
    order = " order by enqueue_at desc, task_id desc limit %(limit)s"
    await cur.execute(_query(queue, where + order), {"status": status, "limit": limit})
    return [_record(row, None) for row in await cur.fetchall()]


async def resolve(conn: AsyncConnection, queue: str, run_id: str) -> uuid.UUID:
    """The id of the run whose id is ``run_id`` or starts with it (like git's short hashes)."""
    digits = run_id.strip().lower().replace("-", "")
    if not digits or len(digits) > 32 or digits.strip("0123456789abcdef"):
        raise RunNotFound(run_id)
    low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
    cur = await conn.execute(
        sql.SQL(
            "select task_id from {t} where task_id between %s and %s order by task_id limit 11"
        ).format(t=table("t", queue)),
        (low, high),
    )
    found = [row[0] for row in await cur.fetchall()]
    if not found:
        raise RunNotFound(run_id)
    if len(found) > 1:
        raise AmbiguousRunId(run_id, [str(f) for f in found])
    return found[0]


def _query(queue: str, tail: str) -> sql.Composed:
    return sql.SQL(_RUNS + tail).format(
        t=table("t", queue), r=table("r", queue), c=table("c", queue)
    )


async def requeue(conn: AsyncConnection, queue: str, run_id: str, extra_attempts: int) -> None:
    """Queue a failed or cancelled run again with ``extra_attempts`` more attempts.

    Its checkpoints are kept, so it continues where it stopped. Absurd only
    retries failed tasks: a cancelled one is marked failed first, in the same
    transaction.
    """
    task_id = await resolve(conn, queue, run_id)
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
    task_id = await resolve(conn, queue, run_id)  # RunNotFound, AmbiguousRunId
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


def _record(row: dict[str, Any], steps: list[StepRecord] | None) -> RunRecord:
    params = row["params"] or {}
    failure = storable.load(row["failure_reason"]) if row["state"] == "failed" else None
    return RunRecord(
        id=str(row["task_id"]),
        task=params.get("task", ""),
        params=storable.load(params.get("params", {})),
        status=row["status"],
        result=storable.load(row["completed_payload"]),
        error=failure and f"{failure.get('name', 'Error')}: {failure.get('message', '')}",
        attempts=row["attempts"],
        created_at=row["enqueue_at"],
        finished_at=row["finished_at"]
        if row["state"] in ("completed", "failed", "cancelled")
        else None,
        steps=steps,
        started_at=row["first_started_at"],
        step_count=row["step_count"],
    )
