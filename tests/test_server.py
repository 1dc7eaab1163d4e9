"""The council server over HTTP: who may push and pull what, bad input, enrolment,
idempotency and the OpenAPI document.

Every test runs the real app (watchapp.server.create_app) over a real SQLite file
(tests.support.Council), in process through httpx.ASGITransport. Devices are
enrolled through the real endpoint; requests are raw HTTP so malformed bodies can
be sent, and the server's store is read directly to check what it holds.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import (
    BASE_URL,
    RESIDENTS,
    USERS,
    Council,
    Stores,
    assignment_record,
    enrol_device,
    resident_record,
    stored_rows,
)
from watchapp import store as device_store
from watchapp.domain.hlc import Hlc
from watchapp.domain.schema import KINDS
from watchapp.domain.validation import NOTE_MAX_CHARS
from watchapp.server.auth import digest
from watchapp.server.limiter import EnrolmentLimiter
from watchapp.sync.protocol import (
    API,
    CLOCK_AHEAD_LIMIT,
    MAX_BODY_BYTES,
    MAX_CHANGES_PER_PUSH,
    MAX_PULL_LIMIT,
    TEXT_MAX_CHARS,
    Reason,
)

pytestmark = pytest.mark.anyio

Record = dict[str, Any]
VISITED_AT = "2026-11-25T01:00:00.000Z"


# ---- records, as the wire has them (without hlc and origin) -----------------------


def district_record(did: str, **over: Any) -> Record:
    return {
        "kind": "districts",
        "id": did,
        "deleted": False,
        "district_id": did,
        "name": f"District {did}",
        **over,
    }


def group_record(gid: str, **over: Any) -> Record:
    return {
        "kind": "groups",
        "id": gid,
        "deleted": False,
        "district_id": {"g1": "d1", "g2": "d2"}[gid],
        "name": f"Group {gid}",
        **over,
    }


def user_record(uid: str, **over: Any) -> Record:
    role, district, group = USERS[uid]
    return {
        "kind": "users",
        "id": uid,
        "deleted": False,
        "district_id": district,
        "group_id": group,
        "name": f"User {uid}",
        "role": role.value,
        **over,
    }


def _place(rid: str) -> tuple[str, str]:
    district, group, _ = RESIDENTS.get(rid, ("d1", "g1", ""))
    return district, group


def visit_record(vid: str, rid: str, user: str, **over: Any) -> Record:
    district, group = _place(rid)
    return {
        "kind": "visits",
        "id": vid,
        "deleted": False,
        "district_id": district,
        "group_id": group,
        "resident_id": rid,
        "user_id": user,
        "visited_at": VISITED_AT,
        "outcome": "met_well",
        "concern_category": None,
        "urgency": None,
        "note": "",
        **over,
    }


def concern_record(cid: str, rid: str, visit_id: str, **over: Any) -> Record:
    district, group = _place(rid)
    return {
        "kind": "concern_updates",
        "id": cid,
        "deleted": False,
        "district_id": district,
        "group_id": group,
        "resident_id": rid,
        "visit_id": visit_id,
        "status": "open",
        "note": "",
        **over,
    }


def stamp(moment: datetime, counter: int = 0) -> str:
    """An HLC at ``moment``: 13 digits of milliseconds, a dash, 5 digits."""
    return str(Hlc(int(moment.timestamp() * 1000), counter))


# ---- the server, a device's token, and what the store holds -----------------------


@dataclass(frozen=True)
class Phone:
    """An enrolled device, as the server knows it: its id and bearer token."""

    user: str
    device_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Pushed:
    accepted: int
    rejected: list[Record]


@dataclass
class Server:
    council: Council
    http: httpx.AsyncClient

    @property
    def now(self) -> datetime:
        return self.council.clock.now

    async def enrol(self, user: str, device_id: str | None = None) -> Phone:
        device_id = device_id or str(uuid.uuid4())
        response = await self.http.post(
            f"{API}/enrol",
            json={
                "code": self.council.invite(user),
                "device_id": device_id,
                "device_name": f"{user}'s phone",
            },
        )
        assert response.status_code == 200, response.text
        return Phone(user, device_id, response.json()["token"])

    def change(self, phone: Phone, record: Record, *, hlc: str | None = None) -> Record:
        """``record`` as ``phone`` pushes it: stamped now, with its own origin."""
        return {**record, "hlc": hlc or stamp(self.now), "origin": phone.device_id}

    async def push(self, phone: Phone, body: Any) -> httpx.Response:
        return await self.http.post(f"{API}/sync/push", json=body, headers=phone.auth)

    async def push_ok(self, phone: Phone, *changes: Record) -> Pushed:
        """Push; the batch is answered 200 and every change is accounted for."""
        response = await self.push(phone, {"changes": list(changes)})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert set(answer) == {"ok", "accepted", "rejected"}
        assert answer["ok"] is True
        assert answer["accepted"] + len(answer["rejected"]) == len(changes)
        for entry in answer["rejected"]:
            assert set(entry) == {"index", "kind", "id", "field", "reason", "message"}
            assert isinstance(entry["message"], str) and entry["message"]
        return Pushed(answer["accepted"], answer["rejected"])

    async def pull_all(self, phone: Phone, limit: int = 1000) -> dict[str, set[str]]:
        """Every record id the device receives, by kind, pulling until done."""
        got: dict[str, set[str]] = {kind: set() for kind in KINDS}
        cursor = ""
        for _ in range(100):
            response = await self.http.get(
                f"{API}/sync/pull",
                params={"cursor": cursor, "limit": limit},
                headers=phone.auth,
            )
            assert response.status_code == 200, response.text
            page = response.json()
            for change in page["changes"]:
                got[change["kind"]].add(change["id"])
            cursor = page["cursor"]
            if not page["more"]:
                return got
        raise AssertionError("the pull never ended")

    def held(self, kind: str, rid: str) -> tuple[str, str] | None:
        """(hlc, origin) of the server's copy of a record, or None."""
        stored = self.council.store.stored([(kind, rid)]).get((kind, rid))
        return None if stored is None else (stored.hlc, stored.origin)

    def body(self, kind: str, rid: str) -> Record:
        body = self.council.store.record(kind, rid)
        assert body is not None, (kind, rid)
        value: Record = json.loads(body)
        return value

    def count(self) -> int:
        """How many live records the server holds."""
        return sum(len(self.council.store.bodies(kind)) for kind in KINDS)


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> None:
    """The one error shape: {"ok": false, "errors": [{"code", "message", "field"?}]}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"ok", "errors"} and body["ok"] is False
    [error] = body["errors"]
    assert set(error) <= {"code", "message", "field"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error.get("field") == field


def rejection(index: int, change: Any, field: str, reason: Reason) -> Record:
    """The expected "rejected" entry, less its message."""
    return {
        "index": index,
        "kind": change.get("kind") if isinstance(change, dict) else None,
        "id": change.get("id") if isinstance(change, dict) else None,
        "field": field,
        "reason": reason.value,
    }


def without_message(entries: list[Record]) -> list[Record]:
    return [{k: v for k, v in e.items() if k != "message"} for e in entries]


# ---- fixtures ------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _scratch(fallback: Callable[[], Path]) -> Iterator[Path]:
    """Where a server's SQLite file lives: in memory when the OS offers it.

    The store commits with synchronous=FULL; on tmpfs an fsync costs nothing,
    which keeps these few hundred councils fast.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback()
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="watchapp-test-") as path:
        yield Path(path)


