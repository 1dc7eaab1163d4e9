"""Sync under faults: a lossy network, a busy or failing server, real sockets, kill -9.

The properties (ARCHITECTURE.md, "Sync protocol"): nothing recorded on a device
is lost or doubled, every device ends up holding exactly what the council holds
in its scope, and trouble on the way is "offline", never an error.

- :class:`FaultyTransport` sits between a device and the council app and, per
  request, drops it, loses the answer after the server committed, answers 500
  or 503 + Retry-After, times out, or passes it through. Seeded, so a failing
  seed replays the same faults.
- Real sockets: the app on uvicorn in a thread, devices on the real client.
- kill -9: the app in its own process (tests/server_process.py), killed while
  a device pushes thousands of visits, then restarted on the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlite_utils import Database

from tests.server_process import PUSH_PATH, Wire
from tests.support import (
    BASE_URL,
    RESIDENTS,
    USERS,
    Clock,
    Council,
    Stores,
    fast_retry,
    visible,
)
from watchapp import store
from watchapp.domain.model import (
    Concern,
    ConcernCategory,
    Outcome,
    Role,
    Urgency,
    Visit,
)
from watchapp.domain.schema import KINDS
from watchapp.server.store import Scope, open_store
from watchapp.state import (
    AppState,
    EnrolmentFailed,
    InvalidInput,
    SyncOutcome,
    SyncState,
)
from watchapp.sync import client, engine
from watchapp.sync.client import CouncilClient, RetryPolicy
from watchapp.sync.engine import sync_once
from watchapp.sync.errors import CouncilUnreachable, ServerBusy, ServerFailed
from watchapp.sync.protocol import API, error_body

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ---- the faulty network ------------------------------------------------------


class Fault(StrEnum):
    PASS = "pass"
    CONNECT = "connect_error"  # dropped before the server saw it
    LOST = "response_lost"  # the server committed; the answer never came
    ERROR_500 = "error_500"  # before the server saw it
    ERROR_500_AFTER = "error_500_after_commit"
    BUSY_503 = "busy_503"  # with Retry-After
    TIMEOUT = "timeout"  # stalled before the server saw it
    TIMEOUT_AFTER = "timeout_after_commit"
    CORRUPT = "corrupt_gzip"  # 200 whose gzip body is garbage


_REACHES_SERVER = {Fault.PASS, Fault.LOST, Fault.ERROR_500_AFTER, Fault.TIMEOUT_AFTER}


@dataclass(frozen=True)
class Served:
    fault: Fault
    path: str
    retry_after: int | None = None


class FaultyTransport(httpx.AsyncBaseTransport):
    """Wraps the council's transport; each request meets the next fault.

    ``script`` faults come first, in order; then ``weights`` (probability per
    fault, the rest passes) drawn from ``rng``. A hook ``(n, action)`` runs
    ``action`` at the start of the n-th request from now (0: the next one): the
    user acting while a sync is on the wire.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        rng: random.Random,
        *,
        weights: Mapping[Fault, float] | None = None,
        script: Iterable[Fault] = (),
        retry_after: tuple[int, ...] = (7,),
    ) -> None:
        self.inner = inner
        self.rng = rng
        self.weights: Mapping[Fault, float] = weights or {}
        self.script: deque[Fault] = deque(script)
        self.retry_after = retry_after
        self.hooks: list[tuple[int, Callable[[], object]]] = []
        self.log: list[Served] = []

    def _choose(self) -> Fault:
        if self.script:
            return self.script.popleft()
        x = self.rng.random()
        for fault, p in self.weights.items():
            if x < p:
                return fault
            x -= p
        return Fault.PASS

    async def _through(self, request: httpx.Request) -> None:
        """The server handles the request; its answer is thrown away."""
        response = await self.inner.handle_async_request(request)
        await response.aread()
        await response.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        due = [action for n, action in self.hooks if n == 0]
        self.hooks = [(n - 1, action) for n, action in self.hooks if n > 0]
        for action in due:
            action()
        fault = self._choose()
        ra = self.rng.choice(self.retry_after) if fault is Fault.BUSY_503 else None
        self.log.append(Served(fault, request.url.path, ra))
        if fault is Fault.PASS:
            return await self.inner.handle_async_request(request)
        if fault in _REACHES_SERVER:
            await self._through(request)
        if fault is Fault.CONNECT:
            raise httpx.ConnectError("injected: connection refused", request=request)
        if fault is Fault.LOST:
            raise httpx.ReadError("injected: connection reset", request=request)
        if fault in (Fault.TIMEOUT, Fault.TIMEOUT_AFTER):
            raise httpx.ReadTimeout("injected: read timed out", request=request)
        if fault in (Fault.ERROR_500, Fault.ERROR_500_AFTER):
            body = error_body("internal", "injected failure")
            return httpx.Response(500, json=body, request=request)
        if fault is Fault.BUSY_503:
            return httpx.Response(
                503,
                json=error_body("busy", "injected: busy"),
                headers={"Retry-After": str(ra)},
                request=request,
            )
        assert fault is Fault.CORRUPT
        return httpx.Response(
            200,
            content=b"\x1f\x8b\x08\x00" + self.rng.randbytes(40),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            request=request,
        )

    async def aclose(self) -> None:
        """Shared by every client of one device: outlives each of them."""


