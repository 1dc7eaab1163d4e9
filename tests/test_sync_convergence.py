"""Convergence of the sync protocol under any interleaving, tested with hypothesis.

A real council (server app and SQLite store, in process) and four devices: three
coordinators of d1 (the same account, enrolled three times, so they edit the
very same visits and residents concurrently) and an admin. Hypothesis drives
creates, edits, tombstones, server-side edits, syncs, and device clocks that run
fast, slow, backwards and in lockstep (writes in the same millisecond on
different devices, ties broken by origin). It keeps a model of every write ever
made, with the stamp it got, and checks after everyone syncs twice:

- every device holds exactly what the server holds in its scope (hlc, origin,
  deleted and every field), and nothing is left in any outbox;
- every record's value is its write with the greatest (hlc, origin).

Syncs run whole (AppState.sync_now), in pages and batches of one to three, or
several at once with their requests interleaved on the server; a device's next
sync can be interrupted, before a request reaches the server or after it
answered, by a local edit, or by another device's edit and sync.

Each write is also checked against the version it replaces: a write made after
the writer saw a version must get a later stamp (HLC causality), on devices and
on the server alike.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule
from sqlite_utils import Database

from tests.support import BASE_URL, Council, Stores, fast_retry, resident_record
from watchapp import store
from watchapp.domain.hlc import Hlc
from watchapp.domain.ids import uuid7
from watchapp.domain.model import Concern, ConcernCategory, Outcome, Urgency
from watchapp.domain.schema import KINDS, format_datetime
from watchapp.server.store import Scope, ServerStore, SqliteServerStore, open_store
from watchapp.state import AppState, InvalidInput, SyncState
from watchapp.sync.client import CouncilClient
from watchapp.sync.engine import PULL_PAGE, PUSH_BATCH, sync_once
from watchapp.sync.protocol import Change, to_wire

T = TypeVar("T")
Key = tuple[str, str]  # (kind, id)
Wire = dict[str, Any]
Hook = tuple[bool, Callable[[], Awaitable[None]]]  # (after the answer?, what)

USERS = ("coord1", "coord1", "coord1", "admin1")  # one device each
DEVICE = st.integers(0, len(USERS) - 1)
RESIDENTS = ("r1", "r2", "r3")  # d1's residents, editable by every device
NOTES = st.sampled_from(["", "all fine", "お元気でした", "ring again\nlater", None])
OUTCOMES = st.sampled_from(list(Outcome))
# Device clock offsets from the server's, in ms: mostly small, sometimes the
# same on every device, never more than 5 minutes ahead (the server refuses).
SKEW = st.one_of(
    st.sampled_from([0, 0, 1, -1]),
    st.integers(-5_000, 5_000),
    st.integers(-60_000, 120_000),
)
ADVANCE_MS = st.one_of(st.sampled_from([0, 1, 2]), st.integers(0, 10_000))
PICK = st.integers(0, 1_000)  # which record, modulo what the device has


@dataclass
class SkewedClock:
    """A device clock: the server's time plus an offset that may change."""

    server: Callable[[], datetime]
    skew_ms: int = 0

    def __call__(self) -> datetime:
        return self.server() + timedelta(milliseconds=self.skew_ms)

    def ms(self) -> int:
        return int(self().timestamp() * 1000)


@dataclass
class Phone:
    index: int
    user: str
    db: Database
    state: AppState
    clock: SkewedClock
    entropy: Callable[[int], bytes]
    # What happens during this device's next sync, by request number.
    hooks: dict[int, Hook] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return store.device(self.db).device_id

    def new_id(self) -> str:
        return uuid7(self.clock.ms(), self.entropy(10))


@dataclass(frozen=True)
class Write:
    hlc: str
    origin: str
    wire: Wire

    @property
    def rank(self) -> tuple[str, str]:
        return (self.hlc, self.origin)


class Interposer(httpx.AsyncBaseTransport):
    """The council, with things happening while a request is on its way."""

    def __init__(self, inner: httpx.AsyncBaseTransport, hooks: dict[int, Hook]):
        self.inner = inner
        self.hooks = hooks
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hook = self.hooks.pop(self.sent, None)
        self.sent += 1
        if hook and not hook[0]:
            await hook[1]()  # before the server sees the request
        response = await self.inner.handle_async_request(request)
        if hook and hook[0]:
            await response.aread()
            await hook[1]()  # the server has answered; the device hasn't read it
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _entropy(tag: int) -> Callable[[int], bytes]:
    """Deterministic ids: ``tag`` lands in uuid7's rand_a, so it orders devices."""
    counter = iter(range(1, 1 << 60))
    return lambda n: ((tag << 64) | next(counter)).to_bytes(n, "big")


