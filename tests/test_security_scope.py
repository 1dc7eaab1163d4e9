"""Issue 8, found by probing the server as an attacker: scope laundering in a
push, what a volunteer's phone may hold, the checks the device makes made
again by the server, assignments, the write quota, revocation at write time
and the audit trail.

Every test runs the real app over a real SQLite file, in process through
httpx.ASGITransport, with tokens got through the real enrolment endpoint
(tests/test_server.py's Server); where a device's own file matters, through
AppState devices (tests/support.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server_process import Wire
from tests.support import (
    BASE_URL,
    Council,
    Stores,
    assignment_record,
    enrol_device,
    resident_record,
)
from tests.test_server import (
    Phone,
    Server,
    assert_error,
    concern_record,
    new_council,
    rejection,
    serving,
    stamp,
    user_record,
    visit_record,
    without_message,
)
from tests.test_sync_faults import serving as serving_on_socket
from watchapp import store as device_store
from watchapp.__main__ import main
from watchapp.domain.model import Concern, ConcernCategory, Outcome, Urgency
from watchapp.domain.schema import format_datetime
from watchapp.domain.validation import MAX_BACKDATE
from watchapp.server.context import Context
from watchapp.server.store import open_store
from watchapp.sync.protocol import API, Reason

pytestmark = pytest.mark.anyio

Record = dict[str, Any]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server(
    stores: Stores, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[Server]:
    council = new_council(stores, tmp_path / "server.sqlite")
    async with serving(council) as server:
        yield server
    council.close()


def context(server: Server) -> Context:
    ctx: Context = server.council.app.state.context
    return ctx


async def pulled(server: Server, phone: Phone) -> list[Record]:
    """Every change a device receives from a first sync, pulling until done."""
    out: list[Record] = []
    cursor = ""
    for _ in range(100):
        response = await server.http.get(
            f"{API}/sync/pull", params={"cursor": cursor}, headers=phone.auth
        )
        assert response.status_code == 200, response.text
        page = response.json()
        out += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            return out
    raise AssertionError("the pull never ended")


def ids(changes: list[Record], kind: str) -> set[str]:
    return {c["id"] for c in changes if c["kind"] == kind}


async def push_meanwhile(
    server: Server, phone: Phone, change: Record, meanwhile: Callable[[], object]
) -> httpx.Response:
    """Push ``change`` as a body that comes in two parts, with ``meanwhile``
    done on the server between them: after the head was authenticated, before
    the body is whole."""
    body = json.dumps({"changes": [change]}).encode()

    async def trickle() -> AsyncIterator[bytes]:
        yield body[:10]
        meanwhile()
        yield body[10:]

    return await server.http.post(
        f"{API}/sync/push", content=trickle(), headers=phone.auth
    )


# ---- 1. a batch cannot launder scope ------------------------------------------------


async def test_a_refused_resident_carries_nothing_in_with_it(server: Server) -> None:
    """The probe: a district-1 coordinator re-files district 2's resident r4 as
    hers (refused), then assigns her volunteer to r4 and logs a visit to r4 "by"
    district 2's volunteer, in the same batch. All three are refused; nothing
    of r4 reaches vol1, and vol3's round is untouched."""
    coord = await server.enrol("coord1")
    refiled = {**resident_record("r4"), "district_id": "d1", "group_id": "g1"}
    assignment = {
        **assignment_record("r1", "vol1"),
        "id": "a-r4-vol1",
        "resident_id": "r4",
    }
    fake_visit = visit_record("v-fake", "r4", "vol3", district_id="d1", group_id="g1")
    batch = [server.change(coord, r) for r in (refiled, assignment, fake_visit)]
    before = [server.held(r["kind"], r["id"]) for r in batch]

    answer = await server.push_ok(coord, *batch)

    assert answer.accepted == 0
    assert without_message(answer.rejected) == [
        rejection(0, batch[0], "district_id", Reason.OUT_OF_SCOPE),
        rejection(1, batch[1], "resident_id", Reason.DEPENDS_ON_REFUSED),
        rejection(2, batch[2], "resident_id", Reason.DEPENDS_ON_REFUSED),
    ]
    assert [server.held(r["kind"], r["id"]) for r in batch] == before
    vol1 = await server.enrol("vol1")
    assert "r4" not in ids(await pulled(server, vol1), "residents")
    vol3 = await server.enrol("vol3")
    assert "v-fake" not in ids(await pulled(server, vol3), "visits")


