"""Durable runs: Absurd (absurd-sdk) on Postgres, embedded or at a URL.

``client.py`` (``Durable``: start, work, inspect, cancel, resume, blobs) over
``worker.py`` (the claim loop), ``context.py`` (``RunContext``: steps, heartbeats),
``runs.py`` (run records and statuses), ``blobs.py``, ``schema.py`` (installing
Absurd's schema offline) and ``database.py`` (which database; the embedded server).
"""

from throwaway.durable.client import DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE, Durable
from throwaway.durable.context import RunContext
from throwaway.durable.database import database_url, start_embedded, stop_embedded
from throwaway.durable.runs import RunRecord, Status, StepRecord
from throwaway.durable.worker import TASK_NAME, Handler

__all__ = [
    "DEFAULT_MAX_ATTEMPTS", "DEFAULT_QUEUE", "TASK_NAME", "Durable", "Handler", "RunContext",
    "RunRecord", "Status", "StepRecord", "database_url", "start_embedded", "stop_embedded",
]  # fmt: skip