def _no_fsync(db: Database) -> Database:
    """Durability is not under test here: skip fsync, for speed."""
    db.execute("PRAGMA synchronous = OFF")
    return db


def _concern(outcome: Outcome) -> tuple[str | None, str | None]:
    if outcome is Outcome.MET_CONCERN:
        return ConcernCategory.HEALTH.value, Urgency.NORMAL.value
    return None, None


def _wire(kind: str, row: dict[str, Any]) -> Wire:
    out = to_wire(kind, row)
    out.pop("kind")
    return out


def _device_rows(db: Database, kind: str) -> dict[str, Wire]:
    return {r["id"]: _wire(kind, r) for r in db.query(f"SELECT * FROM [{kind}]")}


def _server_rows(council: Council) -> dict[Key, Wire]:
    """Everything the council holds, tombstones too (through the store's API)."""
    bodies, _ = council.store.changes_after(Scope(everything=True), 0, 1 << 30)
    return {(r["kind"], r["id"]): _wire(r["kind"], r) for r in map(json.loads, bodies)}


class Convergence(RuleBasedStateMachine):
    engine = "sqlite"  # the server store's; PostgresConvergence below

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="watchapp-convergence-"))
        self.runner = asyncio.Runner()
        self.council = Stores.of(self.engine).council(self.tmp / "server.sqlite")
        if isinstance(self.council.store, SqliteServerStore):
            _no_fsync(self.council.store.db)
        self.phones: list[Phone] = []
        # Every write ever made to each record; the world's seed counts as one.
        self.writes: dict[Key, list[Write]] = {
            key: [Write(w["hlc"], w["origin"], w)]
            for key, w in _server_rows(self.council).items()
        }

    def connect(self, index: int, url: str, token: str | None) -> CouncilClient:
        hooks: dict[int, Hook] = {}
        if index < len(self.phones):
            hooks = dict(self.phones[index].hooks)
            self.phones[index].hooks.clear()
        http = httpx.AsyncClient(
            transport=Interposer(self.council.transport(), hooks), base_url=BASE_URL
        )
        return CouncilClient(http, token)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    # ---- set-up ---------------------------------------------------------------

    @initialize(tags=st.permutations(range(len(USERS))))
    def enrol(self, tags: list[int]) -> None:
        """Enrol every device; ``tags`` decides which origin wins ties."""
        for index, user in enumerate(USERS):
            clock = SkewedClock(self.council.clock)
            entropy = _entropy(tags[index] + 1)
            db = _no_fsync(store.open_db(self.tmp / f"device{index}.sqlite"))
            state = AppState(
                db,
                clock=clock,
                entropy=entropy,
                connect=partial(self.connect, index),
                retry=fast_retry,
            )
            code = self.council.invite(user)
            self.run(state.enrol(f"Device {index}", BASE_URL, code))
            self.phones.append(Phone(index, user, db, state, clock, entropy))

    # ---- the model ------------------------------------------------------------

    def _wrote(self, phone: Phone, kind: str, row: dict[str, Any], stamp: str) -> None:
        """Record a local write and check it against what the device holds."""
        origin = phone.origin
        expected = _wire(kind, {"deleted": 0, **row, "hlc": stamp, "origin": origin})
        held = _device_rows(phone.db, kind)[row["id"]]
        assert held == expected, "the device stored something else than written"
        assert store.device(phone.db).hlc == stamp, "device clock not at its write"
        self.writes.setdefault((kind, row["id"]), []).append(
            Write(stamp, origin, expected)
        )

    def _stamp_after(self, phone: Phone, kind: str, record_id: str) -> str:
        """The device clock before a write; checks the write will be later."""
        before = Hlc.parse(store.device(phone.db).hlc)
        rows = list(
            phone.db.query(f"SELECT hlc FROM [{kind}] WHERE id = ?", [record_id])
        )
        if rows:
            assert Hlc.parse(rows[0]["hlc"]) <= before, "device clock behind a record"
        return str(before)

    def _known(self, phone: Phone, kind: str, *, live: bool = True) -> list[Any]:
        where = "deleted = 0" if live else "1"
        return list(phone.db.query(f"SELECT * FROM [{kind}] WHERE {where} ORDER BY id"))

    # ---- writes on devices ----------------------------------------------------

    @rule(
        d=DEVICE,
        resident=st.sampled_from(RESIDENTS),
        outcome=OUTCOMES,
        note=NOTES,
        via_state=st.booleans(),
    )
    def create_visit(
        self, d: int, resident: str, outcome: Outcome, note: str | None, via_state: bool
    ) -> None:
        phone = self.phones[d]
        before = Hlc.parse(store.device(phone.db).hlc)
        if via_state:
            category, urgency = _concern(outcome)
            concern = (
                Concern(ConcernCategory(category), Urgency(urgency))
                if category and urgency
                else None
            )
            try:
                visit = phone.state.record_visit(
                    resident, outcome, concern=concern, note=note or ""
                )
            except InvalidInput:
                via_state = False  # e.g. the resident was made inactive
            else:
                stamp = store.device(phone.db).hlc
                self._wrote(phone, "visits", store.visit_row(visit), stamp)
        if not via_state:
            category, urgency = _concern(outcome)
            row = {
                "id": phone.new_id(),
                "district_id": "d1",
                "group_id": "g1",
                "resident_id": resident,
                "user_id": phone.user,
                "visited_at": format_datetime(phone.clock()),
                "outcome": outcome.value,
                "concern_category": category,
                "urgency": urgency,
                "note": note,
            }
            stamp = store.write(phone.db, "visits", row, now_ms=phone.clock.ms())
            self._wrote(phone, "visits", row, stamp)
        assert Hlc.parse(store.device(phone.db).hlc) > before

    @rule(d=DEVICE, pick=PICK, outcome=OUTCOMES, note=NOTES)
    def edit_visit(self, d: int, pick: int, outcome: Outcome, note: str | None) -> None:
        self._edit_visit(self.phones[d], pick, outcome, note)

    def _edit_visit(
        self,
        phone: Phone,
        pick: int,
        outcome: Outcome,
        note: str | None,
        *,
        unsent: bool = False,
    ) -> None:
        known = self._known(phone, "visits")
        if unsent:  # one of the writes in the outbox, if any
            queued = {r["record_id"] for r in phone.db.query("SELECT * FROM outbox")}
            known = [r for r in known if r["id"] in queued] or known
        if not known:
            return
        row = dict(known[pick % len(known)])
        before = self._stamp_after(phone, "visits", row["id"])
        category, urgency = _concern(outcome)
        row.update(
            outcome=outcome.value,
            concern_category=category,
            urgency=urgency,
            note=note,
        )
        del row["hlc"], row["origin"]
        stamp = store.write(phone.db, "visits", row, now_ms=phone.clock.ms())
        assert stamp > before
        self._wrote(phone, "visits", row, stamp)

    @rule(d=DEVICE, pick=PICK, via_state=st.booleans())
    def delete_visit(self, d: int, pick: int, via_state: bool) -> None:
        phone = self.phones[d]
        known = self._known(phone, "visits")
        if not known:
            return
        target = known[pick % len(known)]
        before = self._stamp_after(phone, "visits", target["id"])
        if via_state:
            visits = store.user_visits(phone.db, target["user_id"], limit=10_000)
            visit = next(v for v, _ in visits if v.id == target["id"])
            phone.state.undo_visit(visit)
            row = {**store.visit_row(visit), "deleted": 1}
            stamp = store.device(phone.db).hlc
        else:
            row = {k: v for k, v in target.items() if k not in ("hlc", "origin")}
            row["deleted"] = 1
            stamp = store.write(phone.db, "visits", row, now_ms=phone.clock.ms())
        assert stamp > before
        self._wrote(phone, "visits", row, stamp)

    @rule(
        d=DEVICE,
        resident=st.sampled_from(RESIDENTS),
        name=st.sampled_from(["Aoki", "Baba", "Chiba"]),
        every=st.sampled_from([7, 14]),
        active=st.booleans(),
    )
    def edit_resident(
        self, d: int, resident: str, name: str, every: int, active: bool
    ) -> None:
        phone = self.phones[d]
        row = dict(phone.db.table("residents").get(resident))
        before = self._stamp_after(phone, "residents", resident)
        del row["hlc"], row["origin"]
        row.update(name=name, visit_every_days=every, active=int(active))
        stamp = store.write(phone.db, "residents", row, now_ms=phone.clock.ms())
        assert stamp > before
        self._wrote(phone, "residents", row, stamp)

    @rule(
        d=DEVICE,
        pick=PICK,
        notes=st.lists(NOTES, min_size=len(USERS), max_size=len(USERS)),
    )
    def same_moment_edits(self, d: int, pick: int, notes: list[str | None]) -> None:
        """Every device that has it edits one visit in the same millisecond,
        with the same stamp: only the origin can tell the writes apart."""
        known = self._known(self.phones[d], "visits", live=False)
        if not known:
            return
        record_id = known[pick % len(known)]["id"]
        for phone in self.phones:
            phone.clock.skew_ms = self.phones[d].clock.skew_ms
        # Past every device's clock, so each stamps (now, 0).
        newest = max(Hlc.parse(store.device(p.db).hlc).wall_ms for p in self.phones)
        self.council.clock.advance(
            max(0, newest + 1 - self.phones[d].clock.ms()) / 1000
        )
        stamps = set()
        for phone, note in zip(self.phones, notes, strict=True):
            rows = self._known(phone, "visits", live=False)
            row = next((dict(r) for r in rows if r["id"] == record_id), None)
            if row is None:
                continue  # this device hasn't pulled it yet
            before = self._stamp_after(phone, "visits", record_id)
            del row["hlc"], row["origin"]
            row["note"] = note
            stamp = store.write(phone.db, "visits", row, now_ms=phone.clock.ms())
            assert stamp > before
            self._wrote(phone, "visits", row, stamp)
            stamps.add(stamp)
        assert len(stamps) == 1, stamps

    # ---- writes on the server -------------------------------------------------

    @rule(resident=st.sampled_from(RESIDENTS), name=st.sampled_from(["Doi", "Eto"]))
    def server_edits_resident(self, resident: str, name: str) -> None:
        """A coordinator edits a resident on the council's own screens: the
        edit wins over every version the server has seen (its HLC receives
        pushed stamps), device clocks ahead or not."""
        current = _server_rows(self.council)[("residents", resident)]
        record = {**resident_record(resident), **current, "name": name}
        del record["hlc"], record["origin"]
        self.council.write({**record, "kind": "residents"})
        # The server's own stamp, which the record now carries.
        stamp = self.council.store.stored([("residents", resident)])[
            ("residents", resident)
        ].hlc
        wire = _wire("residents", {**record, "hlc": stamp, "origin": "server"})
        self.writes[("residents", resident)].append(Write(stamp, "server", wire))
        assert _server_rows(self.council)[("residents", resident)] == wire

    # ---- clocks and syncs -----------------------------------------------------

    @rule(ms=ADVANCE_MS)
    def time_passes(self, ms: int) -> None:
        self.council.clock.advance(ms / 1000)

    @rule(d=DEVICE, skew=SKEW)
    def skew_clock(self, d: int, skew: int) -> None:
        """A device clock jumps, backwards too (NTP, a user fixing the time)."""
        self.phones[d].clock.skew_ms = skew

    @rule(skew=st.sampled_from([0, 0, 1500]))
    def align_clocks(self, skew: int) -> None:
        for phone in self.phones:
            phone.clock.skew_ms = skew

    @rule(d=DEVICE)
    def sync(self, d: int) -> None:
        self._sync(self.phones[d])

    @rule(d=DEVICE, page=st.sampled_from([1, 2, 3]), batch=st.sampled_from([1, 2]))
    def sync_in_small_pages(self, d: int, page: int, batch: int) -> None:
        self.run(self._sync_once(self.phones[d], page=page, batch=batch))

    @rule(
        devices=st.lists(DEVICE, min_size=2, max_size=len(USERS), unique=True),
        page=st.sampled_from([1, 2, PULL_PAGE]),
    )
    def concurrent_syncs(self, devices: list[int], page: int) -> None:
        """Several devices sync at once, their requests interleaved on the server.

        No edits mid-request here: those may sync a device already syncing,
        which the app never does (AppState holds a lock per device).
        """
        for phone in self.phones:
            phone.hooks.clear()

        async def together() -> None:
            async with asyncio.TaskGroup() as group:
                for d in devices:
                    group.create_task(
                        self._sync_once(self.phones[d], page=page, batch=page)
                    )

        self.run(together())

    @rule(
        d=DEVICE,
        offset=st.integers(0, len(USERS) - 1),
        when=st.integers(0, 3),
        after=st.booleans(),
        unsent=st.booleans(),
        pick=PICK,
        outcome=OUTCOMES,
        note=NOTES,
    )
    def edit_during_next_sync(
        self,
        d: int,
        offset: int,
        when: int,
        after: bool,
        unsent: bool,
        pick: int,
        outcome: Outcome,
        note: str | None,
    ) -> None:
        """While request ``when`` of device d's next sync is on its way (before
        the server sees it, or after it answered), d itself (offset 0) edits a
        visit, perhaps one it is pushing right now; or another device edits one
        and syncs, all before d hears back."""
        other = (d + offset) % len(USERS)

        async def meddle() -> None:
            phone = self.phones[other]
            self._edit_visit(phone, pick, outcome, note, unsent=unsent)
            if other != d:
                await self._sync_once(phone)

        self.phones[d].hooks[when] = (after, meddle)

    @rule(d=DEVICE, after=st.booleans(), pick=PICK, note=NOTES)
    def edit_while_pushing(
        self, d: int, after: bool, pick: int, note: str | None
    ) -> None:
        """Device d edits a visit, then syncs, and edits it again (or another
        unsent one) while the push is on its way."""
        phone = self.phones[d]
        self._edit_visit(phone, pick, Outcome.PHONE, note)

        async def meddle() -> None:
            self._edit_visit(phone, pick, Outcome.NOT_HOME, note, unsent=True)

        phone.hooks = {0: (after, meddle)}
        self._sync(phone)

    async def _sync_once(
        self, phone: Phone, *, page: int = PULL_PAGE, batch: int = PUSH_BATCH
    ) -> None:
        client = self.connect(phone.index, BASE_URL, store.device(phone.db).token)
        try:
            report = await sync_once(
                phone.db,
                client,
                policy=fast_retry(),
                batch=batch,
                page=page,
                now=phone.clock,
            )
        finally:
            await client.aclose()
        assert report.rejected == 0, store.rejected(phone.db)

    @rule(order=st.permutations(range(len(USERS))))
    def everyone_syncs(self, order: list[int]) -> None:
        self._converge(order)

    def _sync(self, phone: Phone) -> None:
        outcome = self.run(phone.state.sync_now())
        assert outcome.state is SyncState.OK, outcome
        assert outcome.report is not None and outcome.report.rejected == 0, (
            store.rejected(phone.db)
        )
        assert not phone.state.rejected()

    def _converge(self, order: list[int]) -> None:
        for phone in self.phones:
            phone.hooks.clear()
        for _ in range(2):
            for d in order:
                self._sync(self.phones[d])
        self._check()

    def _check(self) -> None:
        server = _server_rows(self.council)
        assert set(server) == set(self.writes)
        for key, writes in self.writes.items():
            winner = max(writes, key=lambda w: w.rank)
            assert server[key] == winner.wire, f"{key}: not its latest write"
        for phone in self.phones:
            assert store.pending_count(phone.db) == 0, phone
            everything = phone.user == "admin1"
            in_scope = {
                key: wire
                for key, wire in server.items()
                if everything or wire["district_id"] == "d1"
            }
            held = {
                (kind, rid): wire
                for kind in KINDS
                for rid, wire in _device_rows(phone.db, kind).items()
            }
            assert held == in_scope, f"device {phone.index} differs from the server"
            newest = max(Hlc.parse(w["hlc"]) for w in held.values())
            assert Hlc.parse(store.device(phone.db).hlc) >= newest

    def teardown(self) -> None:
        try:
            if self.phones:
                self._converge(list(range(len(self.phones))))
        finally:
            for phone in self.phones:
                phone.db.close()
            self.council.close()
            self.runner.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


