"""Salon records over the real sync: who pulls which salon, which writes the
server refuses, and what two organisers' devices end with after writing
offline. Both server engines (the ``stores`` fixture).

World: tests/support.py's, and
  users: org2 (organiser, d1), org3 (organiser, d2), coord2 (coordinator of d2)
  salons: s1, s2 (d1), s3 (d2)
  organisers: org1 and org2 of s1, org3 of s3 (org1 of nothing else)
  members: m1, m2, m5 of s1, m3 of s2, m4 of s3
  a session of each salon on PAST, every member marked present at it, and a
  headcount of walk-ins counted on the council's own "seed-device".

The server's today is 2026-11-26 in Japan (tests/support.py's T0).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from tests.support import T0, Council, Device, Stores, enrol_device
from tests.test_server import (
    Phone,
    Server,
    new_council,
    rejection,
    serving,
    without_message,
)
from watchapp import store as device_store
from watchapp.domain import salon_rows
from watchapp.domain.ids import derived_id
from watchapp.domain.model import Role
from watchapp.domain.rules import local_date
from watchapp.domain.salons import (
    Category,
    Programme,
    latest_headcounts,
    latest_marks,
    session_totals,
)
from watchapp.server.store import Scope
from watchapp.state import SyncState
from watchapp.sync.protocol import API, Reason, to_wire

pytestmark = pytest.mark.anyio

Record = dict[str, Any]
Rows = dict[str, Record]
Ids = dict[str, set[str]]  # record ids, by kind

TODAY = local_date(T0)
PAST = (TODAY - timedelta(days=6)).isoformat()
SALONS = {"s1": "d1", "s2": "d1", "s3": "d2"}
MEMBERS = {"m1": "s1", "m2": "s1", "m5": "s1", "m3": "s2", "m4": "s3"}
ORGANISERS = {"so-s1-org1": ("s1", "org1"), "so-s1-org2": ("s1", "org2")}
ORGANISERS["so-s3-org3"] = ("s3", "org3")
MORE_USERS = {
    "org2": (Role.ORGANISER, "d1", "g1"),
    "org3": (Role.ORGANISER, "d2", "g2"),
    "coord2": (Role.COORDINATOR, "d2", "g2"),
}
SEED_DEVICE = "seed-device"
# The kinds held by salon; organisers and absences are held otherwise.
BY_SALON = (
    "salons",
    "salon_members",
    "salon_sessions",
    "salon_marks",
    "salon_headcounts",
)
SALON_KINDS = (*BY_SALON, "salon_organisers", "salon_absences")


# ---- records, as the wire has them (without hlc and origin) -------------------------


def salon_record(sid: str, **over: Any) -> Record:
    return {
        "kind": "salons",
        "id": sid,
        "deleted": False,
        "district_id": SALONS[sid],
        "name": f"Salon {sid}",
        "place": "community centre",
        "weekday": 2,
        "starts_at": "10:00",
        "absence_after": 3,
        "active": True,
        **over,
    }


def organiser_record(oid: str, *, active: bool = True) -> Record:
    salon, user = ORGANISERS[oid]
    return {
        "kind": "salon_organisers",
        "id": oid,
        "deleted": False,
        "district_id": SALONS[salon],
        "salon_id": salon,
        "user_id": user,
        "active": active,
    }


def member_record(mid: str, salon: str | None = None, **over: Any) -> Record:
    salon = salon or MEMBERS[mid]
    return {
        "kind": "salon_members",
        "id": mid,
        "deleted": False,
        "district_id": SALONS[salon],
        "salon_id": salon,
        "name": f"Member {mid}",
        "kana": f"member {mid}",
        "birth_year": 1945,
        "consent": True,
        "resident_id": None,
        "active": True,
        **over,
    }


def session_id(salon: str, day: str) -> str:
    return derived_id("salon_sessions", (salon, day))


def session_record(salon: str, day: str, **over: Any) -> Record:
    return {
        "kind": "salon_sessions",
        "id": session_id(salon, day),
        "deleted": False,
        "district_id": SALONS[salon],
        "salon_id": salon,
        "held_on": day,
        "starts_at": "10:00",
        "contact": "gathering",
        "programme": "exercise,tea_talk",
        "programme_text": None,
        "note": "",
        "place": None,
        **over,
    }


def mark_id(salon: str, day: str, member: str) -> str:
    return derived_id("salon_marks", (session_id(salon, day), member))


def mark_record(salon: str, day: str, member: str, present: bool = True) -> Record:
    return {
        "kind": "salon_marks",
        "id": mark_id(salon, day, member),
        "deleted": False,
        "district_id": SALONS[salon],
        "salon_id": salon,
        "session_id": session_id(salon, day),
        "member_id": member,
        "present": present,
    }


def headcount_id(
    salon: str, day: str, counted_on: str, category: str, first_time: bool
) -> str:
    return derived_id(
        "salon_headcounts",
        (session_id(salon, day), category, first_time, counted_on),
    )


def headcount_record(
    salon: str,
    day: str,
    counted_on: str,
    people: int,
    *,
    category: str = Category.UNDER_65.value,
    first_time: bool = False,
) -> Record:
    return {
        "kind": "salon_headcounts",
        "id": headcount_id(salon, day, counted_on, category, first_time),
        "deleted": False,
        "district_id": SALONS[salon],
        "salon_id": salon,
        "session_id": session_id(salon, day),
        "category": category,
        "first_time": first_time,
        "counted_on": counted_on,
        "people": people,
    }


def absence_record(salon: str, member: str, resident: str, **over: Any) -> Record:
    return {
        "kind": "salon_absences",
        "id": derived_id("salon_absences", (salon, member)),
        "deleted": False,
        "district_id": SALONS[salon],
        "salon_id": salon,
        "member_id": member,
        "resident_id": resident,
        "missed": 3,
        "last_attended": PAST,
        "active": True,
        **over,
    }


def salon_world(salon: str) -> Ids:
    """The ids of every record of a salon the world holds, by kind."""
    members = sorted(m for m, s in MEMBERS.items() if s == salon)
    return {
        "salons": {salon},
        "salon_members": set(members),
        "salon_sessions": {session_id(salon, PAST)},
        "salon_marks": {mark_id(salon, PAST, m) for m in members},
        "salon_headcounts": {
            headcount_id(salon, PAST, SEED_DEVICE, Category.UNDER_65.value, False)
        },
    }


def add_salons(council: Council) -> None:
    """The salons, their people and a session each, written on the server;
    then a minute passes, so that a push stamped "now" is later."""
    now = council.clock()
    for user, (role, district, group) in MORE_USERS.items():
        council.store.create_user(
            user_id=user,
            name=f"User {user}",
            role=role,
            district_id=district,
            group_id=group,
            districts=[district] if role is Role.COORDINATOR else (),
            now=now,
        )
    council.write(
        *(salon_record(s) for s in SALONS),
        *(organiser_record(o) for o in ORGANISERS),
        *(member_record(m) for m in MEMBERS),
        *(session_record(s, PAST) for s in SALONS),
        *(mark_record(s, PAST, m) for m, s in MEMBERS.items()),
        *(headcount_record(s, PAST, SEED_DEVICE, 2) for s in SALONS),
    )
    council.clock.advance(60)


# ---- fixtures and helpers -------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def council(stores: Stores, tmp_path: Path) -> Iterator[Council]:
    council = new_council(stores, tmp_path / "server.sqlite")
    add_salons(council)
    yield council
    council.close()


@pytest.fixture
async def server(council: Council, anyio_backend: str) -> AsyncIterator[Server]:
    async with serving(council) as server:
        yield server


@dataclass
class Page:
    changes: list[Record]
    cursor: str
    purge: dict[str, list[str]]


async def pull_from(server: Server, phone: Phone, cursor: str = "") -> Page:
    """Every change after ``cursor``, pulling until done, and what was purged."""
    changes: list[Record] = []
    purge: dict[str, list[str]] = {"residents": [], "districts": [], "salons": []}
    for _ in range(100):
        response = await server.http.get(
            f"{API}/sync/pull", params={"cursor": cursor}, headers=phone.auth
        )
        assert response.status_code == 200, response.text
        page = response.json()
        changes += page["changes"]
        cursor = page["cursor"]
        for lost, ids in page["purge"].items():
            purge[lost] += ids
        if not page["more"]:
            return Page(changes, cursor, purge)
    raise AssertionError("the pull never ended")


def by_kind(changes: list[Record], kinds: tuple[str, ...] = SALON_KINDS) -> Ids:
    return {k: {c["id"] for c in changes if c["kind"] == k} for k in kinds}


def nothing() -> Ids:
    return {k: set() for k in SALON_KINDS}


def held_ids(db: Database, kinds: tuple[str, ...] = SALON_KINDS) -> Ids:
    return {k: {r["id"] for r in db.query(f"SELECT id FROM [{k}]")} for k in kinds}


class BeforePull(httpx.AsyncBaseTransport):
    """The council, with what is in ``hooks`` done on the device as its next
    pull goes out: after its push was answered, before the page comes."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, hooks: list[Callable[[], object]]
    ) -> None:
        self.inner = inner
        self.hooks = hooks

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sync/pull"):
            while self.hooks:
                self.hooks.pop(0)()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def now_ms(council: Council) -> int:
    return int(council.clock().timestamp() * 1000)


