"""The model layer: real provider client code against a local server, the scripted model,
error classification, and choosing a model.

Every request goes to a ProviderServer on 127.0.0.1 that speaks the provider's wire format; an
audit hook fails any test here that opens a socket anywhere else.
"""

from __future__ import annotations

import base64
import json
import pickle
import socket
import struct
import sys
import zlib

import pytest
from provider_server import (
    ProviderServer,
    anthropic_error,
    anthropic_text,
    anthropic_tool_use,
    openai_error,
    openai_text,
    openai_tool_calls,
)
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.tools import ToolDefinition

from throwaway import (
    DescribeError,
    FatalModelError,
    ModelConfigError,
    ModelProviderError,
    RetryableModelError,
    ThrowawayError,
)
from throwaway.agent.describe import describe_file
from throwaway.agent.models import resolve_model
from throwaway.agent.scripted import ScriptedModel, image_size, parse_script

# --- no sockets beyond 127.0.0.1 ----------------------------------------------------------

_guard = {"on": False}
_LOCAL = {"127.0.0.1", "::1", "localhost"}


def _audit(event: str, args: tuple) -> None:
    if not _guard["on"]:
        return
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and address[0] not in _LOCAL:
            raise RuntimeError(f"test tried to connect to {address!r}")
    elif event == "socket.getaddrinfo" and args[0] not in _LOCAL:
        raise RuntimeError(f"test tried to resolve {args[0]!r}")


sys.addaudithook(_audit)

