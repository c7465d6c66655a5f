"""The model layer: pick a model by name and call it.

Provider errors are mapped in :mod:`throwaway.agent.model_errors`; asking a model about a
file is :mod:`throwaway.agent.describe`.

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
  :class:`~throwaway.errors.RetryableModelError` or :class:`~throwaway.errors.FatalModelError`
  (see :mod:`throwaway.agent.model_errors`). A response that stopped early is not an error:
  see ``ModelResponse.finish_reason`` (``'length'``, ``'content_filter'``).

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

from pydantic_ai.exceptions import UserError
from pydantic_ai.models import Model, infer_model

from throwaway.agent.model_errors import ProviderErrorsModel
from throwaway.agent.scripted import ScriptedModel
from throwaway.errors import ModelConfigError

__all__ = ["DEFAULT_MODELS", "chosen_model_name", "resolve_model"]

#: The model used when no name is given and THROWAWAY_MODEL is unset, by the first key found.
DEFAULT_MODELS: dict[str, str] = {
    "ANTHROPIC_API_KEY": "anthropic:claude-sonnet-5-5",
    "OPENAI_API_KEY": "openai:gpt-6.1-sol",
    "GOOGLE_API_KEY": "google-gla:gemini-3.8-flash",
    "GEMINI_API_KEY": "google-gla:gemini-3.8-flash",
}

#: pydantic-ai 1.x provider names that 2.x renamed.
_PROVIDER_ALIASES = {"google-gla": "google", "google-vertex": "google-cloud"}

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