def put(council: Council, device: Device, record: Record) -> str:
    """A write on the device, offline: stored and queued, its stamp returned."""
    body = {k: v for k, v in record.items() if k != "kind"}
    return device_store.write(device.db, record["kind"], body, now_ms=now_ms(council))


async def sync(device: Device) -> None:
    outcome = await device.state.sync_now()
    assert outcome.state is SyncState.OK, outcome
    assert outcome.report is not None and outcome.report.rejected == 0, (
        device_store.rejected(device.db)
    )


def _wire(kind: str, row: Record) -> Record:
    out = to_wire(kind, row)
    del out["kind"]
    return out


def _of_salon(kind: str, wire: Record, salon: str) -> bool:
    held: str = wire["id"] if kind == "salons" else wire["salon_id"]
    return held == salon


def device_rows(db: Database, kind: str, salon: str) -> Rows:
    rows = (_wire(kind, r) for r in db.query(f"SELECT * FROM [{kind}]"))
    return {w["id"]: w for w in rows if _of_salon(kind, w, salon)}


def server_rows(council: Council, kind: str, salon: str) -> Rows:
    """What the council holds of a salon's records of ``kind``, tombstones too
    (through the store's contract)."""
    bodies, _ = council.store.changes_after(Scope(everything=True), 0, 1 << 30)
    rows = (_wire(kind, r) for r in map(json.loads, bodies) if r["kind"] == kind)
    return {w["id"]: w for w in rows if _of_salon(kind, w, salon)}


