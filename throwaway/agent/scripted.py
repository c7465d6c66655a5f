"""A model that replays a script: for tests, the demo, and running without an API key.

``--model scripted:FILE`` where FILE is a JSON list of turns. Turn ``i`` is the model's
``i``-th response to the agent loop::

    [
      {"tool_calls": [{"name": "run_python", "args": {"code": "print(6 * 7)"}}]},
      {"text": "The answer is 42."}
    ]

A turn is an object with

- ``"text"``: what the model says. A turn with text and no tool calls is the final answer.
- ``"tool_calls"``: a list of ``{"name": ..., "args": {...}}``. ``args`` may also be a string,
  sent as-is, so a script can exercise the loop's handling of malformed arguments; ``name``
  need not be a tool the loop offers, for the same reason. A turn may have both ``text`` and
  ``tool_calls`` (the text comes first, as real models do).
- ``"describe"`` (optional): ``{"question": "answer", ...}``, see below.

Determinism across a crash and resume, which the durable layer relies on:

- The turn is chosen from the history, never from a counter kept in memory: a request whose
  messages hold ``n`` ``ModelResponse`` s gets turn ``n``. A fresh process handed the same
  history (for instance reloaded with ``ModelMessagesTypeAdapter``) answers the same.
- Tool call ids are ``call-{turn}-{index}``, so a replayed turn names its calls as before.
- When the script has no turn ``n``, ``request`` raises FatalModelError (reason
  ``script_ended``): the run fails with that message instead of ending as if answered.

How ``describe`` answers. ``describe`` is a separate model call (see
``throwaway.agent.describe.describe_file``) that may come from the loop's tool call or from
sandboxed code in the middle of a code step, so it cannot know which turn it belongs to.
Its answer is therefore a pure function of the request: if any turn's ``"describe"`` object
has the question, word for word, as a key, that answer is given; otherwise the default
answer states what the file is, from facts ``describe_file`` read from its bytes (kind, media
type, size, pixel size for PNG/JPEG/GIF/WebP, page count for PDF, line count for text) and
put in the request's metadata (which no provider ever sees), and repeats the question,
prefixed ``[scripted describe]`` so that nobody mistakes it for a real model looking::

    [scripted describe] An image (image/png, 640×480 pixels, 7,118 bytes). Question: ...

A describe call is recognised by the ``DESCRIBE_METADATA_KEY`` entry in its request's
metadata and never counts as a turn.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from throwaway.errors import FatalModelError, ModelConfigError
from throwaway.media import image_type

__all__ = [
    "DESCRIBE_METADATA_KEY", "ScriptTurn", "ScriptedModel", "file_facts", "load_script",
    "parse_script",
]  # fmt: skip

#: ``ModelRequest.metadata`` key that marks a describe call (metadata never reaches a provider).
DESCRIBE_METADATA_KEY = "throwaway_describe"

_EXAMPLE = (
    '[{"tool_calls": [{"name": "run_python", "args": {"code": "print(6 * 7)"}}]}, '
    '{"text": "The answer is 42."}]'
)


@dataclass(frozen=True)
class ScriptCall:
    name: str
    args: dict[str, Any] | str


@dataclass(frozen=True)
class ScriptTurn:
    """One response of the scripted model."""

    text: str | None = None
    tool_calls: tuple[ScriptCall, ...] = ()
    describe: tuple[tuple[str, str], ...] = ()


def load_script(path: str | Path) -> list[ScriptTurn]:
    """Read and check a script file; any problem is a ModelConfigError naming the turn."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelConfigError(
            f"scripted model: no script file at {str(path)!r}. It should hold a JSON list of "
            f"turns, for example {_EXAMPLE}"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelConfigError(f"scripted model: cannot read {str(path)!r} as JSON: {exc}") from exc
    return parse_script(raw, source=str(path))


def parse_script(raw: Any, *, source: str = "script") -> list[ScriptTurn]:
    """Check the JSON value of a script and turn it into ScriptTurns."""
    if not isinstance(raw, list):
        raise ModelConfigError(f"{source}: a script is a JSON list of turns, e.g. {_EXAMPLE}")
    return [_parse_turn(item, f"{source}: turn {i}") for i, item in enumerate(raw)]


