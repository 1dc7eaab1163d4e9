"""A small council for sync tests: a real server app and store, a tiny world, and
devices enrolled through the real enrolment endpoint.

World (ids are readable on purpose):
  districts d1, d2; groups g1 (in d1), g2 (in d2)
  users: vol1 (volunteer, g1), vol2 (volunteer, g1), vol3 (volunteer, g2),
         org1 (organiser, g1), coord1 (coordinator of d1), admin1 (admin)
  residents r1, r2 (g1, assigned to vol1), r3 (g1, assigned to vol2),
            r4 (g2, assigned to vol3)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from psycopg.rows import dict_row
from sqlite_utils import Database

from tests import pg
from tests.pg import Cluster
from watchapp import store
from watchapp.domain.model import Outcome, Role, Visit
from watchapp.server import create_app
from watchapp.server.auth import digest, new_code
from watchapp.server.limiter import EnrolmentLimiter
from watchapp.server.store import (
    ServerStore,
    SqliteServerStore,
    is_postgres_url,
    open_store,
)
from watchapp.state import AppState
from watchapp.sync.client import CouncilClient, RetryPolicy

BASE_URL = "http://council.test"
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)

USERS: dict[str, tuple[Role, str, str]] = {
    "vol1": (Role.VOLUNTEER, "d1", "g1"),
    "vol2": (Role.VOLUNTEER, "d1", "g1"),
    "vol3": (Role.VOLUNTEER, "d2", "g2"),
    "org1": (Role.ORGANISER, "d1", "g1"),
    "coord1": (Role.COORDINATOR, "d1", "g1"),
    "admin1": (Role.ADMIN, "d1", "g1"),
}
RESIDENTS: dict[str, tuple[str, str, str]] = {
    "r1": ("d1", "g1", "vol1"),
    "r2": ("d1", "g1", "vol1"),
    "r3": ("d1", "g1", "vol2"),
    "r4": ("d2", "g2", "vol3"),
}


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def no_sleep(seconds: float) -> None:
    return None


def fast_retry() -> RetryPolicy:
    return RetryPolicy(attempts=3, sleep=no_sleep)


def resident_record(rid: str) -> dict[str, Any]:
    district, group, _ = RESIDENTS[rid]
    return {
        "kind": "residents",
        "id": rid,
        "deleted": False,
        "district_id": district,
        "group_id": group,
        "name": f"Resident {rid}",
        "kana": f"resident {rid}",
        "address": "",
        "visit_every_days": 7,
        "consent": True,
        "evacuation_register": False,
        "since": "2026-01-01",
        "active": True,
    }


def assignment_record(rid: str, user: str, *, active: bool = True) -> dict[str, Any]:
    district, group, _ = RESIDENTS[rid]
    return {
        "kind": "assignments",
        "id": f"a-{rid}-{user}",
        "deleted": False,
        "district_id": district,
        "group_id": group,
        "user_id": user,
        "resident_id": rid,
        "active": active,
    }


@dataclass
class Council:
    """The real server app over a real store, with a hand-moved clock.

    ``where`` is a SQLite file or a PostgreSQL URL (see :class:`Stores`);
    ``release`` runs once the store is closed (dropping its database)."""

    where: Path | str
    clock: Clock = field(default_factory=Clock)
    limiter: EnrolmentLimiter = field(default_factory=EnrolmentLimiter)
    release: Callable[[], None] = lambda: None

    def __post_init__(self) -> None:
        self.store: ServerStore = open_store(self.where)
        self.app: FastAPI = create_app(
            self.store, clock=self.clock, limiter=self.limiter
        )
        self._build_world()

    @property
    def engine(self) -> str:
        return "postgres" if is_postgres_url(self.where) else "sqlite"

    @property
    def path(self) -> Path:
        """The SQLite file (tests about SQLite's files only)."""
        assert isinstance(self.where, Path), self.where
        return self.where

    def close(self) -> None:
        self.store.close()
        self.release()

    def _build_world(self) -> None:
        now = self.clock()
        records: list[dict[str, Any]] = []
        for d in ("d1", "d2"):
            records.append(
                {
                    "kind": "districts",
                    "id": d,
                    "deleted": False,
                    "district_id": d,
                    "name": f"District {d}",
                }
            )
        for g, d in (("g1", "d1"), ("g2", "d2")):
            records.append(
                {
                    "kind": "groups",
                    "id": g,
                    "deleted": False,
                    "district_id": d,
                    "name": f"Group {g}",
                }
            )
        self.store.write_server_records(records, now=now)
        for user, (role, district, group) in USERS.items():
            self.store.create_user(
                user_id=user,
                name=f"User {user}",
                role=role,
                district_id=district,
                group_id=group,
                districts=["d1"] if role is Role.COORDINATOR else (),
                now=now,
            )
        self.store.write_server_records(
            [resident_record(r) for r in RESIDENTS]
            + [assignment_record(r, u) for r, (_, _, u) in RESIDENTS.items()],
            now=now,
        )

    def invite(self, user: str, *, hours: float = 72) -> str:
        code = new_code()
        now = self.clock()
        self.store.create_invitation(
            user_id=user,
            code_hash=digest(code),
            now=now,
            expires_at=now + timedelta(hours=hours),
        )
        return code

    def write(self, *records: dict[str, Any]) -> None:
        """A change made on the server (a coordinator's roster edit, say)."""
        self.store.write_server_records(list(records), now=self.clock())

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)

    def client(
        self,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> CouncilClient:
        http = httpx.AsyncClient(
            transport=transport or self.transport(), base_url=BASE_URL
        )
        return CouncilClient(http, token)


ENGINES = ("sqlite", "postgres")


class Stores:
    """Where one engine keeps the tests' councils: SQLite files at the paths
    given, or a fresh database of the test cluster each (tests/pg.py)."""

    def __init__(self, engine: str, cluster: Cluster | None = None) -> None:
        assert engine in ENGINES and (cluster is not None) == (engine == "postgres")
        self.engine = engine
        self._cluster = cluster

    @classmethod
    def of(cls, engine: str) -> Stores:
        """The stores of ``engine``; PostgreSQL's in the session's cluster."""
        return cls(engine, pg.cluster() if engine == "postgres" else None)

    def where(self, path: Path) -> tuple[Path | str, Callable[[], None]]:
        """Where a store goes, and how to drop it once closed."""
        cluster = self._cluster
        if cluster is None:
            return path, lambda: None
        url = cluster.database()
        return url, lambda: cluster.drop(url)

    def council(self, path: Path, **options: Any) -> Council:
        where, release = self.where(path)
        return Council(where, release=release, **options)


def stored_rows(council: Council) -> list[tuple[str, dict[str, Any]]]:
    """Every row of every table of the council's store, by table name: for
    tests that look for what must never be stored (a token, a code). One
    implementation per engine; nothing else in the tests reads tables."""
    if isinstance(council.store, SqliteServerStore):
        db = council.store.db
        return [
            (table, dict(row))
            for table in db.table_names()
            for row in db.query(f"SELECT * FROM [{table}]")
        ]
    with psycopg.connect(str(council.where)) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        out: list[tuple[str, dict[str, Any]]] = []
        for table in tables:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(f'SELECT * FROM "{table}"'.encode())
                out += [(table, row) for row in cur]
        return out


@dataclass
class Device:
    """A phone: its own SQLite file and AppState, enrolled as one user."""

    name: str
    db: Database
    state: AppState
    user: str

    @property
    def token(self) -> str:
        token = store.device(self.db).token
        assert token is not None
        return token

    def visit(
        self, resident: str, *, note: str = "", at: datetime | None = None
    ) -> Visit:
        return self.state.record_visit(
            resident, Outcome.MET_WELL, note=note, visited_at=at
        )


async def enrol_device(
    council: Council,
    tmp: Path,
    user: str,
    *,
    name: str | None = None,
    transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Device:
    """A fresh device file enrolled as ``user`` through the real endpoint, synced."""
    name = name or f"{user}-{uuid.uuid4().hex[:6]}"
    db = store.open_db(tmp / f"{name}.sqlite")
    make_transport = transport or council.transport

    def connect(url: str, token: str | None) -> CouncilClient:
        return council.client(token, make_transport())

    state = AppState(
        db, clock=clock or council.clock, connect=connect, retry=fast_retry
    )
    await state.enrol(f"Device {name}", BASE_URL, council.invite(user))
    return Device(name, db, state, user)


def visible(db: Database, kind: str) -> dict[str, tuple[str, str, int]]:
    """What a database holds of one kind: id -> (hlc, origin, deleted)."""
    return {
        r["id"]: (r["hlc"], r["origin"], r["deleted"])
        for r in db.query(f"SELECT id, hlc, origin, deleted FROM [{kind}]")
    }
