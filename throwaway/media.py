"""What kind of file some bytes are: one sniffer for the agent, the MCP server and describe."""

from __future__ import annotations

import mimetypes

#: Leading bytes of the binary types throwaway treats specially.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF", "application/pdf"),
)


def sniff(data: bytes) -> str | None:
    """The media type read from the first bytes (PNG, JPEG, GIF, WebP, PDF), or None."""
    for magic, kind in SIGNATURES:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_type(data: bytes) -> str | None:
    """The image media type of ``data``, or None if it is no image throwaway knows."""
    kind = sniff(data)
    return kind if kind and kind.startswith("image/") else None


def media_type(path: str, data: bytes) -> str:
    """The media type from the bytes, else from the file name, else text."""
    return sniff(data) or mimetypes.guess_type(path)[0] or "text/plain"
