"""Whatever the worker answers to the host's own requests ends as ``r.error``.

Sandboxed code can replace the worker's message handler, so it answers the
host's requests (the file copies after a run) as it likes: with text that is
not JSON, with sizes that do not add up, or not at all. The run gets a
ProtocolError within its time limit (at least COPY_TIMEOUT_MIN), the sandbox is
ended, and the next run starts a fresh one.
"""

from __future__ import annotations

import time

import pytest
from adversarial.helpers import still_works
from snippets import js

from throwaway.errors import SandboxProtocolError
from throwaway.sandbox.sandbox import COPY_TIMEOUT_MIN


def hijack(answer: str) -> str:
    """Code that writes a file, then answers the host's read_file with ``answer``
    (JS statements with ``m``, the request, in scope)."""
    return "open('made.txt', 'w').write('x')\n" + js(
        "const honest = self.onmessage;"
        "self.onmessage = (e) => { const m = e.data;"
        f"  if (m.type === 'read_file') {{ {answer} return; }}"
        "  honest(e); }"
    )


FORGERIES = {
    "not_json": "postMessage({type: 'done', id: m.id, json: '{not json'});",
    "not_an_object": "postMessage({type: 'done', id: m.id, json: '[1, 2]'});",
    "size_lies": (
        "postMessage({type: 'done', id: m.id, json: JSON.stringify({size: 10}),"
        " blob: new Uint8Array(100)});"
    ),
    "endless_file": (
        "postMessage({type: 'done', id: m.id, json: JSON.stringify({size: 100 << 20}),"
        " blob: new Uint8Array(0)});"
    ),
    "no_answer": "",
}


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forged_answer_to_a_file_copy_is_a_protocol_error(fresh_sandbox, name):
    sb = await fresh_sandbox(timeout=2)
    started = time.monotonic()
    r = await sb.run(hijack(FORGERIES[name]))
    assert time.monotonic() - started < 2 + COPY_TIMEOUT_MIN + 3
    assert r.error is not None and r.error.type == "ProtocolError", r.error
    assert r.restarted
    await still_works(sb)


async def test_forged_answer_to_read_file_raises_a_documented_error(fresh_sandbox):
    sb = await fresh_sandbox(timeout=5)
    await sb.run(js(
        "const honest = self.onmessage;"
        "self.onmessage = (e) => { if (e.data.type === 'read_file') "
        "postMessage({type: 'done', id: e.data.id, json: '{nope'}); else honest(e); }"
    ))  # fmt: skip
    with pytest.raises(SandboxProtocolError):
        await sb.read_file("anything.txt")
    await still_works(sb)
