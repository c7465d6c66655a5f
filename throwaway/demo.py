"""`throwaway demo`: show the sandbox at work with nothing configured.

Runs a short analysis inside a fresh sandbox (numpy, pandas, matplotlib, all
offline), then shows that the sandbox cannot reach the host, and saves the chart.
"""

from __future__ import annotations

from pathlib import Path

from throwaway.sandbox.result import ExecResult
from throwaway.sandbox.sandbox import Sandbox

ANALYSIS = """
import numpy as np, pandas as pd, matplotlib.pyplot as plt
rng = np.random.default_rng(7)
days = pd.date_range("2026-01-01", periods=90, freq="D")
sales = pd.Series(100 + rng.normal(0.3, 2.5, 90).cumsum(), index=days)
weekly = sales.resample("W").mean()
fig, ax = plt.subplots(figsize=(7, 3.5))
sales.plot(ax=ax, alpha=.5, label="daily")
weekly.plot(ax=ax, lw=2, label="weekly mean")
ax.set_title("Simulated sales, computed inside the sandbox"); ax.legend()
plt.show()
print(f"best week: {weekly.idxmax():%Y-%m-%d} ({weekly.max():.1f})")
weekly.describe().round(1).to_dict()
"""

ESCAPE = """
from pyodide.ffi import to_js
js_function = to_js({}).constructor.constructor   # the JS realm is reachable...
attempts = {
    "read /etc/passwd": "return Deno.readTextFileSync('/etc/passwd')",
    "read $HOME": "return Deno.env.get('HOME')",
    "open a socket": "return Deno.connect({hostname: '127.0.0.1', port: 5432})",
    "run a program": "return new Deno.Command('id').outputSync()",
}
for what, body in attempts.items():                # ...but Deno's permissions hold
    try:
        outcome = js_function(body)()
        if hasattr(outcome, "then"):                # a promise: wait for its verdict
            await outcome
        print(f"{what}: ALLOWED (this is a bug)")
    except Exception as exc:
        print(f"{what}: refused ({type(exc).__name__})")
"""


async def run_demo(out_dir: Path, echo) -> int:
    """Run the demo; return an exit status."""
    echo("Starting a sandbox (Pyodide in Deno, every permission denied)…")
    async with Sandbox(timeout=120) as sandbox:
        echo("\n$ analysis with numpy, pandas and matplotlib")
        analysis = await sandbox.run(ANALYSIS)
        _echo_result(analysis, echo)
        echo("\n$ trying to escape through the JS realm")
        escape = await sandbox.run(ESCAPE)
        _echo_result(escape, echo)
    if not analysis.images:
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = out_dir / "demo-chart.png"
    chart.write_bytes(analysis.images[0])
    echo(f"\nThe chart is at {chart.resolve()}")
    return 0 if analysis.ok and escape.ok and "ALLOWED" not in escape.stdout else 1


def _echo_result(result: ExecResult, echo) -> None:
    if result.stdout:
        echo(result.stdout.rstrip())
    if result.result:
        echo(f"→ {result.result}")
    if result.error:
        echo(str(result.error))
    echo(f"({result.duration_ms:.0f} ms, {len(result.images)} image(s))")