def present_members(rows: Rows, session: str) -> set[str]:
    marks = [salon_rows.mark(r) for r in rows.values() if r["session_id"] == session]
    return {m for (_, m), here in latest_marks(marks).items() if here}


# ---- 1. who pulls which salon -----------------------------------------------------


def _expect(salons: tuple[str, ...], organisers: set[str]) -> Ids:
    out = nothing()
    for salon in salons:
        for kind, ids in salon_world(salon).items():
            out[kind] |= ids
    out["salon_organisers"] = organisers
    return out


SCOPE_CASES = [
    ("an-organiser-their-salon-only", "org1", _expect(("s1",), {"so-s1-org1"})),
    ("another-organiser-of-it", "org2", _expect(("s1",), {"so-s1-org2"})),
    ("an-organiser-of-another-district", "org3", _expect(("s3",), {"so-s3-org3"})),
    ("a-volunteer-of-the-district", "vol1", nothing()),
    ("a-volunteer-of-another-district", "vol3", nothing()),
    (
        "a-coordinator-the-district's-salons",
        "coord1",
        _expect(("s1", "s2"), {"so-s1-org1", "so-s1-org2"}),
    ),
    ("a-coordinator-of-another-district", "coord2", _expect(("s3",), {"so-s3-org3"})),
    (
        "an-admin-everything",
        "admin1",
        _expect(("s1", "s2", "s3"), set(ORGANISERS)),
    ),
]


@pytest.mark.parametrize(
    ("user", "expected"),
    [pytest.param(user, expected, id=name) for name, user, expected in SCOPE_CASES],
)
@pytest.mark.parametrize("limit", [1000, 2])
async def test_who_pulls_which_salon(
    server: Server, user: str, expected: Ids, limit: int
) -> None:
    """In one page or in pages of two: the same records."""
    phone = await server.enrol(user)
    got = await server.pull_all(phone, limit=limit)
    assert {k: got[k] for k in SALON_KINDS} == expected


async def test_an_organiser_made_organiser_later_gets_the_whole_history(
    council: Council, tmp_path: Path
) -> None:
    """org1 holds s1; made organiser of s2, the next sync brings all of s2,
    records written long before the device's cursor included; s2's later
    changes follow as any."""
    org1 = await enrol_device(council, tmp_path, "org1")
    assert held_ids(org1.db, BY_SALON) == salon_world("s1")
    council.clock.advance(60)
    council.write(
        {**organiser_record("so-s1-org1"), "id": "so-s2-org1", "salon_id": "s2"}
    )
    await sync(org1)
    world = {k: salon_world("s1")[k] | salon_world("s2")[k] for k in BY_SALON}
    assert held_ids(org1.db, BY_SALON) == world
    assert held_ids(org1.db, ("salon_organisers",)) == {
        "salon_organisers": {"so-s1-org1", "so-s2-org1"}
    }
    s2_marks = device_rows(org1.db, "salon_marks", "s2")
    assert present_members(s2_marks, session_id("s2", PAST)) == {"m3"}

    council.clock.advance(60)
    council.write(member_record("m6", "s2"))
    await sync(org1)
    assert held_ids(org1.db, ("salon_members",))["salon_members"] == {
        "m1",
        "m2",
        "m5",
        "m3",
        "m6",
    }


