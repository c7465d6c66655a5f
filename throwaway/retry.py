"""How long throwaway waits before trying again: every retry policy, in one place, on tenacity.

- A model request the provider failed (after its SDK's own quick retries): three more
  tries, 1 s, 4 s and 15 s apart, or as long as the provider asked with ``Retry-After``
  (at most `MAX_RETRY_AFTER`).
- A worker's database connection: 0.1 s, doubling up to 2 s, for as long as the worker runs.
- A run attempt that failed, requeued by the durable layer: 1 s, doubling up to 60 s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

#: The longest a provider's ``Retry-After`` is honoured for, in seconds.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Backoff:
    """Waits of ``first`` seconds, times ``factor`` each try, at most ``most``."""

    first: float
    factor: float
    most: float

    def wait(self) -> wait_exponential:
        return wait_exponential(multiplier=self.first, exp_base=self.factor, max=self.most)

    def delay(self, attempt: int) -> float:
        """The wait after the ``attempt``-th failure (1 for the first)."""
        state = RetryCallState(None, None, (), {})
        state.attempt_number = attempt
        return self.wait()(state)


MODEL_REQUEST = Backoff(first=1.0, factor=4.0, most=15.0)
MODEL_RETRIES = 3
DB_RECONNECT = Backoff(first=0.1, factor=2.0, most=2.0)
RUN_ATTEMPT = Backoff(first=1.0, factor=2.0, most=60.0)


def wait_retry_after(backoff: Backoff) -> Callable[[RetryCallState], float]:
    """The provider's ``retry_after`` where the failure carries one, else ``backoff``'s."""
    fallback = backoff.wait()

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        asked = getattr(failure, "retry_after", None)
        return fallback(state) if asked is None else min(max(asked, 0.0), MAX_RETRY_AFTER)

    return wait


def model_retrying(
    retry_on: type[BaseException], on_retry: Callable[[BaseException, float], None]
) -> AsyncRetrying:
    """Retries of a model request failing with ``retry_on``; ``on_retry(error, delay)``
    before each wait. The last failure is raised as it is."""
    return AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        stop=stop_after_attempt(MODEL_RETRIES + 1),
        wait=wait_retry_after(MODEL_REQUEST),
        before_sleep=lambda state: on_retry(state.outcome.exception(), state.upcoming_sleep),
        reraise=True,
    )


def reconnecting(
    retry_on: type[BaseException],
    stop: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]],
    on_retry: Callable[[BaseException], Awaitable[None]],
) -> AsyncRetrying:
    """Retries of a connection failing with ``retry_on`` until ``stop()``, with
    `DB_RECONNECT`'s waits; ``on_retry(error)`` after each wait, before the next attempt
    (a database being stopped has that long to finish before it is started again)."""
    failed: list[BaseException] = []

    async def note(state: RetryCallState) -> None:  # async def: tenacity awaits it
        failed[:] = [state.outcome.exception()]

    async def pause(seconds: float) -> None:
        await sleep(seconds)
        await on_retry(failed[0])

    return AsyncRetrying(
        retry=retry_if_exception_type(retry_on),
        stop=lambda state: stop(),
        wait=DB_RECONNECT.wait(),
        sleep=pause,
        before_sleep=note,
        reraise=True,
    )
