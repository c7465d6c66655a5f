"""The tools the model sees — run_python, describe, help — bound to one sandbox.

Each call returns text for the model, capped at ``result_limit`` characters: a
longer result is saved to a workspace file and the model is told where.
Images that code shows are saved under /workspace/.throwaway/images/ so that
the model can `describe` them and the user can find them afterwards.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import posixpath
import re
from dataclasses import dataclass

from pydantic_ai.models import Model
from pydantic_ai.tools import ToolDefinition

from throwaway.agent.describe import describe_file
from throwaway.agent.help import HelpIndex
from throwaway.errors import ThrowawayError
from throwaway.sandbox.functions import BASE_MODULE, HostFunction, from_callable
from throwaway.sandbox.result import ExecResult
from throwaway.sandbox.sandbox import Sandbox

IMAGES = "/workspace/.throwaway/images"
OUTPUTS = "/workspace/.throwaway/outputs"
#: The largest file `describe` called from code sends to the host.
DESCRIBE_MAX_BYTES = 20 << 20

#: Sandbox side of `describe`: the running code holds the sandbox, so the host cannot
#: read the file then; the code reads it and sends it along.
DESCRIBE_PREAMBLE = f"""

def _file_for_describe(path):
    import base64, os
    path = os.path.join("/workspace", path)
    if os.path.getsize(path) > {DESCRIBE_MAX_BYTES}:
        raise ValueError(f"describe: {{path}} is over {DESCRIBE_MAX_BYTES >> 20} MB")
    with open(path, "rb") as f:
        return path, base64.b64encode(f.read()).decode()