# ---- devices -----------------------------------------------------------------


@dataclass
class SkewedClock:
    """A device's clock: the council's, off by a fixed skew."""

    base: Clock
    skew: timedelta

    def __call__(self) -> datetime:
        return self.base() + self.skew


def scope_residents(user: str) -> list[str]:
    """Residents a device of ``user`` holds and may write visits for."""
    role, district, _ = USERS[user]
    if role is Role.COORDINATOR:
        return sorted(r for r, (d, _, _) in RESIDENTS.items() if d == district)
    return sorted(r for r, (_, _, owner) in RESIDENTS.items() if owner == user)


@dataclass
class Phone:
    """A device with its own file, clock, faulty line and retry log."""

    name: str
    user: str
    db: Database
    state: AppState
    council: Council
    transport: FaultyTransport
    retry: Callable[[], RetryPolicy]
    rng: random.Random
    sleeps: list[tuple[float, Served | None]]
    outcomes: Counter[SyncState] = field(default_factory=Counter)
    recorded: list[str] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def sync(self, *, batch: int = 0, page: int = 0) -> SyncOutcome:
        """AppState.sync_now; with ``batch`` and ``page``, the engine itself with
        tiny batches and pages: a big backlog, in miniature."""
        async with self.lock:
            if batch and page:
                outcome = await self._sync_small(batch, page)
            else:
                outcome = await self.state.sync_now()
        self.outcomes[outcome.state] += 1
        return outcome

    async def _sync_small(self, batch: int, page: int) -> SyncOutcome:
        token = store.device(self.db).token
        assert token is not None
        line = self.council.client(token, self.transport)
        try:
            report = await sync_once(
                self.db,
                line,
                policy=self.retry(),
                batch=batch,
                page=page,
                now=self.state.now,
            )
            return SyncOutcome(SyncState.OK, report)
        except (CouncilUnreachable, ServerBusy, ServerFailed):  # as AppState does
            return SyncOutcome(SyncState.OFFLINE)
        finally:
            await line.aclose()

    def record(self) -> Visit:
        rng = self.rng
        resident = rng.choice(scope_residents(self.user))
        at = self.state.now() - timedelta(minutes=rng.uniform(0, 3 * 24 * 60))
        if rng.random() < 0.2:
            visit = self.state.record_visit(
                resident,
                Outcome.MET_CONCERN,
                visited_at=at,
                concern=Concern(ConcernCategory.MEALS, Urgency.NORMAL),
                note=f"concern {len(self.recorded)}",
            )
        else:
            outcome = rng.choice([Outcome.MET_WELL, Outcome.NOT_HOME, Outcome.PHONE])
            visit = self.state.record_visit(resident, outcome, visited_at=at)
        self.recorded.append(visit.id)
        return visit

    def undo(self) -> None:
        """Take back a visit this device holds and may write (a tombstone): the
        one it saved last (the app's undo), the newest change it has seen, or
        any."""
        coordinator = USERS[self.user][0] is Role.COORDINATOR
        candidates = sorted(
            (
                v
                for r in scope_residents(self.user)
                for v in store.resident_visits(self.db, r, limit=100_000)
                if coordinator or v.user_id == self.user
            ),
            key=lambda v: v.id,
        )
        pick = self.rng.random()
        if pick < 0.35:
            last = self.recorded[-1:]
            candidates = [v for v in candidates if v.id in last] or candidates
        elif pick < 0.7 and candidates:
            held = visible(self.db, "visits")
            newest = max(candidates, key=lambda v: held[v.id][:2])
            candidates = [newest]
        if candidates:
            visit = self.rng.choice(candidates)
            self.state.undo_visit(visit)
            self.undone.append(visit.id)