async def test_a_salon_left_is_listed_under_purge(server: Server) -> None:
    phone = await server.enrol("org1")
    first = await pull_from(server, phone)
    assert by_kind(first.changes, BY_SALON) == salon_world("s1")
    assert first.purge == {"residents": [], "districts": [], "salons": []}
    server.council.clock.advance(60)
    server.council.write(organiser_record("so-s1-org1", active=False))
    after = await pull_from(server, phone, first.cursor)
    assert after.purge == {"residents": [], "districts": [], "salons": ["s1"]}
    assert by_kind(after.changes, BY_SALON) == {k: set() for k in BY_SALON}
    # Asked again with the same cursor: the same answer (a lost answer).
    again = await pull_from(server, phone, first.cursor)
    assert again.purge == after.purge
    # Once told, not told again; and s1's later changes stay away.
    server.council.clock.advance(60)
    server.council.write(member_record("m6", "s1"))
    later = await pull_from(server, phone, after.cursor)
    assert later.purge == {"residents": [], "districts": [], "salons": []}
    assert by_kind(later.changes, BY_SALON) == {k: set() for k in BY_SALON}


async def test_a_device_drops_a_salon_left_but_keeps_its_unsent_writes(
    council: Council, tmp_path: Path
) -> None:
    """org1 un-ticks m2 offline; meanwhile org1 stops organising s1. The sync
    pushes the mark (refused: no longer org1's salon, and the user is told)
    and purges s1: all of it goes but the unsent mark and what it names."""
    org1 = await enrol_device(council, tmp_path, "org1")
    assert held_ids(org1.db, BY_SALON) == salon_world("s1")
    put(council, org1, mark_record("s1", PAST, "m2", present=False))
    council.clock.advance(60)
    council.write(organiser_record("so-s1-org1", active=False))

    outcome = await org1.state.sync_now()

    assert outcome.state is SyncState.OK
    assert [
        (r.kind, r.record_id, r.reason) for r in device_store.rejected(org1.db)
    ] == [("salon_marks", mark_id("s1", PAST, "m2"), Reason.OUT_OF_SCOPE.value)]
    assert held_ids(org1.db) == {
        **nothing(),
        "salons": {"s1"},
        "salon_members": {"m2"},
        "salon_sessions": {session_id("s1", PAST)},
        "salon_marks": {mark_id("s1", PAST, "m2")},
    }
    [unsent] = device_rows(org1.db, "salon_marks", "s1").values()
    assert unsent["present"] is False
    # The server kept its own: the refused write changed nothing there.
    assert server_rows(council, "salon_marks", "s1")[unsent["id"]]["present"] is True


async def test_a_write_made_while_the_purge_comes_stays_queued(
    council: Council, tmp_path: Path
) -> None:
    """The un-tick is made after the push went (nothing to push) and before
    the page that purges s1 is applied: it stays, queued, with what it
    names; the next sync pushes it and the user is told it was refused."""
    hooks: list[Callable[[], object]] = []
    org1 = await enrol_device(
        council,
        tmp_path,
        "org1",
        transport=lambda: BeforePull(council.transport(), hooks),
    )
    council.clock.advance(60)
    council.write(organiser_record("so-s1-org1", active=False))
    untick = mark_record("s1", PAST, "m5", present=False)
    hooks.append(partial(put, council, org1, untick))

    await sync(org1)

    assert device_store.pending_count(org1.db) == 1
    assert held_ids(org1.db) == {
        **nothing(),
        "salons": {"s1"},
        "salon_members": {"m5"},
        "salon_sessions": {session_id("s1", PAST)},
        "salon_marks": {untick["id"]},
    }
    outcome = await org1.state.sync_now()
    assert outcome.state is SyncState.OK
    assert [(r.record_id, r.reason) for r in device_store.rejected(org1.db)] == [
        (untick["id"], Reason.OUT_OF_SCOPE.value)
    ]


# ---- 2. writes refused, and nothing stored -------------------------------------------

Make = Callable[[Phone], Record]
TOMORROW = (TODAY + timedelta(days=1)).isoformat()
DAY_AFTER = (TODAY + timedelta(days=2)).isoformat()
Expect = tuple[str, Reason] | None


def _minted_session(phone: Phone) -> Record:
    return {
        **session_record("s1", TODAY.isoformat()),
        "id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
    }