Convergence.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=35,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestConvergence = Convergence.TestCase


class PostgresConvergence(Convergence):
    engine = "postgres"


PostgresConvergence.TestCase.settings = Convergence.TestCase.settings
TestConvergencePostgres = PostgresConvergence.TestCase


# ---- the server's last-writer-wins, alone ----------------------------------------

ORIGINS = ("0a-device", "0b-device", "0c-device")


@st.composite
def _writes(draw: st.DrawFn) -> list[Write]:
    """Writes to one visit from three devices, distinct by (hlc, origin), in a
    few milliseconds: equal stamps from different devices are common."""
    stamps = draw(
        st.lists(
            st.tuples(
                st.integers(1_764_118_800_000, 1_764_118_800_003),  # a few ms
                st.integers(0, 2),
                st.sampled_from(ORIGINS),
            ),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    out = []
    for wall, counter, origin in stamps:
        wire: Wire = {
            "id": "v-1",
            "hlc": str(Hlc(wall, counter)),
            "origin": origin,
            "deleted": draw(st.booleans()),
            "district_id": "d1",
            "group_id": "g1",
            "resident_id": "r1",
            "user_id": "coord1",
            "visited_at": "2026-11-26T01:00:00.000Z",
            "outcome": draw(OUTCOMES).value,
            "concern_category": None,
            "urgency": None,
            "note": draw(NOTES),
        }
        out.append(Write(wire["hlc"], origin, wire))
    return out


@pytest.fixture
def server_store(stores: Stores) -> Iterator[ServerStore]:
    """One store for all of a property's examples (each writes a record of
    its own): a database per example would cost PostgreSQL ~0.1 s each."""
    where, release = stores.where(Path(":memory:"))
    server = open_store(where)
    yield server
    server.close()
    release()


@given(writes=_writes(), data=st.data())
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_server_keeps_the_greatest_write_in_any_order(
    server_store: ServerStore, writes: list[Write], data: st.DataObject
) -> None:
    """Writes reaching the server in any order and batches, some twice: it
    keeps the one with the greatest (hlc, origin)."""
    order = data.draw(st.permutations(writes), label="order")
    replays = data.draw(st.lists(st.sampled_from(writes), max_size=3), label="replays")
    arrivals = [*order, *replays]
    batch = data.draw(st.integers(1, len(arrivals)), label="batch")
    record_id = str(uuid.uuid4())  # this example's record
    for start in range(0, len(arrivals), batch):
        server_store.apply(
            [
                Change("visits", {**w.wire, "id": record_id})
                for w in arrivals[start : start + batch]
            ]
        )
    body = server_store.record("visits", record_id)
    assert body is not None
    greatest = max(writes, key=lambda w: w.rank).wire
    assert _wire("visits", json.loads(body)) == {**greatest, "id": record_id}


@given(writes=_writes(), data=st.data())
@settings(max_examples=150, deadline=None)
def test_device_keeps_the_greatest_write_in_any_order(
    writes: list[Write], data: st.DataObject
) -> None:
    """The same for pulled pages applied on a device."""
    order = data.draw(st.permutations(writes), label="order")
    batch = data.draw(st.integers(1, len(order)), label="batch")
    db = store.open_db(":memory:")
    try:
        store.ensure_device(db, "0d-device")
        for start in range(0, len(order), batch):
            page = [
                {**w.wire, "deleted": int(w.wire["deleted"])}
                for w in order[start : start + batch]
            ]
            store.apply_page(
                db,
                {"visits": page},
                cursor=f"v1.{start}.1",
                purge_residents=[],
                purge_districts=[],
                now_ms=1_764_118_800_000,
            )
        held = _device_rows(db, "visits")["v-1"]
        assert held == max(writes, key=lambda w: w.rank).wire
    finally:
        db.close()


@pytest.mark.parametrize("skew_ms", [0, 90_000])
def test_server_edit_after_a_device_write_wins(
    stores: Stores, tmp_path: Path, skew_ms: int
) -> None:
    """A coordinator's edit on the council, made after it saw a device's, wins."""
    council = stores.council(tmp_path / "server.sqlite")
    clock = SkewedClock(council.clock, skew_ms)
    db = store.open_db(tmp_path / "device.sqlite")
    state = AppState(
        db,
        clock=clock,
        entropy=_entropy(1),
        connect=lambda url, token: council.client(token),
        retry=fast_retry,
    )
    try:

        async def go() -> None:
            await state.enrol("Device", BASE_URL, council.invite("coord1"))
            row = dict(db.table("residents").get("r1"))
            del row["hlc"], row["origin"]
            store.write(db, "residents", {**row, "name": "Aoki"}, now_ms=clock.ms())
            assert (await state.sync_now()).state is SyncState.OK

        asyncio.run(go())
        council.clock.advance(1)
        council.write({**resident_record("r1"), "name": "Baba"})
        body = council.store.record("residents", "r1")
        assert body is not None and json.loads(body)["name"] == "Baba"
    finally:
        db.close()
        council.close()
