"""Many devices at once, run on demand: ``python bench/load.py`` (not in tests).

The council server runs in a subprocess on 127.0.0.1 (see bench/sync.py), over
the store ``--store`` names (a SQLite file in a temporary folder, or a database
of a throwaway PostgreSQL cluster with durable settings), holding 10
districts, 200 volunteers with two residents each, and an admin. Each of
``--devices`` devices (a real device store in memory) is enrolled as its own
volunteer through ``/api/v1/enrol``, with its own token, and synced once; then
it saves ``--visits`` visits.

Then all devices sync at once (asyncio; one httpx client each, made for the
round as ``AppState.sync_now`` makes one): each pushes its visits and pulls.
Every HTTP request is timed from send to its whole answer read, and any
transport failure or status >= 400 is an error (the devices do not retry).
Afterwards the server's store, read through its contract, must hold every
pushed visit exactly once, as pushed; an admin device's pull must see them all
too.

Prints readable lines, and as the last line one JSON object:
{"store", "devices", "p50_ms", "p95_ms", "errors", "lost", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlite_utils import Database
from sync import (
    Server,
    council,
    enrol,
    held_visits,
    invite,
    new_id,
    percentile,
    run_options,
    server_options,
    store_version,
    utc_now,
)

from watchapp import store
from watchapp.domain.model import Outcome, Role, Visit
from watchapp.server.store import open_store
from watchapp.sync import engine
from watchapp.sync.client import TIMEOUT, CouncilClient, RetryPolicy
from watchapp.sync.errors import SyncError

DISTRICTS = 10
RESIDENTS_EACH = 2
# Issue 9's target, the same on both engines: this many devices at once, with
# no errors and nothing lost.
TARGET_DEVICES = 200


# ---- timing every request --------------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    seconds: float
    status: int  # 0: no answer


@dataclass
class Wire:
    """What every device sent and got back, in the timed round."""

    exchanges: list[Exchange] = field(default_factory=list)
    recording: bool = False


class TimedTransport(httpx.AsyncBaseTransport):
    """Times each request to its whole answer; counts the ones that failed."""

    def __init__(self, wire: Wire, tls: ssl.SSLContext) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=tls)
        self.wire = wire

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        status = 0
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            status = response.status_code
            return response
        finally:
            if self.wire.recording:
                self.wire.exchanges.append(
                    Exchange(
                        request.method,
                        request.url.path,
                        time.perf_counter() - start,
                        status,
                    )
                )

    async def aclose(self) -> None:
        await self.inner.aclose()


@functools.cache
def _tls() -> ssl.SSLContext:
    # One for all: making one takes ~20 ms, which would load the event loop
    # that every simulated device shares (and the URL is plain HTTP anyway).
    return httpx.create_ssl_context()


def client(url: str, token: str | None, wire: Wire) -> CouncilClient:
    http = httpx.AsyncClient(
        transport=TimedTransport(wire, _tls()), base_url=url, timeout=TIMEOUT
    )
    return CouncilClient(http, token)


# ---- the world -------------------------------------------------------------------


@dataclass(frozen=True)
class Volunteer:
    user_id: str
    district_id: str
    group_id: str
    residents: list[str]
    code: str


def build_world(
    where: str, rng: random.Random, *, volunteers: int
) -> tuple[list[Volunteer], str]:
    """Districts, one group each, volunteers round them, two residents each."""
    now = utc_now()
    server = open_store(where)
    try:
        places = [(new_id(rng), new_id(rng)) for _ in range(DISTRICTS)]
        records: list[dict[str, Any]] = []
        for i, (district, group) in enumerate(places):
            scope = {"deleted": False, "district_id": district}
            records.append(
                {"kind": "districts", "id": district, **scope, "name": f"D{i}"}
            )
            records.append({"kind": "groups", "id": group, **scope, "name": f"G{i}"})
        server.write_server_records(records, now=now)
        admin = new_id(rng)
        district, group = places[0]
        server.create_user(
            user_id=admin,
            name="Admin",
            role=Role.ADMIN,
            district_id=district,
            group_id=group,
            now=now,
        )
        people: list[Volunteer] = []
        records = []
        for i in range(volunteers):
            district, group = places[i % DISTRICTS]
            user = new_id(rng)
            server.create_user(
                user_id=user,
                name=f"Volunteer {i}",
                role=Role.VOLUNTEER,
                district_id=district,
                group_id=group,
                now=now,
            )
            scope = {"deleted": False, "district_id": district, "group_id": group}
            residents = [new_id(rng) for _ in range(RESIDENTS_EACH)]
            for j, resident in enumerate(residents):
                records.append(
                    {
                        "kind": "residents",
                        "id": resident,
                        **scope,
                        "name": f"Resident {i}-{j}",
                        "kana": f"resident {i}-{j}",
                        "address": "",
                        "visit_every_days": 7,
                        "consent": True,
                        "evacuation_register": False,
                        "since": "2025-04-01",
                        "active": True,
                    }
                )
                records.append(
                    {
                        "kind": "assignments",
                        "id": new_id(rng),
                        **scope,
                        "user_id": user,
                        "resident_id": resident,
                        "active": True,
                    }
                )
            people.append(
                Volunteer(user, district, group, residents, invite(server, user, now))
            )
        server.write_server_records(records, now=now)
        return people, invite(server, admin, now)
    finally:
        server.close()


# ---- devices ---------------------------------------------------------------------


@dataclass
class Device:
    volunteer: Volunteer
    db: Database
    pushed: list[tuple[str, str]] = field(default_factory=list)  # (id, hlc)
    error: str = ""


async def enrolled(
    url: str, volunteer: Volunteer, rng: random.Random, limit: asyncio.Semaphore
) -> Device:
    """Enrolled through the real endpoint, then synced once, as the app does."""
    async with limit:
        db, council = await enrol(url, ":memory:", volunteer.code, "phone", rng)
        try:
            await engine.sync_once(db, council)
        finally:
            await council.aclose()
    return Device(volunteer, db)


def save_visits(device: Device, count: int, rng: random.Random) -> None:
    v = device.volunteer
    now = utc_now()
    for i in range(count):
        at = now - timedelta(minutes=rng.randint(1, 600))
        visit = Visit(
            id=new_id(rng, int(at.timestamp() * 1000)),
            resident_id=v.residents[i % len(v.residents)],
            district_id=v.district_id,
            group_id=v.group_id,
            user_id=v.user_id,
            visited_at=at,
            outcome=Outcome.MET_WELL,
        )
        stamp = store.save_visit(device.db, visit, now_ms=int(time.time() * 1000))
        device.pushed.append((visit.id, stamp))


async def sync_round(
    device: Device, url: str, wire: Wire, start: asyncio.Event
) -> engine.SyncReport | None:
    """One sync round, no retries: a failure is an error, not hidden."""
    await start.wait()
    token = store.device(device.db).token
    council = client(url, token, wire)
    try:
        return await engine.sync_once(
            device.db, council, policy=RetryPolicy(attempts=1)
        )
    except SyncError as exc:
        device.error = f"{type(exc).__name__}: {exc}"
        return None
    finally:
        await council.aclose()


# ---- main ------------------------------------------------------------------------


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    with council(args.store, folder) as where:
        print(f"store: {args.store} {store_version(where)}", flush=True)
        return await run_on(args, folder, where.where)


async def run_on(args: argparse.Namespace, folder: Path, where: str) -> dict[str, Any]:
    rng = random.Random(args.seed)
    people, admin_code = build_world(where, rng, volunteers=args.devices)
    with Server(where, folder, http=args.http, loop=args.loop) as server:
        url = server.url
        print(f"server: subprocess on {url} (http={args.http}, loop={args.loop})")
        setup = time.perf_counter()
        limit = asyncio.Semaphore(20)
        devices = await asyncio.gather(
            *(enrolled(url, v, random.Random(rng.random()), limit) for v in people)
        )
        for device in devices:
            save_visits(device, args.visits, rng)
        print(
            f"setup: {len(devices)} devices enrolled and synced, {args.visits}"
            f" visits saved on each ({time.perf_counter() - setup:.1f} s)",
            flush=True,
        )

        wire = Wire(recording=True)
        start = asyncio.Event()
        rounds = [
            asyncio.ensure_future(sync_round(d, url, wire, start)) for d in devices
        ]
        await asyncio.sleep(0.1)  # every device waiting at the start line
        began = time.perf_counter()
        start.set()
        done, late = await asyncio.wait(rounds, timeout=args.timeout)
        elapsed = time.perf_counter() - began
        wire.recording = False
        for task in late:
            task.cancel()
        reports = [t.result() for t in done if not t.cancelled()]

        # The admin's view, over the API.
        db, admin = await enrol(url, ":memory:", admin_code, "admin", rng)
        try:
            await engine.pull(db, admin, RetryPolicy(), page=5000, now=utc_now)
            seen = {
                r[0]: r[1] for r in db.execute("SELECT id, hlc FROM visits").fetchall()
            }
        finally:
            await admin.aclose()
            db.close()

    # Each visit's hlc, and how many times the store holds it.
    on_server: dict[str, tuple[str, int]] = {}
    for visit in held_visits(where):
        copies = on_server.get(visit["id"], ("", 0))[1]
        on_server[visit["id"]] = (visit["hlc"], copies + 1)
    pushed = [p for d in devices for p in d.pushed]
    lost = sum(1 for vid, stamp in pushed if on_server.get(vid) != (stamp, 1))
    unseen = sum(1 for vid, stamp in pushed if seen.get(vid) != stamp)
    extra = len(on_server) - len({vid for vid, _ in pushed})
    failed = [e for e in wire.exchanges if not 0 < e.status < 400]
    errors = len(failed) + sum(1 for d in devices if d.error) + len(late)
    rejected = sum(r.rejected for r in reports if r)
    unsent = sum(store.pending_count(d.db) for d in devices)
    for d in devices:
        d.db.close()

    times = [e.seconds * 1000 for e in wire.exchanges if 0 < e.status < 400]
    by_kind: dict[str, list[float]] = {}
    for e in wire.exchanges:
        if 0 < e.status < 400:
            by_kind.setdefault(e.path.rsplit("/", 1)[-1], []).append(e.seconds * 1000)
    print(
        f"round: {len(devices)} devices at once, {len(wire.exchanges)} requests in"
        f" {elapsed:.2f} s; latency p50 {statistics.median(times):.1f} ms,"
        f" p95 {percentile(times, 95):.1f} ms, max {max(times):.1f} ms"
    )
    for path, samples in sorted(by_kind.items()):
        print(
            f"  {path}: n={len(samples)}, p50 {statistics.median(samples):.1f} ms,"
            f" p95 {percentile(samples, 95):.1f} ms"
        )
    print(
        f"errors: {errors} ({len(failed)} failed requests,"
        f" {sum(1 for d in devices if d.error)} failed rounds, {len(late)} unfinished);"
        f" rejected records: {rejected}; still queued on devices: {unsent}"
    )
    for d in [d for d in devices if d.error][:5]:
        print(f"  {d.error}")
    print(
        f"server holds {len(on_server)} visits for {len(pushed)} pushed:"
        f" lost {lost}, unexpected {extra}; the admin's pull misses {unseen}"
    )
    return {
        "store": args.store,
        "devices": len(devices),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "errors": errors,
        "lost": lost,
        "max_ms": round(max(times), 2),
        "requests": len(wire.exchanges),
        "round_s": round(elapsed, 3),
        "rejected": rejected,
        "unsent": unsent,
        "admin_unseen": unseen,
        "unexpected": extra,
        "visits": len(pushed),
        "push_p50_ms": round(statistics.median(by_kind.get("push", [0.0])), 2),
        "pull_p50_ms": round(statistics.median(by_kind.get("pull", [0.0])), 2),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "server": f"subprocess, uvicorn http={args.http} loop={args.loop}",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--visits", type=int, default=20, help="pushed by each device")
    p.add_argument("--timeout", type=float, default=120.0, help="for the round")
    server_options(p)
    run_options(p)
    args = p.parse_args(argv)
    print(
        f"load bench: {args.devices} devices x {args.visits} visits,"
        f" {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="watchapp-load-", dir=args.dir) as tmp:
        report = asyncio.run(run(args, Path(tmp)))
    ok = report["errors"] == report["lost"] == 0
    mark = "ok" if ok and report["devices"] >= TARGET_DEVICES else "MISSES TARGET"
    print(
        f"{report['devices']} devices, {report['errors']} errors,"
        f" {report['lost']} lost on {args.store}, target >= {TARGET_DEVICES}"
        f" devices, 0 errors, 0 lost: {mark}"
    )
    print(json.dumps(report, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
