"""Host functions called from sandboxed code: `from throwaway_tools import name`."""

from __future__ import annotations

import pytest

from throwaway import Sandbox


async def describe(path: str, question: str = "What is in this file?") -> str:
    """Ask a model about a file in the workspace."""
    return f"asked {question!r} about {path}"


def scale(a: float, b: float = 2, *, factor: int = 1) -> float:
    return (a + b) * factor


def boom() -> None:
    raise RuntimeError("the backend is down")


@pytest.fixture(scope="module")
async def sb():
    sandbox = Sandbox(functions={"describe": describe, "scale": scale, "boom": boom})
    async with sandbox:
        await sandbox.run("from throwaway_tools import describe, scale, boom, ToolError")
        yield sandbox


async def test_async_and_sync_host_functions_return_their_results(sb):
    assert (await sb.run("describe('chart.png')")).result == (
        "\"asked 'What is in this file?' about chart.png\""
    )
    assert (await sb.run("scale(1, 3, factor=10)")).result == "40"


async def test_the_stub_has_the_host_functions_signature_and_docstring(sb):
    result = await sb.run("import inspect; str(inspect.signature(scale)), describe.__doc__")
    assert (
        result.result == "('(a, b=2, *, factor=1)', 'Ask a model about a file in the workspace.')"
    )


async def test_a_failing_host_function_raises_tool_error_with_its_message(sb):
    result = await sb.run("boom()")
    assert result.error.type == "ToolError"
    assert "the backend is down" in result.error.message


async def test_bad_arguments_are_a_type_error_in_the_sandbox(sb):
    result = await sb.run("scale()")
    assert result.error.type == "TypeError"


async def test_a_forged_call_to_an_unknown_function_is_refused(sb):
    result = await sb.run(
        "import _throwaway_host, json\n"
        "json.loads(_throwaway_host.call_sync(json.dumps({'function': 'os_system'}), 5000))"
    )
    assert "no host function" in result.result


def test_names_must_be_public_identifiers():
    with pytest.raises(ValueError, match="identifier"):
        Sandbox(functions={"_private": boom})
    with pytest.raises(ValueError, match="identifier"):
        Sandbox(functions={"not valid": boom})
