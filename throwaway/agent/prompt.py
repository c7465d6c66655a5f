"""The system prompt: what the sandbox is, as the model needs to know it."""

from __future__ import annotations

from throwaway.agent.help import HelpIndex
from throwaway.agent.sandboxlike import SandboxLike
from throwaway.sandbox.assets import bundled_list

TEMPLATE = """\
You solve the user's task by writing short Python programs and running them with the \
run_python tool. Work in small steps: run code, read what it printed, then decide the next \
step. When you are done, answer in plain text (no tool call).

The sandbox:
- Python 3.12 in Pyodide (WebAssembly). There is NO network: no requests, no urllib, no \
sockets, no pip. Data from outside comes only through the folders under /mnt listed below.
- You only see what your code prints, the value of its last expression, errors, and images \
(plt.show() or display(img)); print what you need, keep it short.
- Variables, imports and files persist between run_python calls. /workspace is the current \
directory; files there persist. Each run may take at most {timeout:g} s.
- Bundled packages, imported as usual: {packages}. Pure-Python packages from PyPI: \
`import micropip; await micropip.install("name")`.
- To look at an image or chart you made, call describe(path, question). For how-tos \
(spreadsheets, PDFs, charts, mounts), call help(query). Both also work inside code: \
`from throwaway_tools import describe, help`.

Folders under /mnt:
{mounts}
{tools}{skills}"""


def system_prompt(sandbox: SandboxLike, help_index: HelpIndex, tools_index: str = "") -> str:
    """The prompt; ``tools_index`` lists MCP tools one line each (McpServers.index)."""
    mounts = sandbox.mounts.describe()
    lines = [
        f"- /mnt/{name}: {info['about']} ({'read-write' if info['writable'] else 'read-only'})"
        for name, info in mounts.items()
    ]
    skills = help_index.summary()
    return TEMPLATE.format(
        timeout=sandbox.timeout,
        packages=bundled_list(),
        mounts="\n".join(lines) or "- (none)",
        skills=f"\nSkills (read them with help):\n{skills}\n" if skills else "",
        tools=(
            "\nTools of other services, as Python functions (blocking; call them from "
            f"run_python code, e.g. `from tools import NAME`):\n{tools_index}\n"
            if tools_index
            else ""
        ),
    )