"""

DEFINITIONS = [
    ToolDefinition(
        name="run_python",
        description=(
            "Run Python code in the sandbox and get what it printed, the value of its last "
            "expression, any error, and the paths of images it showed. Variables, imports and "
            "files persist between calls."
        ),
        parameters_json_schema={
            "type": "object",
            "properties": {"code": {"type": "string", "description": "Python source to run"}},
            "required": ["code"],
            "additionalProperties": False,
        },
    ),
    ToolDefinition(
        name="describe",
        description=(
            "Ask a vision model about a file in the sandbox (a chart, an image, a PDF, a text "
            "file): use it to check what a chart you made looks like."
        ),
        parameters_json_schema={
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "e.g. /workspace/chart.png"},
                "question": {"type": "string", "description": "what you want to know"},
            },
            "required": ["path", "question"],
            "additionalProperties": False,
        },
    ),
    ToolDefinition(
        name="help",
        description="Search the docs and skills for how to do something in this sandbox.",
        parameters_json_schema={
            "type": "object",
            "properties": {"query": {"type": "string", "description": "a few keywords"}},
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
]


class ToolArgumentsError(ThrowawayError):
    """A tool call named an unknown tool or gave arguments that do not fit."""


@dataclass
class Toolbox:
    """Executes the model's tool calls against one sandbox."""

    sandbox: Sandbox
    describe_model: Model
    help_index: HelpIndex
    result_limit: int = 20_000

    @property
    def definitions(self) -> list[ToolDefinition]:
        return DEFINITIONS

    def sandbox_functions(self) -> list[HostFunction]:
        """`describe` and `help` for sandboxed code (``from throwaway_tools import ...``)."""

        async def describe(args: list, kwargs: dict) -> str:
            path, data, question = kwargs.get("file"), kwargs.get("data"), kwargs.get("question")
            if not (isinstance(path, str) and isinstance(data, str) and isinstance(question, str)):
                raise TypeError("describe(path, question): path and question must be strings")
            try:
                raw = base64.b64decode(data, validate=True)
            except binascii.Error:
                raise ValueError("describe: the file did not arrive intact") from None
            return await self.describe_bytes(path, raw, question)

        def help(query: str) -> str:
            """Search the docs and skills; returns the best matching sections."""
            return self.help_index.answer(query)

        doc = "Ask a vision model a question about a file (an image, a chart, a PDF, text)."
        return [
            HostFunction(
                BASE_MODULE, "describe", "(path, question='What does this file show?')", doc,
                describe, keywords="'question': question, **dict(zip(('file', 'data'), "
                "_file_for_describe(path)))", preamble=DESCRIBE_PREAMBLE,
            ),
            from_callable("help", help),
        ]  # fmt: skip

    async def call(self, name: str, args: object, call_id: str = "call") -> str:
        """The text the model gets back; ToolArgumentsError for a call that cannot run.

        Files the call leaves (images, a long result) are named after ``call_id``,
        which the journal keeps stable when a run is resumed elsewhere.
        """
        if not isinstance(args, dict):
            raise ToolArgumentsError(f"{name}: arguments must be a JSON object")
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", call_id)[:80]
        if name == "run_python":
            return await self.run_python(_text_arg(args, "code", name), tag)
        if name == "describe":
            question = args.get("question") or "What does this file show?"
            return await self.describe(_text_arg(args, "path", name), str(question))
        if name == "help":
            return await self._cap(self.help_index.answer(_text_arg(args, "query", name)), tag)
        raise ToolArgumentsError(f"there is no tool {name!r}; use run_python, describe or help")

    async def run_python(self, code: str, tag: str = "run") -> str:
        result = await self.sandbox.run(code)
        paths = []
        for i, png in enumerate(result.images, 1):
            path = f"{IMAGES}/{tag}-{i}.png"
            await self.sandbox.write_file(path, png)
            paths.append(path)
        return await self._cap(format_result(result, paths), tag)

    async def describe(self, path: str, question: str) -> str:
        path = posixpath.normpath(posixpath.join("/workspace", path))
        try:
            data = await self.sandbox.read_file(path)
        except ThrowawayError as exc:
            return f"describe: cannot read {path}: {exc}"
        return await self.describe_bytes(path, data, question)

    async def describe_bytes(self, path: str, data: bytes, question: str) -> str:
        media_type = _media_type(path, data)
        try:
            return await describe_file(self.describe_model, data, media_type, question)
        except ThrowawayError as exc:
            return f"describe failed: {exc}"

    async def _cap(self, text: str, tag: str) -> str:
        """text, or its head and tail with the whole saved to a workspace file."""
        if len(text) <= self.result_limit:
            return text
        path = f"{OUTPUTS}/{tag}.txt"
        await self.sandbox.write_file(path, text)
        keep = self.result_limit // 2
        return (
            f"{text[:keep]}\n[... {len(text):,} characters in all; the whole text is in {path}, "
            "read parts of it with Python ...]\n" + text[-keep // 2 :]
        )


def format_result(result: ExecResult, image_paths: list[str]) -> str:
    """What the model reads after run_python."""
    parts = []
    if result.stdout:
        parts.append(f"stdout:\n{result.stdout.rstrip()}")
    if result.stderr:
        parts.append(f"stderr:\n{result.stderr.rstrip()}")
    if result.result is not None:
        parts.append(f"value of the last expression:\n{result.result}")
    if result.error:
        parts.append(f"error:\n{result.error}".rstrip())
        if result.error.message and result.restarted:
            parts.append(result.error.message)
    if image_paths:
        parts.append("images shown (describe them to see them): " + ", ".join(image_paths))
    if result.notes:
        parts.append("notes from the sandbox host:\n" + "\n".join(result.notes))
    return "\n\n".join(parts) or "(no output; print what you want to see)"


def _text_arg(args: dict, key: str, tool: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value:
        raise ToolArgumentsError(f"{tool} needs a non-empty string argument {key!r}")
    return value


def _media_type(path: str, data: bytes) -> str:
    for magic, kind in ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"),
                        (b"GIF8", "image/gif"), (b"%PDF", "application/pdf")):  # fmt: skip
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return mimetypes.guess_type(path)[0] or "text/plain"
