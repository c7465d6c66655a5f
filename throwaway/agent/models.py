"""The model layer: pick a model by name, call it, and describe files with it.

The agent loop talks to models through pydantic-ai's model layer and nothing else::

    model = resolve_model("anthropic:claude-sonnet-5-5")      # or None: THROWAWAY_MODEL
    response = await model.request(messages, model_settings, ModelRequestParameters(
        function_tools=[ToolDefinition(name="run_python", ...)]))

``messages`` is a list of pydantic-ai ``ModelMessage`` (``ModelRequest`` with
``SystemPromptPart`` / ``UserPromptPart`` / ``ToolReturnPart``, ``ModelResponse`` with
``TextPart`` / ``ToolCallPart``), serialisable with ``ModelMessagesTypeAdapter``. Every
``ToolCallPart`` of a response needs a ``ToolReturnPart`` with its ``tool_call_id`` in the
next request (Anthropic rejects the request otherwise). A bad call (unknown tool, bad
arguments) is answered with ``ToolReturnPart(..., outcome='retried')``: pydantic-ai 2.x
deprecates ``RetryPromptPart``.

What crosses this boundary and what can go wrong:

- :func:`resolve_model` raises :class:`~throwaway.errors.ModelConfigError` when no model can
  be set up (no name and no key, unknown provider, missing key, bad ``scripted:`` file). The
  message lists the choices and the environment variables.
- ``model.request(...)`` on a model from :func:`resolve_model` raises only
  :class:`~throwaway.errors.RetryableModelError` (429, 5xx, connection, timeout, a body that
  is not the promised JSON) or :class:`~throwaway.errors.FatalModelError` (401/403, 404,
  400, context window, quota), both :class:`~throwaway.errors.ModelProviderError` with
  ``.retryable``, ``.reason``, ``.status_code``, ``.retry_after``. Before raising, the OpenAI
  and Anthropic SDKs have already retried 408/409/429/5xx and connection failures twice with
  backoff, honouring ``Retry-After`` (``ModelSettings(max_retries=N)`` changes the count).
  A response that stopped early is not an error: see ``ModelResponse.finish_reason``
  (``'length'``, ``'content_filter'``).
- :func:`describe_file` raises :class:`~throwaway.errors.DescribeError` for a file this model
  cannot take, and the provider errors above.

Model names (``provider:model``):

- ``anthropic:NAME``: Anthropic Messages API. Reads ``ANTHROPIC_API_KEY`` and
  ``ANTHROPIC_BASE_URL``.
- ``openai:NAME``: OpenAI **Chat Completions** (``POST {base}/chat/completions``), chosen over
  pydantic-ai's default Responses API because it is what every OpenAI-compatible server
  (Ollama, vLLM, llama.cpp, LM Studio) speaks, so one code path serves both. Reads
  ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL``; with a base URL and no key, a placeholder key is
  sent (local servers ignore it). ``openai-chat:`` is the same; ``openai-responses:`` uses
  the Responses API with the same provider settings.
- ``google-gla:NAME`` (Gemini API, ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY``) and
  ``google-vertex:NAME`` are pydantic-ai 1.x names, mapped to its 2.x ``google:`` and
  ``google-cloud:``, which work too.
- ``scripted:FILE``: :mod:`throwaway.agent.scripted`, no key, no network.
- Any other pydantic-ai name (``groq:``, ``mistral:``, ``ollama:``, ...) goes to
  pydantic-ai's ``infer_model`` with its own environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path

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
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters, infer_model
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from throwaway.agent.scripted import DESCRIBE_METADATA_KEY, ScriptedModel, file_facts
from throwaway.errors import (
    DescribeError,
    FatalModelError,
    ModelConfigError,
    ModelProviderError,
    RetryableModelError,
)

__all__ = [
    "DEFAULT_MODELS", "IMAGE_MEDIA_TYPES", "ProviderErrorsModel", "classify_model_error",
    "describe_file", "resolve_model",
]  # fmt: skip

#: The model used when no name is given and THROWAWAY_MODEL is unset, by the first key found.
DEFAULT_MODELS: dict[str, str] = {
    "ANTHROPIC_API_KEY": "anthropic:claude-sonnet-5-5",
    "OPENAI_API_KEY": "openai:gpt-6.1-sol",
    "GOOGLE_API_KEY": "google-gla:gemini-3.8-flash",
    "GEMINI_API_KEY": "google-gla:gemini-3.8-flash",
}

#: pydantic-ai 1.x provider names that 2.x renamed.
_PROVIDER_ALIASES = {"google-gla": "google", "google-vertex": "google-cloud"}

IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TEXT_MEDIA_TYPES = frozenset(
    {"application/json", "application/xml", "application/yaml", "application/x-yaml",
     "application/toml", "application/javascript", "application/x-ndjson"}
)  # fmt: skip

_NO_MODEL_HELP = """\
Choose a model with --model or the THROWAWAY_MODEL environment variable:
  anthropic:claude-sonnet-5-5   Anthropic; needs ANTHROPIC_API_KEY (ANTHROPIC_BASE_URL optional)
  openai:gpt-6.1-sol            OpenAI; needs OPENAI_API_KEY (OPENAI_BASE_URL optional)
  openai:MODEL                  an OpenAI-compatible server (Ollama, vLLM, ...): set
                                OPENAI_BASE_URL, e.g. http://127.0.0.1:11434/v1
  google-gla:gemini-3.8-flash   Google Gemini API; needs GOOGLE_API_KEY (or GEMINI_API_KEY)
  scripted:FILE                 replays a JSON list of turns; needs no key or network
