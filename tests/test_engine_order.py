"""The engine keeps two push batches out at once only when neither has a
record that another may refer to: the server may write two batches out at
once in either order (and, with several server processes, does), so a
resident and the visit or assignment that refers to it are never on the wire
together in two batches.

A coordinator's device, the real server app in process, and a transport that
holds each push until the test lets it go, noting what was out at once.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Council, enrol_device, resident_record
from watchapp import store
from watchapp.domain.schema import format_datetime
from watchapp.sync.engine import PIPELINED_KINDS
from watchapp.sync.protocol import API

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Overlaps(httpx.AsyncBaseTransport):
    """Passes requests on; for pushes, notes the kinds of each batch out at
    the moment another one is sent, and lets each through after a pause so
    that the engine has the chance to send the next."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.out: list[frozenset[str]] = []
        self.together: list[list[frozenset[str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != f"{API}/sync/push":
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        if request.headers.get("content-encoding") == "gzip":
            body = zlib.decompress(body, wbits=31)
        kinds = frozenset(c["kind"] for c in json.loads(body)["changes"])
        self.out.append(kinds)
        self.together.append(list(self.out))
        try:
            await asyncio.sleep(0.3)
            return await self.inner.handle_async_request(request)
        finally:
            self.out.remove(kinds)


async def test_a_batch_others_may_refer_to_is_never_out_beside_another(
    tmp_path: Path,
) -> None:
    council = Council(tmp_path / "council.sqlite")
    council.clock.advance(60)
    overlaps: list[Overlaps] = []

    def transport() -> httpx.AsyncBaseTransport:
        overlaps.append(Overlaps(council.transport()))
        return overlaps[-1]

    coord = await enrol_device(council, tmp_path, "coord1", transport=transport)
    now_ms = int(council.clock().timestamp() * 1000)
    visited = format_datetime(council.clock())
    # Visits first, then a new resident, then visits to that resident: the
    # outbox is read in stamp order, 500 at a time.
    for i in range(1200):
        store.write(
            coord.db,
            "visits",
            _visit(f"v-{i}", "r1", visited),
            now_ms=now_ms,
        )
    new = {**resident_record("r1"), "id": "r-new", "name": "New"}
    del new["kind"]
    store.write(
        coord.db,
        "residents",
        {**new, "consent": 1, "active": 1, "evacuation_register": 0},
        now_ms=now_ms,
    )
    for i in range(1200):
        store.write(
            coord.db, "visits", _visit(f"w-{i}", "r-new", visited), now_ms=now_ms
        )

    outcome = await coord.state.sync_now()

    assert store.pending_count(coord.db) == 0, outcome
    seen = [batch for o in overlaps for batch in o.together]
    assert any(len(out) == 2 for out in seen), seen  # visits-only batches overlap
    for out in seen:
        if len(out) > 1:
            assert all(kinds <= PIPELINED_KINDS for kinds in out), out
    held = {json.loads(b)["id"] for b in council.store.bodies("visits")}
    assert {f"w-{i}" for i in range(1200)} <= held


def _visit(vid: str, rid: str, visited: str) -> dict[str, Any]:
    return {
        "id": vid,
        "district_id": "d1",
        "group_id": "g1",
        "resident_id": rid,
        "user_id": "vol1",
        "visited_at": visited,
        "outcome": "met_well",
        "concern_category": None,
        "urgency": None,
        "note": "",
    }