def _parse_turn(item: Any, where: str) -> ScriptTurn:
    if not isinstance(item, dict):
        raise ModelConfigError(f'{where} must be an object with "text" or "tool_calls"')
    unknown = set(item) - {"text", "tool_calls", "describe"}
    if unknown:
        raise ModelConfigError(
            f'{where} has unknown keys {sorted(unknown)}; use "text", "tool_calls", "describe"'
        )
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        raise ModelConfigError(f'{where}: "text" must be a string')
    calls_raw = item.get("tool_calls", [])
    if not isinstance(calls_raw, list):
        raise ModelConfigError(f'{where}: "tool_calls" must be a list')
    calls = []
    for j, call in enumerate(calls_raw):
        if not (isinstance(call, dict) and isinstance(call.get("name"), str)):
            raise ModelConfigError(
                f"{where}: tool call {j} must look like "
                '{"name": "run_python", "args": {"code": "..."}}'
            )
        args = call.get("args", {})
        if not isinstance(args, dict | str):
            raise ModelConfigError(f'{where}: tool call {j}: "args" must be an object or a string')
        calls.append(ScriptCall(call["name"], args))
    if text is None and not calls:
        raise ModelConfigError(f'{where} needs "text" (a final answer) or "tool_calls"')
    describe = item.get("describe", {})
    if not (
        isinstance(describe, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in describe.items())
    ):
        raise ModelConfigError(f'{where}: "describe" must map question strings to answer strings')
    return ScriptTurn(text, tuple(calls), tuple(describe.items()))


class ScriptedModel(FunctionModel):
    """A pydantic-ai ``FunctionModel`` that replays turns; see the module docstring."""

    def __init__(self, turns: Sequence[ScriptTurn], *, name: str = "scripted") -> None:
        self.turns = list(turns)
        self.describe_answers = {q: a for turn in self.turns for q, a in turn.describe}
        super().__init__(self._respond, model_name=name)

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        return cls(load_script(path), name=f"scripted:{path}")

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1] if messages else None
        if isinstance(last, ModelRequest) and (last.metadata or {}).get(DESCRIBE_METADATA_KEY):
            return ModelResponse(parts=[TextPart(self._describe_answer(last))])
        turn = sum(isinstance(m, ModelResponse) for m in messages)
        return ModelResponse(parts=self._turn_parts(turn))

    def _turn_parts(self, turn: int) -> list[ModelResponsePart]:
        if turn >= len(self.turns):
            raise FatalModelError(
                f"[scripted model] the script {self.model_name!r} has {len(self.turns)} turns "
                f"and the run asked for turn {turn + 1}: end the script with a final "
                '{"text": "..."} turn',
                reason="script_ended",
                model_name=self.model_name,
            )
        script = self.turns[turn]
        parts: list[ModelResponsePart] = []
        if script.text is not None:
            parts.append(TextPart(script.text))
        for i, call in enumerate(script.tool_calls):
            args = call.args if isinstance(call.args, str) else dict(call.args)
            parts.append(ToolCallPart(call.name, args, tool_call_id=f"call-{turn}-{i}"))
        return parts

    def _describe_answer(self, request: ModelRequest) -> str:
        meta = request.metadata[DESCRIBE_METADATA_KEY]
        question = meta.get("question", "")
        if question in self.describe_answers:
            return self.describe_answers[question]
        return f"[scripted describe] {meta.get('facts', 'A file.')} Question: {question}"


def file_facts(data: bytes, media_type: str) -> str:
    """One sentence of facts read from the bytes: what the scripted describe can honestly say."""
    size = f"{len(data):,} bytes"
    if media_type.startswith("image/"):
        dims = image_size(data)
        shape = f", {dims[0]}×{dims[1]} pixels" if dims else ""
        return f"An image ({media_type}{shape}, {size})."
    if media_type == "application/pdf":
        pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
        return f"A PDF document ({pages} page{'s' if pages != 1 else ''}, {size})."
    lines = data.decode("utf-8", errors="replace").count("\n") + (
        1 if data and not data.endswith(b"\n") else 0
    )
    return f"A text file ({media_type}, {lines} line{'s' if lines != 1 else ''}, {size})."


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, JPEG or WebP header, or None if it cannot be read."""
    kind = image_type(data)
    try:
        if kind == "image/png":
            return struct.unpack(">II", data[16:24])
        if kind == "image/gif":
            return struct.unpack("<HH", data[6:10])
        if kind == "image/webp":
            return _webp_size(data)
        if kind == "image/jpeg":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None
