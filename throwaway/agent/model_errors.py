"""Provider errors, mapped to throwaway's: retry later, or give up with a reason.

``ProviderErrorsModel(model).request(...)`` raises only
:class:`~throwaway.errors.RetryableModelError` (429, 5xx, connection, timeout, a body that is
not the promised JSON) or :class:`~throwaway.errors.FatalModelError` (401/403, 404, 400,
context window, quota), both :class:`~throwaway.errors.ModelProviderError` with
``.retryable``, ``.reason``, ``.status_code``, ``.retry_after``. Exceptions that are not about
the provider (bugs in the caller) pass unchanged. Before raising, the OpenAI and Anthropic
SDKs have already retried 408/409/429/5xx and connection failures twice with backoff,
honouring ``Retry-After`` (``ModelSettings(max_retries=N)`` changes the count).
"""

from __future__ import annotations

from pydantic_ai.exceptions import (
    ContentFilterError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelContextWindowExceededError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelQuotaExceededError,
    ModelRateLimitError,
    ModelRequestRejectedError,
    ModelRequestTimeout,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
    UnexpectedModelBehavior,
    UserError,
)
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from throwaway.errors import FatalModelError, ModelProviderError, RetryableModelError

__all__ = ["ProviderErrorsModel", "classify_model_error"]


class ProviderErrorsModel(WrapperModel):
    """Wraps a pydantic-ai model so that ``request`` raises only ModelProviderError subclasses.

    Everything else (name, profile, settings, provider) is the wrapped model's.
    """

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        try:
            return await self.wrapped.request(messages, model_settings, model_request_parameters)
        except ModelProviderError:
            raise
        except Exception as exc:
            mapped = classify_model_error(exc, self.wrapped.model_name)
            if mapped is None:
                raise
            raise mapped from exc


_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


def classify_model_error(
    exc: BaseException, model_name: str | None = None
) -> ModelProviderError | None:
    """The RetryableModelError or FatalModelError for a pydantic-ai / provider SDK exception.

    None for exceptions that are not about the provider (bugs in the caller stay bugs).
    """
    status = getattr(exc, "status_code", None)
    retry_after = getattr(exc, "retry_after", None)
    model_name = getattr(exc, "model_name", None) or model_name

    def make(cls: type[ModelProviderError], reason: str, what: str) -> ModelProviderError:
        where = f"model {model_name!r}" if model_name else "the model provider"
        code = f" (HTTP {status})" if status else ""
        return cls(
            f"{what} from {where}{code}: {_short(exc)}",
            reason=reason,
            model_name=model_name,
            status_code=status,
            retry_after=retry_after,
        )

    # Order matters: the specific categories before their bases.
    table: list[tuple[type[BaseException], type[ModelProviderError], str, str]] = [
        (ModelRateLimitError, RetryableModelError, "rate_limit", "Rate limited"),
        (ModelQuotaExceededError, FatalModelError, "quota", "Quota or billing exhausted"),
        (ModelUnavailableError, RetryableModelError, "unavailable", "Provider unavailable"),
        (ModelServerError, RetryableModelError, "server_error", "Server error"),
        (ModelTimeoutError, RetryableModelError, "timeout", "Timed out"),
        (ModelRequestTimeout, RetryableModelError, "timeout", "Timed out"),
        (ModelConnectionError, RetryableModelError, "connection", "Connection failed"),
        (
            ModelContextWindowExceededError,
            FatalModelError,
            "context_window",
            "Context window exceeded",
        ),
        (ModelAuthenticationError, FatalModelError, "auth", "Credentials rejected"),
        (ModelNotFoundError, FatalModelError, "not_found", "Model or endpoint not found"),
        (ModelRequestRejectedError, FatalModelError, "rejected", "Request rejected"),
        (ContentFilterError, FatalModelError, "content_filter", "Blocked by a content filter"),
        (UnexpectedModelBehavior, RetryableModelError, "malformed_response", "Malformed response"),
    ]
    for exc_type, cls, reason, what in table:
        if isinstance(exc, exc_type):
            return make(cls, reason, what)
    if isinstance(exc, ModelHTTPError) or (status is not None and isinstance(exc, ModelAPIError)):
        retryable = status in _RETRYABLE_STATUS or (status or 0) >= 500
        cls = RetryableModelError if retryable else FatalModelError
        return make(cls, "http_error", "HTTP error")
    if isinstance(exc, ModelAPIError):
        message = str(exc)
        if "decode" in message or "Expected a JSON" in message:
            return make(RetryableModelError, "malformed_response", "Malformed response")
        return make(RetryableModelError, "api_error", "Provider API error")
    if isinstance(exc, UserError):
        return make(FatalModelError, "invalid_request", "Invalid request")
    return _classify_raw(exc, make)


def _classify_raw(exc, make) -> ModelProviderError | None:
    """SDK or transport exceptions that reached us without pydantic-ai's mapping."""
    module = type(exc).__module__.split(".")[0]
    if module in ("openai", "anthropic", "google"):
        status = getattr(exc, "status_code", None)
        if status is None or status in _RETRYABLE_STATUS or status >= 500:
            return make(RetryableModelError, "api_error", "Provider API error")
        return make(FatalModelError, "http_error", "HTTP error")
    if module in ("httpx", "httpx2", "httpcore", "httpcore2") or isinstance(exc, ConnectionError):
        return make(RetryableModelError, "connection", "Connection failed")
    return None


def _short(exc: BaseException, limit: int = 500) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"