async def make_phone(
    council: Council,
    tmp: Path,
    user: str,
    name: str,
    *,
    seed: int,
    skew: float,
    line: httpx.AsyncBaseTransport | None = None,
) -> Phone:
    """A device enrolled as ``user`` over a clean line (faults come later);
    ``line`` to the council: its app in process unless given."""
    rng = random.Random(seed)
    inner = line or council.transport()
    transport = FaultyTransport(inner, random.Random(rng.random()))
    sleeps: list[tuple[float, Served | None]] = []

    async def sleep(seconds: float) -> None:
        sleeps.append((seconds, transport.log[-1] if transport.log else None))

    entropy = random.Random(rng.random())
    jitter = random.Random(rng.random())

    def retry() -> RetryPolicy:
        return RetryPolicy(attempts=3, sleep=sleep, rng=jitter)

    db = store.open_db(tmp / f"{name}.sqlite")
    state = AppState(
        db,
        clock=SkewedClock(council.clock, timedelta(seconds=skew)),
        entropy=entropy.randbytes,
        connect=lambda url, token: council.client(token, transport),
        retry=retry,
    )
    await state.enrol(f"Phone {name}", BASE_URL, council.invite(user))
    return Phone(name, user, db, state, council, transport, retry, rng, sleeps)


# ---- what the council holds and who may see it -------------------------------

Held = dict[str, tuple[str, str, int]]  # id -> (hlc, origin, deleted)


def server_rows(council: Council, kind: str) -> list[dict[str, Any]]:
    """What the council holds of one kind, tombstones too (store API only)."""
    bodies, _ = council.store.changes_after(Scope(everything=True), 0, 1 << 30)
    ids = [b["id"] for b in map(json.loads, bodies) if b["kind"] == kind]
    return [
        {
            "id": s.id,
            "hlc": s.hlc,
            "origin": s.origin,
            "deleted": int(s.deleted),
            "district_id": s.district_id,
            "resident_id": s.resident_id,
            "user_id": s.user_id,
        }
        for s in council.store.stored([(kind, i) for i in ids]).values()
    ]


def may_see(user: str, kind: str, row: Mapping[str, Any]) -> bool:
    """What a device of ``user`` holds, by watchapp/server/rules.py's docstring."""
    role, district, group = USERS[user]
    if role is Role.COORDINATOR:
        return bool(row["district_id"] == district)
    mine = scope_residents(user)
    if kind == "residents":
        return row["id"] in mine
    if kind in ("visits", "concern_updates"):
        return row["resident_id"] in mine
    if kind == "assignments":
        return bool(row["user_id"] == user)
    own = {"users": user, "groups": group, "districts": district}
    return bool(row["id"] == own[kind])


def expected(council: Council, user: str, kind: str) -> Held:
    return {
        r["id"]: (r["hlc"], r["origin"], r["deleted"])
        for r in server_rows(council, kind)
        if may_see(user, kind, r)
    }


def assert_converged(council: Council, phones: list[Phone]) -> None:
    recorded = {v for p in phones for v in p.recorded}
    undone = {v for p in phones for v in p.undone}
    visits = server_rows(council, "visits")
    ids = [r["id"] for r in visits]
    # zero lost, zero doubled
    assert len(ids) == len(set(ids)) == len(recorded)
    assert set(ids) == recorded
    assert {r["id"] for r in visits if r["deleted"]} == undone
    for phone in phones:
        assert store.pending_count(phone.db) == 0, phone.name
        assert store.rejected(phone.db) == [], phone.name
        for kind in KINDS:
            want = expected(council, phone.user, kind)
            assert visible(phone.db, kind) == want, (phone.name, kind)
        in_scope = recorded & set(expected(council, phone.user, "visits"))
        assert in_scope <= set(visible(phone.db, "visits")), phone.name


def assert_retry_after_honoured(phones: list[Phone]) -> int:
    """Every retry after a 503 waited its Retry-After; others a jittered backoff.

    Returns how many retries waited for a Retry-After.
    """
    honoured = 0
    for phone in phones:
        for seconds, served in phone.sleeps:
            assert served is not None
            if served.fault is Fault.BUSY_503:
                assert seconds == served.retry_after, (phone.name, served)
                honoured += 1
            else:
                assert 0 <= seconds <= RetryPolicy().base * 2, (phone.name, served)
    return honoured


