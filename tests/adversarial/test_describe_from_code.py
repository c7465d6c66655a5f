"""`describe()` called from sandboxed code answers instead of deadlocking.

The running code holds the sandbox (and its worker is blocked in the call), so
the host cannot read the file then: the code reads it and sends it along.
Tested through the agent loop with the scripted model, as in a real run.
"""

from __future__ import annotations

import time

from throwaway import Sandbox
from throwaway.agent.help import HelpIndex
from throwaway.agent.loop import Agent, MemoryJournal
from throwaway.agent.scripted import ScriptedModel, parse_script
from throwaway.agent.tools import Toolbox

CODE = (
    "import os\nfrom PIL import Image\n"
    "Image.frombytes('RGB', (200, 100), os.urandom(60_000)).save('chart.png')\n"
    "from throwaway_tools import describe\n"
    "print(describe('chart.png', 'What colour is it?'))\n"
    "try:\n"
    "    describe('missing.png')\n"
    "except FileNotFoundError as e:\n"
    "    print('missing:', e.filename)\n"
)


async def test_describe_from_code_answers_through_the_agent():
    model = ScriptedModel(parse_script([
        {"tool_calls": [{"name": "run_python", "args": {"code": CODE}}]},
        {"text": "done"},
    ]))  # fmt: skip
    toolbox = Toolbox(None, model, HelpIndex())
    journal = MemoryJournal()
    async with Sandbox(timeout=20, functions=toolbox.sandbox_functions()) as sandbox:
        toolbox.sandbox = sandbox
        started = time.monotonic()
        answer = await Agent(model, toolbox, journal).run("describe a chart from code")
        assert time.monotonic() - started < 15  # the time limit is 20 s: no deadlock
    assert answer == "done"
    result = next(v for k, v in journal.steps if k.startswith("tool:"))["text"]
    assert "[scripted describe] An image (image/png, 200×100 pixels" in result
    assert "What colour is it?" in result
    assert "missing: /workspace/missing.png" in result
    call = next(v for k, v in journal.steps if k.startswith("call:"))
    assert call["function"] == "throwaway_tools.describe"
    assert call["kwargs"]["file"] == "/workspace/chart.png"
    assert call["kwargs"]["data"].endswith(" characters>")  # not copied into the log