WRITE_CASES: list[tuple[str, str, Make, Expect]] = [
    (
        "a-session-of-a-salon-not-theirs",
        "org1",
        lambda p: session_record("s2", TODAY.isoformat()),
        ("salon_id", Reason.OUT_OF_SCOPE),
    ),
    (
        "a-member-of-a-salon-not-theirs",
        "org1",
        lambda p: member_record("m-new", "s2"),
        ("salon_id", Reason.OUT_OF_SCOPE),
    ),
    (
        "a-mark-of-a-salon-not-theirs",
        "org1",
        lambda p: mark_record("s2", PAST, "m3", present=False),
        ("salon_id", Reason.OUT_OF_SCOPE),
    ),
    (
        "a-member-of-another-district's-salon",
        "org1",
        lambda p: member_record("m-new", "s3"),
        ("salon_id", Reason.OUT_OF_SCOPE),
    ),
    (
        "a-mark-whose-member-is-of-another-salon",
        "org1",
        lambda p: mark_record("s1", PAST, "m3"),
        ("member_id", Reason.OUT_OF_SCOPE),
    ),
    (
        "a-mark-of-a-session-never-opened",
        "org1",
        lambda p: mark_record("s1", "2026-11-21", "m1"),
        ("session_id", Reason.UNKNOWN_REFERENCE),
    ),
    (
        "a-member-filed-in-another-district",
        "org1",
        lambda p: member_record("m-new", "s1", district_id="d2"),
        ("district_id", Reason.BAD_VALUE),
    ),
    ("a-session-with-a-minted-id", "org1", _minted_session, ("id", Reason.BAD_VALUE)),
    (
        "a-session-with-another-day's-id",
        "org1",
        lambda p: {
            **session_record("s1", TODAY.isoformat()),
            "id": session_id("s1", PAST),
        },
        ("id", Reason.BAD_VALUE),
    ),
    (
        "a-session-two-days-ahead",
        "org1",
        lambda p: session_record("s1", DAY_AFTER),
        ("held_on", Reason.CLOCK_AHEAD),
    ),
    ("a-session-tomorrow", "org1", lambda p: session_record("s1", TOMORROW), None),
    (
        "a-session-today",
        "org2",
        lambda p: session_record("s1", TODAY.isoformat()),
        None,
    ),
    (
        "a-headcount-of-501",
        "org1",
        lambda p: headcount_record("s1", PAST, p.device_id, 501),
        ("people", Reason.BAD_VALUE),
    ),
    (
        "a-headcount-of-minus-one",
        "org1",
        lambda p: headcount_record("s1", PAST, p.device_id, -1),
        ("people", Reason.BAD_VALUE),
    ),
    (
        "a-headcount-of-500",
        "org1",
        lambda p: headcount_record("s1", PAST, p.device_id, 500),
        None,
    ),
    (
        "a-headcount-counted-on-another-device",
        "org1",
        lambda p: headcount_record("s1", PAST, SEED_DEVICE, 7),
        ("counted_on", Reason.OUT_OF_SCOPE),
    ),
    (
        "an-organiser-links-a-member-to-a-resident",
        "org1",
        lambda p: member_record("m1", resident_id="r1"),
        ("resident_id", Reason.FORBIDDEN),
    ),
    (
        "an-organiser-links-a-new-member-to-a-resident",
        "org1",
        lambda p: member_record("m-new", "s1", resident_id="r1"),
        ("resident_id", Reason.FORBIDDEN),
    ),
    (
        "a-coordinator-links-a-member-to-a-resident",
        "coord1",
        lambda p: member_record("m1", resident_id="r1"),
        None,
    ),
    (
        "a-coordinator-writes-another-district's-member",
        "coord1",
        lambda p: member_record("m4", name="Renamed"),
        ("district_id", Reason.OUT_OF_SCOPE),
    ),
    (
        "a-programme-with-an-unknown-value",
        "org1",
        lambda p: session_record("s1", TODAY.isoformat(), programme="exercise,karaoke"),
        ("programme", Reason.BAD_VALUE),
    ),
    (
        "a-programme-with-a-repeat",
        "org1",
        lambda p: session_record(
            "s1", TODAY.isoformat(), programme="exercise,exercise"
        ),
        ("programme", Reason.BAD_VALUE),
    ),
    (
        "a-programme-of-nothing",
        "org1",
        lambda p: session_record("s1", TODAY.isoformat(), programme=""),
        None,
    ),
    (
        "a-programme-of-everything",
        "org1",
        lambda p: session_record(
            "s1",
            TODAY.isoformat(),
            programme=",".join(p.value for p in Programme),
        ),
        None,
    ),
    (
        "a-member-with-an-empty-name",
        "org1",
        lambda p: member_record("m-new", "s1", name=""),
        ("name", Reason.BAD_VALUE),
    ),
    (
        "a-member-with-a-blank-name",
        "org1",
        lambda p: member_record("m-new", "s1", name="\u3000 "),
        ("name", Reason.BAD_VALUE),
    ),
    (
        "a-member-without-a-name",
        "org1",
        lambda p: member_record("m-new", "s1", name=None),
        ("name", Reason.WRONG_TYPE),
    ),
    (
        "a-member-with-a-name-of-41",
        "org1",
        lambda p: member_record("m-new", "s1", name="x" * 41),
        ("name", Reason.TOO_LONG),
    ),
    (
        "a-member-with-a-name-of-40",
        "org1",
        lambda p: member_record("m-new", "s1", name="山" * 40),
        None,
    ),
    (
        "a-salon-with-an-empty-name",
        "coord1",
        lambda p: salon_record("s1", name=""),
        ("name", Reason.BAD_VALUE),
    ),
    (
        "a-volunteer-writes-a-member",
        "vol1",
        lambda p: member_record("m-new", "s1"),
        ("kind", Reason.FORBIDDEN),
    ),
    (
        "an-organiser-writes-a-salon",
        "org1",
        lambda p: salon_record("s1", name="Mine now"),
        ("kind", Reason.FORBIDDEN),
    ),
    (
        "an-organiser-makes-themselves-organiser",
        "org1",
        lambda p: {**organiser_record("so-s1-org1"), "id": "x", "salon_id": "s2"},
        ("kind", Reason.FORBIDDEN),
    ),
]


