"""A tiny MCP server (stdio) that appends every call to $COUNTER_FILE: counts calls in tests."""

import os

from mcp.server import MCPServer

server = MCPServer("counter")


@server.tool()
def record(label: str) -> str:
    """Append label to the counter file and return it."""
    with open(os.environ["COUNTER_FILE"], "a") as f:
        f.write(label + "\n")
    return label


if __name__ == "__main__":
    server.run()