# ---- 1. hundreds of rounds through a faulty network --------------------------

FAULTS: dict[Fault, float] = {
    Fault.CONNECT: 0.08,
    Fault.LOST: 0.09,
    Fault.ERROR_500: 0.04,
    Fault.ERROR_500_AFTER: 0.04,
    Fault.BUSY_503: 0.07,
    Fault.TIMEOUT: 0.04,
    Fault.TIMEOUT_AFTER: 0.04,
    Fault.CORRUPT: 0.03,
}
ROUNDS = 350
DEVICES = [("vol1", "vol1-a"), ("vol1", "vol1-b"), ("vol2", "vol2"), ("coord1", "c1")]


@pytest.mark.parametrize(
    ("seed", "concurrent"),
    [(1, False), (2, False), (3, True)],
    ids=["seed1", "seed2", "seed3-concurrent"],
)
async def test_devices_converge_through_a_faulty_network(
    stores: Stores, tmp_path: Path, seed: int, concurrent: bool
) -> None:
    """Random visits, undos and syncs over a lossy line, then a clean finish.

    ``concurrent`` also syncs two devices at once (and a device against
    itself); their interleaving on the server is then up to the scheduler, so
    only the faults, not the whole run, replay from the seed.
    """
    rng = random.Random(seed)
    council = stores.council(tmp_path / "server.sqlite")
    phones = [
        await make_phone(
            council,
            tmp_path,
            user,
            name,
            seed=rng.randrange(1 << 30),
            skew=rng.uniform(-120, 120),
        )
        for user, name in DEVICES
    ]
    try:
        for phone in phones:
            phone.transport.weights = FAULTS
            phone.transport.retry_after = (1, 3, 7, 12)
        for _ in range(ROUNDS):
            council.clock.advance(rng.uniform(1, 90))
            phone = rng.choice(phones)
            for _ in range(rng.randint(0, 2)):
                phone.record()
            if rng.random() < 0.12:
                phone.undo()
            if rng.random() < 0.1:  # the user saves while the sync is on the wire
                act = phone.record if rng.random() < 0.7 else phone.undo
                phone.transport.hooks.append((rng.randrange(4), act))
            small = rng.random() < 0.5
            batch, page = (rng.randint(1, 3), rng.randint(1, 5)) if small else (0, 0)
            mode = rng.random()
            if mode < 0.55 or (mode < 0.75 and not concurrent):
                outcome = await phone.sync(batch=batch, page=page)
                assert outcome.state in (SyncState.OK, SyncState.OFFLINE)
            elif mode < 0.75:
                other = rng.choice(phones)
                pair = await asyncio.gather(
                    phone.sync(batch=batch, page=page), other.sync()
                )
                assert {o.state for o in pair} <= {SyncState.OK, SyncState.OFFLINE}

        for phone in phones:  # the network heals
            phone.transport.weights = {}
            phone.transport.hooks.clear()
        for _ in range(2):
            for phone in phones:
                assert (await phone.sync()).state is SyncState.OK, phone.name

        assert_converged(council, phones)
        honoured = assert_retry_after_honoured(phones)
        faults = Counter(s.fault.value for p in phones for s in p.transport.log)
        outcomes = Counter(o.value for p in phones for o in p.outcomes.elements())
        print(
            f"\nseed {seed}: faults {dict(sorted(faults.items()))};"
            f" sync outcomes {dict(outcomes)}; Retry-After honoured {honoured};"
            f" visits {sum(len(p.recorded) for p in phones)},"
            f" undone {sum(len(p.undone) for p in phones)}"
        )
        for fault in FAULTS:
            assert faults[fault.value] >= 5, fault  # every fault was exercised
        assert honoured >= 5
        assert outcomes[SyncState.OFFLINE.value] >= 5  # some rounds gave up
    finally:
        for phone in phones:
            phone.db.close()
        council.close()


# ---- 2. single faults, scripted ----------------------------------------------


@pytest.fixture
def council(stores: Stores, tmp_path: Path) -> Iterator[Council]:
    council = stores.council(tmp_path / "server.sqlite")
    yield council
    council.close()


@pytest.fixture
async def phone(council: Council, tmp_path: Path) -> AsyncIterator[Phone]:
    phone = await make_phone(council, tmp_path, "vol1", "vol1", seed=5, skew=0)
    yield phone
    phone.db.close()