@pytest.mark.parametrize(
    ("pusher", "make", "expect"),
    [pytest.param(u, m, e, id=name) for name, u, m, e in WRITE_CASES],
)
async def test_a_salon_write(
    server: Server, pusher: str, make: Make, expect: Expect
) -> None:
    """Refused with its field and reason, and nothing of it stored; or
    accepted and stored as sent."""
    phone = await server.enrol(pusher)
    change = server.change(phone, make(phone))
    before = server.held(change["kind"], change["id"])

    answer = await server.push_ok(phone, change)

    if expect is None:
        assert (answer.accepted, answer.rejected) == (1, [])
        stored = server.body(change["kind"], change["id"])
        assert {k: stored[k] for k in change} == change
    else:
        assert without_message(answer.rejected) == [rejection(0, change, *expect)]
        assert server.held(change["kind"], change["id"]) == before


async def test_an_absence_goes_to_the_residents_volunteer(server: Server) -> None:
    """A coordinator links m1 to r1; s1's organiser writes m1's absence; r1's
    volunteer pulls it, other field workers do not; a volunteer assigned r1
    later gets it with r1's history."""
    server.council.write(member_record("m1", resident_id="r1"))
    server.council.clock.advance(60)
    org1 = await server.enrol("org1")
    absence = server.change(org1, absence_record("s1", "m1", "r1"))
    assert (await server.push_ok(org1, absence)).accepted == 1

    vol1 = await server.enrol("vol1")
    assert (await server.pull_all(vol1))["salon_absences"] == {absence["id"]}
    for user in ("vol2", "vol3", "org3"):
        other = await server.enrol(user)
        assert (await server.pull_all(other))["salon_absences"] == set(), user

    vol2 = await server.enrol("vol2")
    before = await pull_from(server, vol2)
    server.council.clock.advance(60)
    server.council.write(
        {
            "kind": "assignments",
            "id": "a-r1-vol2",
            "deleted": False,
            "district_id": "d1",
            "group_id": "g1",
            "user_id": "vol2",
            "resident_id": "r1",
            "active": True,
        }
    )
    gained = await pull_from(server, vol2, before.cursor)
    assert by_kind(gained.changes)["salon_absences"] == {absence["id"]}


@pytest.mark.parametrize(
    ("member", "resident"),
    [
        pytest.param("m1", "r2", id="another-resident-than-the-member's"),
        pytest.param("m2", "r1", id="a-member-who-is-no-resident"),
    ],
)
async def test_an_absence_must_name_the_members_resident(
    server: Server, member: str, resident: str
) -> None:
    server.council.write(member_record("m1", resident_id="r1"))
    server.council.clock.advance(60)
    org1 = await server.enrol("org1")
    absence = server.change(org1, absence_record("s1", member, resident))
    answer = await server.push_ok(org1, absence)
    assert without_message(answer.rejected) == [
        rejection(0, absence, "resident_id", Reason.BAD_VALUE)
    ]
    assert server.held("salon_absences", absence["id"]) is None