ENV_VARS = [
    "THROWAWAY_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "GOOGLE_API_KEY", "GEMINI_API_KEY",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No real keys, no proxies, and no connections beyond 127.0.0.1 while a test runs."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    _guard["on"] = True
    yield monkeypatch
    _guard["on"] = False


@pytest.fixture
def server():
    with ProviderServer() as srv:
        yield srv


@pytest.fixture
def openai_model(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
    return resolve_model("openai:gpt-test")


@pytest.fixture
def anthropic_model(server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-local-test")
    return resolve_model("anthropic:claude-test")


# --- what the agent loop sends ------------------------------------------------------------

RUN_PYTHON = ToolDefinition(
    name="run_python",
    description="Run Python code in the sandbox; returns what it prints.",
    parameters_json_schema={
        "type": "object",
        "properties": {"code": {"type": "string", "description": "Python source"}},
        "required": ["code"],
    },
)
PARAMS = ModelRequestParameters(function_tools=[RUN_PYTHON])
FAST = {"max_retries": 0}  # for tests of what happens once the SDK's retries are spent


def first_turn() -> list:
    return [
        ModelRequest(
            parts=[SystemPromptPart("You solve tasks with Python."), UserPromptPart("What is 6*7?")]
        )
    ]


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n3 0 obj << /Type /Page >> endobj\n%%EOF\n"  # noqa: E501


# --- OpenAI Chat Completions on the wire --------------------------------------------------


async def test_openai_tool_call_then_answer_on_the_wire(server, openai_model):
    server.reply(200, openai_tool_calls(("call_abc", "run_python", {"code": "print(6*7)"})))
    server.reply(200, openai_text("It is 42."))
    messages = first_turn()

    response = await openai_model.request(messages, None, PARAMS)

    assert isinstance(response, ModelResponse)
    [call] = response.parts
    assert isinstance(call, ToolCallPart)
    assert (call.tool_name, call.tool_call_id, call.args_as_dict()) == (
        "run_python",
        "call_abc",
        {"code": "print(6*7)"},
    )
    sent = server.requests[0]
    assert (sent.path, sent.headers["authorization"]) == (
        "/v1/chat/completions",
        "Bearer sk-local-test",
    )
    body = sent.json
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": "You solve tasks with Python."},
        {"role": "user", "content": "What is 6*7?"},
    ]
    [tool] = body["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "run_python"
    assert tool["function"]["parameters"]["properties"]["code"]["type"] == "string"
    assert tool["function"]["parameters"]["required"] == ["code"]

    messages += [
        response,
        ModelRequest(parts=[ToolReturnPart("run_python", "42\n", tool_call_id="call_abc")]),
    ]
    answer = await openai_model.request(messages, None, PARAMS)

    assert answer.parts == [TextPart("It is 42.")]
    assert answer.finish_reason == "stop"
    history = server.requests[1].json["messages"]
    assert history[2]["role"] == "assistant"
    assert history[2]["tool_calls"][0]["id"] == "call_abc"
    assert json.loads(history[2]["tool_calls"][0]["function"]["arguments"]) == {
        "code": "print(6*7)"
    }
    assert history[3] == {"role": "tool", "tool_call_id": "call_abc", "content": "42\n"}


async def test_openai_tool_retry_goes_back_as_tool_message(server, openai_model):
    """How the loop tells the model its tool call was bad (pydantic-ai 2.x: outcome='retried')."""
    server.reply(200, openai_text("ok"))
    bad_call = ToolCallPart("run_python", {"cod": "1"}, tool_call_id="call_bad")
    retry = ToolReturnPart(
        "run_python", "missing argument 'code'", tool_call_id="call_bad", outcome="retried"
    )
    messages = [*first_turn(), ModelResponse(parts=[bad_call]), ModelRequest(parts=[retry])]
    await openai_model.request(messages, None, PARAMS)
    tool_message = server.requests[0].json["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["tool_call_id"] == "call_bad"
    assert "missing argument 'code'" in tool_message["content"]


async def test_openai_describe_sends_the_image_as_a_data_url(server, openai_model):
    png = tiny_png()
    server.reply(200, openai_text("A red rectangle."))

    answer = await describe_file(openai_model, png, "image/png", "What colour is it?")

    assert answer == "A red rectangle."
    [user] = [m for m in server.requests[0].json["messages"] if m["role"] == "user"]
    text_part, image_part = user["content"]
    assert text_part == {"type": "text", "text": "What colour is it?"}
    assert image_part["type"] == "image_url"
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png
    assert "tools" not in server.requests[0].json


async def test_openai_describe_sends_a_pdf_as_a_file_part(server, openai_model):
    server.reply(200, openai_text("One page."))
    assert (
        await describe_file(openai_model, PDF, "application/pdf", "How many pages?") == "One page."
    )
    [user] = [m for m in server.requests[0].json["messages"] if m["role"] == "user"]
    [file_part] = [p for p in user["content"] if p["type"] == "file"]
    data = file_part["file"]["file_data"]
    assert data.startswith("data:application/pdf;base64,")
    assert base64.b64decode(data.split(",", 1)[1]) == PDF


async def test_describe_sends_text_inline(server, openai_model):
    server.reply(200, openai_text("Two rows."))
    csv = b"city,temp\nOslo,4\nRome,17\n"
    assert (
        await describe_file(openai_model, csv, "text/csv; charset=utf-8", "How many rows?")
        == "Two rows."
    )
    [user] = [m for m in server.requests[0].json["messages"] if m["role"] == "user"]
    sent = json.dumps(user["content"])
    assert "How many rows?" in sent and "Oslo,4" in sent and "text/csv" in sent


async def test_describe_refuses_a_file_type_it_cannot_send(openai_model):
    with pytest.raises(DescribeError, match=r"images .* PDF and text"):
        await describe_file(openai_model, b"PK\x03\x04", "application/zip", "What is in it?")


# --- Anthropic Messages on the wire -------------------------------------------------------


async def test_anthropic_tool_use_then_answer_on_the_wire(server, anthropic_model):
    server.reply(
        200,
        anthropic_tool_use(
            ("toolu_1", "run_python", {"code": "print(6*7)"}), text="Let me compute."
        ),
    )
    server.reply(200, anthropic_text("It is 42."))
    messages = first_turn()

    response = await anthropic_model.request(messages, None, PARAMS)

    text, call = response.parts
    assert text == TextPart("Let me compute.")
    assert isinstance(call, ToolCallPart)
    assert (call.tool_name, call.tool_call_id, call.args_as_dict()) == (
        "run_python",
        "toolu_1",
        {"code": "print(6*7)"},
    )
    assert response.finish_reason == "tool_call"
    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    # this SDK generation sends the key as a bearer token; older ones used x-api-key
    key = "sk-ant-local-test"
    assert sent.headers.get("x-api-key") == key or sent.headers["authorization"] == f"Bearer {key}"
    assert "anthropic-version" in sent.headers
    body = sent.json
    assert body["model"] == "claude-test"
    assert body["system"] == "You solve tasks with Python."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is 6*7?"}]}
    ]
    [tool] = body["tools"]
    assert tool["name"] == "run_python"
    assert tool["input_schema"]["properties"]["code"]["type"] == "string"

    messages += [
        response,
        ModelRequest(parts=[ToolReturnPart("run_python", "42\n", tool_call_id="toolu_1")]),
    ]
    answer = await anthropic_model.request(messages, None, PARAMS)

    assert answer.parts == [TextPart("It is 42.")]
    history = server.requests[1].json["messages"]
    assert history[1]["role"] == "assistant"
    assert history[1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "run_python",
        "input": {"code": "print(6*7)"},
    }
    [result] = history[2]["content"]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == "toolu_1"
    assert result["content"] == [{"type": "text", "text": "42\n"}]


async def test_anthropic_describe_sends_the_image_as_a_base64_block(server, anthropic_model):
    png = tiny_png()
    server.reply(200, anthropic_text("A red rectangle."))

    answer = await describe_file(anthropic_model, png, "image/png", "What colour is it?")

    assert answer == "A red rectangle."
    body = server.requests[0].json
    [user] = body["messages"]
    blocks = user["content"]
    assert {"type": "text", "text": "What colour is it?"} in blocks
    [image] = [b for b in blocks if b["type"] == "image"]
    assert image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/png"
    assert base64.b64decode(image["source"]["data"]) == png
    assert "tools" not in body


async def test_anthropic_describe_sends_a_pdf_as_a_document_block(server, anthropic_model):
    server.reply(200, anthropic_text("One page."))
    assert (
        await describe_file(anthropic_model, PDF, "application/pdf", "How many pages?")
        == "One page."
    )
    [user] = server.requests[0].json["messages"]
    [doc] = [b for b in user["content"] if b["type"] == "document"]
    assert doc["source"]["media_type"] == "application/pdf"
    assert base64.b64decode(doc["source"]["data"]) == PDF


# --- provider errors ----------------------------------------------------------------------


async def test_openai_429_then_200_is_retried_by_the_sdk(server, openai_model):
    server.reply(429, openai_error("slow down", "rate_limit_exceeded"), {"retry-after-ms": "10"})
    server.reply(200, openai_text("done"))
    response = await openai_model.request(first_turn(), None, PARAMS)
    assert response.parts == [TextPart("done")]
    assert len(server.requests) == 2
    assert server.requests[0].json == server.requests[1].json


async def test_anthropic_429_then_200_is_retried_by_the_sdk(server, anthropic_model):
    server.reply(429, anthropic_error("slow down", "rate_limit_error"), {"retry-after-ms": "10"})
    server.reply(200, anthropic_text("done"))
    response = await anthropic_model.request(first_turn(), None, PARAMS)
    assert response.parts == [TextPart("done")]
    assert len(server.requests) == 2


async def test_persistent_429_is_retryable_with_the_wait_the_provider_asked(server, openai_model):
    server.reply(429, openai_error("slow down", "rate_limit_exceeded"), {"retry-after": "7"})
    with pytest.raises(RetryableModelError) as info:
        await openai_model.request(first_turn(), FAST, PARAMS)
    assert (info.value.reason, info.value.status_code, info.value.retry_after) == (
        "rate_limit",
        429,
        7,
    )


async def test_persistent_500_is_retryable_after_the_sdk_retries(server, openai_model):
    for _ in range(3):
        server.reply(500, openai_error("boom"), {"retry-after-ms": "1"})
    with pytest.raises(RetryableModelError) as info:
        await openai_model.request(first_turn(), None, PARAMS)
    error = info.value
    assert isinstance(error, ModelProviderError) and isinstance(error, ThrowawayError)
    assert (error.retryable, error.reason, error.status_code) == (True, "server_error", 500)
    assert "gpt-test" in str(error) and "HTTP 500" in str(error)
    assert len(server.requests) == 3  # the first try and the SDK's two retries


async def test_anthropic_500_and_529_are_retryable(server, anthropic_model):
    server.reply(500, anthropic_error("boom"))
    with pytest.raises(RetryableModelError, match="HTTP 500"):
        await anthropic_model.request(first_turn(), FAST, PARAMS)
    server.reply(529, anthropic_error("Overloaded", "overloaded_error"))
    with pytest.raises(RetryableModelError) as info:
        await anthropic_model.request(first_turn(), FAST, PARAMS)
    assert info.value.reason == "unavailable"


@pytest.mark.parametrize(
    "body",
    [b'{"id": "chatcmpl-1", "choi', b"<html>Bad gateway</html>", b'{"unexpected": true}'],
    ids=["truncated-json", "html", "wrong-shape"],
)
async def test_openai_malformed_response_is_retryable(server, openai_model, body):
    server.reply(200, body)
    with pytest.raises(RetryableModelError) as info:
        await openai_model.request(first_turn(), None, PARAMS)
    assert info.value.reason == "malformed_response"
    assert len(server.requests) == 1


async def test_anthropic_malformed_response_is_retryable(server, anthropic_model):
    server.reply(200, b'{"id": "msg_1", "content": [')
    with pytest.raises(RetryableModelError) as info:
        await anthropic_model.request(first_turn(), None, PARAMS)
    assert info.value.reason == "malformed_response"


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, "rejected"), (401, "auth"), (403, "auth"), (404, "not_found")],
)
async def test_client_errors_are_fatal_and_not_retried(server, openai_model, status, reason):
    server.reply(status, openai_error("no", "invalid_request_error"))
    with pytest.raises(FatalModelError) as info:
        await openai_model.request(first_turn(), None, PARAMS)
    assert (info.value.retryable, info.value.reason, info.value.status_code) == (
        False,
        reason,
        status,
    )
    assert len(server.requests) == 1


