"""What a run reports is the host's own account: changes, images, and text on a terminal.

- Mount changes come from what the host's providers did; the sandbox's word only
  covers /workspace (its own memory).
- At most MAX_IMAGES images per run; the rest are counted and dropped, with a note.
- Sandbox text shown on a terminal has its control characters made visible.
"""

from __future__ import annotations

import json
import os

from adversarial.helpers import still_works
from click.testing import CliRunner
from snippets import js

from throwaway import mounts
from throwaway.cli import main
from throwaway.cli.render import EventPrinter, for_stream, print_run, visible
from throwaway.sandbox.result import MAX_IMAGES

INJECTION = "\x1b]52;c;aGVsbG8=\x07\x1b[2J\x1b[31mred\r\x9b2J\u202eevil\ud800"


def next_request_id(sb) -> int:
    return int(repr(sb._process.ids).removeprefix("count(").removesuffix(")"))


def forged_done(request_id: int, meta: dict, blob_size: int = 0) -> str:
    blob = f"new Uint8Array({blob_size})" if blob_size else "null"
    return (
        js(
            f"postMessage({{type: 'done', id: {request_id}, json: {json.dumps(json.dumps(meta))}, "
            f"blob: {blob}}})"
        )
        + "\nimport time\ntime.sleep(0.2)"
    )


async def test_forged_mount_changes_are_not_reported(fresh_sandbox, tmp_path):
    (tmp_path / "real.txt").write_text("still here")
    sb = await fresh_sandbox(timeout=5, mounts={"out": mounts.LocalDir(tmp_path, writable=True)})
    await sb.run("None")
    fake = {"created": ["/mnt/out/fake.txt", "/etc/passwd"], "deleted": ["/mnt/out/real.txt"],
            "modified": ["/mnt/out/real.txt"]}  # fmt: skip
    r = await sb.run(forged_done(next_request_id(sb), {"changes": fake}))
    assert r.changes.created == [] and r.changes.deleted == [] and r.changes.modified == []
    r = await sb.run("open('/mnt/out/made.txt', 'w').write('x')")
    assert r.changes.created == ["/mnt/out/made.txt"]  # what the provider did
    await still_works(sb)


async def test_honest_images_past_the_cap_are_counted_and_dropped(fresh_sandbox):
    sb = await fresh_sandbox(timeout=60)
    r = await sb.run(
        "from PIL import Image\nim = Image.new('RGB', (2, 2), 'red')\n"
        "for _ in range(20_000):\n    display(im)"
    )
    assert r.ok, r.error
    assert len(r.images) == MAX_IMAGES
    assert r.notes == [f"{20_000 - MAX_IMAGES:,} more image(s) were dropped: a run keeps at "
                       f"most {MAX_IMAGES} (kept {MAX_IMAGES})"]  # fmt: skip


async def test_forged_images_past_the_cap_are_dropped(fresh_sandbox):
    sb = await fresh_sandbox(timeout=10)
    await sb.run("None")
    meta = {"images": [1] * 100_000, "images_dropped": 10**12}
    r = await sb.run(forged_done(next_request_id(sb), meta, 100_000))
    assert len(r.images) <= MAX_IMAGES
    await still_works(sb)


def test_exec_writes_at_most_the_cap_of_image_files(tmp_path):
    out = tmp_path / "images"
    code = "from PIL import Image\nim = Image.new('RGB', (2, 2))\nfor _ in range(300): display(im)"
    result = CliRunner().invoke(main, ["exec", "-", "--out", str(out)], input=code)
    assert result.exit_code == 0, result.output
    assert len(list(out.iterdir())) == MAX_IMAGES
    assert f"more image(s) were dropped: a run keeps at most {MAX_IMAGES}" in result.output


def test_control_characters_become_visible_and_newlines_stay():
    shown = visible("line\n\tindented " + INJECTION)
    assert shown.startswith("line\n\tindented ")
    assert not any(c in shown for c in "\x1b\x07\r\x9b\u202e\ud800")
    assert "\\x1b]52;c;aGVsbG8=\\x07" in shown and "\\u202e" in shown and "\\ud800" in shown


def test_a_terminal_gets_visible_text_and_a_pipe_the_exact_text():
    primary, secondary = os.openpty()
    with open(secondary, "w") as terminal:
        assert for_stream(INJECTION, terminal) == visible(INJECTION)
    os.close(primary)
    with open(os.devnull, "w") as pipe:
        assert for_stream("a\x1b[2Jb", pipe) == "a\x1b[2Jb"
        assert for_stream("\ud800", pipe) == "\\ud800"  # no encoding can write it as it is


def test_run_and_show_print_no_raw_control_characters(capsys):
    EventPrinter("r1", quiet=False)("r1", {"kind": "tool", "name": "run_python", "ok": True,
                                           "result": INJECTION})  # fmt: skip
    EventPrinter("r1", quiet=False)(
        "r1", {"kind": "model", "text": INJECTION, "tool_calls": [{"name": INJECTION, "args": {}}]}
    )
    print_run({"id": "r1", "status": "completed", "attempts": 1, "task": INJECTION,
               "answer": INJECTION, "error": INJECTION,
               "params": {"model": INJECTION, "mounts": [INJECTION]},
               "steps": [{"kind": "tool", "step": "tool:1", "name": "run_python",
                          "args": {"code": INJECTION}, "result": INJECTION,
                          "at": "2026-01-01T00:00:00+00:00", "seconds": 1.0},
                         {"kind": "tool", "step": "call:x", "name": INJECTION,
                          "args": {INJECTION: INJECTION}, "result": INJECTION, "from_code": True,
                          "at": "2026-01-01T00:00:00+00:00", "seconds": None}]},
              [(INJECTION, 1)])  # fmt: skip
    captured = capsys.readouterr()
    for text in (captured.out, captured.err):
        assert "aGVsbG8" in text
        assert not any(c in text.replace("\x1b[0m", "") for c in "\x07\r\x9b\u202e")
        assert "\x1b]52" not in text and "\x1b[2J" not in text
