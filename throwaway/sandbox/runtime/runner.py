"""Runs inside Pyodide: executes one snippet and reports what happened.

Loaded by worker.js as the module ``_throwaway_runner``. Everything here is
visible to (and changeable by) sandboxed code, so the host trusts nothing it
returns: this module only makes the honest case pleasant.
"""

import ast
import contextlib
import inspect
import io
import json
import linecache
import os
import shutil
import signal
import sys
import traceback
import zipfile

from _throwaway_errno import to_linux
from pyodide.code import find_imports

WORKSPACE = "/workspace"
OUTPUT_DIR = "/workspace/.throwaway"
FONT_CACHE = "/lib/throwaway/fontlist.json"  # written by the host, if it has one
SITE_PACKAGES = f"/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"

_images: list[bytes] = []
MAX_IMAGES = 50  # per run, as the host keeps (result.py); more are counted
_dropped = 0
_captured: set[int] = set()
_namespace: dict = {"__name__": "__main__"}
_import_map: dict[str, str] = {}  # import name -> Pyodide package name
_wheels: dict[str, str] = {}  # import name -> staged wheel to unpack on first import
_limit = 1_000_000
SAVE_LIMIT = 128 << 20  # characters of one stream saved to its file per run
LIVE_CHUNK = 1 << 16  # characters of a streamed run's output sent at most at once
_memory_mb = 0
_changed = None  # set by setup: a JavaScript function
_listing = None  # the last listing of /workspace (_workspace)


class ExecutionTimeout(BaseException):
    """Raised by the interrupt signal when the time limit is reached."""


def _on_interrupt(signum, frame):
    raise ExecutionTimeout()


