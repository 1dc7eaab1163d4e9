"""The PostgreSQL engine itself: a connection that drops mid-push, change
numbers handed out in commit order under concurrent writers, and a schema
that disagrees with the kinds. The behaviour both engines share is the
contract suite (tests/test_server.py and the others, run on each engine).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests import pg
from tests.support import Council, Stores
from tests.test_server import Server, new_council, serving, visit_record
from tests.test_sync_faults import (
    DEVICES,
    FAULTS,
    Phone,
    ServerProcess,
    assert_converged,
    make_phone,
)
from watchapp.server.store import Scope, open_store
from watchapp.server.store.postgres_sql import SchemaMismatch
from watchapp.state import SyncState
from watchapp.sync.protocol import Change

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def council(tmp_path: Path) -> Iterator[Council]:
    council = new_council(Stores.of("postgres"), tmp_path / "unused")
    yield council
    council.close()


@pytest.fixture
async def server(council: Council, anyio_backend: str) -> AsyncIterator[Server]:
    async with serving(council) as server:
        yield server


async def _until_blocked(url: str) -> None:
    """Until a backend of the database waits for a lock (bounded)."""
    for _ in range(2000):
        if pg.cluster().waiting_for_locks(url):
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the push never reached the held record")


async def test_a_connection_dropped_mid_push_is_a_503_and_nothing_half_written(
    server: Server, council: Council
) -> None:
    url = str(council.where)
    phone = await server.enrol("vol1")
    old = server.change(phone, visit_record("v-old", "r1", "vol1", note="first"))
    assert (await server.push_ok(phone, old)).accepted == 1
    server.council.clock.advance(1)
    new = server.change(phone, visit_record("v-new", "r2", "vol1"))
    edit = server.change(phone, {**old, "note": "second"})
    body = {"changes": [new, edit]}
    before = server.count()

    with pg.holding_record(url, "visits", "v-old") as holder:
        # The push inserts v-new, then waits to write over v-old: mid-push.
        push = asyncio.ensure_future(server.push(phone, body))
        await _until_blocked(url)
        assert pg.cluster().terminate(url, spare=[holder]) >= 1
        answer = await push

    assert answer.status_code == 503, answer.text
    assert answer.json()["ok"] is False
    [error] = answer.json()["errors"]
    assert error["code"] == "store_unavailable"
    assert answer.headers["retry-after"] == "1"
    assert "psycopg" not in answer.text and "Traceback" not in answer.text
    # Nothing of it was written: not the new visit, not the edit.
    assert server.held("visits", "v-new") is None
    assert server.body("visits", "v-old") == old
    assert server.count() == before

    # The device sends the same batch again: the pool replaced its broken
    # connections, and the retry converges.
    retried = await server.push_ok(phone, new, edit)
    assert (retried.accepted, retried.rejected) == (2, [])
    assert server.body("visits", "v-new") == new
    assert server.body("visits", "v-old") == edit


def test_concurrent_writers_never_let_a_pull_skip_a_change(council: Council) -> None:
    """Writers on their own threads (as server processes would be) and a
    puller walking its cursor meanwhile: the puller ends up with every
    change, because seqs are handed out in commit order."""
    writers, batches, size = 4, 15, 20
    expected = {
        f"w{w}-{b}-{i}"
        for w in range(writers)
        for b in range(batches)
        for i in range(size)
    }
    done = threading.Event()
    seen: set[str] = set()
    problems: list[BaseException] = []

    def write(w: int) -> None:
        store = open_store(str(council.where))
        try:
            for b in range(batches):
                changes = [
                    Change("visits", _visit(f"w{w}-{b}-{i}", origin=f"dev-{w}"))
                    for i in range(size)
                ]
                store.apply(changes)
        except BaseException as exc:  # reported by the main thread
            problems.append(exc)
        finally:
            store.close()

    def pull() -> None:
        cursor = 0
        while True:
            last_round = done.is_set()
            bodies, cursor = council.store.changes_after(
                Scope(everything=True), cursor, 50
            )
            seen.update(
                b["id"] for b in map(json.loads, bodies) if b["kind"] == "visits"
            )
            if last_round and not bodies:
                return

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    puller = threading.Thread(target=pull)
    puller.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    puller.join(timeout=120)
    assert problems == []
    assert seen >= expected


def test_a_column_whose_type_disagrees_with_the_kinds_is_refused(
    tmp_path: Path,
) -> None:
    """PostgreSQL's schema follows the kinds; where it has drifted (a hand
    edit, an old migration) the store refuses to open rather than guess."""
    url = pg.cluster().database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "ALTER TABLE records ALTER COLUMN note TYPE integer USING NULL"
            )
        with pytest.raises(SchemaMismatch, match="note"):
            open_store(url)
    finally:
        pg.cluster().drop(url)


def _visit(vid: str, *, origin: str) -> dict[str, Any]:
    return {
        **{k: v for k, v in visit_record(vid, "r1", "vol1").items() if k != "kind"},
        "hlc": "1764118800000-00001",
        "origin": origin,
    }


class Alternating(httpx.AsyncBaseTransport):
    """Sends each request to the next of several local servers, in turn:
    servers behind a round-robin load balancer."""

    def __init__(self, urls: list[str]) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._next = itertools.cycle([httpx.URL(u) for u in urls])
        self.sent: Counter[str] = Counter()  # requests by server

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        to = next(self._next)
        self.sent[str(to)] += 1
        request.url = request.url.copy_with(
            scheme=to.scheme, host=to.host, port=to.port
        )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Shared by every client of one device: outlives each of them."""

    async def close(self) -> None:
        await self._inner.aclose()


async def test_two_server_processes_on_one_database_behave_as_one(
    council: Council, tmp_path: Path
) -> None:
    """Devices sync through two server processes alternately, over a faulty
    line, concurrently: nothing is lost or doubled, and all converge."""
    rng = random.Random(11)
    servers = [ServerProcess(str(council.where), tmp_path / n) for n in "ab"]
    phones: list[Phone] = []
    lines: list[Alternating] = []
    try:
        for server in servers:
            server.folder.mkdir()
            server.start()
        urls = [server.url for server in servers]
        for user, name in DEVICES:
            lines.append(Alternating(urls))
            phone = await make_phone(
                council,
                tmp_path,
                user,
                name,
                seed=rng.randrange(1 << 30),
                skew=rng.uniform(-60, 60),
                line=lines[-1],
            )
            phone.transport.weights = FAULTS
            phone.transport.retry_after = (1, 2)
            phones.append(phone)
        for _ in range(40):
            busy = rng.sample(phones, 2)
            for phone in busy:
                for _ in range(rng.randint(0, 2)):
                    phone.record()
                if rng.random() < 0.1:
                    phone.undo()
            outcomes = await asyncio.gather(*(p.sync() for p in busy))
            assert {o.state for o in outcomes} <= {SyncState.OK, SyncState.OFFLINE}
        for phone in phones:  # the network heals
            phone.transport.weights = {}
        for _ in range(2):
            for phone in phones:
                assert (await phone.sync()).state is SyncState.OK, phone.name
        assert_converged(council, phones)
        faults = {s.fault for p in phones for s in p.transport.log}
        assert len(faults) >= 5  # most kinds of fault were met
        sent = sum((line.sent for line in lines), Counter[str]())
        assert min(sent.values()) >= 50 and len(sent) == 2, sent
    finally:
        for phone in phones:
            phone.db.close()
        for line in lines:
            await line.close()
        for server in servers:
            server.stop()
