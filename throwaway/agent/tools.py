"""The tools the model sees — run_python, describe, help — bound to one sandbox.

The tools are the typed methods of `Toolbox`: pydantic-ai's `Tool` makes their
JSON Schemas (the docstring and the parameters' descriptions are what the model
reads) and validates the model's arguments; arguments that do not fit go back to
the model as a retry, with pydantic's reasons.

Each call returns text for the model, capped at ``result_limit`` characters: a
longer result is saved to a workspace file and the model is told where.
Images that code shows are saved under /workspace/.throwaway/images/ so that
the model can `describe` them and the user can find them afterwards.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import Field, ValidationError
from pydantic_ai import Tool
from pydantic_ai.models import Model
from pydantic_ai.tools import ToolDefinition

from throwaway.agent.describe import describe_file
from throwaway.agent.help import HelpIndex
from throwaway.agent.sandboxlike import SandboxLike
from throwaway.errors import ThrowawayError
from throwaway.media import media_type
from throwaway.sandbox.functions import BASE_MODULE, HostFunction, from_callable
from throwaway.sandbox.result import ExecResult

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


class ToolArgumentsError(ThrowawayError):
    """A tool call named an unknown tool or gave arguments that do not fit."""


NonEmpty = Annotated[str, Field(min_length=1)]


@dataclass
class Toolbox:
    """Executes the model's tool calls against one sandbox."""

    sandbox: SandboxLike
    describe_model: Model | None
    help_index: HelpIndex
    result_limit: int = 20_000

    @property
    def definitions(self) -> list[ToolDefinition]:
        return DEFINITIONS

    async def call(self, name: str, args: object, call_id: str = "call") -> str:
        """The text the model gets back; ToolArgumentsError for a call that cannot run.

        Files the call leaves (images, a long result) are named after ``call_id``,
        which the journal keeps stable when a run is resumed elsewhere.
        """
        tool = TOOLS.get(name)
        if tool is None:
            raise ToolArgumentsError(f"there is no tool {name!r}; use {', '.join(TOOLS)}")
        try:
            valid = tool.function_schema.validator.validate_python(args)
        except ValidationError as exc:
            raise ToolArgumentsError(_invalid(name, exc)) from None
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", call_id)[:80]
        answer = await tool.function_schema.call(valid, self)  # type: ignore[arg-type]
        if isinstance(answer, ExecResult):
            answer = answer.text(await self._save_images(answer, tag))
        return await self._cap(answer, tag)

    async def run_python(
        self, code: Annotated[NonEmpty, Field(description="Python source to run")]
    ) -> ExecResult:
        """Run Python code in the sandbox and get what it printed, the value of its last
        expression, any error, and the paths of images it showed. Variables, imports and
        files persist between calls."""
        return await self.sandbox.run(code)

    async def describe(
        self,
        path: Annotated[NonEmpty, Field(description="e.g. /workspace/chart.png")],
        question: Annotated[str, Field(description="what you want to know")],
    ) -> str:
        """Ask a vision model about a file in the sandbox (a chart, an image, a PDF, a text
        file): use it to check what a chart you made looks like."""
        if self.describe_model is None:
            return "describe: no model is set up to look at files"
        path = posixpath.normpath(posixpath.join("/workspace", path))
        try:
            data = await self.sandbox.read_file(path)
        except ThrowawayError as exc:
            return f"describe: cannot read {path}: {exc}"
        return await describe_bytes(self.describe_model, path, data, question)

    async def help(self, query: Annotated[NonEmpty, Field(description="a few keywords")]) -> str:
        """Search the docs and skills for how to do something in this sandbox."""
        return self.help_index.answer(query)

    async def _save_images(self, result: ExecResult, tag: str) -> list[str]:
        paths = []
        for i, png in enumerate(result.images, 1):
            path = f"{IMAGES}/{tag}-{i}.png"
            await self.sandbox.write_file(path, png)
            paths.append(path)
        return paths

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


#: The model's tools, from the methods' signatures (``self`` is the context they run in).
TOOLS = {
    tool.name: tool
    for tool in (Tool(method, takes_ctx=True, docstring_format="google")
                 for method in (Toolbox.run_python, Toolbox.describe, Toolbox.help))
}  # fmt: skip
#: What the model is shown of them: the docstring on one line, no return schema (it is text).
DEFINITIONS = [
    replace(tool.tool_def, description=" ".join(tool.description.split()), return_schema=None)
    for tool in TOOLS.values()
]


def _invalid(name: str, exc: ValidationError) -> str:
    """pydantic's reasons, one line per argument, for the model to fix its call."""
    lines = [
        f"- {'.'.join(map(str, e['loc'])) or 'arguments'!r}: {e['msg']}"
        for e in exc.errors(include_url=False)
    ]
    return f"{name}: the arguments do not fit:\n" + "\n".join(lines)


async def describe_bytes(model: Model, path: str, data: bytes, question: str) -> str:
    """The model's answer about a file, or why there is none (as text for the model)."""
    try:
        return await describe_file(model, data, media_type(path, data), question)
    except ThrowawayError as exc:
        return f"describe failed: {exc}"


def host_functions(describe_model: Model | None, help_index: HelpIndex) -> list[HostFunction]:
    """`describe` (with a model) and `help` for sandboxed code (``from throwaway_tools import``)."""

    async def describe(args: list, kwargs: dict) -> str:
        path, data, question = kwargs.get("file"), kwargs.get("data"), kwargs.get("question")
        if not (isinstance(path, str) and isinstance(data, str) and isinstance(question, str)):
            raise TypeError("describe(path, question): path and question must be strings")
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise ValueError("describe: the file did not arrive intact") from None
        return await describe_bytes(describe_model, path, raw, question)  # type: ignore[arg-type]

    def help(query: str) -> str:
        """Search the docs and skills; returns the best matching sections."""
        return help_index.answer(query)

    doc = "Ask a vision model a question about a file (an image, a chart, a PDF, text)."
    described = HostFunction(
        BASE_MODULE, "describe", "(path, question='What does this file show?')", doc, describe,
        keywords="'question': question, **dict(zip(('file', 'data'), "
        "_file_for_describe(path)))", preamble=DESCRIBE_PREAMBLE,
    )  # fmt: skip
    return [*([described] if describe_model else []), from_callable("help", help)]
