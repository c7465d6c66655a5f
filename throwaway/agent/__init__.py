"""The agent: a loop over pydantic-ai's model layer, its tools, and the models it can use."""