async def test_a_busy_server_is_retried_after_its_retry_after(phone: Phone) -> None:
    phone.record()
    start = len(phone.transport.log)
    phone.transport.script.extend([Fault.BUSY_503, Fault.CONNECT])
    outcome = await phone.sync()
    assert outcome.state is SyncState.OK and outcome.report is not None
    assert outcome.report.pushed == 1
    assert [s for s, _ in phone.sleeps][0] == 7.0  # Retry-After: 7
    assert 0 <= phone.sleeps[1][0] <= RetryPolicy().base * 2  # jittered backoff
    assert [s.fault for s in phone.transport.log[start : start + 3]] == [
        Fault.BUSY_503,
        Fault.CONNECT,
        Fault.PASS,
    ]


@pytest.mark.parametrize(
    "fault", [Fault.LOST, Fault.ERROR_500_AFTER, Fault.TIMEOUT_AFTER]
)
async def test_a_push_whose_answer_is_lost_is_sent_again_and_kept_once(
    phone: Phone, council: Council, fault: Fault
) -> None:
    visit = phone.record()
    phone.transport.script.extend([fault] * 3)  # every attempt of this round
    assert (await phone.sync()).state is SyncState.OFFLINE
    assert [r["id"] for r in server_rows(council, "visits")] == [visit.id]
    assert phone.state.status().pending == 1  # the device could not know
    assert (await phone.sync()).state is SyncState.OK
    assert phone.state.status().pending == 0
    assert [r["id"] for r in server_rows(council, "visits")] == [visit.id]


@pytest.fixture
async def office(council: Council, tmp_path: Path) -> AsyncIterator[Phone]:
    office = await make_phone(council, tmp_path, "coord1", "office", seed=6, skew=0)
    yield office
    office.db.close()


def server_visit(council: Council, visit_id: str) -> tuple[str, str, int]:
    [row] = [r for r in server_rows(council, "visits") if r["id"] == visit_id]
    return (row["hlc"], row["origin"], row["deleted"])


async def test_a_late_retry_does_not_overwrite_a_newer_write(
    phone: Phone, office: Phone, council: Council
) -> None:
    """The phone's answer is lost; meanwhile the office takes the visit back;
    then the phone sends its (older) visit again."""
    visit = phone.record()
    phone.transport.script.extend([Fault.LOST, Fault.CONNECT, Fault.CONNECT])
    assert (await phone.sync()).state is SyncState.OFFLINE
    assert server_visit(council, visit.id)[2] == 0
    assert (await office.sync()).state is SyncState.OK
    [seen] = [
        v
        for v in store.resident_visits(office.db, visit.resident_id, limit=10)
        if v.id == visit.id
    ]
    office.state.undo_visit(seen)
    assert (await office.sync()).state is SyncState.OK
    tombstone = server_visit(council, visit.id)
    assert tombstone[2] == 1
    assert (await phone.sync()).state is SyncState.OK  # sends the older write again
    assert server_visit(council, visit.id) == tombstone
    assert visible(phone.db, "visits")[visit.id] == tombstone
    assert phone.state.status().pending == 0


async def test_an_undo_during_a_pull_outlives_the_echo_of_the_visit(
    phone: Phone, council: Council
) -> None:
    """The pull brings back the visit just pushed while the user takes it back."""
    visit = phone.record()
    phone.transport.hooks.append((1, lambda: phone.state.undo_visit(visit)))
    outcome = await phone.sync()  # request 0: the push; 1: the pull
    assert outcome.state is SyncState.OK and outcome.report is not None
    assert outcome.report.pushed == 1
    assert visible(phone.db, "visits")[visit.id][2] == 1
    assert phone.state.status().pending == 1  # the undo is still to be sent
    assert (await phone.sync()).state is SyncState.OK
    assert phone.state.status().pending == 0
    assert server_visit(council, visit.id) == visible(phone.db, "visits")[visit.id]
    assert server_visit(council, visit.id)[2] == 1


async def test_a_garbled_answer_is_trouble_on_the_line_not_a_crash(
    phone: Phone,
) -> None:
    phone.record()
    phone.transport.script.append(Fault.CORRUPT)
    outcome = await phone.sync()
    assert outcome.state is SyncState.OK  # retried like any bad answer
    assert phone.state.status().pending == 0


