"""The retry policies: their waits, and the provider's Retry-After honoured (and capped)."""

from __future__ import annotations

import pytest
from tenacity import RetryCallState

from throwaway.errors import FatalModelError, RetryableModelError
from throwaway.retry import (
    DB_RECONNECT,
    MAX_RETRY_AFTER,
    MODEL_REQUEST,
    RUN_ATTEMPT,
    model_retrying,
    wait_retry_after,
)


def test_the_backoffs_grow_to_their_caps():
    assert [MODEL_REQUEST.delay(n) for n in (1, 2, 3)] == [1.0, 4.0, 15.0]
    assert [DB_RECONNECT.delay(n) for n in range(1, 8)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert [RUN_ATTEMPT.delay(n) for n in (1, 2, 6, 7, 50)] == [1.0, 2.0, 32.0, 60.0, 60.0]


def limited(message: str, retry_after: float | None = None) -> RetryableModelError:
    return RetryableModelError(message, reason="rate_limit", retry_after=retry_after)


def failed(error: BaseException, attempt: int = 1) -> RetryCallState:
    state = RetryCallState(None, None, (), {})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_retry_after_is_honoured_up_to_the_cap_else_the_backoff():
    wait = wait_retry_after(MODEL_REQUEST)
    assert wait(failed(limited("slow", 0.0))) == 0.0
    assert wait(failed(limited("slow", 7.5))) == 7.5
    assert wait(failed(limited("slow", 3600))) == MAX_RETRY_AFTER
    assert wait(failed(limited("boom"), attempt=2)) == 4.0


async def test_model_retrying_retries_retryable_errors_and_raises_the_last():
    seen: list[tuple[str, float]] = []
    failures = [limited(f"try {n}", 0.001) for n in range(1, 5)]

    async def request() -> str:
        raise failures.pop(0)

    retrying = model_retrying(RetryableModelError, lambda e, d: seen.append((str(e), d)))
    with pytest.raises(RetryableModelError, match="try 4"):
        await retrying(request)
    assert seen == [("try 1", 0.001), ("try 2", 0.001), ("try 3", 0.001)]


async def test_model_retrying_does_not_retry_other_errors():
    calls = []

    async def request() -> str:
        calls.append(1)
        raise FatalModelError("no", reason="auth")

    with pytest.raises(FatalModelError):
        await model_retrying(RetryableModelError, lambda e, d: None)(request)
    assert calls == [1]