async def test_anthropic_bad_key_is_fatal(server, anthropic_model):
    server.reply(401, anthropic_error("invalid x-api-key", "authentication_error"))
    with pytest.raises(FatalModelError) as info:
        await anthropic_model.request(first_turn(), None, PARAMS)
    assert info.value.reason == "auth"


async def test_refused_connection_is_retryable(monkeypatch):
    with socket.socket() as sock:  # a port on 127.0.0.1 that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    model = resolve_model("openai:gpt-test")
    with pytest.raises(RetryableModelError) as info:
        await model.request(first_turn(), FAST, PARAMS)
    assert info.value.reason == "connection"


def test_provider_errors_survive_pickling():
    error = RetryableModelError(
        "Rate limited", reason="rate_limit", model_name="m", status_code=429, retry_after=2.0
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RetryableModelError
    assert (str(copy), copy.reason, copy.model_name, copy.status_code, copy.retry_after) == (
        "Rate limited",
        "rate_limit",
        "m",
        429,
        2.0,
    )


def test_a_history_with_an_image_round_trips_through_json():
    png = tiny_png()
    messages = [
        *first_turn(),
        ModelResponse(parts=[ToolCallPart("run_python", {"code": "plot()"}, tool_call_id="c1")]),
        ModelRequest(
            parts=[
                ToolReturnPart("run_python", "saved", tool_call_id="c1"),
                UserPromptPart(["The plot:", BinaryContent(png, media_type="image/png")]),
            ]
        ),
    ]
    stored = ModelMessagesTypeAdapter.dump_json(list(messages))
    loaded = ModelMessagesTypeAdapter.validate_json(stored)
    assert ModelMessagesTypeAdapter.dump_json(list(loaded)) == stored
    assert [type(m) for m in loaded] == [ModelRequest, ModelResponse, ModelRequest]
    image = loaded[-1].parts[1].content[1]
    assert (image.data, image.media_type) == (png, "image/png")


# --- the scripted model -------------------------------------------------------------------

SCRIPT = [
    {"tool_calls": [{"name": "run_python", "args": {"code": "print(6*7)"}}]},
    {
        "text": "Let me check two things.",
        "tool_calls": [
            {"name": "run_python", "args": {"code": "print(1)"}},
            {"name": "describe", "args": {"path": "/workspace/a.png", "question": "Colour?"}},
        ],
        "describe": {"Colour?": "Red."},
    },
    {"text": "The answer is 42."},
]


@pytest.fixture
def script_file(tmp_path):
    path = tmp_path / "script.json"
    path.write_text(json.dumps(SCRIPT))
    return path


def tool_results(response: ModelResponse) -> ModelRequest:
    return ModelRequest(
        parts=[
            ToolReturnPart(p.tool_name, "ok", tool_call_id=p.tool_call_id)
            for p in response.parts
            if isinstance(p, ToolCallPart)
        ]
    )


async def test_scripted_model_plays_the_turns_in_order(script_file):
    model = resolve_model(f"scripted:{script_file}")
    messages = first_turn()
    responses = []
    for _ in range(3):
        response = await model.request(messages, None, PARAMS)
        responses.append(response)
        messages += [response, tool_results(response)]

    assert responses[0].parts == [
        ToolCallPart("run_python", {"code": "print(6*7)"}, tool_call_id="call-0-0")
    ]
    assert [type(p) for p in responses[1].parts] == [TextPart, ToolCallPart, ToolCallPart]
    assert [p.tool_call_id for p in responses[1].parts[1:]] == ["call-1-0", "call-1-1"]
    assert responses[2].parts == [TextPart("The answer is 42.")]


async def test_a_script_that_runs_out_of_turns_fails_the_request(script_file):
    model = resolve_model(f"scripted:{script_file}")
    messages = first_turn()
    for _ in range(3):
        response = await model.request(messages, None, PARAMS)
        messages += [response, tool_results(response)]
    with pytest.raises(FatalModelError, match=r"has 3 turns and the run asked for turn 4") as e:
        await model.request(messages, None, PARAMS)
    assert e.value.reason == "script_ended"


async def test_scripted_turn_comes_from_the_history_not_from_memory(script_file):
    """A new process handed the stored history answers exactly as the old one would have."""
    first = resolve_model(f"scripted:{script_file}")
    messages = first_turn()
    response = await first.request(messages, None, PARAMS)
    messages += [response, tool_results(response)]
    stored = ModelMessagesTypeAdapter.dump_json(list(messages))

    again = await first.request(messages, None, PARAMS)
    resumed = await resolve_model(f"scripted:{script_file}").request(
        ModelMessagesTypeAdapter.validate_json(stored), None, PARAMS
    )

    assert resumed.parts == again.parts
    assert [p.tool_call_id for p in resumed.parts if isinstance(p, ToolCallPart)] == [
        "call-1-0",
        "call-1-1",
    ]
    # asking twice with the same history gives the same turn: no hidden counter moved
    assert (await first.request(messages, None, PARAMS)).parts == again.parts


async def test_scripted_describe_answers(script_file):
    model = resolve_model(f"scripted:{script_file}")
    png = tiny_png(640, 480)
    assert await describe_file(model, png, "image/png", "Colour?") == "Red."
    default = await describe_file(model, png, "image/png", "What does the chart show?")
    assert default.startswith("[scripted describe] An image (image/png, 640×480 pixels,")
    assert default.endswith("Question: What does the chart show?")
    assert "1 page" in await describe_file(model, PDF, "application/pdf", "Pages?")
    assert "2 lines" in await describe_file(model, b"a\nb\n", "text/plain", "Lines?")
    # describe calls do not count as turns of the loop
    response = await model.request(first_turn(), None, PARAMS)
    assert response.parts[0].tool_call_id == "call-0-0"


async def test_scripted_args_may_be_a_raw_string_for_testing_bad_arguments(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"tool_calls": [{"name": "nope", "args": "{not json"}]}]))
    response = await resolve_model(f"scripted:{path}").request(first_turn(), None, PARAMS)
    assert response.parts == [ToolCallPart("nope", "{not json", tool_call_id="call-0-0")]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ({"text": "hi"}, "JSON list of turns"),
        (["hi"], "turn 0 must be an object"),
        ([{"text": "a"}, {}], 'turn 1 needs "text"'),
        ([{"tool_calls": [{"args": {}}]}], "tool call 0 must look like"),
        ([{"text": "a", "say": "b"}], "unknown keys"),
        ([{"text": "a", "describe": {"q": 1}}], '"describe" must map'),
    ],
)
def test_bad_scripts_are_config_errors(script, message):
    with pytest.raises(ModelConfigError, match=message):
        parse_script(script)


