"""Backups that lose nothing (issue 9): an online backup taken while devices
push holds every push acknowledged before it began; a restored council has a
new epoch, and a device that synced after the backup notices on its next
round, sends again what of its own the council lost, and pulls afresh.

The real server app over each engine (a SQLite file, a database of the test
cluster), in process; devices are AppState over their own files, or raw
pushes through the real endpoint.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from starlette.concurrency import run_in_threadpool

from tests.support import BASE_URL, Council, Stores, enrol_device
from tests.test_server import Server, visit_record
from watchapp import store as device_store
from watchapp.__main__ import main
from watchapp.server import create_app
from watchapp.server.store import ServerStore, open_store, restore_store
from watchapp.sync.protocol import API

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def visit_ids(store: ServerStore) -> set[str]:
    return {json.loads(b)["id"] for b in store.bodies("visits")}


async def test_a_backup_under_push_load_holds_every_acknowledged_push(
    tmp_path: Path, stores: Stores
) -> None:
    council = stores.council(tmp_path / "council.sqlite")
    council.clock.advance(60)
    transport = httpx.ASGITransport(app=council.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        server = Server(council, http)
        phones = [await server.enrol(user) for user in ("vol1", "vol2", "vol3")]
        residents = {"vol1": "r1", "vol2": "r3", "vol3": "r4"}
        acknowledged: set[str] = set()
        stop = asyncio.Event()

        async def pushing(index: int) -> None:
            phone = phones[index]
            n = 0
            while not stop.is_set():
                batch = [
                    server.change(
                        phone,
                        visit_record(
                            f"v-{phone.user}-{n + i}", residents[phone.user], phone.user
                        ),
                    )
                    for i in range(50)
                ]
                n += 50
                answer = await server.push_ok(phone, *batch)
                assert answer.accepted == 50
                acknowledged.update(c["id"] for c in batch)

        pushers = [asyncio.ensure_future(pushing(i)) for i in range(3)]
        while len(acknowledged) < 600:
            await asyncio.sleep(0.01)
        before = set(acknowledged)  # every push answered before the backup began
        await run_in_threadpool(council.store.backup, tmp_path / "backup.sqlite")
        while len(acknowledged) < len(before) + 300:  # pushes went on meanwhile
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.gather(*pushers)

    into, release = stores.where(tmp_path / "restored.sqlite")
    restore_store(tmp_path / "backup.sqlite", into)
    restored = open_store(into)
    held = visit_ids(restored)
    assert before <= held
    assert held <= acknowledged  # and nothing that was never acknowledged
    assert restored.epoch() != council.store.epoch()
    restored.close()
    release()
    council.close()


async def test_a_device_sends_again_what_the_restored_council_lost(
    tmp_path: Path, stores: Stores
) -> None:
    council = stores.council(tmp_path / "council.sqlite")
    council.clock.advance(60)
    vol1 = await enrol_device(council, tmp_path, "vol1")
    kept = vol1.visit("r1", note="before the backup")
    await vol1.state.sync_now()
    council.store.backup(tmp_path / "backup.sqlite")

    council.clock.advance(60)
    lost = vol1.visit("r2", note="after the backup")
    await vol1.state.sync_now()
    assert device_store.pending_count(vol1.db) == 0
    assert lost.id in visit_ids(council.store)

    # The council's disk is lost; last night's backup comes back.
    council.store.close()
    assert (
        main(
            [
                "restore",
                "--db",
                str(council.where),
                "--from",
                str(tmp_path / "backup.sqlite"),
            ]
        )
        == 0
    )
    council.store = open_store(council.where)
    council.app = create_app(
        council.store, clock=council.clock, limiter=council.limiter
    )
    assert visit_ids(council.store) == {kept.id}

    council.clock.advance(60)
    await vol1.state.sync_now()

    assert visit_ids(council.store) == {kept.id, lost.id}
    assert device_store.pending_count(vol1.db) == 0
    # A second phone sees both, as before the restore.
    vol1b = await enrol_device(council, tmp_path, "vol1")
    held = {r["id"] for r in vol1b.db.query("SELECT id FROM visits")}
    assert {kept.id, lost.id} <= held
    # And the first phone's own copies are untouched.
    notes = {r["id"]: r["note"] for r in vol1.db.query("SELECT id, note FROM visits")}
    assert (notes[kept.id], notes[lost.id]) == ("before the backup", "after the backup")


async def test_a_cursor_from_before_the_restore_is_answered_409(
    tmp_path: Path,
) -> None:
    council = Council(tmp_path / "council.sqlite")
    council.clock.advance(60)
    transport = httpx.ASGITransport(app=council.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        phone = await Server(council, http).enrol("vol1")
        page = await http.get(f"{API}/sync/pull", headers=phone.auth)
        cursor = page.json()["cursor"]
        assert cursor.startswith(f"v2.{council.store.epoch()}.")
        stale = cursor.replace(council.store.epoch(), "0" * 16)
        answer = await http.get(
            f"{API}/sync/pull", params={"cursor": stale}, headers=phone.auth
        )
    assert answer.status_code == 409
    assert answer.json()["errors"][0]["code"] == "server_restored"


def test_backup_and_restore_on_the_command_line(tmp_path: Path, stores: Stores) -> None:
    council = stores.council(tmp_path / "council.sqlite")
    epoch = council.store.epoch()
    council.store.close()
    out = tmp_path / "council.backup"
    assert main(["backup", "--db", str(council.where), "--out", str(out)]) == 0
    into, release = stores.where(tmp_path / "new.sqlite")
    assert main(["restore", "--db", str(into), "--from", str(out)]) == 0
    restored = open_store(into)
    assert restored.accounts() and restored.epoch() != epoch
    restored.close()
    release()
    council.close()
    missing = str(tmp_path / "nothing.sqlite")
    assert main(["restore", "--db", str(tmp_path / "x.sqlite"), "--from", missing]) == 2
