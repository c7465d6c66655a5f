"""A matplotlib backend for the sandbox: Agg rendering, and show() hands PNGs to the host.

Loaded inside Pyodide as ``_throwaway_backend`` (MPLBACKEND=module://_throwaway_backend).
"""

import _throwaway_runner
from matplotlib import pyplot as plt
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args, **kwargs) -> None:
    """Capture every open figure as a PNG for the run's result, then close them."""
    for num in plt.get_fignums():
        _throwaway_runner.capture_figure(plt.figure(num))
    plt.close("all")
