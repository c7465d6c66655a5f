"""throwaway and the Model Context Protocol, both ways.

``tools.py`` brings MCP servers' tools into the sandbox as Python functions;
``server.py`` serves the sandbox to MCP clients (`throwaway mcp`).
"""