async def test_an_organiser_of_another_salon_writes_no_absence(
    server: Server,
) -> None:
    server.council.write(member_record("m1", resident_id="r1"))
    server.council.clock.advance(60)
    org3 = await server.enrol("org3")
    absence = server.change(org3, absence_record("s1", "m1", "r1"))
    answer = await server.push_ok(org3, absence)
    assert without_message(answer.rejected) == [
        rejection(0, absence, "salon_id", Reason.OUT_OF_SCOPE)
    ]


# ---- 3. two organisers' devices, offline, then synced ---------------------------


@dataclass
class Pair:
    council: Council
    devices: tuple[Device, Device]  # org1's and org2's, both organising s1
    before_pull: tuple[list[Callable[[], object]], ...]  # each device's

    def put(self, d: int, record: Record) -> str:
        return put(self.council, self.devices[d], record)

    def origin(self, d: int) -> str:
        return device_store.device(self.devices[d].db).device_id

    async def converge(self, order: tuple[int, ...] = (0, 1)) -> None:
        for _ in range(2):
            for d in order:
                await sync(self.devices[d])

    def rows(self, kind: str, salon: str = "s1") -> list[Rows]:
        """The server's rows of ``kind``, then each device's."""
        return [
            server_rows(self.council, kind, salon),
            *(device_rows(d.db, kind, salon) for d in self.devices),
        ]

    def assert_same_everywhere(self, salon: str = "s1") -> None:
        for kind in BY_SALON:
            server, *devices = self.rows(kind, salon)
            for device in devices:
                assert device == server, kind
        for phone in self.devices:
            assert device_store.pending_count(phone.db) == 0
            assert device_store.rejected(phone.db) == []


@pytest.fixture
async def pair(
    council: Council, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[Pair]:
    hooks: tuple[list[Callable[[], object]], ...] = ([], [])

    async def enrol(d: int, user: str, name: str) -> Device:
        def transport() -> httpx.AsyncBaseTransport:
            return BeforePull(council.transport(), hooks[d])

        return await enrol_device(
            council, tmp_path, user, name=name, transport=transport
        )

    devices = (
        await enrol(0, "org1", "org1-tablet"),
        await enrol(1, "org2", "org2-phone"),
    )
    yield Pair(council, devices, hooks)
    for device in devices:
        device.db.close()


async def test_ticks_of_different_members_add_up(pair: Pair) -> None:
    today = TODAY.isoformat()
    pair.put(0, session_record("s1", today))
    pair.put(1, session_record("s1", today))
    pair.council.clock.advance(1)
    pair.put(0, mark_record("s1", today, "m1"))
    pair.put(1, mark_record("s1", today, "m2"))
    pair.put(1, mark_record("s1", PAST, "m5", present=False))
    await pair.converge()
    pair.assert_same_everywhere()
    for rows in pair.rows("salon_marks"):
        assert present_members(rows, session_id("s1", today)) == {"m1", "m2"}
        assert present_members(rows, session_id("s1", PAST)) == {"m1", "m2"}


@pytest.mark.parametrize("first", [0, 1], ids=["earlier-first", "later-first"])
async def test_a_later_untick_wins_over_an_earlier_tick(pair: Pair, first: int) -> None:
    """Device 0 ticks m1 at today's session, device 1 un-ticks m1 a second
    later; whichever reaches the server first, m1 is absent everywhere."""
    today = TODAY.isoformat()
    pair.put(0, session_record("s1", today))
    await sync(pair.devices[0])
    await sync(pair.devices[1])
    pair.council.clock.advance(1)
    tick = pair.put(0, mark_record("s1", today, "m1", present=True))
    pair.council.clock.advance(1)
    untick = pair.put(1, mark_record("s1", today, "m1", present=False))
    assert untick > tick
    await pair.converge((first, 1 - first))
    pair.assert_same_everywhere()
    for rows in pair.rows("salon_marks"):
        assert present_members(rows, session_id("s1", today)) == set()
        [mark] = [
            r for r in rows.values() if r["session_id"] == session_id("s1", today)
        ]
        assert (mark["hlc"], mark["origin"]) == (untick, pair.origin(1))


async def test_a_session_opened_on_both_devices_is_one_session(pair: Pair) -> None:
    """Both open today's session offline, each with its own programme: one
    record on the server, the later write's, and both devices hold it."""
    today = TODAY.isoformat()
    pair.put(1, session_record("s1", today, programme="exercise"))
    pair.council.clock.advance(1)
    later = pair.put(0, session_record("s1", today, programme="singing_music"))
    await pair.converge((1, 0))
    pair.assert_same_everywhere()
    for rows in pair.rows("salon_sessions"):
        [opened] = [r for r in rows.values() if r["held_on"] == today]
        assert opened["id"] == session_id("s1", today)
        assert (opened["programme"], opened["hlc"]) == ("singing_music", later)
        assert len(rows) == 2  # and the one of PAST


async def test_headcounts_kept_per_device_add_up(pair: Pair) -> None:
    """Each device counts its own walk-ins at the door; one corrects its
    count; the session's totals add both devices' counts up."""
    today = TODAY.isoformat()
    pair.put(0, session_record("s1", today))
    pair.put(1, session_record("s1", today))
    pair.put(0, headcount_record("s1", today, pair.origin(0), 3))
    pair.put(1, headcount_record("s1", today, pair.origin(1), 4))
    pair.put(
        1,
        headcount_record(
            "s1", today, pair.origin(1), 1, category=Category.HELPER.value
        ),
    )
    await sync(pair.devices[0])
    pair.council.clock.advance(1)
    pair.put(0, headcount_record("s1", today, pair.origin(0), 5))
    await pair.converge((1, 0))
    pair.assert_same_everywhere()
    session = salon_rows.session(session_record("s1", today))
    for rows in pair.rows("salon_headcounts"):
        counts = latest_headcounts(
            salon_rows.headcount(r)
            for r in rows.values()
            if r["session_id"] == session.id
        )
        totals = session_totals(session, [], counts)
        assert (totals.participants, totals.helpers) == (5 + 4, 1)
        assert totals.by_category[Category.UNDER_65] == 9


# ---- 3b. any interleaving ------------------------------------------------------------

MEMBER = st.sampled_from(["m1", "m2", "m5"])
DEVICE = st.integers(0, 1)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("mark"), DEVICE, MEMBER, st.booleans()),
        # A sync of the device, with a mark written on it between its push
        # and its pull: the page may bring an older write of that mark.
        st.tuples(st.just("mark_mid_sync"), DEVICE, MEMBER, st.booleans()),
        st.tuples(
            st.just("count"),
            DEVICE,
            st.sampled_from([Category.UNDER_65.value, Category.HELPER.value]),
            st.booleans(),
            st.integers(0, 500),
        ),
        st.tuples(st.just("sync"), DEVICE),
        st.tuples(st.just("time"), st.sampled_from([0, 0, 1, 2, 1000])),
    ),
    min_size=2,
    max_size=24,
)


