"""`throwaway demo`: an agent run on embedded defaults, with or without an API key.

A local HTTP server stands in for a public weather API. The sandbox reaches it
only through a network-drive mount (/mnt/web/forecast.json, fetched by the
host), charts the hourly temperatures with matplotlib, checks the chart with
`describe`, and answers. With an API key the real model does the work; without
one the scripted model in ``script.json`` plays the same steps, and says so.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SCRIPT = Path(__file__).parent / "script.json"
TASK = (
    "A weather service's forecast is at /mnt/web/forecast.json. Chart the hourly "
    "temperatures with matplotlib, save the chart as /workspace/forecast.png, check with "
    "describe that the chart is readable, and tell me the warmest hour and its temperature."
)


def forecast() -> dict:
    """A day of hourly temperatures for Lisbon, the same every time."""
    temps = [round(14 + 7 * math.sin((h - 9) * math.pi / 12), 1) for h in range(24)]
    return {"city": "Lisbon", "unit": "°C", "hours": list(range(24)), "temperature": temps}


@contextmanager
def weather_api() -> Iterator[str]:
    """Serve forecast.json on 127.0.0.1; yields its URL."""
    body = json.dumps(forecast()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/forecast.json"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/forecast.json"
    finally:
        server.shutdown()
        server.server_close()