class CappedStream(io.TextIOBase):
    """A text stream that keeps the head and tail of what is written.

    Once more than ``limit`` characters arrive, the text goes to a file in the
    workspace (its first SAVE_LIMIT characters: memory is finite) and the middle of
    the kept text is replaced by a marker.
    """

    def __init__(self, name: str, run_id: int, limit: int):
        self.name, self.run_id, self.limit = name, run_id, limit
        self.tail_limit = limit // 5
        self.head_room = limit - self.tail_limit
        self.head: list[str] = []
        self.tail: list[str] = []
        self.size = self.tail_size = 0
        self.file = None
        self.path = ""
        self.saved = 0  # characters written to the file

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        written = len(text)
        self.size += written
        if self.file is not None:
            self._save(text)
        elif self.size > self.limit:
            self._spill(text)
        if self.head_room > 0:
            self.head.append(text[: self.head_room])
            text = text[self.head_room :]
            self.head_room -= len(self.head[-1])
        if text:
            self.tail.append(text)
            self.tail_size += len(text)
            if self.tail_size > 2 * self.tail_limit:
                joined = "".join(self.tail)[-self.tail_limit :]
                self.tail, self.tail_size = [joined], len(joined)
        return written

    def _spill(self, text: str) -> None:
        os.makedirs(OUTPUT_DIR, exist_ok=True)
        self.path = f"{OUTPUT_DIR}/run-{self.run_id}-{self.name}.txt"
        self.file = open(self.path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._save("".join(self.head) + "".join(self.tail) + text)

    def _save(self, text: str) -> None:
        room = SAVE_LIMIT - self.saved
        if room > 0:
            self.file.write(text[:room])
            self.saved += min(len(text), room)

    def value(self) -> tuple[str, dict | None]:
        head, tail = "".join(self.head), "".join(self.tail)
        if self.file is None:
            return head + tail, None
        where = f"the whole text is in {self.path}"
        if self.saved < self.size:
            where = f"the first {self.saved:,} are in {self.path}"
            self.file.write(f"\n[... {self.size - self.saved:,} more characters not saved ...]\n")
        self.file.close()
        cut = {"total_chars": self.size, "saved_to": self.path}
        marker = f"\n[... output cut: {self.size:,} characters in all; {where} ...]\n"
        return head + marker + tail[-self.tail_limit :], cut


class LiveStream(io.TextIOBase):
    """A text stream sent to the host as it is written (``emit(name, text)``), line by
    line (or every LIVE_CHUNK characters, or on flush), and not kept: the host has it."""

    def __init__(self, name: str, emit):
        self.name, self.emit = name, emit
        self.pending: list[str] = []
        self.size = 0

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.pending.append(text)
        self.size += len(text)
        if self.size >= LIVE_CHUNK or "\n" in text or "\r" in text:
            self.flush()
        return len(text)

    def flush(self):
        if self.pending:
            text, self.pending, self.size = "".join(self.pending), [], 0
            self.emit(self.name, text)

    def value(self) -> tuple[str, None]:
        self.flush()
        return "", None


def setup(limit: int, memory_mb: int, import_map_json: str, wheels_json: str, changed) -> None:
    """Prepare the interpreter once, before any user code runs. ``changed()`` says whether
    /workspace may have changed since it was last asked (worker.js watchWorkspace)."""
    global _limit, _memory_mb, _changed
    _limit, _memory_mb, _changed = limit, memory_mb, changed
    _import_map.update(json.loads(import_map_json))
    _wheels.update(json.loads(wheels_json))
    os.makedirs(WORKSPACE, exist_ok=True)
    os.chdir(WORKSPACE)
    os.environ["MPLBACKEND"] = "module://_throwaway_backend"
    if "matplotlib.pyplot" in sys.modules:  # imported in the memory snapshot (with Agg)
        sys.modules["matplotlib.pyplot"].switch_backend("module://_throwaway_backend")
    signal.signal(signal.SIGINT, _on_interrupt)
    import builtins

    builtins.display = display


def capture_figure(fig) -> None:
    """Render a matplotlib figure to PNG once."""
    if id(fig) in _captured:
        return
    _captured.add(id(fig))
    if _room_for_image():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        _images.append(buf.getvalue())


def _room_for_image() -> bool:
    global _dropped
    if len(_images) < MAX_IMAGES:
        return True
    _dropped += 1
    return False


def display(*objs) -> None:
    """Show images (PIL images, matplotlib figures); print anything else."""
    for obj in objs:
        if not _capture_image(obj):
            print(repr(obj))


def _capture_image(obj) -> bool:
    mpl_figure = sys.modules.get("matplotlib.figure")
    if mpl_figure and isinstance(obj, mpl_figure.Figure):
        capture_figure(obj)
        return True
    pil = sys.modules.get("PIL.Image")
    if pil and isinstance(obj, pil.Image):
        if _room_for_image():
            buf = io.BytesIO()
            obj.save(buf, format="PNG")
            _images.append(buf.getvalue())
        return True
    return False


def _capture_open_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        capture_figure(plt.figure(num))
    plt.close("all")


def prepare(code: str) -> str:
    """Unpack staged wheels the code needs; return the bundled packages to load
    (as JSON, or "" for none: cheap to hand to JavaScript)."""
    if "import" not in code:
        return ""
    wanted = set()
    for name in find_imports(code):
        top = name.split(".")[0]
        if top in _import_map and top not in sys.modules:
            wanted.add(_import_map[top])
        wheel = _wheels.pop(top, None)
        if wheel and os.path.exists(wheel):
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(SITE_PACKAGES)
    return json.dumps(sorted(wanted)) if wanted else ""


_pending = None  # a Run waiting for run_pending (it needs the event loop)


def run_now(code: str, run_id: int, emit=None):
    """Run code that needs no event loop and return (meta JSON, images), or None
    if it does: then the caller awaits run_pending(). One call from JavaScript.
    With ``emit``, a JavaScript function, stdout and stderr go to it as they come."""
    global _pending
    job = Run(code, run_id, emit)
    if job.needs_await:
        _pending = job
        return None
    job.execute()
    return job.finish()


async def run_pending():
    global _pending
    job, _pending = _pending, None
    await job.execute_async()
    return job.finish()


async def load(packages: list[str]) -> None:
    """Load bundled packages; put the prebuilt matplotlib font cache in place."""
    import pyodide_js  # not at the top: a JS reference cannot be in a memory snapshot

    await pyodide_js.loadPackage(packages, messageCallback=lambda m: None)
    if "matplotlib" in packages and os.path.exists(FONT_CACHE):
        shutil.copyfile(FONT_CACHE, f"{SITE_PACKAGES}/matplotlib/fontlist.json")


def _error(exc: BaseException) -> dict:
    """Type, message and a traceback that shows only the user's frames."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(("/lib/throwaway/", "/lib/python312.zip/_pyodide/"))
    ]  # fmt: skip
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    if isinstance(exc, ExecutionTimeout):
        lines.append("TimeoutError: interrupted at the time limit\n")
        return {"type": "TimeoutError", "message": "", "traceback": "".join(lines)}
    if isinstance(exc, MemoryError) and not str(exc):
        exc = MemoryError(f"out of memory: this sandbox is capped at {_memory_mb} MB")
    to_linux(exc)
    lines += traceback.format_exception_only(type(exc), exc)
    if not frames:
        lines = lines[1:]
    return {"type": type(exc).__name__, "message": str(exc), "traceback": "".join(lines)}


class Run:
    """One execution: compile, execute (with or without top-level await), report.

    Code without top-level ``await`` runs synchronously: no trip through the
    event loop, which keeps a trivial run well under a millisecond.
    """

    def __init__(self, code: str, run_id: int, emit=None):
        global _dropped
        del _images[:]
        _dropped = 0
        _captured.clear()
        self.before = _workspace()
        if emit is None:
            self.out = CappedStream("stdout", run_id, _limit)
            self.err = CappedStream("stderr", run_id, _limit)
        else:
            self.out, self.err = LiveStream("stdout", emit), LiveStream("stderr", emit)
        self.result = self.error = self.body = self.last = None
        self.code = code
        try:
            self.body, self.last = _compile(code, f"<cell {run_id}>")
        except (SyntaxError, ValueError, OverflowError) as exc:
            self.error = _error(exc.with_traceback(None))  # the frames are the compiler's

    @property
    def needs_await(self) -> bool:
        if self.body is None:
            return False
        flags = self.body.co_flags | (self.last.co_flags if self.last else 0)
        # run_sync needs an entry through the event loop even without a top-level await
        return bool(flags & inspect.CO_COROUTINE) or "run_sync" in self.code

    def execute(self) -> None:
        if self.body is not None:
            with self._guard():
                exec(self.body, _namespace)
                self._keep(eval(self.last, _namespace) if self.last else None)

    async def execute_async(self) -> None:
        with self._guard():
            await _maybe_await(eval(self.body, _namespace))
            self._keep(await _maybe_await(eval(self.last, _namespace)) if self.last else None)

    @contextlib.contextmanager
    def _guard(self):
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.out, self.err
        try:
            yield
        except BaseException as exc:
            self.error = _error(exc)
        finally:
            sys.stdout, sys.stderr = saved

    def _keep(self, value) -> None:
        if value is not None and not _capture_image(value):
            self.result = _repr(value)

    def finish(self):
        """(meta JSON, image blob) for the host."""
        try:
            _capture_open_figures()
        except Exception as exc:
            self.err.write(f"\n[could not render a figure: {exc!r}]\n")
        stdout, stdout_cut = self.out.value()
        stderr, stderr_cut = self.err.value()
        meta = {
            "stdout": stdout, "stderr": stderr, "result": self.result, "error": self.error,
            "cut": {k: v for k, v in (("stdout", stdout_cut), ("stderr", stderr_cut)) if v},
            "images": [len(i) for i in _images], "images_dropped": _dropped,
            "changes": _diff(self.before, _workspace()),
        }  # fmt: skip
        blob = b"".join(_images)
        del _images[:]
        return json.dumps(meta), blob


def _compile(code: str, name: str):
    """(module body, last expression or None), both allowing top-level await.

    Like a notebook cell: a final expression is evaluated for its value, unless
    the code ends with a semicolon. The code is kept in linecache under ``name``
    (``<cell 3>``), so tracebacks show its lines, also from functions called later.
    """
    linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)
    tree = ast.parse(code, name, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    body = compile(tree, name, "exec", flags=flags)
    expr = compile(last, name, "eval", flags=flags) if last else None
    return body, expr


async def _maybe_await(value):
    return await value if inspect.iscoroutine(value) else value


def _workspace() -> dict[str, tuple[int, int]]:
    """The workspace's files, listed again only if something there may have changed."""
    global _listing
    if _listing is None or _changed():
        _listing = _scan(WORKSPACE)
    return _listing


def _scan(top: str) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) of every file under top (the in-memory workspace)."""
    found, todo = {}, [top]
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                todo.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                found[entry.path] = (st.st_size, st.st_mtime_ns)
    return found


def _diff(before: dict, after: dict) -> dict:
    if after is before:  # not listed again: nothing changed
        return {"created": [], "modified": [], "deleted": []}
    return {
        "created": sorted(after.keys() - before.keys()),
        "modified": sorted(p for p in after.keys() & before.keys() if after[p] != before[p]),
        "deleted": sorted(before.keys() - after.keys()),
    }


def _repr(value) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr failed: {exc!r}>"
    return text if len(text) <= _limit else text[:_limit] + "…[repr cut]"


async def install_wheels(meta_json: str, blob) -> str:
    """Unpack pure-Python wheels into site-packages and load Pyodide packages."""
    meta = json.loads(meta_json)
    if blob is None:  # bundled packages only: no wheels crossed
        blob = b""
    data, offset = bytes(blob.to_py()) if hasattr(blob, "to_py") else bytes(blob), 0
    if meta["pyodide"]:
        await load(meta["pyodide"])
    for _name, size in meta["wheels"]:
        with zipfile.ZipFile(io.BytesIO(data[offset : offset + size])) as zf:
            zf.extractall(SITE_PACKAGES)
        offset += size
    import importlib

    importlib.invalidate_caches()
    wheels = ["{}=={}".format(*name.split("-")[:2]) for name, _ in meta["wheels"]]
    return json.dumps({"installed": wheels + meta["pyodide"]})
