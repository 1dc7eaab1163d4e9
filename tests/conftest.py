"""Shared fixtures: real SQLite files in a temp dir, a fixed clock, a small round;
the server's engines (``engine``, ``stores``) and one PostgreSQL cluster for
the session (``pg_cluster``, started only if a test asks for it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from tests import pg
from tests.pg import Cluster
from tests.support import ENGINES, Stores
from watchapp import store
from watchapp.domain.hlc import Hlc
from watchapp.domain.model import JST
from watchapp.domain.schema import format_datetime
from watchapp.state import AppState

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=JST)
TODAY = NOW.date()
VOLUNTEER = "user-hanako"


@pytest.fixture
def fresh_db(tmp_path: Path) -> Iterator[Database]:
    db = store.open_db(tmp_path / "device.sqlite")
    store.ensure_device(db, "device-a")
    yield db
    db.close()


@dataclass
class Clock:
    """A clock tests move by hand."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


def _entropy_source() -> Any:
    counter = iter(range(1, 1 << 30))
    return lambda n: next(counter).to_bytes(n, "big")


@dataclass
class Round:
    """A volunteer's device with three residents, and handles to them."""

    db: Database
    state: AppState
    clock: Clock
    ids: dict[str, str] = field(default_factory=dict)


def resident_row(rid: str, name: str, kana: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "hlc": str(Hlc(0)),
        "origin": "seed",
        "deleted": 0,
        "district_id": "d1",
        "group_id": "g1",
        "name": name,
        "kana": kana,
        "address": "",
        "visit_every_days": kw.pop("every", 7),
        "consent": 1,
        "evacuation_register": kw.pop("evac", 0),
        "since": kw.pop("since", "2026-01-01"),
        "active": kw.pop("active", 1),
        **kw,
    }


def seeded_visit(
    vid: str, rid: str, day: date, outcome: str = "met_well"
) -> dict[str, Any]:
    at = datetime.combine(day, datetime.min.time(), tzinfo=JST) + timedelta(hours=10)
    return {
        "id": vid,
        "hlc": str(Hlc(0)),
        "origin": "seed",
        "deleted": 0,
        "district_id": "d1",
        "group_id": "g1",
        "resident_id": rid,
        "user_id": VOLUNTEER,
        "visited_at": format_datetime(at),
        "outcome": outcome,
        "concern_category": None,
        "urgency": None,
        "note": "",
    }


@pytest.fixture
def rnd(fresh_db: Database) -> Round:
    """Hanako's round: Aoki 3 days overdue, Baba due in 2 days, Chiba never visited.

    Names are romanised here on purpose: Japanese lives only in strings.py.
    """
    db = fresh_db
    ids = {"aoki": "r-aoki", "baba": "r-baba", "chiba": "r-chiba", "gone": "r-gone"}
    store.put_reference(
        db,
        "residents",
        [
            resident_row(ids["aoki"], "Aoki Fumi", "aoki fumi"),
            resident_row(ids["baba"], "Baba Kin", "baba kin", every=14),
            resident_row(ids["chiba"], "Chiba Tome", "chiba tome", since="2026-11-10"),
            resident_row(ids["gone"], "Gone Ume", "gone ume", active=0),
        ],
    )
    store.put_reference(
        db,
        "assignments",
        [
            {
                "id": f"a-{rid}",
                "hlc": str(Hlc(0)),
                "origin": "seed",
                "deleted": 0,
                "district_id": "d1",
                "group_id": "g1",
                "user_id": VOLUNTEER,
                "resident_id": rid,
                "active": 1,
            }
            for rid in ids.values()
        ],
    )
    store.put_reference(
        db,
        "visits",
        [
            seeded_visit("v1", ids["aoki"], TODAY - timedelta(days=10)),
            seeded_visit("v2", ids["baba"], TODAY - timedelta(days=12)),
            # "not at home" does not reset the clock
            seeded_visit("v3", ids["aoki"], TODAY - timedelta(days=2), "not_home"),
        ],
    )
    store.save_profile(
        db, name="Hanako", server_url="", invite_code="", user_id=VOLUNTEER
    )
    clock = Clock()
    state = AppState(db, clock=clock, entropy=_entropy_source())
    return Round(db, state, clock, ids)


@pytest.fixture(scope="session")
def pg_cluster() -> Cluster:
    return pg.cluster()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    pg.stop()  # if a test started the cluster


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The server store's engine: the contract suite runs on each."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def stores(engine: str) -> Stores:
    """Where the module's councils keep their stores, on ``engine``."""
    return Stores.of(engine)
