"""A local HTTP server that answers like a model provider, for tests of the real client code.

It listens on 127.0.0.1 only. Queue the responses it should give (status, JSON body or raw
bytes, headers) and read back every request the client sent, parsed::

    with ProviderServer() as server:
        server.reply(200, openai_text("done"))
        ...  # point OPENAI_BASE_URL at f"{server.url}/v1"
        body = server.requests[0].json

The body helpers build responses in the providers' real wire formats (OpenAI Chat
Completions, Anthropic Messages).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]  # keys lowercased
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


class ProviderServer:
    """Queued replies in, recorded requests out. An empty queue answers 599 and says so."""

    def __init__(self) -> None:
        self.requests: list[SeenRequest] = []
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                seen = SeenRequest(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with server._lock:
                    server.requests.append(seen)
                    reply = server._replies.pop(0) if server._replies else None
                if reply is None:
                    reply = Reply(599, b'{"error": "ProviderServer: no reply queued"}', {})
                self.send_response(reply.status)
                headers = {"content-type": "application/json", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Queue one reply. ``body`` is JSON-encoded unless it is bytes."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self._lock:
            self._replies.append(Reply(status, raw, headers or {}))

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- OpenAI Chat Completions --------------------------------------------------------------


def openai_text(text: str, *, id: str = "chatcmpl-text") -> dict:
    return _openai_choice(id, {"role": "assistant", "content": text}, "stop")


def openai_tool_calls(*calls: tuple[str, str, dict], id: str = "chatcmpl-tools") -> dict:
    """``calls`` are (call id, tool name, arguments)."""
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": cid,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for cid, name, args in calls
        ],
    }
    return _openai_choice(id, message, "tool_calls")


def _openai_choice(id: str, message: dict, finish_reason: str) -> dict:
    return {
        "id": id,
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }


def openai_error(message: str, type: str = "server_error") -> dict:
    return {"error": {"message": message, "type": type, "param": None, "code": None}}


# --- Anthropic Messages -------------------------------------------------------------------


def anthropic_text(text: str, *, id: str = "msg_text") -> dict:
    return _anthropic_message(id, [{"type": "text", "text": text}], "end_turn")


def anthropic_tool_use(
    *calls: tuple[str, str, dict], text: str | None = None, id: str = "msg_tools"
) -> dict:
    """``calls`` are (tool_use id, tool name, input)."""
    content: list[dict] = [{"type": "text", "text": text}] if text else []
    content += [
        {"type": "tool_use", "id": cid, "name": name, "input": args} for cid, name, args in calls
    ]
    return _anthropic_message(id, content, "tool_use")


def _anthropic_message(id: str, content: list[dict], stop_reason: str) -> dict:
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 7},
    }


def anthropic_error(message: str, type: str = "api_error") -> dict:
    return {"type": "error", "error": {"type": type, "message": message}}
