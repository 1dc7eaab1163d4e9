"""A throwaway PostgreSQL cluster for the tests: Debian's ``postgresql``
binaries, ``initdb`` into a temp dir, ``postgres`` listening only on a unix
socket there, stopped at the end of the session.

initdb and postgres refuse to run as root (CI runs as root): then they run as
the ``postgres`` system user (made if missing) over a temp dir it owns. As any
other user they run as that user.

Each council gets a database of its own, copied from a template that has the
store's migrations applied already (``CREATE DATABASE ... TEMPLATE``: a few
milliseconds, not a migration per test). fsync and synchronous_commit are off:
for this throwaway cluster only (the benches pass durable ``settings``).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from watchapp.server.store.postgres import migrate

TEMPLATE = "watchapp_template"
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
    "shared_buffers": "64MB",
}


def bin_dir() -> Path:
    """Where Debian's PostgreSQL programs are (the newest major version)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name),
    )
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run `make test`")
    return versions[-1].parent


def _as_owner(argv: Sequence[str]) -> list[str]:
    """``argv`` run as the cluster's owner: postgres when we are root."""
    if os.geteuid() != 0:
        return list(argv)
    return ["runuser", "-u", "postgres", "--", *argv]


def _ensure_postgres_user() -> None:
    if os.geteuid() != 0:
        return
    known = subprocess.run(["id", "-u", "postgres"], capture_output=True)
    if known.returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "postgres"], check=True
        )


class Cluster:
    """One running cluster. :meth:`database` hands out fresh databases."""

    def __init__(self, settings: Mapping[str, str] = SETTINGS) -> None:
        """``settings``: the server's ``-c`` options (the tests' by default)."""
        self._bin = bin_dir()
        # Short: a unix socket's path may not pass ~107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="wapg-"))
        self.data = self.root / "data"
        self._names = itertools.count(1)
        _ensure_postgres_user()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(
            str(self._bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        self._run(
            str(self._bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-o",
            f"-k {self.root} {options}",
            "start",
        )
        try:
            self._admin(f"CREATE DATABASE {TEMPLATE}")
            # The schema only: each store sets its own epoch when it opens.
            with psycopg.connect(self.url(TEMPLATE)) as conn:
                migrate(conn)
        except BaseException:
            self.stop()
            raise

    def _run(self, *argv: str) -> None:
        subprocess.run(_as_owner(argv), check=True, capture_output=True, cwd=self.root)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.root}"

    def _admin(self, statement: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(statement.encode())

    def database(self) -> str:
        """A fresh database with the store's schema, empty: its URL."""
        name = f"council_{os.getpid()}_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def drop(self, url: str) -> None:
        name = conninfo_to_dict(url)["dbname"]
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def terminate(self, url: str, *, spare: Sequence[int] = ()) -> int:
        """Drop every connection to the database at ``url`` (but those of the
        backends ``spare``), as a database restart or a network fault would:
        how many there were."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid != ALL(%s)",
                [conninfo_to_dict(url)["dbname"], list(spare)],
            ).fetchall()
        return len(rows)

    def waiting_for_locks(self, url: str) -> int:
        """How many backends of the database at ``url`` wait for a lock."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND wait_event_type = 'Lock'",
                [conninfo_to_dict(url)["dbname"]],
            ).fetchone()
        return int(row[0]) if row else 0

    def stop(self) -> None:
        subprocess.run(
            _as_owner(
                [str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate"]
                + ["stop"]
            ),
            capture_output=True,
            cwd=self.root,
        )
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def holding_record(url: str, kind: str, record_id: str) -> Iterator[int]:
    """Hold the row lock of one stored record, as a slow concurrent writer
    would, until the block ends: a push that writes over the record waits
    for it mid-transaction. Yields the holding backend's pid."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT pg_backend_pid() FROM records"
            " WHERE kind = %s AND id = %s FOR UPDATE",
            [kind, record_id],
        ).fetchone()
        assert row is not None, (kind, record_id)
        try:
            yield int(row[0])
        finally:
            conn.rollback()


_running: list[Cluster] = []


def cluster() -> Cluster:
    """The session's cluster, started on first use (stopped by :func:`stop`,
    which tests/conftest.py calls when the session ends)."""
    if not _running:
        _running.append(Cluster())
        atexit.register(stop)  # also when the session ends without pytest's hooks
    return _running[0]


def stop() -> None:
    while _running:
        _running.pop().stop()