@dataclass
class Days:
    """A day of its own for each example (the council is the test's)."""

    back: int = 7

    def next(self) -> str:
        self.back += 1
        return (TODAY - timedelta(days=self.back)).isoformat()


@pytest.fixture
def days() -> Days:
    return Days()


@given(ops=OPS)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_any_interleaving_converges_on_the_last_write(
    pair: Pair, days: Days, ops: list[tuple[Any, ...]]
) -> None:
    """Ticks, un-ticks and headcount edits on two devices with syncs between
    (and during), in any order: after both sync twice, the server and both
    devices hold the same rows, a member is present as its last write (by
    hlc, then origin) says, and each device's headcounts are its last
    writes."""
    day = days.next()
    session = session_id("s1", day)
    last_mark: dict[str, tuple[str, str, bool]] = {}  # member: hlc, origin, present
    counts: dict[str, int] = {}  # headcount id: people
    for d in (0, 1):  # both open the day's session, offline
        pair.put(d, session_record("s1", day))

    def tick(d: int, member: str, present: bool) -> None:
        stamp = pair.put(d, mark_record("s1", day, member, present))
        write = (stamp, pair.origin(d), present)
        last_mark[member] = max(last_mark.get(member, write), write)

    for op in ops:
        if op[0] == "mark":
            tick(*op[1:])
        elif op[0] == "mark_mid_sync":
            pair.before_pull[op[1]].append(partial(tick, *op[1:]))
            await sync(pair.devices[op[1]])
        elif op[0] == "count":
            _, d, category, first_time, people = op
            record = headcount_record(
                "s1",
                day,
                pair.origin(d),
                people,
                category=category,
                first_time=first_time,
            )
            pair.put(d, record)
            counts[record["id"]] = people  # a device's own: its last write
        elif op[0] == "sync":
            await sync(pair.devices[op[1]])
        else:
            pair.council.clock.advance(op[1] / 1000)
    await pair.converge()

    pair.assert_same_everywhere()
    expected = {m for m, (_, _, present) in last_mark.items() if present}
    for marks, headcounts in zip(
        pair.rows("salon_marks"), pair.rows("salon_headcounts"), strict=True
    ):
        assert present_members(marks, session) == expected
        of_day = {i: r for i, r in headcounts.items() if r["session_id"] == session}
        assert {i: r["people"] for i, r in of_day.items()} == counts
