"""Devices syncing through the real server app, in process (httpx.ASGITransport)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import (
    BASE_URL,
    T0,
    Council,
    Stores,
    assignment_record,
    enrol_device,
    resident_record,
    visible,
)
from watchapp import store
from watchapp.domain.model import Concern, ConcernCategory, Outcome, Urgency
from watchapp.state import AppState, EnrolmentFailed, SyncOutcome, SyncState
from watchapp.sync import engine
from watchapp.sync.client import push_body

T0_MS = int(T0.timestamp() * 1000)
CONCERN = Concern(ConcernCategory.HEALTH, Urgency.NORMAL)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def council(stores: Stores, tmp_path: Path) -> Iterator[Council]:
    council = stores.council(tmp_path / "server.sqlite")
    yield council
    council.close()


async def test_a_visit_reaches_the_coordinator(
    council: Council, tmp_path: Path
) -> None:
    phone = await enrol_device(council, tmp_path, "vol1")
    office = await enrol_device(council, tmp_path, "coord1")
    assert sorted(r.resident.id for r in phone.state.round()) == ["r1", "r2"]
    visit = phone.visit("r1", note="all fine")
    assert phone.state.status().pending == 1
    outcome = await phone.state.sync_now()
    assert outcome.state is SyncState.OK and outcome.report is not None
    assert outcome.report.pushed == 1
    assert phone.state.status().pending == 0
    await office.state.sync_now()
    assert office.db.table("visits").get(visit.id)["note"] == "all fine"


async def test_a_new_assignment_brings_the_resident_and_recent_history(
    council: Council, tmp_path: Path
) -> None:
    office = await enrol_device(council, tmp_path, "coord1")
    colleague = await enrol_device(council, tmp_path, "vol2")
    old = colleague.visit("r3", at=council.clock.now - timedelta(days=20))
    await colleague.state.sync_now()
    phone = await enrol_device(council, tmp_path, "vol1")
    assert "r3" not in visible(phone.db, "residents")
    # Far older than the phone's cursor, the resident and its visits arrive.
    council.write(assignment_record("r3", "vol1"))
    await phone.state.sync_now()
    assert "r3" in {i.resident.id for i in phone.state.round()}
    assert old.id in visible(phone.db, "visits")
    assert office.state.is_enrolled()


async def test_a_removed_assignment_is_purged_from_the_phone(
    council: Council, tmp_path: Path
) -> None:
    phone = await enrol_device(council, tmp_path, "vol1")
    seen = phone.visit("r2")
    await phone.state.sync_now()
    council.write(assignment_record("r2", "vol1", active=False))
    outcome = await phone.state.sync_now()
    assert outcome.report is not None and outcome.report.purged == 1
    assert "r2" not in visible(phone.db, "residents")
    assert seen.id not in visible(phone.db, "visits")
    assert [i.resident.id for i in phone.state.round()] == ["r1"]


async def test_unsent_visits_survive_losing_the_resident(
    council: Council, tmp_path: Path
) -> None:
    phone = await enrol_device(council, tmp_path, "vol1")
    council.write(assignment_record("r2", "vol1", active=False))
    late = phone.visit("r2", note="visited before I heard")
    await phone.state.sync_now()
    # The council refused it (no longer assigned); it stays, with the reason.
    assert [(r.record_id, r.reason) for r in phone.state.rejected()] == [
        (late.id, "out_of_scope")
    ]
    assert phone.state.status().pending == 1
    assert late.id in visible(phone.db, "visits")


async def test_a_revoked_device_wipes_personal_data_and_says_why(
    council: Council, tmp_path: Path
) -> None:
    phone = await enrol_device(council, tmp_path, "vol1")
    phone.visit("r1")
    device_id = store.device(phone.db).device_id
    assert council.store.revoke_device(device_id, now=council.clock.now)
    outcome = await phone.state.sync_now()
    assert outcome.state is SyncState.REVOKED
    for kind in ("residents", "visits", "assignments", "users"):
        assert visible(phone.db, kind) == {}, kind
    status = phone.state.status()
    assert (status.pending, status.notice) == (0, "revoked")
    assert not phone.state.is_enrolled()
    assert await phone.state.sync_now() == SyncOutcome(SyncState.NOT_ENROLLED)


async def test_offline_is_calm_and_nothing_is_lost(
    council: Council, tmp_path: Path
) -> None:
    phone = await enrol_device(council, tmp_path, "vol1")
    visit = phone.visit("r1")

    class Offline(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("no signal", request=request)

    phone.state._connect = lambda url, token: council.client(token, Offline())
    outcome = await phone.state.sync_now()
    assert outcome.state is SyncState.OFFLINE
    assert phone.state.status().pending == 1
    assert phone.state.status().last_outcome is SyncState.OFFLINE
    phone.state._connect = lambda url, token: council.client(token)
    assert (await phone.state.sync_now()).state is SyncState.OK
    assert council.store.stored([("visits", visit.id)])


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("used", "invitation_used"),
        ("expired", "invitation_expired"),
        ("bad", "invitation_unknown"),
    ],
)
async def test_enrolment_refusals_are_named(
    council: Council, tmp_path: Path, setup: str, reason: str
) -> None:
    code = council.invite("vol1")
    if setup == "used":
        await enrol_device(council, tmp_path, "vol1")  # uses its own code
        first = AppState(
            store.open_db(tmp_path / "first.sqlite"),
            connect=lambda url, token: council.client(token),
        )
        await first.enrol("Hanako", BASE_URL, code)
    elif setup == "expired":
        council.clock.advance(73 * 3600)
    else:
        code = "NOTACODE22"
    phone = AppState(
        store.open_db(tmp_path / "phone.sqlite"),
        connect=lambda url, token: council.client(token),
    )
    with pytest.raises(EnrolmentFailed) as refused:
        await phone.enrol("Hanako", BASE_URL, code)
    assert refused.value.reason == reason
    assert not phone.is_enrolled()


async def test_the_same_record_edited_on_two_phones_converges(
    council: Council, tmp_path: Path
) -> None:
    """Last writer wins by HLC, the same on both devices and the server."""
    a = await enrol_device(council, tmp_path, "coord1")
    b = await enrol_device(council, tmp_path, "coord1")
    row = dict(a.db.table("residents").get("r1"))
    store.write(a.db, "residents", {**row, "address": "from a"}, now_ms=T0_MS + 1000)
    store.write(b.db, "residents", {**row, "address": "from b"}, now_ms=T0_MS + 2000)
    for device in (a, b, a, b):
        assert (await device.state.sync_now()).state is SyncState.OK
    assert a.db.table("residents").get("r1")["address"] == "from b"
    assert b.db.table("residents").get("r1")["address"] == "from b"
    assert visible(a.db, "residents") == visible(b.db, "residents")


@pytest.mark.parametrize("consent", [True, False])
async def test_without_consent_others_notes_stay_on_the_server(
    council: Council, tmp_path: Path, consent: bool
) -> None:
    council.write({**resident_record("r1"), "consent": consent})
    office = await enrol_device(council, tmp_path, "coord1")
    theirs = office.state.record_visit(
        "r1", Outcome.MET_CONCERN, concern=CONCERN, note="private matter"
    )
    await office.state.sync_now()
    phone = await enrol_device(council, tmp_path, "vol1")  # backfill
    mine = phone.visit("r1", note="my own note")
    await phone.state.sync_now()
    theirs_again = office.state.record_visit("r1", Outcome.PHONE, note="second")
    await office.state.sync_now()
    await phone.state.sync_now()  # regular stream
    notes = {v.id: v.note for v in store.resident_visits(phone.db, "r1", limit=10)}
    expected = "private matter" if consent else ""
    assert notes == {
        theirs.id: expected,
        theirs_again.id: "second" if consent else "",
        mine.id: "my own note",
    }
    # the visits themselves (dates, outcomes) still arrive: the round stays right
    assert {i.resident.id: i.last_outcome for i in phone.state.round()}["r1"] in (
        Outcome.PHONE,
        Outcome.MET_WELL,
    )


async def test_awkward_text_and_flags_arrive_as_written(
    council: Council, tmp_path: Path
) -> None:
    """What the device store encodes for a push reads back the same elsewhere."""
    office = await enrol_device(council, tmp_path, "coord1")
    phone = await enrol_device(council, tmp_path, "vol1")
    note = '見守り: "元気" \\ C:\\temp\n二行目\tタブ 🍵'
    sent = phone.visit("r1", note=note)
    row = dict(office.db.table("residents").get("r1"))
    edited = {
        **row,
        "address": '久留米市 "京町" 1-2 \\ 3F',
        "evacuation_register": 1 - row["evacuation_register"],
    }
    store.write(office.db, "residents", edited, now_ms=T0_MS + 1000)
    for device in (phone, office, phone):
        outcome = await device.state.sync_now()
        assert outcome.state is SyncState.OK and outcome.report is not None
        assert outcome.report.rejected == 0
    assert office.db.table("visits").get(sent.id)["note"] == note
    arrived = phone.db.table("residents").get("r1")
    assert arrived == office.db.table("residents").get("r1")
    assert arrived["address"] == edited["address"]
    assert arrived["evacuation_register"] == edited["evacuation_register"]
    assert store.pending_count(phone.db) == store.pending_count(office.db) == 0


def test_a_push_body_is_the_changes_as_given_gzipped() -> None:
    changes = [b'{"kind":"visits","note":"\xe5\x85\x83\xe6\xb0\x97"}', b'{"n":null}']
    body = push_body(changes)
    assert body.content[:2] == b"\x1f\x8b" and body.content[4:8] == bytes(4)  # mtime 0
    assert json.loads(gzip.decompress(body.content)) == {
        "changes": [{"kind": "visits", "note": "元気"}, {"n": None}]
    }


class _SavesDuringFirstPush(httpx.AsyncBaseTransport):
    """The app's transport, which runs ``save`` when the first push has been
    answered, before the device reads the answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.save: Callable[[], object] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/sync/push") and self.save is not None:
            save, self.save = self.save, None
            # Past the engine's wait for the request to leave: by now it has
            # read the outbox for the next batch, and found it empty.
            await asyncio.sleep(4 * engine.SEND_WINDOW)
            save()
        return response


async def test_a_visit_saved_while_a_push_is_out_goes_in_the_same_round(
    council: Council, tmp_path: Path
) -> None:
    transport = _SavesDuringFirstPush(council.transport())
    phone = await enrol_device(council, tmp_path, "vol1", transport=lambda: transport)
    phone.visit("r1")
    saved: list[str] = []
    transport.save = lambda: saved.append(phone.visit("r2").id)
    outcome = await phone.state.sync_now()
    assert outcome.report is not None and outcome.report.pushed == 2
    assert phone.state.status().pending == 0
    assert council.store.stored([("visits", saved[0])])