def test_missing_script_file_is_a_config_error(tmp_path):
    with pytest.raises(ModelConfigError, match="no script file"):
        resolve_model(f"scripted:{tmp_path / 'missing.json'}")
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(ModelConfigError, match="as JSON"):
        resolve_model(f"scripted:{tmp_path / 'broken.json'}")


def test_image_size_reads_headers():
    assert image_size(tiny_png(7, 5)) == (7, 5)
    assert image_size(b"GIF89a" + struct.pack("<HH", 9, 4) + b"\x00" * 8) == (9, 4)
    jpeg = b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 4) + b"\x00\x00"
    jpeg += b"\xff\xc0" + struct.pack(">HBHH", 11, 8, 12, 34) + b"\x00" * 6
    assert image_size(jpeg) == (34, 12)
    webp = (
        b"RIFF"
        + b"\x00" * 4
        + b"WEBPVP8X"
        + b"\x00" * 8
        + (99).to_bytes(3, "little")
        + (49).to_bytes(3, "little")
    )
    assert image_size(webp) == (100, 50)
    assert image_size(b"not an image") is None


def test_scripted_model_is_a_pydantic_ai_function_model(script_file):
    from pydantic_ai.models.function import FunctionModel

    model = resolve_model(f"scripted:{script_file}")
    assert isinstance(model.wrapped, ScriptedModel) and isinstance(model.wrapped, FunctionModel)
    assert model.model_name == f"scripted:{script_file}"


