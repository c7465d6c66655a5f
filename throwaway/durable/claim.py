"""Claiming one given run, for a process that works on its own run only (a foreground
`throwaway run` or `resume`), never on the rest of the queue.

Absurd's ``claim_task`` takes whichever runs are due, oldest first. ``OneRunAbsurd`` is
the SDK's client with ``claim_tasks`` narrowed to one task id: the same updates as
``claim_task`` (the attempt becomes ``running``, held by this worker until the lease
ends), on that task's due attempt only. Like ``claim_task`` it first fails the task's
attempt whose lease has expired, so that the run is taken over at once.
"""

from __future__ import annotations

from typing import Any

from absurd_sdk import AsyncAbsurd, ClaimedTask
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from throwaway.durable.runs import table

_EXPIRED = """
select run_id, claimed_by, claim_expires_at, attempt from {r}
 where task_id = %(task)s and state = 'running' and claim_expires_at <= absurd.current_time()
   for update skip locked
"""

_CLAIM = """
with candidate as (
    select r.run_id from {r} r join {t} t on t.task_id = r.task_id
     where r.task_id = %(task)s and r.state in ('pending', 'sleeping')
       and t.state in ('pending', 'sleeping', 'running')
       and r.available_at <= absurd.current_time()
     limit 1 for update skip locked
), updated as (
    update {r} r set state = 'running', claimed_by = %(worker)s,
           claim_expires_at = absurd.current_time() + make_interval(secs => %(lease)s),
           started_at = absurd.current_time(), available_at = absurd.current_time()
     where run_id in (select run_id from candidate)
    returning r.run_id, r.task_id, r.attempt
), task_upd as (
    update {t} t set state = 'running', attempts = greatest(t.attempts, u.attempt),
           first_started_at = coalesce(t.first_started_at, absurd.current_time()),
           last_attempt_run = u.run_id
      from updated u where t.task_id = u.task_id
    returning t.task_id
)
select u.run_id, u.task_id, u.attempt, t.task_name, t.params, t.retry_strategy,
       t.max_attempts, t.headers, r.wake_event, r.event_payload
  from updated u join {r} r on r.run_id = u.run_id join {t} t on t.task_id = u.task_id
"""


async def claim_run(
    conn: AsyncConnection, queue: str, task_id: str, worker_id: str, lease_seconds: int
) -> list[ClaimedTask]:
    """Claim run ``task_id`` if it is due (a list of one), else ``[]``."""
    names = {"r": table("r", queue), "t": table("t", queue)}
    args: dict[str, Any] = {"task": task_id, "worker": worker_id, "lease": lease_seconds}
    async with conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql.SQL(_EXPIRED).format(**names), args)
        for expired in await cur.fetchall():
            reason = {"name": "$ClaimTimeout", "message": "worker did not renew its lease",
                      "workerId": expired["claimed_by"], "attempt": expired["attempt"]}  # fmt: skip
            await conn.execute(
                "select absurd.fail_run(%s, %s, %s, null)",
                (queue, expired["run_id"], Jsonb(reason)),
            )
        await cur.execute(sql.SQL(_CLAIM).format(**names), args)
        return await cur.fetchall()  # type: ignore[return-value]


class OneRunAbsurd(AsyncAbsurd):
    """The Absurd client whose ``work_batch`` claims run ``task_id`` and no other."""

    def __init__(self, conn: AsyncConnection, queue: str, task_id: str) -> None:
        super().__init__(conn, queue_name=queue)
        self.conn, self.queue, self.task_id = conn, queue, task_id

    async def claim_tasks(
        self, batch_size: int = 1, claim_timeout: int = 120, worker_id: str = "worker"
    ) -> list[ClaimedTask]:
        return await claim_run(self.conn, self.queue, self.task_id, worker_id, claim_timeout)
