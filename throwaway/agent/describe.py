"""``describe``: ask a model a question about a file a program made (a chart, an image, a
PDF, a text file).

:func:`describe_file` raises :class:`~throwaway.errors.DescribeError` for a file the model
cannot take, and :class:`~throwaway.errors.ModelProviderError` as ``model.request`` does.
"""

from __future__ import annotations

from pydantic_ai.messages import (
    BinaryContent,
    ModelRequest,
    SystemPromptPart,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings

from throwaway.agent.scripted import DESCRIBE_METADATA_KEY, file_facts
from throwaway.errors import DescribeError

__all__ = ["IMAGE_MEDIA_TYPES", "describe_file"]

IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TEXT_MEDIA_TYPES = frozenset(
    {"application/json", "application/xml", "application/yaml", "application/x-yaml",
     "application/toml", "application/javascript", "application/x-ndjson"}
)  # fmt: skip

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