async def test_a_volunteer_device_holds_its_own_user_group_and_district(
    phone: Phone, council: Council
) -> None:
    assert (await phone.sync()).state is SyncState.OK
    for kind in ("users", "groups", "districts"):
        assert visible(phone.db, kind) == expected(council, "vol1", kind), kind


async def test_enrolment_survives_a_lost_answer(
    council: Council, tmp_path: Path
) -> None:
    db = store.open_db(tmp_path / "late.sqlite")
    try:
        transport = FaultyTransport(
            council.transport(), random.Random(0), script=[Fault.LOST]
        )
        state = AppState(
            db,
            clock=council.clock,
            connect=lambda url, token: council.client(token, transport),
            retry=fast_retry,
        )
        code = council.invite("vol2")
        with pytest.raises(EnrolmentFailed) as failed:
            await state.enrol("Late phone", BASE_URL, code)
        assert failed.value.reason == "offline"
        await state.enrol("Late phone", BASE_URL, code)
        assert state.is_enrolled()
        assert [r.resident.id for r in state.round()] == ["r3"]
    finally:
        db.close()


@pytest.mark.parametrize("url", ["http://council.example:80:80", "http://[::1"])
async def test_an_unusable_server_url_is_refused_as_input(
    council: Council, tmp_path: Path, url: str
) -> None:
    db = store.open_db(tmp_path / "typo.sqlite")
    try:
        state = AppState(db, clock=council.clock, retry=fast_retry)
        with pytest.raises(InvalidInput) as refused:
            await state.enrol("Typo", url, council.invite("vol2"))
        assert [e.field for e in refused.value.errors] == ["server_url"]
    finally:
        db.close()


# ---- 3. real sockets ---------------------------------------------------------


@contextlib.contextmanager
def serving(app: Wire) -> Iterator[str]:
    """The app on uvicorn in a thread, on an ephemeral port; yields its URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "no uvicorn"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive()


def socket_state(
    db: Database, clock: Callable[[], datetime], *, timeout: list[float]
) -> AppState:
    """An AppState on the real network client; ``timeout[0]`` overrides its
    timeouts when set (to make a stalled answer time out quickly)."""

    def connect(url: str, token: str | None) -> CouncilClient:
        c = client.connect(url, token)
        if timeout:
            c.http.timeout = httpx.Timeout(timeout[0])
        return c

    return AppState(db, clock=clock, connect=connect, retry=fast_retry)


async def test_visits_cross_real_sockets_gzipped_both_ways(
    council: Council, tmp_path: Path
) -> None:
    wire = Wire(council.app)
    timeout: list[float] = []
    phone_db = store.open_db(tmp_path / "phone.sqlite")
    office_db = store.open_db(tmp_path / "office.sqlite")
    try:
        with serving(wire) as url:
            phone = socket_state(phone_db, council.clock, timeout=timeout)
            office = socket_state(office_db, council.clock, timeout=timeout)
            await phone.enrol("Phone", url, council.invite("vol1"))
            await office.enrol("Office", url, council.invite("coord1"))
            visits = [
                phone.record_visit(
                    "r1" if i % 2 else "r2",
                    Outcome.MET_WELL,
                    visited_at=council.clock() - timedelta(hours=i),
                    note=f"visit {i}: all well, tea and a chat about the garden",
                )
                for i in range(40)
            ]
            assert (await phone.sync_now()).state is SyncState.OK
            assert (await office.sync_now()).state is SyncState.OK
            held = visible(office_db, "visits")
            assert set(held) == {v.id for v in visits}
            assert office_db.table("visits").get(visits[0].id)["note"] == visits[0].note

            pushes = [e for e in wire.exchanges if e.path == PUSH_PATH]
            assert pushes and all(e.request_encoding == "gzip" for e in pushes)
            pulls = [e for e in wire.exchanges if e.path == f"{API}/sync/pull"]
            big = max(pulls, key=lambda e: e.response_bytes)
            assert big.status == 200 and big.response_encoding == "gzip"

            # A stalled answer: the client times out after the server committed;
            # the retry is a no-op on the server.
            before = len(wire.exchanges)
            wire.stalls.append(2.0)
            timeout.append(1.0)
            late = phone.record_visit("r1", Outcome.PHONE)
            outcome = await phone.sync_now()
            assert outcome.state is SyncState.OK and outcome.report is not None
            assert outcome.report.pushed == 1
            assert [e.path for e in wire.exchanges[before:]].count(PUSH_PATH) == 2
            ids = [r["id"] for r in server_rows(council, "visits")]
            assert len(ids) == len(set(ids)) == 41 and late.id in ids
    finally:
        phone_db.close()
        office_db.close()


# ---- 4. kill -9 during a push ------------------------------------------------


@dataclass
class ServerProcess:
    """tests/server_process.py, started and stopped by the test."""

    db: Path | str  # a SQLite file, or a PostgreSQL database's URL
    folder: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    codes: dict[str, str] = field(default_factory=dict)

    def start(self, *args: str) -> None:
        info = self.folder / "server.json"
        info.unlink(missing_ok=True)
        command = [sys.executable, "-m", "tests.server_process"]
        command += ["--db", str(self.db), "--info", str(info), "--port", str(self.port)]
        with open(self.folder / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [*command, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while not info.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.folder / "server.log").read_text()
                raise AssertionError(f"the server did not start:\n{log_text}")
            time.sleep(0.02)
        data = json.loads(info.read_text())
        self.port = int(data["port"])
        self.codes = self.codes or dict(data["codes"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def visit_ids(where: Path | str) -> list[str]:
    """The visits a server process stored, read beside it: through the store
    API on PostgreSQL; on SQLite from the file, without a store's own writes."""
    if isinstance(where, str):
        council = open_store(where)
        try:
            return [json.loads(b)["id"] for b in council.bodies("visits")]
        finally:
            council.close()
    with contextlib.closing(sqlite3.connect(where, timeout=5)) as conn:
        rows = conn.execute("SELECT id FROM records WHERE kind = 'visits'")
        return [r[0] for r in rows]


