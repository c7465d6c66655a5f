"""Exceptions raised by throwaway on the host. All derive from ThrowawayError.

Errors *inside* sandboxed code are not raised on the host: they come back as
``ExecResult.error`` so that a model can read them and try again.
"""

from __future__ import annotations


class ThrowawayError(Exception):
    """Base class of every host-side throwaway error."""


class SetupError(ThrowawayError):
    """The Pyodide runtime files could not be fetched or verified."""


class SandboxError(ThrowawayError):
    """The sandbox process could not start, or broke the protocol."""


class SandboxProtocolError(SandboxError):
    """The sandbox answered with something the host did not ask for: a malformed or
    forged reply, or none in time. The host ends that sandbox."""


class SandboxFileError(ThrowawayError, OSError):
    """A file operation on the sandbox's file system failed (missing file, bad path)."""


class InstallError(ThrowawayError):
    """A package could not be installed into the sandbox."""


class DurableError(ThrowawayError):
    """The durable layer could not reach or use its database, or refused an operation."""


class InvalidTask(DurableError, ValueError):
    """The task text cannot be stored: it holds a NUL character or a lone surrogate."""


class RunNotFound(DurableError, KeyError):
    """No run has this id (or id prefix) in this queue."""

    def __init__(self, run_id: str):
        super().__init__(f"no run {run_id!r}")
        self.run_id = run_id

    __str__ = Exception.__str__  # KeyError's would quote the message


class AmbiguousRunId(DurableError, ValueError):
    """An id prefix that more than one run's id starts with; ``matches`` lists them."""

    def __init__(self, prefix: str, matches: list[str]):
        shown = ", ".join(matches[:10]) + (", …" if len(matches) > 10 else "")
        super().__init__(f"{prefix!r} is the start of more than one run: {shown}")
        self.prefix, self.matches = prefix, matches


class BlobNotFound(DurableError, KeyError):
    """No blob has this sha256."""

    def __init__(self, sha: str):
        super().__init__(f"no stored file with sha256 {sha}")
        self.sha = sha

    __str__ = Exception.__str__


class McpError(ThrowawayError):
    """An MCP server could not be started, reached or listed."""


class RunFailed(ThrowawayError):
    """Raised by a run handler to end its run as ``failed`` at once, without retrying.

    Any other exception from a handler is retried with backoff until the run's
    attempts are used up.
    """


class ModelConfigError(ThrowawayError):
    """No model could be set up: no name and no API key, an unknown provider, a missing key
    for the chosen provider, or a ``scripted:FILE`` that is missing or malformed.

    Raised by ``throwaway.agent.models.resolve_model`` before any request is made; the message
    lists the model names to choose from and the environment variables each one reads.
    """


class ModelProviderError(ThrowawayError):
    """A request to the model provider failed. Raised by every model ``resolve_model`` returns.

    Catch this in the agent loop. ``retryable`` tells what to do: ``True`` (a
    :class:`RetryableModelError`: rate limit, 5xx, dropped connection, timeout, a response body
    that was not the JSON the API promises) means sending the same request again later may
    work; ``False`` (a :class:`FatalModelError`: bad credentials, unknown model, request
    rejected, context window exceeded, quota exhausted) means it will not, and the run should
    end ``failed`` with ``str(error)`` as the reason.

    Attributes:
        reason: a short machine-readable word (``rate_limit``, ``server_error``,
            ``unavailable``, ``connection``, ``timeout``, ``malformed_response``, ``api_error``,
            ``auth``, ``not_found``, ``rejected``, ``context_window``, ``quota``,
            ``content_filter``, ``invalid_request``, ``http_error``; ``script_ended`` from the
            scripted model).
        model_name: the model the request went to.
        status_code: the HTTP status, when the provider sent one.
        retry_after: seconds the provider asked to wait, when it said.

    The provider SDK and HTTP clients already retry 408/409/429/5xx and connection errors twice
    with backoff (honouring ``Retry-After``) before this is raised; ``ModelSettings``'s
    ``max_retries`` changes that count. The original pydantic-ai exception is ``__cause__``.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        model_name: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.model_name = model_name
        self.status_code = status_code
        self.retry_after = retry_after

    def __reduce__(self):  # keep the keyword attributes when a durable layer pickles the error
        return (
            _rebuild_model_error,
            (
                type(self),
                str(self),
                self.reason,
                self.model_name,
                self.status_code,
                self.retry_after,
            ),
        )


class RetryableModelError(ModelProviderError):
    """A provider failure worth retrying later (the SDK's own quick retries are already spent)."""

    retryable = True


class FatalModelError(ModelProviderError):
    """A provider failure that the same request will hit again: end the run with the reason."""

    retryable = False


class DescribeError(ThrowawayError):
    """``describe`` cannot send this file to this model (unsupported file type, or a model
    that does not take images or PDFs). The message says what would work instead."""


def _rebuild_model_error(cls, message, reason, model_name, status_code, retry_after):
    return cls(
        message,
        reason=reason,
        model_name=model_name,
        status_code=status_code,
        retry_after=retry_after,
    )