async def test_a_later_batch_is_judged_against_what_is_stored(server: Server) -> None:
    """The refused claim does not linger for the next push either: the
    assignment is judged against r4 as stored (district 2)."""
    coord = await server.enrol("coord1")
    refiled = {**resident_record("r4"), "district_id": "d1", "group_id": "g1"}
    first = await server.push_ok(coord, server.change(coord, refiled))
    assert first.accepted == 0
    assignment = server.change(
        coord,
        {**assignment_record("r1", "vol1"), "id": "a-r4-vol1", "resident_id": "r4"},
    )
    answer = await server.push_ok(coord, assignment)
    assert without_message(answer.rejected) == [
        rejection(0, assignment, "district_id", Reason.BAD_VALUE)
    ]
    assert server.held("assignments", "a-r4-vol1") is None


async def test_a_change_the_checks_refused_is_refused_for_what_refers_to_it(
    server: Server,
) -> None:
    """A new resident with a name too long, and an assignment to them in the
    same push: the assignment is refused, saying why."""
    coord = await server.enrol("coord1")
    new = {**resident_record("r1"), "id": "r-new", "name": "x" * 10_000}
    assignment = {
        **assignment_record("r1", "vol1"),
        "id": "a-new",
        "resident_id": "r-new",
    }
    batch = [server.change(coord, new), server.change(coord, assignment)]
    answer = await server.push_ok(coord, *batch)
    assert [(e["index"], e["reason"]) for e in answer.rejected] == [
        (0, Reason.TOO_LONG.value),
        (1, Reason.DEPENDS_ON_REFUSED.value),
    ]


async def test_what_a_push_accepted_earlier_counts_for_the_rest(server: Server) -> None:
    """The honest case stays: a new resident, a new volunteer and the
    assignment of one to the other, in one push, all accepted."""
    coord = await server.enrol("coord1")
    batch = [
        server.change(coord, r)
        for r in (
            {**resident_record("r1"), "id": "r-new"},
            user_record("vol2", id="vol-new", name="New"),
            {
                **assignment_record("r1", "vol1"),
                "id": "a-new",
                "resident_id": "r-new",
                "user_id": "vol-new",
            },
        )
    ]
    answer = await server.push_ok(coord, *batch)
    assert (answer.accepted, answer.rejected) == (3, [])


async def test_an_assignment_left_behind_when_a_resident_moved_gives_nothing(
    server: Server,
) -> None:
    """History and pulls follow the scope the device holds: r1 moved to
    district 2 (an admin's edit), vol1's assignment (filed in district 1)
    no longer brings r1, and vol1's phone is told to purge r1."""
    vol1 = await server.enrol("vol1")
    assert "r1" in ids(await pulled(server, vol1), "residents")
    server.council.write(
        {**resident_record("r1"), "district_id": "d2", "group_id": "g2"}
    )
    again = await server.enrol("vol1")
    assert "r1" not in ids(await pulled(server, again), "residents")
    response = await server.http.get(
        f"{API}/sync/pull", params={"cursor": ""}, headers=vol1.auth
    )
    assert response.status_code == 200


# ---- 3. revocation is checked where the write happens -----------------------------


async def test_a_push_whose_device_is_revoked_while_uploading_is_not_stored(
    server: Server,
) -> None:
    """The body trickles in; the device is revoked after the server has read
    the headers (and authenticated them) but before the body is whole. The
    write's own transaction finds the device revoked: 401, nothing stored."""
    phone = await server.enrol("vol1")
    change = server.change(phone, visit_record("v-late", "r1", "vol1"))
    response = await push_meanwhile(
        server,
        phone,
        change,
        lambda: server.council.store.revoke_device(phone.device_id, now=server.now),
    )
    assert_error(response, 401, "revoked")
    assert server.held("visits", "v-late") is None


