"""What one execution produced: ExecResult, and ExecError for code that failed.

Results are built from the sandbox's reply, which is untrusted: every field is
type-checked and size-capped here, and anything malformed becomes an error
result instead of an exception on the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: Errors that are not Python exceptions but the sandbox's own verdicts.
TIMEOUT = "TimeoutError"
CRASHED = "SandboxCrashed"
PROTOCOL = "ProtocolError"
#: Images kept per run; more are counted and dropped, with a note.
MAX_IMAGES = 50
#: Paths kept per kind of change in a run's report.
MAX_CHANGES = 100_000


@dataclass(frozen=True)
class ExecError:
    """Why an execution failed. ``type`` is the exception's class name
    (``"ZeroDivisionError"``, ``"MemoryError"``, ...) or one of the sandbox's
    own: ``"TimeoutError"``, ``"SandboxCrashed"``, ``"ProtocolError"``."""

    type: str
    message: str = ""
    traceback: str = ""

    def __str__(self) -> str:
        return self.traceback.rstrip() or f"{self.type}: {self.message}"


@dataclass(frozen=True)
class OutputCut:
    """A stream that went over the output limit: the kept text is marked, and
    the whole text is in ``saved_to`` inside the sandbox."""

    total_chars: int
    saved_to: str


@dataclass(frozen=True)
class Changes:
    """Files a run created, modified and deleted, in /workspace and writable mounts."""

    created: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created or self.modified or self.deleted)

    def merge(self, changes: dict[str, str]) -> Changes:
        """These changes plus ``{path: "created" | "modified" | "deleted"}``."""
        out = {"created": [*self.created], "modified": [*self.modified], "deleted": [*self.deleted]}
        for path, kind in changes.items():
            out[kind].append(path)
        return Changes(**{k: sorted(v) for k, v in out.items()})


@dataclass(frozen=True)
class ExecResult:
    """The outcome of ``Sandbox.run``."""

    stdout: str = ""
    stderr: str = ""
    result: str | None = None  # repr of the last expression
    error: ExecError | None = None
    images: list[bytes] = field(default_factory=list)  # PNGs
    duration_ms: float = 0.0
    restarted: bool = False  # the interpreter was restarted: variables were lost
    cut: dict[str, OutputCut] = field(default_factory=dict)
    changes: Changes = field(default_factory=Changes)
    #: What the host did about the run that the code did not ask for (images dropped
    #: past the cap, files not kept across restarts), one sentence each.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def text(self, image_paths: Sequence[str] = ()) -> str:
        """What a model reads: output, last value, error and notes, in labelled sections.

        ``image_paths`` are where the images were saved; without them the images
        are said to be attached (the caller sends them along).
        """
        parts = [f"{label}:\n{value}" for label, value in (
            ("stdout", self.stdout.rstrip()), ("stderr", self.stderr.rstrip()),
            ("value of the last expression", self.result),
        ) if value]  # fmt: skip
        if self.error:
            text = str(self.error)
            if self.error.message and self.error.message not in text:
                text += f"\n{self.error.message}"
            parts.append(f"error:\n{text}")
        elif self.restarted:
            parts.append("note: the interpreter was restarted before this run; earlier "
                         "variables are gone")  # fmt: skip
        if image_paths:
            parts.append("images shown (describe them to see them): " + ", ".join(image_paths))
        elif self.images:
            parts.append(f"{len(self.images)} image(s) shown, attached")
        if self.notes:
            parts.append("notes from the sandbox host:\n" + "\n".join(self.notes))
        return "\n\n".join(parts) or "(no output; print what you want to see)"


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[:limit] + "\n[... cut by the host ...]\n"


def parse_error(raw: object, limit: int) -> ExecError | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return ExecError(PROTOCOL, "the sandbox sent a malformed error")
    return ExecError(
        type=_text(raw.get("type"), 200) or "Error",
        message=_text(raw.get("message"), limit),
        traceback=_text(raw.get("traceback"), limit),
    )


def parse_images(sizes: object, blob: bytes) -> list[bytes] | None:
    """Split the blob by the declared sizes, or None if they do not add up."""
    if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
        return None
    if sum(sizes) != len(blob):
        return None
    images, offset = [], 0
    for size in sizes:
        images.append(blob[offset : offset + size])
        offset += size
    return images


def parse_cut(raw: object) -> dict[str, OutputCut]:
    if not isinstance(raw, dict):
        return {}
    cuts = {}
    for name in ("stdout", "stderr"):
        item = raw.get(name)
        if isinstance(item, dict) and isinstance(item.get("total_chars"), int):
            cuts[name] = OutputCut(item["total_chars"], _text(item.get("saved_to"), 1000))
    return cuts


def parse_changes(raw: object) -> Changes:
    """The sandbox's word on /workspace only: mount changes come from the host's own audit."""
    if not isinstance(raw, dict):
        return Changes()
    lists = {}
    for kind in ("created", "modified", "deleted"):
        items = raw.get(kind)
        ok = isinstance(items, list) and all(isinstance(p, str) for p in items)
        paths = [p for p in items if p.startswith("/workspace/") and "\0" not in p] if ok else []
        lists[kind] = sorted(paths)[:MAX_CHANGES]
    return Changes(**lists)


def image_note(kept: int, dropped: int) -> list[str]:
    """The note for images past the cap."""
    if not dropped:
        return []
    return [f"{dropped:,} more image(s) were dropped: a run keeps at most {MAX_IMAGES} "
            f"(kept {kept})"]  # fmt: skip


def parse_result(
    meta: dict, blob: bytes, limit: int, duration_ms: float, restarted: bool
) -> ExecResult:
    """Build an ExecResult from the sandbox's reply, distrusting every field."""
    images = parse_images(meta.get("images", []), blob)
    error = parse_error(meta.get("error"), limit)
    if images is None:
        images, error = [], ExecError(PROTOCOL, "the sandbox sent images that do not add up")
    dropped = max(len(images) - MAX_IMAGES, 0) + _count(meta.get("images_dropped"))
    images = images[:MAX_IMAGES]
    return ExecResult(
        stdout=_text(meta.get("stdout"), limit + 1000),
        stderr=_text(meta.get("stderr"), limit + 1000),
        result=_text(meta["result"], limit + 100) if isinstance(meta.get("result"), str) else None,
        error=error,
        images=images,
        duration_ms=duration_ms,
        restarted=restarted,
        cut=parse_cut(meta.get("cut")),
        changes=parse_changes(meta.get("changes")),
        notes=image_note(len(images), dropped),
    )


def _count(value: object) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 40
    return value if ok else 0
