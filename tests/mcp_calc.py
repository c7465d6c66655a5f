"""An MCP server on the MCP SDK's own MCPServer (stdio), with the shapes tool schemas take:
plain values the SDK wraps in {"result": ...}, enums, nested and recursive models, lists,
names that collide once made Python names, an error, and the environment it was given."""

import os
from typing import Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

server = MCPServer("calc")


class Address(BaseModel):
    street: str
    city: str = Field(description="where the street is")


class Node(BaseModel):
    label: str
    children: list["Node"] = []


class ShoutResult(TypedDict):
    text: str
    length: int


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(
    text: str = Field(description="what to shout"),
    times: int = 1,
    mode: Literal["loud", "quiet"] = "loud",
    where: Address | None = None,
    tags: list[str] | None = None,
) -> ShoutResult:
    """Shout a text, maybe more than once."""
    out = (text.upper() if mode == "loud" else text.lower()) * times
    return {"text": out + (f" at {where.city}" if where else ""), "length": len(out)}


@server.tool()
def depth(tree: Node) -> int:
    """How deep a tree of nodes goes."""
    return 1 + max((depth(child) for child in tree.children), default=0)


@server.tool(name="get-time")
def get_time_dashed() -> str:
    """The time, by its dashed name."""
    return "dashed"


@server.tool(name="get_time")
def get_time_plain() -> str:
    """The time, by its plain name."""
    return "plain"


@server.tool()
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    if b == 0:
        raise ToolError("b must not be zero (try b=1)")
    return a / b


@server.tool()
def env(name: str) -> str | None:
    """The value of an environment variable of this server's process."""
    return os.environ.get(name)


if __name__ == "__main__":
    server.run()