def new_council(stores: Stores, path: Path) -> Council:
    council = stores.council(path)
    # A minute after the world was written: a push stamped "now" is later.
    council.clock.advance(60)
    return council


@asynccontextmanager
async def serving(council: Council) -> AsyncIterator[Server]:
    # App errors come back as 500 answers, as a real client would see them.
    transport = httpx.ASGITransport(app=council.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield Server(council, http)


@pytest.fixture
def server_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    yield from _scratch(lambda: Path(request.getfixturevalue("tmp_path")))


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from _scratch(lambda: tmp_path_factory.mktemp("councils"))


@pytest.fixture
def council(stores: Stores, server_dir: Path) -> Iterator[Council]:
    council = new_council(stores, server_dir / "server.sqlite")
    yield council
    council.close()


@pytest.fixture
async def server(council: Council, anyio_backend: str) -> AsyncIterator[Server]:
    """A fresh council of its own, for tests that change what it holds."""
    async with serving(council) as server:
        yield server


@pytest.fixture(scope="module")
def refusing_council(stores: Stores, module_dir: Path) -> Iterator[Council]:
    council = new_council(stores, module_dir / "refusals.sqlite")
    yield council
    council.close()


@pytest.fixture
async def refusals(
    refusing_council: Council, anyio_backend: str
) -> AsyncIterator[Server]:
    """One council shared by the tests whose requests are all refused: each
    checks that nothing it sent was stored, so they can't disturb one another."""
    async with serving(refusing_council) as server:
        yield server


# ---- 1a. push: role x kind x scope ------------------------------------------------

Expect = tuple[str, Reason] | None  # None: accepted; else the rejection's field, reason
OK: Expect = None
FORBIDDEN_KIND: Expect = ("kind", Reason.FORBIDDEN)
OTHER_DISTRICT: Expect = ("district_id", Reason.OUT_OF_SCOPE)
NOT_ASSIGNED: Expect = ("resident_id", Reason.OUT_OF_SCOPE)

# Scopes: "own" is d1 / g1 / r1 (r1 assigned to the pushing volunteer or organiser),
# "unassigned" is d1 / g1 / r3 (assigned to vol2), "other" is d2 / g2 / r4.
# fmt: off
PUSH_RULES: list[tuple[str, str, Expect, Expect, Expect]] = [
    # kind,              scope,        field worker,   coordinator,    admin
    ("districts",        "own",        FORBIDDEN_KIND, FORBIDDEN_KIND, OK),
    ("districts",        "other",      FORBIDDEN_KIND, FORBIDDEN_KIND, OK),
    ("groups",           "own",        FORBIDDEN_KIND, OK,             OK),
    ("groups",           "other",      FORBIDDEN_KIND, OTHER_DISTRICT, OK),
    ("residents",        "own",        FORBIDDEN_KIND, OK,             OK),
    ("residents",        "unassigned", FORBIDDEN_KIND, OK,             OK),
    ("residents",        "other",      FORBIDDEN_KIND, OTHER_DISTRICT, OK),
    ("users",            "own",        FORBIDDEN_KIND, OK,             OK),
    ("users",            "unassigned", FORBIDDEN_KIND, OK,             OK),
    ("users",            "other",      FORBIDDEN_KIND, OTHER_DISTRICT, OK),
    ("assignments",      "own",        FORBIDDEN_KIND, OK,             OK),
    ("assignments",      "unassigned", FORBIDDEN_KIND, OK,             OK),
    ("assignments",      "other",      FORBIDDEN_KIND, OTHER_DISTRICT, OK),
    ("visits",           "own",        OK,             OK,             OK),
    ("visits",           "unassigned", NOT_ASSIGNED,   OK,             OK),
    ("visits",           "other",      NOT_ASSIGNED,   OTHER_DISTRICT, OK),
    ("concern_updates",  "own",        FORBIDDEN_KIND, OK,             OK),
    ("concern_updates",  "unassigned", FORBIDDEN_KIND, OK,             OK),
    ("concern_updates",  "other",      FORBIDDEN_KIND, OTHER_DISTRICT, OK),
]
# fmt: on
ROLE_COLUMN = {"vol1": 0, "org1": 0, "coord1": 1, "admin1": 2}
SCOPE_RESIDENT = {"own": "r1", "unassigned": "r3", "other": "r4"}
SCOPE_USER = {"own": "vol1", "unassigned": "vol2", "other": "vol3"}


def push_subject(kind: str, scope: str, pusher: str) -> Record:
    """The record a device of ``pusher`` writes for (kind, scope)."""
    rid = SCOPE_RESIDENT[scope]
    other = scope == "other"
    if kind == "districts":
        return district_record("d2" if other else "d1", name="Renamed")
    if kind == "groups":
        return group_record("g2" if other else "g1", name="Renamed")
    if kind == "residents":
        return {**resident_record(rid), "name": "Renamed"}
    if kind == "users":
        return user_record(SCOPE_USER[scope], name="Renamed")
    if kind == "assignments":  # the existing assignment of the resident
        return assignment_record(rid, RESIDENTS[rid][2])
    if kind == "visits":
        return visit_record(f"v-{rid}-{pusher}", rid, pusher)
    assert kind == "concern_updates"
    return concern_record(f"cu-{rid}-{pusher}", rid, f"v-{rid}")


PUSH_CASES = [
    pytest.param(user, kind, scope, row[ROLE_COLUMN[user]], id=f"{user}-{kind}-{scope}")
    for kind, scope, *row in PUSH_RULES
    for user in ROLE_COLUMN
]


@pytest.mark.parametrize(("user", "kind", "scope", "expect"), PUSH_CASES)
async def test_push_authorisation(
    server: Server, user: str, kind: str, scope: str, expect: Expect
) -> None:
    server.council.write(assignment_record("r1", "org1"))  # org1's own resident
    phone = await server.enrol(user)
    change = server.change(phone, push_subject(kind, scope, user))
    before = server.held(kind, change["id"])

    answer = await server.push_ok(phone, change)

    if expect is None:
        assert (answer.accepted, answer.rejected) == (1, [])
        assert server.held(kind, change["id"]) == (change["hlc"], phone.device_id)
        assert server.body(kind, change["id"]) == change
    else:
        field, reason = expect
        assert answer.accepted == 0
        assert without_message(answer.rejected) == [rejection(0, change, field, reason)]
        assert server.held(kind, change["id"]) == before


# ---- 1b. push: the finer rules ---------------------------------------------------

# fmt: off
RULE_CASES: list[tuple[str, str, list[Record], Record, Expect]] = [
    # id, pusher, written on the server first, pushed record, outcome
    ("volunteer-as-another-volunteer", "vol1", [],
     visit_record("v-x", "r1", "vol2"), ("user_id", Reason.OUT_OF_SCOPE)),
    ("volunteer-edits-anothers-visit", "vol1", [visit_record("v-x", "r1", "vol2")],
     visit_record("v-x", "r1", "vol1", note="mine now"),
     ("user_id", Reason.OUT_OF_SCOPE)),
    ("volunteer-corrects-own-visit", "vol1", [visit_record("v-x", "r1", "vol1")],
     visit_record("v-x", "r1", "vol1", outcome="not_home"), OK),
    ("volunteer-deletes-own-visit", "vol1", [visit_record("v-x", "r1", "vol1")],
     visit_record("v-x", "r1", "vol1", deleted=True), OK),
    ("volunteer-moves-own-visit-to-unassigned", "vol1",
     [visit_record("v-x", "r1", "vol1")], visit_record("v-x", "r3", "vol1"),
     NOT_ASSIGNED),
    ("volunteer-inactive-assignment", "vol1",
     [assignment_record("r1", "vol1", active=False)],
     visit_record("v-x", "r1", "vol1"), NOT_ASSIGNED),
    ("volunteer-deleted-assignment", "vol1",
     [{**assignment_record("r1", "vol1"), "deleted": True}],
     visit_record("v-x", "r1", "vol1"), NOT_ASSIGNED),
    ("volunteer-visit-wrong-group", "vol1", [],
     visit_record("v-x", "r1", "vol1", group_id="g2"),
     ("district_id", Reason.BAD_VALUE)),
    ("volunteer-visit-wrong-district", "vol1", [],
     visit_record("v-x", "r1", "vol1", district_id="d2", group_id="g2"),
     ("district_id", Reason.BAD_VALUE)),
    ("coordinator-visit-other-districts-resident", "coord1", [],
     visit_record("v-x", "r4", "vol1", district_id="d1", group_id="g1"),
     ("district_id", Reason.BAD_VALUE)),
    ("coordinator-moves-record-in-from-d2", "coord1", [],
     user_record("vol3", district_id="d1", group_id="g1"), OTHER_DISTRICT),
    ("coordinator-moves-record-out-to-d2", "coord1", [],
     {**resident_record("r1"), "district_id": "d2", "group_id": "g2"},
     OTHER_DISTRICT),
    ("coordinator-grants-coordinator", "coord1", [],
     user_record("vol2", role="coordinator"), ("role", Reason.FORBIDDEN)),
    ("coordinator-grants-admin", "coord1", [],
     user_record("vol2", role="admin"), ("role", Reason.FORBIDDEN)),
    ("coordinator-new-volunteer", "coord1", [],
     user_record("vol2", id="vol9", name="New"), OK),
    ("coordinator-new-district", "coord1", [],
     district_record("d9"), FORBIDDEN_KIND),
    ("coordinator-assignment-unknown-resident", "coord1", [],
     {**assignment_record("r1", "vol1"), "id": "a-r9", "resident_id": "r9"},
     ("resident_id", Reason.UNKNOWN_REFERENCE)),
    ("admin-visit-unknown-resident", "admin1", [],
     visit_record("v-x", "r9", "vol1"), ("resident_id", Reason.UNKNOWN_REFERENCE)),
    ("admin-visit-deleted-resident", "admin1",
     [{**resident_record("r2"), "deleted": True}],
     visit_record("v-x", "r2", "vol1"), ("resident_id", Reason.UNKNOWN_REFERENCE)),
    ("admin-concern-unknown-resident", "admin1", [],
     concern_record("cu-x", "r9", "v-x"), ("resident_id", Reason.UNKNOWN_REFERENCE)),
    ("admin-new-district", "admin1", [], district_record("d9"), OK),
    ("admin-grants-coordinator", "admin1", [],
     user_record("vol2", role="coordinator"), OK),
]
# fmt: on


@pytest.mark.parametrize(
    ("pusher", "setup", "record", "expect"),
    [pytest.param(*case[1:], id=case[0]) for case in RULE_CASES],
)
async def test_push_rule(
    server: Server, pusher: str, setup: list[Record], record: Record, expect: Expect
) -> None:
    if setup:
        server.council.write(*setup)
        server.council.clock.advance(1)  # the push comes later than the setup
    phone = await server.enrol(pusher)
    change = server.change(phone, record)
    before = server.held(record["kind"], record["id"])
    answer = await server.push_ok(phone, change)
    if expect is None:
        assert (answer.accepted, answer.rejected) == (1, [])
        assert server.body(record["kind"], record["id"]) == change
    else:
        field, reason = expect
        assert without_message(answer.rejected) == [rejection(0, change, field, reason)]
        assert server.held(record["kind"], record["id"]) == before


async def test_a_refusal_for_what_is_stored_names_its_place_in_the_batch(
    server: Server,
) -> None:
    """The store refuses an edit of another volunteer's visit inside its
    transaction; the answer still points at the right change."""
    server.council.write(visit_record("v-2", "r1", "vol2"))
    server.council.clock.advance(1)
    phone = await server.enrol("vol1")
    batch = [
        server.change(phone, visit_record("v-1", "r1", "vol1")),
        server.change(phone, visit_record("v-2", "r1", "vol1", note="mine now")),
        server.change(phone, visit_record("v-3", "r1", "vol1")),
    ]
    answer = await server.push_ok(phone, *batch)
    assert answer.accepted == 2
    assert without_message(answer.rejected) == [
        rejection(1, batch[1], "user_id", Reason.OUT_OF_SCOPE)
    ]
    assert server.body("visits", "v-2")["user_id"] == "vol2"
    assert server.body("visits", "v-3") == batch[2]


@pytest.mark.parametrize("deleted", [False, True], ids=["demote", "delete"])
async def test_coordinator_cannot_rewrite_an_admin_account(
    server: Server, deleted: bool
) -> None:
    admin = await server.enrol("admin1")
    office = await server.enrol("coord1")
    record = user_record("admin1", role="volunteer", deleted=deleted)
    change = server.change(office, record)
    before = server.held("users", "admin1")
    answer = await server.push_ok(office, change)
    assert without_message(answer.rejected) == [
        rejection(0, change, "role", Reason.FORBIDDEN)
    ]
    assert server.held("users", "admin1") == before
    me = await server.http.get(f"{API}/me", headers=admin.auth)
    assert me.json()["user"]["role"] == "admin"


@pytest.mark.parametrize("pusher", ["vol1", "coord1", "admin1"])
async def test_origin_must_be_the_pushing_device(server: Server, pusher: str) -> None:
    phone = await server.enrol(pusher)
    other = await server.enrol(pusher)  # the same user's second device
    for origin in (other.device_id, "server", str(uuid.uuid4())):
        change = {**server.change(phone, visit_record("v-x", "r1", pusher))}
        change["origin"] = origin
        answer = await server.push_ok(phone, change)
        assert without_message(answer.rejected) == [
            rejection(0, change, "origin", Reason.NOT_YOUR_DEVICE)
        ]
    assert server.held("visits", "v-x") is None


async def test_a_real_device_pushes_with_its_own_id_as_origin(
    server: Server, tmp_path: Path
) -> None:
    device = await enrol_device(server.council, tmp_path, "vol1")
    row = device_store.device(device.db)
    phone = Phone("vol1", row.device_id, device.token)
    change = server.change(phone, visit_record("v-x", "r1", "vol1"))
    assert (await server.push_ok(phone, change)).accepted == 1
    assert server.held("visits", "v-x") == (change["hlc"], row.device_id)


async def test_a_resident_created_earlier_in_the_batch_can_be_visited(
    server: Server,
) -> None:
    admin = await server.enrol("admin1")
    new = {**resident_record("r1"), "id": "r9", "name": "New"}
    visit = visit_record("v-x", "r9", "vol1")
    answer = await server.push_ok(
        admin, server.change(admin, new), server.change(admin, visit)
    )
    assert (answer.accepted, answer.rejected) == (2, [])
    assert server.held("visits", "v-x") is not None


async def test_a_refused_batch_does_not_hold_up_the_next_from_that_device(
    server: Server,
) -> None:
    admin = await server.enrol("admin1")
    broken = asyncio.ensure_future(
        server.http.post(
            f"{API}/sync/push",
            content=b'{"changes": [',
            headers={**admin.auth, "Content-Type": "application/json"},
        )
    )
    await asyncio.sleep(0)  # the broken request is under way first
    visit = server.change(admin, visit_record("v-next", "r1", "vol1"))
    after = await asyncio.wait_for(server.push_ok(admin, visit), timeout=10)
    assert (after.accepted, after.rejected) == (1, [])
    assert (await broken).status_code == 400


async def test_a_stalled_upload_does_not_hold_up_its_device(
    server: Server,
) -> None:
    """A push whose body stops coming (a dead connection the server has not
    noticed) does not keep the device's next push waiting."""
    admin = await server.enrol("admin1")
    stalled = asyncio.Event()

    async def never_ends() -> AsyncIterator[bytes]:
        yield b'{"changes": ['
        await stalled.wait()

    hanging = asyncio.ensure_future(
        server.http.post(
            f"{API}/sync/push",
            content=never_ends(),
            headers={**admin.auth, "Content-Type": "application/json"},
        )
    )
    await asyncio.sleep(0.05)
    visit = server.change(admin, visit_record("v-next", "r1", "vol1"))
    after = await asyncio.wait_for(server.push_ok(admin, visit), timeout=10)
    assert (after.accepted, after.rejected) == (1, [])
    hanging.cancel()


# ---- 1c. pull: what each role's device receives ----------------------------------

HISTORY_VISITS = {  # id: (resident, visitor)
    "vis-r1": ("r1", "vol1"),
    "vis-r1-vol2": ("r1", "vol2"),  # a stand-in visit: r1's history, not vol1's
    "vis-r2": ("r2", "vol1"),
    "vis-r3": ("r3", "vol2"),
    "vis-r4": ("r4", "vol3"),
}
HISTORY_CONCERNS = {"cu-r1": "r1", "cu-r3": "r3", "cu-r4": "r4"}
EVERYTHING: dict[str, set[str]] = {
    "districts": {"d1", "d2"},
    "groups": {"g1", "g2"},
    "users": set(USERS),
    "residents": set(RESIDENTS),
    "assignments": {f"a-{r}-{u}" for r, (_, _, u) in RESIDENTS.items()},
    "visits": set(HISTORY_VISITS),
    "concern_updates": set(HISTORY_CONCERNS),
}
PULL_EXPECTED: dict[str, dict[str, set[str]]] = {
    "vol1": {
        "districts": {"d1"},
        "groups": {"g1"},
        "users": {"vol1"},
        "residents": {"r1", "r2"},
        "assignments": {"a-r1-vol1", "a-r2-vol1"},
        "visits": {"vis-r1", "vis-r1-vol2", "vis-r2"},
        "concern_updates": {"cu-r1"},
    },
    "vol3": {
        "districts": {"d2"},
        "groups": {"g2"},
        "users": {"vol3"},
        "residents": {"r4"},
        "assignments": {"a-r4-vol3"},
        "visits": {"vis-r4"},
        "concern_updates": {"cu-r4"},
    },
    "org1": {  # an organiser with nobody assigned: only their own user, group, district
        "districts": {"d1"},
        "groups": {"g1"},
        "users": {"org1"},
        "residents": set(),
        "assignments": set(),
        "visits": set(),
        "concern_updates": set(),
    },
    "coord1": {
        "districts": {"d1"},
        "groups": {"g1"},
        "users": {"vol1", "vol2", "org1", "coord1", "admin1"},
        "residents": {"r1", "r2", "r3"},
        "assignments": {"a-r1-vol1", "a-r2-vol1", "a-r3-vol2"},
        "visits": {"vis-r1", "vis-r1-vol2", "vis-r2", "vis-r3"},
        "concern_updates": {"cu-r1", "cu-r3"},
    },
    "admin1": EVERYTHING,
}


def write_history(council: Council) -> None:
    council.write(
        *(visit_record(v, r, u) for v, (r, u) in HISTORY_VISITS.items()),
        *(concern_record(c, r, f"vis-{r}") for c, r in HISTORY_CONCERNS.items()),
    )


@pytest.fixture(scope="module")
def history_council(stores: Stores, module_dir: Path) -> Iterator[Council]:
    council = new_council(stores, module_dir / "history.sqlite")
    write_history(council)
    yield council
    council.close()


@pytest.fixture
async def history(
    history_council: Council, anyio_backend: str
) -> AsyncIterator[Server]:
    """One council with visits in both districts, shared by tests that only pull
    (each with a device of its own)."""
    async with serving(history_council) as server:
        yield server


PULL_CASES = [
    pytest.param(user, kind, id=f"{user}-{kind}")
    for user in PULL_EXPECTED
    for kind in KINDS
]


@pytest.mark.parametrize(("user", "kind"), PULL_CASES)
async def test_pull_scope(history: Server, user: str, kind: str) -> None:
    phone = await history.enrol(user)
    got = await history.pull_all(phone)
    assert got[kind] == PULL_EXPECTED[user].get(kind, set())  # no salons here


@pytest.mark.parametrize("user", list(PULL_EXPECTED))
async def test_small_pages_bring_the_same_records(history: Server, user: str) -> None:
    whole = await history.pull_all(await history.enrol(user))
    assert await history.pull_all(await history.enrol(user), limit=2) == whole
    assert await history.pull_all(await history.enrol(user), limit=1) == whole


async def test_pull_receives_later_changes_only_in_scope(server: Server) -> None:
    """After the first pull, new writes arrive by cursor, still filtered by scope."""
    office = await server.enrol("coord1")
    phone = await server.enrol("vol1")
    first = {
        p.user: await server.http.get(f"{API}/sync/pull", headers=p.auth)
        for p in (office, phone)
    }
    write_history(server.council)
    for p, expected in ((office, PULL_EXPECTED["coord1"]), (phone, {})):
        cursor = first[p.user].json()["cursor"]
        got: set[str] = set()
        more = True
        while more:
            page = (
                await server.http.get(
                    f"{API}/sync/pull", params={"cursor": cursor}, headers=p.auth
                )
            ).json()
            got |= {c["id"] for c in page["changes"]}
            cursor, more = page["cursor"], page["more"]
        if p is office:
            assert got == expected["visits"] | expected["concern_updates"]
        else:
            assert got == {"vis-r1", "vis-r1-vol2", "vis-r2", "cu-r1"}


# ---- 2. bad input --------------------------------------------------------------


def padded(body: bytes, size: int) -> bytes:
    """``body`` followed by JSON whitespace up to ``size`` bytes."""
    return body + b" " * (size - len(body))


EMPTY_PUSH = b'{"changes":[]}'


def oversized() -> bytes:
    """A valid push one byte over the limit."""
    return padded(EMPTY_PUSH, MAX_BODY_BYTES + 1)


def gzip_bomb() -> bytes:
    """A few kilobytes that inflate past the limit."""
    return gzip.compress(oversized(), compresslevel=9)


BIG_BODIES = {"oversized": oversized, "gzip-bomb": gzip_bomb}
# fmt: off
BAD_BODIES: list[tuple[str, bytes | str, dict[str, str], int, str, str | None]] = [
    # id, body (or the name of a big one, built when used), extra headers, status,
    # code, field
    ("malformed-json", b'{"changes": [', {}, 400, "malformed_json", None),
    ("not-utf8", b"\xff\xfe{}", {}, 400, "malformed_json", None),
    ("empty-body", b"", {}, 400, "malformed_json", None),
    ("body-is-a-list", b"[]", {}, 400, "malformed_json", None),
    ("body-is-a-string", b'"changes"', {}, 400, "malformed_json", None),
    ("body-is-null", b"null", {}, 400, "malformed_json", None),
    ("changes-missing", b"{}", {}, 400, "invalid_request", "changes"),
    ("changes-an-object", b'{"changes": {}}', {}, 400, "invalid_request", "changes"),
    ("changes-null", b'{"changes": null}', {}, 400, "invalid_request", "changes"),
    ("changes-a-string", b'{"changes": "[]"}', {}, 400, "invalid_request", "changes"),
    ("unknown-top-level-field", b'{"changes": [], "force": true}', {}, 400,
     "unknown_field", "force"),
    ("not-gzip", EMPTY_PUSH, {"Content-Encoding": "gzip"}, 400, "malformed_gzip",
     None),
    ("unknown-encoding", EMPTY_PUSH, {"Content-Encoding": "br"}, 415,
     "unsupported_encoding", None),
    ("over-size-limit", "oversized", {}, 413, "too_large", None),
    ("gzip-bomb", "gzip-bomb", {"Content-Encoding": "gzip"}, 413, "too_large",
     None),
    ("too-many-changes",
     json.dumps({"changes": [{}] * (MAX_CHANGES_PER_PUSH + 1)}).encode(), {}, 413,
     "too_many_changes", "changes"),
    ("utf16", '{"changes": []}'.encode("utf-16"), {}, 400, "malformed_json", None),
    # Half a UTF-16 pair spelt in JSON: no UTF-8 answer or column can hold it.
    ("lone-surrogate-value", b'{"changes": [{"kind": "districts", "name": "\\ud800"}]}',
     {}, 400, "malformed_json", None),
    ("lone-surrogate-kind", b'{"changes": [{"kind": "\\uDC00"}]}', {}, 400,
     "malformed_json", None),
    ("lone-surrogate-key", b'{"changes": [{"\\ud83d": 1}]}', {}, 400,
     "malformed_json", None),
]
# fmt: on


@pytest.mark.parametrize(
    ("body", "headers", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_BODIES],
)
async def test_bad_push_body_is_refused_whole(
    refusals: Server,
    body: bytes | str,
    headers: dict[str, str],
    status: int,
    code: str,
    field: str | None,
) -> None:
    phone = await refusals.enrol("admin1")
    count = refusals.count()
    response = await refusals.http.post(
        f"{API}/sync/push",
        content=BIG_BODIES[body]() if isinstance(body, str) else body,
        headers={**phone.auth, "Content-Type": "application/json", **headers},
    )
    assert_error(response, status, code, field)
    assert refusals.count() == count


async def test_an_escaped_surrogate_pair_is_one_character(server: Server) -> None:
    """JSON spells an emoji as two escapes; together they are fine."""
    phone = await server.enrol("vol1")
    change = server.change(phone, {**VISIT, "note": "\U0001f600 smile"})
    response = await server.http.post(
        f"{API}/sync/push",
        content=json.dumps({"changes": [change]}).encode(),  # ASCII: \ud83d\ude00
        headers={**phone.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert server.body("visits", VISIT["id"])["note"] == "\U0001f600 smile"


async def test_a_gzip_bomb_is_small_on_the_wire() -> None:
    assert len(gzip_bomb()) < 16 * 1024


async def test_an_undeclared_streamed_body_over_the_limit_is_refused(
    server: Server,
) -> None:
    """No Content-Length to trust: the server counts while it reads."""
    phone = await server.enrol("admin1")
    count = server.count()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"changes":[]}'
        for _ in range(MAX_BODY_BYTES // (64 * 1024) + 1):
            yield b" " * (64 * 1024)

    response = await server.http.post(
        f"{API}/sync/push", content=chunks(), headers=phone.auth
    )
    assert_error(response, 413, "too_large")
    assert server.count() == count


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
async def test_a_body_of_exactly_the_limit_is_read(
    server: Server, encoding: str
) -> None:
    phone = await server.enrol("admin1")
    change = server.change(phone, visit_record("v-x", "r1", "vol1"))
    body = padded(json.dumps({"changes": [change]}).encode(), MAX_BODY_BYTES)
    if encoding == "gzip":
        body = gzip.compress(body)
    response = await server.http.post(
        f"{API}/sync/push",
        content=body,
        headers={**phone.auth, "Content-Encoding": encoding},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


async def test_a_full_batch_is_answered_change_by_change(server: Server) -> None:
    phone = await server.enrol("admin1")
    count = server.count()
    answer = await server.push_ok(phone, *[{}] * MAX_CHANGES_PER_PUSH)
    assert answer.accepted == 0
    assert without_message(answer.rejected) == [
        rejection(i, {}, "kind", Reason.UNKNOWN_KIND)
        for i in range(MAX_CHANGES_PER_PUSH)
    ]
    assert server.count() == count


RESIDENT = resident_record("r1")
VISIT = visit_record("v-x", "r1", "vol1")
# fmt: off
BAD_CHANGES: list[tuple[str, Record, Any, str, Reason]] = [
    # id, base record, {field: value} to set (or a whole non-object change),
    # field, reason
    ("every-days-as-text", RESIDENT, {"visit_every_days": "7"}, "visit_every_days",
     Reason.WRONG_TYPE),
    ("every-days-as-bool", RESIDENT, {"visit_every_days": True}, "visit_every_days",
     Reason.WRONG_TYPE),
    ("every-days-as-float", RESIDENT, {"visit_every_days": 7.5}, "visit_every_days",
     Reason.WRONG_TYPE),
    ("every-days-negative", RESIDENT, {"visit_every_days": -1}, "visit_every_days",
     Reason.BAD_VALUE),
    ("every-days-huge", RESIDENT, {"visit_every_days": 10_001}, "visit_every_days",
     Reason.BAD_VALUE),
    ("deleted-as-1", RESIDENT, {"deleted": 1}, "deleted", Reason.WRONG_TYPE),
    ("consent-as-yes", RESIDENT, {"consent": "yes"}, "consent", Reason.WRONG_TYPE),
    ("name-null", RESIDENT, {"name": None}, "name", Reason.WRONG_TYPE),
    ("name-a-number", RESIDENT, {"name": 5}, "name", Reason.WRONG_TYPE),
    ("name-too-long", RESIDENT, {"name": "x" * (TEXT_MAX_CHARS + 1)}, "name",
     Reason.TOO_LONG),
    ("name-control-char", RESIDENT, {"name": "Ao\x00ki"}, "name",
     Reason.CONTROL_CHARS),
    ("name-newline", RESIDENT, {"name": "Ao\nki"}, "name", Reason.CONTROL_CHARS),
    ("name-bidi-override", RESIDENT, {"name": "Ao\u202eki"}, "name",
     Reason.CONTROL_CHARS),
    ("id-empty", RESIDENT, {"id": ""}, "id", Reason.BAD_VALUE),
    ("id-too-long", RESIDENT, {"id": "r" * 65}, "id", Reason.TOO_LONG),
    ("unknown-field", RESIDENT, {"colour": "red"}, "colour", Reason.UNKNOWN_FIELD),
    ("unknown-kind", RESIDENT, {"kind": "pets"}, "kind", Reason.UNKNOWN_KIND),
    ("kind-null", RESIDENT, {"kind": None}, "kind", Reason.UNKNOWN_KIND),
    ("since-not-a-day", RESIDENT, {"since": "2026-02-30"}, "since", Reason.BAD_VALUE),
    ("since-short", RESIDENT, {"since": "2026-1-1"}, "since", Reason.BAD_VALUE),
    ("outcome-fine", VISIT, {"outcome": "fine"}, "outcome", Reason.BAD_VALUE),
    ("urgency-soon", VISIT, {"urgency": "soon"}, "urgency", Reason.BAD_VALUE),
    ("category-unknown", VISIT, {"concern_category": "pets"}, "concern_category",
     Reason.BAD_VALUE),
    ("note-too-long", VISIT, {"note": "x" * (NOTE_MAX_CHARS + 1)}, "note",
     Reason.TOO_LONG),
    ("note-control-char", VISIT, {"note": "line\x07"}, "note", Reason.CONTROL_CHARS),
    ("visited-at-no-ms", VISIT, {"visited_at": "2026-11-25T01:00:00Z"}, "visited_at",
     Reason.BAD_VALUE),
    ("visited-at-offset", VISIT, {"visited_at": "2026-11-25T10:00:00.000+09:00"},
     "visited_at", Reason.BAD_VALUE),
    ("visited-at-not-a-time", VISIT, {"visited_at": "2026-11-25T25:00:00.000Z"},
     "visited_at", Reason.BAD_VALUE),
    ("visited-at-far-future", VISIT, {"visited_at": "2026-11-27T01:00:00.000Z"},
     "visited_at", Reason.CLOCK_AHEAD),
    ("hlc-short", VISIT, {"hlc": "12345-00000"}, "hlc", Reason.BAD_VALUE),
    ("hlc-a-number", VISIT, {"hlc": 1764118800000}, "hlc", Reason.WRONG_TYPE),
    ("hlc-far-ahead", VISIT, {"hlc": "1795741200000-00000"}, "hlc",
     Reason.CLOCK_AHEAD),
    ("outcome-missing", VISIT, {"outcome": ...}, "outcome", Reason.MISSING_FIELD),
    ("origin-missing", VISIT, {"origin": ...}, "origin", Reason.MISSING_FIELD),
    ("district-not-its-own-scope", district_record("d1"), {"district_id": "d2"},
     "district_id", Reason.BAD_VALUE),
    ("role-superuser", user_record("vol2"), {"role": "superuser"}, "role",
     Reason.BAD_VALUE),
    ("change-a-list", RESIDENT, [], "", Reason.MALFORMED),
    ("change-a-number", RESIDENT, 7, "", Reason.MALFORMED),
    ("change-null", RESIDENT, None, "", Reason.MALFORMED),
]
# fmt: on


def spoil(change: Record, edit: Any) -> Any:
    """``change`` with ``edit`` applied: {field: value} (``...`` drops the field),
    or ``edit`` itself when it is not a dict: a change that is not an object."""
    if not isinstance(edit, dict):
        return edit
    out = {**change, **edit}
    return {k: v for k, v in out.items() if v is not ...}


@pytest.mark.parametrize(
    ("record", "edit", "field", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_CHANGES],
)
async def test_a_bad_change_is_rejected_with_its_field(
    refusals: Server, record: Record, edit: Any, field: str, reason: Reason
) -> None:
    phone = await refusals.enrol("admin1")
    bad = spoil(refusals.change(phone, record), edit)
    count = refusals.count()
    before = refusals.held(record["kind"], record["id"])
    answer = await refusals.push_ok(phone, bad)
    assert answer.accepted == 0
    assert without_message(answer.rejected) == [rejection(0, bad, field, reason)]
    assert refusals.count() == count
    assert refusals.held(record["kind"], record["id"]) == before


@pytest.mark.parametrize(
    ("ahead", "accepted"),
    [
        (CLOCK_AHEAD_LIMIT, True),
        (CLOCK_AHEAD_LIMIT + timedelta(milliseconds=1), False),
    ],
    ids=["at-limit", "past-limit"],
)
@pytest.mark.parametrize("field", ["hlc", "visited_at"])
async def test_clock_ahead_limit(
    server: Server, field: str, ahead: timedelta, accepted: bool
) -> None:
    phone = await server.enrol("vol1")
    later = server.now + ahead
    change = server.change(phone, visit_record("v-x", "r1", "vol1"))
    if field == "hlc":
        change["hlc"] = stamp(later)
    else:
        change["visited_at"] = later.strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{later.microsecond // 1000:03d}Z"
        )
    answer = await server.push_ok(phone, change)
    if accepted:
        assert answer.accepted == 1
    else:
        assert without_message(answer.rejected) == [
            rejection(0, change, field, Reason.CLOCK_AHEAD)
        ]
        assert server.held("visits", "v-x") is None


async def test_one_bad_change_does_not_block_the_good_ones(server: Server) -> None:
    office = await server.enrol("coord1")
    good_visit = server.change(office, visit_record("v-good", "r1", "vol1"))
    bad_enum = server.change(office, visit_record("v-bad", "r1", "vol1"))
    bad_enum["outcome"] = "fine"
    other_district = server.change(office, {**resident_record("r4"), "name": "X"})
    good_edit = server.change(office, {**resident_record("r2"), "name": "Edited"})
    wrong_type = server.change(office, {**resident_record("r3"), "consent": "yes"})
    answer = await server.push_ok(
        office, good_visit, bad_enum, other_district, good_edit, wrong_type
    )
    assert answer.accepted == 2
    assert without_message(answer.rejected) == [
        rejection(1, bad_enum, "outcome", Reason.BAD_VALUE),
        rejection(2, other_district, "district_id", Reason.OUT_OF_SCOPE),
        rejection(4, wrong_type, "consent", Reason.WRONG_TYPE),
    ]
    assert server.body("visits", "v-good") == good_visit
    assert server.body("residents", "r2")["name"] == "Edited"
    assert server.held("visits", "v-bad") is None
    assert server.body("residents", "r4")["name"] == "Resident r4"
    assert server.body("residents", "r3")["consent"] is True


# fmt: off
BAD_PULLS: list[tuple[str, dict[str, str], str, str]] = [
    # id, query, code, field
    ("cursor-garbage", {"cursor": "garbage"}, "bad_cursor", "cursor"),
    ("cursor-other-version", {"cursor": "v2.0.0"}, "bad_cursor", "cursor"),
    ("cursor-two-parts", {"cursor": "v1.0"}, "bad_cursor", "cursor"),
    ("cursor-four-parts", {"cursor": "v1.0.0.0"}, "bad_cursor", "cursor"),
    ("cursor-negative", {"cursor": "v1.-1.0"}, "bad_cursor", "cursor"),
    ("cursor-letters", {"cursor": "v1.a.0"}, "bad_cursor", "cursor"),
    ("cursor-empty-part", {"cursor": "v1..0"}, "bad_cursor", "cursor"),
    ("limit-zero", {"limit": "0"}, "bad_limit", "limit"),
    ("limit-negative", {"limit": "-1"}, "bad_limit", "limit"),
    ("limit-over-max", {"limit": str(MAX_PULL_LIMIT + 1)}, "bad_limit", "limit"),
    ("limit-text", {"limit": "ten"}, "invalid_request", "limit"),
    ("limit-float", {"limit": "1.5"}, "invalid_request", "limit"),
]
# fmt: on


@pytest.mark.parametrize(
    ("user", "query", "code", "field"),
    [pytest.param("coord1", *case[1:], id=case[0]) for case in BAD_PULLS]
    + [
        pytest.param(
            user,
            {"cursor": cursor},
            "bad_cursor",
            "cursor",
            id=f"{name}-{user}",
        )
        for name, cursor in (
            ("cursor-superscript-digit", "v1.\u00b2.0"),
            ("cursor-seq-past-int64", "v1." + "9" * 20 + ".0"),
            ("cursor-snap-past-int64", "v1.0." + "9" * 20),
        )
        for user in ("vol1", "coord1")
    ],
)
async def test_bad_pull_is_refused(
    refusals: Server, user: str, query: dict[str, str], code: str, field: str
) -> None:
    phone = await refusals.enrol(user)
    response = await refusals.http.get(
        f"{API}/sync/pull", params=query, headers=phone.auth
    )
    assert_error(response, 400, code, field)


@pytest.mark.parametrize("limit", [1, MAX_PULL_LIMIT])
async def test_pull_limit_bounds_are_accepted(server: Server, limit: int) -> None:
    phone = await server.enrol("admin1")
    response = await server.http.get(
        f"{API}/sync/pull", params={"limit": limit}, headers=phone.auth
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["changes"]) <= limit


ENDPOINTS = [
    pytest.param("POST", "/sync/push", id="push"),
    pytest.param("GET", "/sync/pull", id="pull"),
    pytest.param("GET", "/me", id="me"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dm9sMTpwdw==", "Bearer not-a-token"],
    ids=["none", "empty", "bearer-only", "bearer-blank", "basic", "unknown"],
)
async def test_no_valid_token_is_unauthorized(
    refusals: Server, method: str, path: str, authorization: str | None
) -> None:
    await refusals.enrol("vol1")
    count = refusals.count()
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {"changes": [refusals.change(Phone("vol1", "x", ""), VISIT)]}
    response = await refusals.http.request(
        method,
        f"{API}{path}",
        json=body if method == "POST" else None,
        headers=headers,
    )
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert refusals.count() == count


@pytest.mark.parametrize("method,path", ENDPOINTS)
async def test_a_revoked_device_is_told_so(
    server: Server, method: str, path: str
) -> None:
    phone = await server.enrol("vol1")
    change = server.change(phone, visit_record("v-x", "r1", "vol1"))
    assert server.council.store.revoke_device(phone.device_id, now=server.now)
    count = server.count()
    response = await server.http.request(
        method,
        f"{API}{path}",
        json={"changes": [change]} if method == "POST" else None,
        headers=phone.auth,
    )
    assert_error(response, 401, "revoked")
    assert server.count() == count


async def test_revoking_one_device_leaves_the_others(server: Server) -> None:
    lost = await server.enrol("vol1")
    kept = await server.enrol("vol1")
    server.council.store.revoke_device(lost.device_id, now=server.now)
    assert (await server.http.get(f"{API}/me", headers=kept.auth)).status_code == 200
    change = server.change(kept, visit_record("v-x", "r1", "vol1"))
    assert (await server.push_ok(kept, change)).accepted == 1


async def test_a_deleted_users_device_is_revoked(server: Server) -> None:
    phone = await server.enrol("vol1")
    server.council.write({**user_record("vol1"), "deleted": True})
    response = await server.http.get(f"{API}/sync/pull", headers=phone.auth)
    assert_error(response, 401, "revoked")


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/sync/push", 405, "method_not_allowed"),
        ("DELETE", "/me", 405, "method_not_allowed"),
    ],
)
async def test_routing_errors_have_the_same_shape(
    refusals: Server, method: str, path: str, status: int, code: str
) -> None:
    response = await refusals.http.request(method, f"{API}{path}")
    assert_error(response, status, code)


# ---- 3. enrolment -------------------------------------------------------------


async def enrol_raw(
    server: Server, code: str, device_id: str | None = None, **extra: Any
) -> httpx.Response:
    body = {
        "code": code,
        "device_id": device_id or str(uuid.uuid4()),
        "device_name": "Hanako's phone",
        **extra,
    }
    return await server.http.post(f"{API}/enrol", json=body)


async def test_enrolment_returns_a_token_and_the_user(server: Server) -> None:
    device_id = str(uuid.uuid4())
    response = await enrol_raw(server, server.council.invite("coord1"), device_id)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"ok", "device_id", "token", "user"}
    assert answer["ok"] is True and answer["device_id"] == device_id
    assert isinstance(answer["token"], str) and len(answer["token"]) >= 40
    assert answer["user"] == {
        "id": "coord1",
        "name": "User coord1",
        "role": "coordinator",
        "district_id": "d1",
        "group_id": "g1",
        "districts": ["d1"],
    }


async def test_the_server_stores_only_a_hash_of_the_token(
    server: Server, council: Council
) -> None:
    code = council.invite("vol1")
    answer = (await enrol_raw(server, code)).json()
    token: str = answer["token"]
    rows = stored_rows(council)
    hashes = [r["token_hash"] for table, r in rows if table == "devices"]
    assert hashes == [digest(token)]
    for table, row in rows:
        text = json.dumps(row, default=str)
        assert token not in text and code not in text, table
    if council.engine != "sqlite":
        return
    council.store.db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[attr-defined]
    files = [p for p in council.path.parent.iterdir() if p.name.startswith("server")]
    assert council.path in files
    for path in files:
        raw = path.read_bytes()
        assert token.encode() not in raw and code.encode() not in raw, path.name


@pytest.mark.parametrize(
    "typed",
    [
        lambda c: c.lower(),
        lambda c: f"{c[:5]}-{c[5:]}",
        lambda c: f"  {c[:3]} {c[3:6]} {c[6:]} ",
        lambda c: f"{c[:5]}-{c[5:]}".lower(),
        lambda c: "-".join(c),
    ],
    ids=["lower", "dash", "spaces", "lower-dash", "dash-every-char"],
)
async def test_codes_ignore_case_spaces_and_dashes(server: Server, typed: Any) -> None:
    code = server.council.invite("vol1")
    response = await enrol_raw(server, typed(code))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == "vol1"


async def test_a_used_code_is_refused(server: Server) -> None:
    code = server.council.invite("vol1")
    assert (await enrol_raw(server, code)).status_code == 200
    assert_error(await enrol_raw(server, code), 400, "invitation_used", "code")
    assert_error(await enrol_raw(server, code.lower()), 400, "invitation_used", "code")


@pytest.mark.parametrize(
    ("after", "expired"),
    [
        (timedelta(hours=72) - timedelta(seconds=1), False),
        (timedelta(hours=72), True),
        (timedelta(hours=72, seconds=1), True),
        (timedelta(days=30), True),
    ],
    ids=["just-before", "at-72h", "just-after", "a-month"],
)
async def test_a_code_expires_after_72_hours(
    server: Server, after: timedelta, expired: bool
) -> None:
    code = server.council.invite("vol1")
    server.council.clock.advance(after.total_seconds())
    response = await enrol_raw(server, code)
    if expired:
        assert_error(response, 400, "invitation_expired", "code")
    else:
        assert response.status_code == 200, response.text


async def test_an_unknown_code_is_refused(server: Server) -> None:
    server.council.invite("vol1")
    assert_error(
        await enrol_raw(server, "ABCDEFGHJK"), 400, "invitation_unknown", "code"
    )


async def test_a_device_id_enrols_once(server: Server) -> None:
    device_id = str(uuid.uuid4())
    assert (
        await enrol_raw(server, server.council.invite("vol1"), device_id)
    ).is_success
    second = server.council.invite("vol2")
    assert_error(
        await enrol_raw(server, second, device_id), 409, "device_taken", "code"
    )
    # The refused code was not spent.
    assert (await enrol_raw(server, second)).status_code == 200


# fmt: off
BAD_ENROLMENTS: list[tuple[str, Record, int, str, str | None]] = [
    # id, body fields over a good one, status, code, field
    ("device-id-not-uuid", {"device_id": "phone-1"}, 400, "invalid_request",
     "device_id"),
    ("device-id-missing", {"device_id": None}, 400, "invalid_request", "device_id"),
    ("code-missing", {"code": None}, 400, "invalid_request", "code"),
    ("code-a-number", {"code": 12345}, 400, "invalid_request", "code"),
    ("code-too-long", {"code": "A" * 33}, 400, "invalid_request", "code"),
    ("name-blank", {"device_name": "   "}, 400, "invalid_request", "device_name"),
    ("name-control-char", {"device_name": "pho\x1bne"}, 400, "invalid_request",
     "device_name"),
    ("unknown-field", {"role": "admin"}, 400, "unknown_field", "role"),
]
# fmt: on


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_ENROLMENTS],
)
async def test_a_bad_enrolment_request_is_refused(
    server: Server, fields: Record, status: int, code: str, field: str | None
) -> None:
    invited = server.council.invite("vol1")
    body = {
        "code": invited,
        "device_id": str(uuid.uuid4()),
        "device_name": "phone",
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}
    response = await server.http.post(f"{API}/enrol", json=body)
    assert_error(response, status, code, field)
    assert (await enrol_raw(server, invited)).status_code == 200  # not spent


