"""`describe()` called from sandboxed code answers instead of deadlocking.

The running code holds the sandbox (and its worker is blocked in the call), so
the host cannot read the file then: the code reads it and sends it along.
Tested through the agent loop with the scripted model, as in a real run.
"""

from __future__ import annotations

import time

from throwaway.agent.loop import Agent, MemoryJournal, journal_calls
from throwaway.agent.scripted import ScriptedModel, parse_script
from throwaway.agent.session import SessionSpec, open_session

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
    journal = MemoryJournal()
    calls = journal_calls(journal, lambda event: None)
    async with open_session(SessionSpec(timeout=20), model, journal=calls) as session:
        await session.sandbox.start()
        started = time.monotonic()
        agent = Agent(model, session.toolbox, journal)
        answer = await agent.run("describe a chart from code", session.instructions)
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