# --- choosing a model ---------------------------------------------------------------------


def test_no_model_and_no_key_is_a_clear_error():
    with pytest.raises(ModelConfigError) as info:
        resolve_model(None)
    message = str(info.value)
    for needle in [
        "anthropic:",
        "openai:",
        "google-gla:",
        "scripted:FILE",
        "THROWAWAY_MODEL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "GOOGLE_API_KEY",
    ]:
        assert needle in message


def test_throwaway_model_is_the_default(script_file, clean_env):
    clean_env.setenv("THROWAWAY_MODEL", f"scripted:{script_file}")
    assert resolve_model(None).model_name == f"scripted:{script_file}"


def test_a_key_alone_picks_that_providers_default(clean_env):
    clean_env.setenv("ANTHROPIC_API_KEY", "sk-ant-x")
    model = resolve_model(None)
    assert isinstance(model.wrapped, AnthropicModel)
    clean_env.delenv("ANTHROPIC_API_KEY")
    clean_env.setenv("OPENAI_API_KEY", "sk-x")
    assert isinstance(resolve_model(None).wrapped, OpenAIChatModel)


def test_openai_honours_base_url_and_needs_no_key_for_a_local_server(clean_env):
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    model = resolve_model("openai:llama3.2")
    assert isinstance(model.wrapped, OpenAIChatModel)
    assert model.wrapped.base_url == "http://127.0.0.1:11434/v1/"
    responses = resolve_model("openai-responses:llama3.2")
    assert isinstance(responses.wrapped, OpenAIResponsesModel)
    assert responses.wrapped.base_url == "http://127.0.0.1:11434/v1/"


def test_a_base_url_without_a_model_name_says_what_to_pass(clean_env):
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    with pytest.raises(ModelConfigError, match="--model openai:NAME"):
        resolve_model(None)


def test_google_gla_names_still_work(clean_env):
    clean_env.setenv("GOOGLE_API_KEY", "g-key")
    model = resolve_model("google-gla:gemini-3.8-flash")
    assert isinstance(model.wrapped, GoogleModel)
    assert model.model_name == "gemini-3.8-flash"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("anthropic:claude-sonnet-5-5", "ANTHROPIC_API_KEY"),
        ("openai:gpt-6.1-sol", "OPENAI_API_KEY"),
        ("google-gla:gemini-3.8-flash", "GOOGLE_API_KEY"),
        ("gpt-4o", "provider:model"),
        ("nosuchprovider:model", "Unknown model"),
    ],
)
def test_unusable_names_are_config_errors(name, needle):
    with pytest.raises(ModelConfigError, match=needle):
        resolve_model(name)
