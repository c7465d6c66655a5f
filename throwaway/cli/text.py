"""Text from the sandbox made safe for a terminal (no rich: `exec` loads only this)."""

from __future__ import annotations

import re

#: Characters a terminal acts on instead of showing: C0/C1 controls (escape sequences,
#: carriage return), bidi overrides, line separators, and lone surrogates.
CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def visible(text: str) -> str:
    """Text from the sandbox made safe to show on a terminal: control characters become
    escapes such as ``\\x1b`` (newline and tab are kept)."""
    return CONTROL.sub(lambda m: _escape_char(m.group()), text)


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_stream(text: str, stream) -> str:
    """``visible`` text for a terminal; for a pipe or file the text as it is, except lone
    surrogates (which no encoding can write) as ``\\udcff``-style escapes."""
    if stream.isatty():
        return visible(text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