async def test_enrolment_is_rate_limited_per_client(
    stores: Stores, server_dir: Path
) -> None:
    limiter = EnrolmentLimiter(per_device=10, per_address=10)
    council = stores.council(server_dir / "server.sqlite", limiter=limiter)
    transport = httpx.ASGITransport(app=council.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        server = Server(council, http)
        code = council.invite("vol1")
        for attempt in range(10):
            council.clock.advance(1)
            wrong = await enrol_raw(server, f"WRONGCODE{attempt}")
            assert_error(wrong, 400, "invitation_unknown", "code")
        for typed in ("ANOTHERONE", code):  # even the right code, now
            refused = await enrol_raw(server, typed)
            assert_error(refused, 429, "too_many_attempts")
            retry_after = int(refused.headers["retry-after"])
            assert 1 <= retry_after <= limiter.window + 1
        # After the window the right code still works: it was never tried.
        council.clock.advance(limiter.window + 10)
        assert (await enrol_raw(server, code)).status_code == 200
    council.close()


@pytest.mark.parametrize(
    ("user", "role", "districts"),
    [
        ("vol1", "volunteer", ["d1"]),
        ("vol3", "volunteer", ["d2"]),
        ("org1", "organiser", ["d1"]),
        ("coord1", "coordinator", ["d1"]),
        ("admin1", "admin", ["d1"]),
    ],
)
async def test_me_tells_the_role_and_districts(
    server: Server, user: str, role: str, districts: list[str]
) -> None:
    phone = await server.enrol(user)
    response = await server.http.get(f"{API}/me", headers=phone.auth)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["ok"] is True and answer["device_id"] == phone.device_id
    me = answer["user"]
    assert (me["id"], me["role"], me["districts"]) == (user, role, districts)
    assert (me["district_id"], me["group_id"]) == USERS[user][1:]


# ---- 4. idempotency and last writer wins ----------------------------------------


async def test_the_same_change_twice_is_stored_once(server: Server) -> None:
    phone = await server.enrol("vol1")
    change = server.change(phone, visit_record("v-x", "r1", "vol1", note="once"))
    count = server.count()
    for _ in range(2):
        answer = await server.push_ok(phone, change)
        assert (answer.accepted, answer.rejected) == (1, [])
    both = await server.push_ok(phone, change, change)
    assert (both.accepted, both.rejected) == (2, [])
    assert server.count() == count + 1
    assert server.body("visits", "v-x") == change
    office = await server.enrol("coord1")
    pulled = await server.http.get(f"{API}/sync/pull", headers=office.auth)
    ids = [c["id"] for c in pulled.json()["changes"] if c["kind"] == "visits"]
    assert ids == ["v-x"]


async def test_an_older_write_is_a_no_op(server: Server) -> None:
    phone = await server.enrol("admin1")
    newer = server.change(phone, {**resident_record("r1"), "name": "Newer"})
    older = server.change(
        phone,
        {**resident_record("r1"), "name": "Older"},
        hlc=stamp(server.now - timedelta(seconds=1)),
    )
    assert (await server.push_ok(phone, newer)).accepted == 1
    answer = await server.push_ok(phone, older)
    assert (answer.accepted, answer.rejected) == (1, [])
    assert server.body("residents", "r1") == newer


@pytest.mark.parametrize("first", ["a", "b"])
async def test_an_hlc_tie_goes_to_the_larger_origin(server: Server, first: str) -> None:
    phones = {
        name: await server.enrol("admin1", f"00000000-0000-7000-8000-00000000000{name}")
        for name in ("a", "b")
    }
    hlc = stamp(server.now, counter=3)
    changes = {
        name: server.change(
            phone, {**resident_record("r1"), "name": f"From {name}"}, hlc=hlc
        )
        for name, phone in phones.items()
    }
    for name in (first, "b" if first == "a" else "a"):
        assert (await server.push_ok(phones[name], changes[name])).accepted == 1
    assert server.body("residents", "r1") == changes["b"]


async def test_a_later_counter_wins_within_one_millisecond(server: Server) -> None:
    phone = await server.enrol("admin1")
    second = server.change(
        phone, {**resident_record("r1"), "name": "Second"}, hlc=stamp(server.now, 1)
    )
    first = server.change(
        phone, {**resident_record("r1"), "name": "First"}, hlc=stamp(server.now, 0)
    )
    await server.push_ok(phone, second, first)
    assert server.body("residents", "r1") == second


async def test_a_server_write_after_a_push_wins(server: Server) -> None:
    phone = await server.enrol("admin1")
    ahead = stamp(server.now + timedelta(minutes=4))  # allowed: under 5 minutes
    pushed = server.change(phone, {**resident_record("r1"), "name": "Phone"}, hlc=ahead)
    assert (await server.push_ok(phone, pushed)).accepted == 1
    server.council.clock.advance(1)
    server.council.write({**resident_record("r1"), "name": "Office"})
    assert server.body("residents", "r1")["name"] == "Office"


# ---- 5. OpenAPI -------------------------------------------------------------------


async def test_the_openapi_document_lists_the_endpoints(server: Server) -> None:
    response = await server.http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, method in (
        ("/api/v1/sync/push", "post"),
        ("/api/v1/sync/pull", "get"),
        ("/api/v1/enrol", "post"),
        ("/api/v1/me", "get"),
    ):
        assert method in paths[path], path
    push_body = paths["/api/v1/sync/push"]["post"]["requestBody"]
    schema = push_body["content"]["application/json"]["schema"]
    assert schema["properties"]["changes"]["maxItems"] == MAX_CHANGES_PER_PUSH
