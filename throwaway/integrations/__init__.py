"""throwaway inside other agent frameworks.

- ``throwaway.integrations.pydantic_ai``: `ThrowawayToolset`, a pydantic-ai toolset.
- ``throwaway.integrations.langchain``: `ThrowawayTools`, LangChain tools.

Both rest on `CodeSession` (one sandbox with describe and help); each imports its
framework only when imported itself. The third way needs no adapter: `throwaway mcp`.
"""
