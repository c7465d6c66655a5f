"""Start-up latency of the `throwaway` command, next to baselines measured in the same run.

Medians (and min) of wall time over N runs, interleaved (one of each per round, so
that a change in machine load hits every command alike):

    python -c pass                  the interpreter alone
    python -c 'import throwaway'    the package (errors only; the rest loads on use)
    throwaway --help                target ≤ 0.3 s on a quiet machine
    throwaway exec - <<< 'print(1)' target ≤ 1.0 s (a sandbox boots: ~0.5 s of it)

The load average before and after is printed: figures from a busy machine say little.

    .venv/bin/python bench/cli_bench.py [-n 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "python -c 'import throwaway'": ([sys.executable, "-c", "import throwaway"], None),
    "throwaway --help": ([str(BIN / "throwaway"), "--help"], None),
    "throwaway exec - (print(1))": ([str(BIN / "throwaway"), "exec", "-"], b"print(1)\n"),
}
TARGETS = {"throwaway --help": 0.3, "throwaway exec - (print(1))": 1.0}


def once(argv: list[str], stdin: bytes | None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="runs of each command")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    for argv, stdin in COMMANDS.values():
        once(argv, stdin)  # warm the file cache
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.n):
        for name, (argv, stdin) in COMMANDS.items():
            samples[name].append(once(argv, stdin))
    print(f"load average (1 min) before: {load:.2f}, after: {os.getloadavg()[0]:.2f}; "
          f"{os.cpu_count()} CPUs; {args.n} runs each")  # fmt: skip
    print(f"{'command':32} {'median':>8} {'min':>8}  target")
    for name, times in samples.items():
        target = f"≤ {TARGETS[name]:.1f} s" if name in TARGETS else ""
        print(f"{name:32} {statistics.median(times):8.3f} {min(times):8.3f}  {target}")


if __name__ == "__main__":
    main()
