"""Watchdog: the host's own check on a Deno sandbox process, from outside it.

Two things the sandbox cannot hide from the operating system:

- **Memory.** The wasm heap is clamped inside the process, but typed arrays, a
  second wasm memory or big files in /workspace live outside it. Past
  ``memory_mb + RSS_MARGIN_MB`` of resident memory the process is ended.
- **CPU between runs.** Once a request is answered nothing of the sandbox may
  keep running (a nested worker, a busy timer, an asyncio task). A process whose
  JavaScript threads burn more than ``IDLE_CPU`` of a core over ``IDLE_WINDOW``
  seconds while the host waits for nothing is ended; the next run starts a fresh
  one. V8's own helper threads (background compilation of hot wasm code,
  concurrent GC) are not counted: they are busy for seconds after a big import.

The watchdog only decides; ``SandboxProcess`` ends the process and says why.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

#: Resident memory allowed beyond ``memory_mb``: Deno, V8 and the compiled code of
#: loaded packages (scipy and scikit-learn alone add ~500 MB).
RSS_MARGIN_MB = 1024
#: How often the process is sampled, in seconds.
INTERVAL = 0.1
#: An idle process may use this share of one core, measured over IDLE_WINDOW seconds.
IDLE_CPU = 0.4
IDLE_WINDOW = 1.0
#: Thread names (Linux) of V8's helper threads, whose CPU is the engine's, not the code's.
V8_HELPERS = "V8 "
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # of /proc/*/stat


@dataclass
class Verdict:
    """Why the process must end: ``kind`` is "memory" or "idle_cpu"."""

    kind: str
    message: str


class Watchdog:
    """Samples one process; `check(busy)` returns a Verdict once it must end."""

    def __init__(self, pid: int, memory_mb: int):
        self.process = psutil.Process(pid)
        self.memory_mb = memory_mb
        self.limit_mb = memory_mb + RSS_MARGIN_MB
        self._idle_since: tuple[float, float] | None = None  # (wall clock, cpu seconds)

    def check(self, busy: bool) -> Verdict | None:
        """One sample. ``busy``: the host is waiting for an answer (a run, a file request)."""
        try:
            rss_mb = self.process.memory_info().rss >> 20
        except psutil.Error:
            return None  # gone: the process reader reports the exit
        if rss_mb > self.limit_mb:
            return Verdict("memory", _memory_message(rss_mb, self.memory_mb))
        if busy:
            self._idle_since = None  # idle time starts again once the host's wait is over
            return None
        return self._check_idle()

    def _check_idle(self) -> Verdict | None:
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = (now, self._code_cpu())
            return None
        started, cpu_then = self._idle_since
        if now - started < IDLE_WINDOW:
            return None
        cpu = self._code_cpu()
        self._idle_since = (now, cpu)
        used = cpu - cpu_then
        if used > IDLE_CPU * (now - started):
            return Verdict(
                "idle_cpu",
                f"sandboxed code kept running after its run returned ({used:.1f} s of CPU in "
                f"{now - started:.1f} s: a background task, timer or worker); the sandbox was "
                "ended so that nothing runs between runs",
            )
        return None

    def _code_cpu(self) -> float:
        """CPU seconds of the process's threads but V8's helpers (on Linux, which names
        threads; elsewhere the whole process)."""
        tasks = f"/proc/{self.process.pid}/task"
        if not os.path.isdir(tasks):
            times = self.process.cpu_times()
            return times.user + times.system
        ticks = 0
        for tid in os.listdir(tasks):
            try:
                with open(f"{tasks}/{tid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue  # the thread just ended
            name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1]
            if not name.startswith(V8_HELPERS):
                utime, stime = fields.split()[11:13]
                ticks += int(utime) + int(stime)
        return ticks / TICKS


def _memory_message(rss_mb: int, memory_mb: int) -> str:
    return (
        f"out of memory: the sandbox process used {rss_mb} MB, past its cap of "
        f"memory_mb={memory_mb} MB + {RSS_MARGIN_MB} MB for the runtime; it was ended"
    )