async def test_over_a_socket_a_trickled_push_revoked_midway_is_not_stored(
    server: Server,
) -> None:
    """As found: the body trickles in over three seconds on a real socket,
    and the device is revoked one second in."""
    phone = await server.enrol("vol1")
    change = server.change(phone, visit_record("v-late", "r1", "vol1"))
    body = json.dumps({"changes": [change]}).encode()
    store = server.council.store
    step = len(body) // 6 + 1

    async def trickle() -> AsyncIterator[bytes]:
        for i, start in enumerate(range(0, len(body), step)):
            if i == 2:
                assert store.revoke_device(phone.device_id, now=server.now)
            yield body[start : start + step]
            await asyncio.sleep(0.5)

    with serving_on_socket(Wire(server.council.app)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            response = await http.post(
                f"{API}/sync/push",
                content=trickle(),
                headers={**phone.auth, "Content-Length": str(len(body))},
            )
    assert_error(response, 401, "revoked")
    assert server.held("visits", "v-late") is None


async def test_a_user_deleted_while_their_phone_pushes_writes_nothing(
    server: Server,
) -> None:
    phone = await server.enrol("vol1")
    change = server.change(phone, visit_record("v-late", "r1", "vol1"))
    deleted = {**user_record("vol1"), "deleted": True}
    response = await push_meanwhile(
        server, phone, change, lambda: server.council.write(deleted)
    )
    assert_error(response, 401, "revoked")
    assert server.held("visits", "v-late") is None


async def test_a_coordinator_demoted_mid_push_writes_as_what_she_is_now(
    server: Server,
) -> None:
    """Authority is read in the write's transaction: coord1 made a volunteer
    while her push was on its way can no longer edit a resident."""
    coord = await server.enrol("coord1")
    change = server.change(coord, {**resident_record("r1"), "name": "Renamed"})
    demoted = user_record("coord1", role="volunteer")
    response = await push_meanwhile(
        server, coord, change, lambda: server.council.write(demoted)
    )
    assert response.status_code == 200, response.text
    assert [e["reason"] for e in response.json()["rejected"]] == ["forbidden"]
    assert server.body("residents", "r1")["name"] == "Resident r1"


# ---- 5. the server checks what the device checks ------------------------------------


def _visit(server: Server, phone: Phone, **over: Any) -> Record:
    return server.change(phone, visit_record("v-x", "r1", "vol1", **over))


VISIT_CASES: list[tuple[str, dict[str, Any], tuple[str, Reason] | None]] = [
    ("met-well", {}, None),
    (
        "met-well-with-a-concern",
        {"concern_category": "health", "urgency": "urgent"},
        ("concern_category", Reason.INCONSISTENT),
    ),
    (
        "met-well-with-an-urgency",
        {"urgency": "urgent"},
        ("concern_category", Reason.INCONSISTENT),
    ),
    (
        "not-home-with-a-concern",
        {"outcome": "not_home", "concern_category": "meals", "urgency": "normal"},
        ("concern_category", Reason.INCONSISTENT),
    ),
    (
        "concern-without-category",
        {"outcome": "met_concern", "urgency": "urgent"},
        ("concern_category", Reason.INCONSISTENT),
    ),
    (
        "concern-without-urgency",
        {"outcome": "met_concern", "concern_category": "home"},
        ("concern_category", Reason.INCONSISTENT),
    ),
    (
        "concern",
        {"outcome": "met_concern", "concern_category": "home", "urgency": "normal"},
        None,
    ),
    (
        "other-concern-without-a-note",
        {"outcome": "met_concern", "concern_category": "other", "urgency": "normal"},
        ("note", Reason.MISSING_FIELD),
    ),
    (
        "other-concern-with-a-note",
        {
            "outcome": "met_concern",
            "concern_category": "other",
            "urgency": "normal",
            "note": "the roof",
        },
        None,
    ),
]


@pytest.mark.parametrize(
    ("over", "expect"),
    [pytest.param(over, expect, id=name) for name, over, expect in VISIT_CASES],
)
async def test_outcome_and_concern_must_agree(
    server: Server, over: dict[str, Any], expect: tuple[str, Reason] | None
) -> None:
    phone = await server.enrol("vol1")
    change = _visit(server, phone, **over)
    answer = await server.push_ok(phone, change)
    if expect is None:
        assert (answer.accepted, answer.rejected) == (1, [])
    else:
        assert without_message(answer.rejected) == [rejection(0, change, *expect)]
        assert server.held("visits", "v-x") is None


async def test_a_visit_dated_1990_is_refused(server: Server) -> None:
    phone = await server.enrol("vol1")
    change = _visit(server, phone, visited_at="1990-01-01T00:00:00.000Z")
    answer = await server.push_ok(phone, change)
    assert without_message(answer.rejected) == [
        rejection(0, change, "visited_at", Reason.TOO_OLD)
    ]


async def test_a_record_stamped_in_1990_is_refused(server: Server) -> None:
    """Backdating the clock stamp too does not get a 1990 visit in."""
    phone = await server.enrol("vol1")
    old = stamp(server.now.replace(year=1990))
    record = visit_record("v-x", "r1", "vol1", visited_at="1990-01-01T00:00:00.000Z")
    change = server.change(phone, record, hlc=old)
    answer = await server.push_ok(phone, change)
    assert without_message(answer.rejected) == [
        rejection(0, change, "hlc", Reason.TOO_OLD)
    ]


async def test_backdating_as_far_as_the_device_allows_is_accepted(
    server: Server,
) -> None:
    """30 days back from when it was recorded, as the phone allows, even when
    the phone was offline for a week before it pushed."""
    phone = await server.enrol("vol1")
    recorded = server.now - timedelta(days=7)
    visited = format_datetime(recorded - MAX_BACKDATE)
    record = visit_record("v-x", "r1", "vol1", visited_at=visited)
    ok = await server.push_ok(phone, server.change(phone, record, hlc=stamp(recorded)))
    assert (ok.accepted, ok.rejected) == (1, [])
    further = format_datetime(recorded - MAX_BACKDATE - timedelta(hours=1))
    record = visit_record("v-y", "r1", "vol1", visited_at=further)
    change = server.change(phone, record, hlc=stamp(recorded))
    refused = await server.push_ok(phone, change)
    assert without_message(refused.rejected) == [
        rejection(0, change, "visited_at", Reason.TOO_OLD)
    ]


async def test_an_old_visit_can_still_be_deleted(server: Server) -> None:
    phone = await server.enrol("vol1")
    old = format_datetime(server.now - timedelta(days=90))
    server.council.write(visit_record("v-old", "r1", "vol1", visited_at=old))
    server.council.clock.advance(1)
    tombstone = visit_record("v-old", "r1", "vol1", visited_at=old, deleted=True)
    answer = await server.push_ok(phone, server.change(phone, tombstone))
    assert (answer.accepted, answer.rejected) == (1, [])


async def test_a_device_over_its_hourly_quota_is_told_to_wait(server: Server) -> None:
    context(server).write_quota = 5
    phone = await server.enrol("vol1")
    first = [_visit(server, phone, id=f"v-{i}") for i in range(4)]
    assert (await server.push_ok(phone, *first)).accepted == 4
    second = [_visit(server, phone, id=f"w-{i}") for i in range(2)]
    response = await server.push(phone, {"changes": second})
    assert_error(response, 429, "write_quota")
    minute, second_ = server.now.minute, server.now.second
    assert response.headers["Retry-After"] == str(3600 - minute * 60 - second_)
    assert server.held("visits", "w-0") is None
    # The next hour the same push goes through: nothing is lost.
    server.council.clock.advance(3600)
    assert (await server.push_ok(phone, *second)).accepted == 2


async def test_the_quota_is_per_device(server: Server) -> None:
    context(server).write_quota = 2
    phone = await server.enrol("vol1")
    other = await server.enrol("vol1")
    mine = [_visit(server, phone, id=f"v-{i}") for i in range(2)]
    assert (await server.push_ok(phone, *mine)).accepted == 2
    theirs = [_visit(server, other, id=f"w-{i}") for i in range(2)]
    assert (await server.push_ok(other, *theirs)).accepted == 2


# ---- 6. least data: residents without consent ----------------------------------------


def _no_consent(server: Server) -> None:
    """r1 does not consent; vol2 is assigned r1 too."""
    server.council.write(
        {**resident_record("r1"), "consent": False}, assignment_record("r1", "vol2")
    )
    server.council.clock.advance(1)


async def test_other_volunteers_get_no_concern_of_a_resident_without_consent(
    server: Server,
) -> None:
    _no_consent(server)
    vol1 = await server.enrol("vol1")
    concern = _visit(
        server,
        vol1,
        outcome="met_concern",
        concern_category="money",
        urgency="urgent",
        note="owes the landlord",
    )
    assert (await server.push_ok(vol1, concern)).accepted == 1
    coord = await server.enrol("coord1")
    update = concern_record("cu-1", "r1", "v-x", status="in_progress", note="called")
    assert (await server.push_ok(coord, server.change(coord, update))).accepted == 1

    vol2 = await server.enrol("vol2")
    got = await pulled(server, vol2)
    [visit] = [c for c in got if c["kind"] == "visits" and c["id"] == "v-x"]
    assert (visit["outcome"], visit["visited_at"]) == (
        "met_concern",
        concern["visited_at"],
    )
    assert (visit["concern_category"], visit["urgency"], visit["note"]) == (
        None,
        None,
        None,
    )
    assert ids(got, "concern_updates") == set()

    # The volunteer who raised it sees all of it, and the coordinator's answer.
    mine = await pulled(server, await server.enrol("vol1"))
    [own] = [c for c in mine if c["kind"] == "visits" and c["id"] == "v-x"]
    assert (own["concern_category"], own["note"]) == ("money", "owes the landlord")
    assert ids(mine, "concern_updates") == {"cu-1"}


async def test_withdrawn_consent_leaves_the_other_phones(
    stores: Stores, tmp_path: Path
) -> None:
    """vol2's phone held vol1's concern note about r1 while r1 consented;
    r1 withdraws consent; on vol2's next sync the note and the coordinator's
    update are gone from the phone, while vol1's phone keeps its own."""
    council = stores.council(tmp_path / "council.sqlite")
    council.clock.advance(60)
    council.write(assignment_record("r1", "vol2"))
    vol1 = await enrol_device(council, tmp_path, "vol1")
    vol2 = await enrol_device(council, tmp_path, "vol2")
    visit = vol1.state.record_visit(
        "r1",
        Outcome.MET_CONCERN,
        concern=Concern(ConcernCategory.MONEY, Urgency.URGENT),
        note="owes the landlord",
    )
    await vol1.state.sync_now()
    council.write(
        concern_record("cu-1", "r1", visit.id, status="in_progress", note="called")
    )
    await vol2.state.sync_now()
    held = vol2.db.execute(
        "SELECT note FROM visits WHERE id = ?", [visit.id]
    ).fetchone()
    assert held == ("owes the landlord",)

    council.clock.advance(60)
    council.write({**resident_record("r1"), "consent": False})
    await vol2.state.sync_now()

    row = vol2.db.execute(
        "SELECT outcome, concern_category, urgency, note FROM visits WHERE id = ?",
        [visit.id],
    ).fetchone()
    assert row == ("met_concern", None, None, None)
    assert list(vol2.db.query("SELECT id FROM concern_updates")) == []
    assert device_store.pending_count(vol2.db) == 0
    await vol1.state.sync_now()
    own = vol1.db.execute("SELECT note FROM visits WHERE id = ?", [visit.id]).fetchone()
    assert own == ("owes the landlord",)
    assert [r["id"] for r in vol1.db.query("SELECT id FROM concern_updates")] == [
        "cu-1"
    ]
    council.close()


# ---- 7. assignments are checked -----------------------------------------------------


ASSIGNEE_CASES = [
    ("a-volunteer-of-another-district", "vol3", ("user_id", Reason.OUT_OF_SCOPE)),
    ("a-user-who-does-not-exist", "nobody", ("user_id", Reason.UNKNOWN_REFERENCE)),
    ("a-coordinator", "coord1", ("user_id", Reason.BAD_VALUE)),
    ("an-organiser-of-the-district", "org1", None),
    ("a-volunteer-of-the-district", "vol2", None),
]


@pytest.mark.parametrize(
    ("assignee", "expect"),
    [pytest.param(user, expect, id=name) for name, user, expect in ASSIGNEE_CASES],
)
async def test_who_a_coordinator_may_assign(
    server: Server, assignee: str, expect: tuple[str, Reason] | None
) -> None:
    coord = await server.enrol("coord1")
    record = {**assignment_record("r1", "vol1"), "id": "a-new", "user_id": assignee}
    change = server.change(coord, record)
    answer = await server.push_ok(coord, change)
    if expect is None:
        assert (answer.accepted, answer.rejected) == (1, [])
    else:
        assert without_message(answer.rejected) == [rejection(0, change, *expect)]
        assert server.held("assignments", "a-new") is None


async def test_a_deleted_user_cannot_be_assigned(server: Server) -> None:
    server.council.write({**user_record("vol2"), "deleted": True})
    server.council.clock.advance(1)
    coord = await server.enrol("coord1")
    record = {**assignment_record("r1", "vol1"), "id": "a-new", "user_id": "vol2"}
    change = server.change(coord, record)
    answer = await server.push_ok(coord, change)
    assert without_message(answer.rejected) == [
        rejection(0, change, "user_id", Reason.UNKNOWN_REFERENCE)
    ]


async def test_an_assignment_to_a_departed_user_can_still_be_ended(
    server: Server,
) -> None:
    server.council.write({**user_record("vol2"), "deleted": True})
    server.council.clock.advance(1)
    coord = await server.enrol("coord1")
    ended = {**assignment_record("r3", "vol2"), "deleted": True}
    answer = await server.push_ok(coord, server.change(coord, ended))
    assert (answer.accepted, answer.rejected) == (1, [])


# ---- more, as an attacker with each role's token -------------------------------


ATTACKS: list[tuple[str, str, list[Record], tuple[str, Reason]]] = [
    (
        "organiser-writes-a-resident",
        "org1",
        [{**resident_record("r1"), "name": "X"}],
        ("kind", Reason.FORBIDDEN),
    ),
    (
        "volunteer-assigns-herself",
        "vol1",
        [{**assignment_record("r3", "vol1"), "id": "a-mine"}],
        ("kind", Reason.FORBIDDEN),
    ),
    (
        "volunteer-promotes-herself",
        "vol1",
        [user_record("vol1", role="admin")],
        ("kind", Reason.FORBIDDEN),
    ),
    (
        "coordinator-demotes-an-admin",
        "coord1",
        [user_record("admin1", role="volunteer")],
        ("role", Reason.FORBIDDEN),
    ),
    (
        "coordinator-re-files-a-district-2-volunteer",
        "coord1",
        [user_record("vol3", district_id="d1", group_id="g1")],
        ("district_id", Reason.OUT_OF_SCOPE),
    ),
]


@pytest.mark.parametrize(
    ("pusher", "records", "expect"),
    [pytest.param(p, rs, e, id=name) for name, p, rs, e in ATTACKS],
)
async def test_attacks_by_role(
    server: Server, pusher: str, records: list[Record], expect: tuple[str, Reason]
) -> None:
    phone = await server.enrol(pusher)
    changes = [server.change(phone, r) for r in records]
    before = [server.held(c["kind"], c["id"]) for c in changes]
    answer = await server.push_ok(phone, *changes)
    assert without_message(answer.rejected)[0] == rejection(0, changes[0], *expect)
    assert [server.held(c["kind"], c["id"]) for c in changes] == before


async def test_a_re_filed_volunteer_cannot_be_assigned_in_the_same_push(
    server: Server,
) -> None:
    coord = await server.enrol("coord1")
    refiled = user_record("vol3", district_id="d1", group_id="g1")
    assign = {**assignment_record("r1", "vol1"), "id": "a-new", "user_id": "vol3"}
    batch = [server.change(coord, refiled), server.change(coord, assign)]
    answer = await server.push_ok(coord, *batch)
    assert without_message(answer.rejected) == [
        rejection(0, batch[0], "district_id", Reason.OUT_OF_SCOPE),
        rejection(1, batch[1], "user_id", Reason.DEPENDS_ON_REFUSED),
    ]


# ---- 9. the audit trail -------------------------------------------------------


async def test_admins_read_who_changed_what(server: Server) -> None:
    coord = await server.enrol("coord1")
    edit = server.change(coord, {**resident_record("r1"), "visit_every_days": 14})
    removal = server.change(coord, {**assignment_record("r3", "vol2"), "deleted": True})
    assert (await server.push_ok(coord, edit, removal)).accepted == 2
    vol1 = await server.enrol("vol1")
    assert (await server.push_ok(vol1, _visit(server, vol1))).accepted == 1

    admin = await server.enrol("admin1")
    response = await server.http.get(f"{API}/admin/audit", headers=admin.auth)
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert [
        (e["user_id"], e["device_id"], e["action"], e["kind"], e["record_id"])
        for e in entries
    ] == [
        ("coord1", coord.device_id, "delete", "assignments", "a-r3-vol2"),
        ("coord1", coord.device_id, "write", "residents", "r1"),
    ]
    assert {e["at"] for e in entries} == {format_datetime(server.now)}


@pytest.mark.parametrize("user", ["vol1", "org1", "coord1"])
async def test_only_admins_read_the_audit_trail(server: Server, user: str) -> None:
    phone = await server.enrol(user)
    response = await server.http.get(f"{API}/admin/audit", headers=phone.auth)
    assert_error(response, 403, "forbidden")


async def test_the_audit_trail_needs_a_token(server: Server) -> None:
    response = await server.http.get(f"{API}/admin/audit")
    assert_error(response, 401, "unauthorized")


def test_admin_actions_on_the_command_line_are_audited(
    stores: Stores, tmp_path: Path
) -> None:
    where, release = stores.where(tmp_path / "council.sqlite")
    Council(where).store.close()
    path = str(where)
    assert main(["admin", "--db", path, "invite", "vol1"]) == 0
    assert main(["admin", "--db", path, "audit"]) == 0
    store = open_store(where)
    [entry] = store.audit()
    assert (entry.user_id, entry.action, entry.kind, entry.record_id) == (
        "cli",
        "invite",
        None,
        "vol1",
    )
    store.close()
    release()


# ---- found while writing docs/protocol.md -------------------------------------------


async def test_a_revoked_phone_can_be_enrolled_again(tmp_path: Path) -> None:
    """The wiped phone takes a new device id: the old one stays taken on the
    council, and a new code enrols the phone afresh."""
    council = Council(tmp_path / "council.sqlite")
    council.clock.advance(60)
    vol1 = await enrol_device(council, tmp_path, "vol1")
    old_id = device_store.device(vol1.db).device_id
    assert council.store.revoke_device(old_id, now=council.clock())
    await vol1.state.sync_now()
    assert device_store.device(vol1.db).device_id != old_id
    profile = await vol1.state.enrol("Device again", BASE_URL, council.invite("vol1"))
    assert profile.user_id == "vol1"
    assert {r["id"] for r in vol1.db.query("SELECT id FROM residents")} == {"r1", "r2"}


async def test_a_page_thinned_by_least_data_still_says_there_is_more(
    server: Server,
) -> None:
    """A volunteer's page that loses withheld concern updates is shorter than
    the limit, yet more changes wait: the page says so."""
    _no_consent(server)
    vol2 = await server.enrol("vol2")
    first = await server.http.get(f"{API}/sync/pull", headers=vol2.auth)
    cursor = first.json()["cursor"]
    coord = await server.enrol("coord1")
    updates = [
        server.change(coord, concern_record(f"cu-{i}", "r1", "v-x", note="n"))
        for i in range(5)
    ]
    assert (await server.push_ok(coord, *updates)).accepted == 5
    renamed = server.change(coord, {**resident_record("r3"), "name": "Renamed"})
    assert (await server.push_ok(coord, renamed)).accepted == 1
    got: list[Record] = []
    for _ in range(20):
        response = await server.http.get(
            f"{API}/sync/pull",
            params={"cursor": cursor, "limit": 3},
            headers=vol2.auth,
        )
        page = response.json()
        got += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert ids(got, "concern_updates") == set()
    assert [c["name"] for c in got if c["kind"] == "residents"] == ["Renamed"]