Any other pydantic-ai model name works too (provider:model). With no name, setting
ANTHROPIC_API_KEY, OPENAI_API_KEY or GOOGLE_API_KEY picks that provider's default model."""


# ---------------------------------------------------------------------------------------------
# Choosing a model


def resolve_model(name: str | None = None) -> Model:
    """The model called ``name`` (``provider:model``), ready for ``await model.request(...)``.

    ``None`` means ``THROWAWAY_MODEL``, else the default model of the first API key set
    (:data:`DEFAULT_MODELS`). Raises ModelConfigError when none of these gives a model, or the
    chosen provider cannot be set up. The returned model raises only ModelProviderError
    subclasses from ``request``; see the module docstring.
    """
    name = chosen_model_name(name)
    if not name:
        extra = ""
        if os.environ.get("OPENAI_BASE_URL"):
            extra = (
                "\nOPENAI_BASE_URL is set, but a server's model cannot be guessed: pass "
                "--model openai:NAME with a model the server serves."
            )
        raise ModelConfigError(
            f"No model is configured and no API key is set.\n{_NO_MODEL_HELP}{extra}"
        )
    provider, sep, model_name = name.partition(":")
    if not sep or not provider or not model_name:
        raise ModelConfigError(
            f"Model names look like provider:model, got {name!r}.\n{_NO_MODEL_HELP}"
        )
    try:
        model = _build_model(_PROVIDER_ALIASES.get(provider, provider), model_name)
    except UserError as exc:  # pydantic-ai: missing key, unknown provider or model
        raise ModelConfigError(f"Cannot use model {name!r}: {exc}\n{_NO_MODEL_HELP}") from exc
    except ImportError as exc:
        raise ModelConfigError(f"Cannot use model {name!r}: {exc}") from exc
    return ProviderErrorsModel(model)


def chosen_model_name(name: str | None = None) -> str:
    """``name``, else ``THROWAWAY_MODEL``, else the default of the first API key set, else ""."""
    name = name or os.environ.get("THROWAWAY_MODEL")
    if not name:
        name = next((m for key, m in DEFAULT_MODELS.items() if os.environ.get(key)), "")
    return name.strip()


def _build_model(provider: str, model_name: str) -> Model:
    if provider == "scripted":
        return ScriptedModel.from_file(Path(model_name).expanduser())
    if provider in ("openai", "openai-chat", "openai-responses"):
        from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel

        cls = OpenAIResponsesModel if provider == "openai-responses" else OpenAIChatModel
        return cls(model_name, provider=_openai_provider())
    if provider == "anthropic":
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        api_key = os.environ.get("ANTHROPIC_API_KEY")
        if not api_key:
            raise ModelConfigError(
                f"anthropic:{model_name} needs ANTHROPIC_API_KEY (and, for a proxy or "
                f"gateway, ANTHROPIC_BASE_URL).\n{_NO_MODEL_HELP}"
            )
        # Passed explicitly rather than left to the SDK's own environment lookup, so the
        # behaviour does not depend on an SDK version.
        base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
        return AnthropicModel(
            model_name, provider=AnthropicProvider(api_key=api_key, base_url=base_url)
        )
    return infer_model(f"{provider}:{model_name}")


