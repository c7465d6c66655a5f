"""Any JSON value, stored losslessly in Postgres ``jsonb``.

``jsonb`` refuses two things Python strings can hold: the NUL character and
lone surrogates (``'\\udcff'``, from bytes decoded with ``surrogateescape``).
Sandboxed code prints both. A string holding either is stored as
``{"$text": <base64 of its UTF-8, surrogates passed through>}``, a dict with
such a key as ``{"$pairs": [[key, value], ...]}``; `load` undoes both. Every
other value is stored as it is.
"""

from __future__ import annotations

import base64
import re
from typing import Any

#: What jsonb cannot store.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
TEXT, PAIRS = "$text", "$pairs"


def store(value: Any) -> Any:
    """``value`` with every string jsonb would refuse wrapped (also markers lookalikes)."""
    if isinstance(value, str):
        if UNSTORABLE.search(value) is None:
            return value
        return {TEXT: base64.b64encode(value.encode("utf-8", "surrogatepass")).decode()}
    if isinstance(value, list):
        return [store(v) for v in value]
    if isinstance(value, dict):
        if any(UNSTORABLE.search(k) for k in value) or _is_marker(value):
            return {PAIRS: [[store(k), store(v)] for k, v in value.items()]}
        return {k: store(v) for k, v in value.items()}
    return value


def load(value: Any) -> Any:
    """The value `store` was given."""
    if isinstance(value, list):
        return [load(v) for v in value]
    if isinstance(value, dict):
        if _is_marker(value) and TEXT in value:
            return base64.b64decode(value[TEXT]).decode("utf-8", "surrogatepass")
        if _is_marker(value):
            return {load(k): load(v) for k, v in value[PAIRS]}
        return {k: load(v) for k, v in value.items()}
    return value


def _is_marker(value: dict) -> bool:
    if len(value) != 1:
        return False
    ((key, inner),) = value.items()
    return (key == TEXT and isinstance(inner, str)) or (key == PAIRS and isinstance(inner, list))