def count_visits(where: Path | str) -> int:
    return len(visit_ids(where))


QUEUED = 3000  # six batches of engine.PUSH_BATCH (500)


async def test_kill_9_during_a_push_loses_and_doubles_nothing(
    stores: Stores, tmp_path: Path
) -> None:
    where, release = stores.where(tmp_path / "server.sqlite")
    server = ServerProcess(where, tmp_path)
    if isinstance(where, str):  # the process builds a SQLite world itself
        council = Council(where)
        server.codes = {"vol1": council.invite("vol1")}
        council.store.close()
    db = store.open_db(tmp_path / "phone.sqlite")
    sync: asyncio.Future[SyncOutcome] | None = None
    try:
        server.start("--invite", "vol1", "--hold-push", "0.5")
        clock = Clock()
        phone = AppState(
            db,
            clock=clock,
            entropy=random.Random(9).randbytes,
            retry=fast_retry,
        )
        await phone.enrol("Phone", server.url, server.codes["vol1"])
        assert [r.resident.id for r in phone.round()] == ["r1", "r2"]
        with db.atomic():  # one commit for thousands of visits
            visits = [
                phone.record_visit(
                    ("r1", "r2")[i % 2],
                    Outcome.MET_WELL,
                    visited_at=clock() - timedelta(minutes=i),
                )
                for i in range(QUEUED)
            ]
        assert phone.status().pending == QUEUED

        # Kill the server once two batches are committed but before their
        # answers (held back 0.5 s by the server) reach the device: the engine
        # has both out at once (engine.PUSH_WINDOW).
        sync = asyncio.ensure_future(phone.sync_now())
        while count_visits(server.db) < 2 * 500:
            assert not sync.done(), "the push finished before the kill"
            await asyncio.sleep(0.005)
        server.kill()
        assert (await sync).state is SyncState.OFFLINE
        assert engine.PUSH_WINDOW == 2
        assert phone.status().pending == QUEUED  # batches 1 and 2: unanswered
        assert count_visits(server.db) == 2 * 500

        server.start()  # same file, same port
        outcome = await phone.sync_now()
        assert outcome.state is SyncState.OK and outcome.report is not None
        assert outcome.report.pushed == QUEUED  # 1,000 of them again: no-ops
        assert phone.status().pending == 0
        server.stop()

        if isinstance(where, Path):  # SQLite's own check of its file
            with contextlib.closing(sqlite3.connect(where)) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ids = visit_ids(where)
        assert len(ids) == len(set(ids)) == QUEUED
        assert set(ids) == {v.id for v in visits}
        assert set(visible(db, "visits")) == set(ids)
    finally:
        if sync is not None and not sync.done():
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync
        server.stop()
        db.close()
        release()