def _openai_provider():
    from pydantic_ai.providers.openai import OpenAIProvider

    base_url = os.environ.get("OPENAI_BASE_URL") or None
    api_key = os.environ.get("OPENAI_API_KEY") or None
    if api_key is None:
        if base_url is None:
            raise ModelConfigError(
                "openai: models need OPENAI_API_KEY, or OPENAI_BASE_URL pointing at an "
                f"OpenAI-compatible server.\n{_NO_MODEL_HELP}"
            )
        api_key = "not-needed"  # local servers ignore it; the SDK insists on one
    return OpenAIProvider(base_url=base_url, api_key=api_key)


# ---------------------------------------------------------------------------------------------
# Errors


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


# ---------------------------------------------------------------------------------------------
# describe


_DESCRIBE_SYSTEM = (
    "You are looking at a file that a program produced (a chart, an image, a PDF or a text "
    "file). Answer the question about it accurately and concisely. Say so if the file does "
    "not show what the question assumes."
)


async def describe_file(
    model: Model,
    data: bytes,
    media_type: str,
    question: str,
    *,
    model_settings: ModelSettings | None = None,
    max_text_chars: int = 100_000,
) -> str:
    """Ask ``model`` ``question`` about a file and return the answer text.

    PNG/JPEG/GIF/WebP go as an image (``BinaryContent``), PDF as a document (the model's
    profile must accept PDF documents: Anthropic, OpenAI, Gemini do), text (``text/*``, JSON,
    XML, YAML, TOML) inline in the prompt, cut at ``max_text_chars`` with a note. Raises
    DescribeError for any other type or a model that cannot take the file, and
    ModelProviderError as ``model.request`` does.
    """
    media_type = media_type.split(";")[0].strip().lower()
    if media_type == "image/jpg":
        media_type = "image/jpeg"
    profile = model.profile
    content: list = [question]
    if media_type in IMAGE_MEDIA_TYPES:
        if not profile.get("supports_image_input", True):
            raise DescribeError(
                f"Model {model.model_name!r} does not take images, so it cannot describe "
                f"this {media_type} file. Choose a vision model with --model."
            )
        content.append(BinaryContent(data, media_type=media_type))
    elif media_type == "application/pdf":
        pdf_ok = profile.get("supports_document_input", True) and "application/pdf" in (
            profile.get("supported_document_media_types") or {"application/pdf"}
        )
        if not pdf_ok:
            raise DescribeError(
                f"Model {model.model_name!r} does not take PDF documents. Render the pages "
                "you need to PNG in the sandbox and describe those images instead."
            )
        content.append(BinaryContent(data, media_type="application/pdf"))
    elif media_type.startswith("text/") or media_type in _TEXT_MEDIA_TYPES:
        text = data.decode("utf-8", errors="replace")
        note = ""
        if len(text) > max_text_chars:
            note = f"\n[cut: showing {max_text_chars:,} of {len(text):,} characters]"
            text = text[:max_text_chars]
        content.append(f'<file media_type="{media_type}">\n{text}\n</file>{note}')
    else:
        raise DescribeError(
            f"describe takes images (PNG, JPEG, GIF, WebP), PDF and text files; this file is "
            f"{media_type}. Convert it first (for example save a chart as PNG)."
        )
    request = ModelRequest(
        parts=[SystemPromptPart(_DESCRIBE_SYSTEM), UserPromptPart(content)],
        metadata={
            DESCRIBE_METADATA_KEY: {
                "question": question,
                "media_type": media_type,
                "size": len(data),
                "facts": file_facts(data, media_type),
            }
        },
    )
    response = await model.request([request], model_settings, ModelRequestParameters())
    answer = "".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()
    return answer or f"(the model gave no answer; finish reason: {response.finish_reason})"
