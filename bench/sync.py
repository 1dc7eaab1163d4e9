"""Sync benchmarks, run on demand: ``python bench/sync.py`` (not part of tests).

The council server runs in a subprocess (uvicorn, configured as ``watchapp
server`` configures it) on 127.0.0.1, on a free port, over the store that
``--store`` names: a SQLite file in a temporary folder (the default), or a
database of a throwaway PostgreSQL cluster (tests/pg.py) started for the run
with durable settings (fsync, synchronous_commit and full_page_writes on: what
a council runs, as SQLite's synchronous=FULL) and stopped at its end. The
device side (this process) and the server each get one of the machine's cores
(PostgreSQL's backends share them). The world is one district, one group,
four volunteers with 50 residents, and two coordinators of the district. Each
device is enrolled through the real ``/api/v1/enrol``. Then:

1. push: ``--count`` visits saved on the first coordinator's device with
   ``store.save_visit`` in one transaction (setup, not timed), then sent with
   ``watchapp.sync.engine.push`` -> push_s, push_rps;
2. pull: a fresh device of the second coordinator takes everything with
   ``watchapp.sync.engine.pull`` -> pull_s, pull_rps (records applied per second);
3. a sync round with nothing to do (``sync_once`` on the up-to-date device),
   median of ``--rounds`` -> noop_round_ms;
4. gzip bytes on the wire per pushed visit: the push request bodies as sent;
5. the floor of the engine measured: the same rows into a bare table, in one
   committed transaction (SQLite: a file in WAL mode, synchronous=FULL, one
   ``executemany``; PostgreSQL: a database of the same cluster, one ``COPY``),
   then read back and JSON-encoded;
6. the PouchDB peer (bench/pouchdb) replicating the same visits.

Prints readable lines, and as the last line one JSON object.

    python bench/sync.py [--store sqlite|postgres] [--count N] [--batch B]
                         [--page P] [--skip-pouchdb]
    python bench/sync.py serve --db PATH|URL --info FILE   (the server subprocess)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import math
import os
import pstats
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
from sqlite_utils import Database

from watchapp import seed, store
from watchapp.domain.ids import uuid7
from watchapp.domain.model import (
    Concern,
    ConcernCategory,
    Outcome,
    Role,
    Urgency,
    Visit,
)
from watchapp.server.auth import digest, new_code
from watchapp.server.store import ServerStore, open_store
from watchapp.sync import engine
from watchapp.sync.client import CouncilClient, RetryPolicy, connect
from watchapp.sync.protocol import API, MAX_CHANGES_PER_PUSH, MAX_PULL_LIMIT, to_wire

if TYPE_CHECKING:
    from tests.pg import Cluster

HERE = Path(__file__).resolve().parent
POUCHDB = HERE / "pouchdb"
RESIDENTS = 50
VOLUNTEERS = 4
PUSH_BATCH = MAX_CHANGES_PER_PUSH  # the protocol's limit; the fastest
PULL_PAGE = MAX_PULL_LIMIT  # likewise
STORES = ("sqlite", "postgres")
# Issue 9's targets, by engine. A figure without a target on an engine is
# printed beside the others, for information.
TARGETS: dict[str, dict[str, float]] = {
    "sqlite": {
        "push_rps": 50_000.0,
        "pull_rps": 40_000.0,
        "push_vs_pouchdb": 15.0,
        "pull_vs_pouchdb": 10.0,
        "vs_floor": 4.0,
        "noop_round_ms": 10.0,
        "gzip_bytes_per_visit": 80.0,
    },
    "postgres": {"push_rps": 30_000.0, "pull_rps": 40_000.0},
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def now_ms() -> int:
    return int(time.time() * 1000)


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux), from /proc."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and all its descendants so far, the ones that have
    ended too (PostgreSQL's postmaster and its backends)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat(int(entry.name))[1])
            except (OSError, IndexError):
                continue  # ended meanwhile
            children.setdefault(parent, []).append(int(entry.name))
    fields = _stat(pid)
    ticks = sum(int(f) for f in fields[11:15])  # own, and reaped children's
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            ticks += sum(int(f) for f in _stat(child)[11:13])
        except OSError:
            continue
        todo += children.get(child, [])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """Wall time of a phase, and the CPU each side spent in it: with other work
    on the machine, wall time waits for a core; CPU time does not. ``db_pid``:
    PostgreSQL's postmaster, whose backends do part of the server's work."""

    server_pid: int
    db_pid: int | None = None
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    db_cpu_s: float | None = None

    def __enter__(self) -> Phase:
        self._client = time.process_time()
        self._server = cpu_seconds(self.server_pid)
        self._db = tree_cpu_seconds(self.db_pid) if self.db_pid else 0.0
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.client_cpu_s = time.process_time() - self._client
        self.server_cpu_s = cpu_seconds(self.server_pid) - self._server
        if self.db_pid:
            self.db_cpu_s = tree_cpu_seconds(self.db_pid) - self._db

    def cpu(self) -> str:
        text = (
            f"CPU: device {self.client_cpu_s:.2f} s, server {self.server_cpu_s:.2f} s"
        )
        if self.db_cpu_s is not None:
            text += f", PostgreSQL {self.db_cpu_s:.2f} s"
        return text


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def new_id(rng: random.Random, ms: int | None = None) -> str:
    return uuid7(now_ms() if ms is None else ms, rng.randbytes(10))


# ---- the server, in a subprocess ------------------------------------------------


def server_options(p: argparse.ArgumentParser) -> None:
    """How the server subprocess runs uvicorn (bench/load.py asks the same)."""
    p.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    p.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])


def run_options(p: argparse.ArgumentParser) -> None:
    """The engine, where the temporary files go, and the random seed."""
    p.add_argument("--store", default="sqlite", choices=STORES)
    p.add_argument("--dir", help="folder for the temporary files")
    p.add_argument("--seed", type=int, default=1)


# ---- the council's store: a SQLite file, or a throwaway PostgreSQL cluster -----

# What a council would run (tests/pg.py's defaults turn these off, for tests).
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@dataclass(frozen=True)
class Council:
    """Where the server's store lives: a file path or a ``postgresql://`` URL,
    and the cluster serving it (None on SQLite)."""

    where: str
    cluster: Cluster | None

    @property
    def db_pid(self) -> int | None:
        """The cluster's postmaster, to count its CPU (None on SQLite)."""
        if self.cluster is None:
            return None
        return int((self.cluster.data / "postmaster.pid").read_text().split()[0])


@contextmanager
def council(engine_name: str, folder: Path) -> Iterator[Council]:
    """A store to serve, empty: on PostgreSQL a cluster started with durable
    settings, stopped when the block ends."""
    if engine_name == "sqlite":
        yield Council(str(folder / "council.sqlite"), None)
        return
    # tests/ is a package beside bench/: the harness the tests use.
    sys.path.insert(0, str(HERE.parent))
    from tests import pg

    cluster = pg.Cluster({**pg.SETTINGS, **DURABLE})
    try:
        yield Council(cluster.database(), cluster)
    finally:
        cluster.stop()


def store_version(where: Council) -> str:
    if where.cluster is None:
        return f"SQLite {sqlite3.sqlite_version}, synchronous=FULL"
    with psycopg.connect(where.where) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    durable = ", ".join(f"{k}={v}" for k, v in DURABLE.items())
    return f"PostgreSQL {row[0]}, {durable}"


def held_visits(where: str) -> list[dict[str, Any]]:
    """The visits the store holds, read through its contract."""
    server_store = open_store(where)
    try:
        return [json.loads(body) for body in server_store.bodies("visits")]
    finally:
        server_store.close()


class ThreadProfiles:
    """cProfile in every thread of the server subprocess (the event loop's
    and the thread pool's that run the store), written as one pstats file:
    set BENCH_PROFILE=FILE to find where the server's time goes."""

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        threading.setprofile(self._start)  # threads started from now on
        self._start()

    def _start(self, *_: object) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile()
        self._profiles.append(profile)
        profile.enable()

    def dump(self, out: str) -> None:
        threading.setprofile(None)  # threads started later run unprofiled
        for profile in self._profiles:
            profile.create_stats()
        pstats.Stats(*self._profiles).dump_stats(out)


def serve(argv: list[str]) -> int:
    """The server subprocess: uvicorn as ``watchapp server`` runs it, port 0."""
    from watchapp.server import create_app
    from watchapp.server.serving import serve

    p = argparse.ArgumentParser(prog="bench/sync.py serve")
    p.add_argument("--db", required=True, help="a SQLite file or postgresql:// URL")
    p.add_argument("--info", required=True, help="JSON file written once listening")
    server_options(p)
    args = p.parse_args(argv)
    server_store = open_store(args.db)
    # One device pushes 100,000 visits here: far over a phone's hourly quota,
    # which is still counted (a quota as high as that), so its cost is in.
    app = create_app(server_store, write_quota=10**9)
    gc.freeze()  # as watchapp's CLI does before serving
    profile_to = os.environ.get("BENCH_PROFILE")
    profiles = ThreadProfiles() if profile_to else None
    running = serve(app, info=Path(args.info), http=args.http)
    try:
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(running)
        else:
            asyncio.run(running)
    except KeyboardInterrupt:
        pass  # SIGINT is how bench stops it: uvicorn raises it again on exit
    finally:
        server_store.close()
        if profiles and profile_to:
            profiles.dump(profile_to)
    return 0


class Server:
    """``bench/sync.py serve`` as a child process; stopped (SIGINT) on exit."""

    def __init__(self, db: str, folder: Path, *, http: str, loop: str) -> None:
        self.db = db
        self.info = folder / "server-info.json"
        self.log = folder / "server.log"
        self.args = ["--http", http, "--loop", loop]
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "serve"]
        command += ["--db", self.db, "--info", str(self.info), *self.args]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not self.info.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the server did not start:\n{tail}")
            time.sleep(0.02)
        self.port = int(json.loads(self.info.read_text())["port"])
        response = httpx.get(f"{self.url}{API}/health", timeout=5.0)
        response.raise_for_status()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- the world, and devices enrolled over the real endpoint ---------------------


def invite(server_store: ServerStore, user_id: str, now: datetime) -> str:
    code = new_code()
    server_store.create_invitation(
        user_id=user_id,
        code_hash=digest(code),
        now=now,
        expires_at=now + timedelta(hours=72),
    )
    return code


@dataclass(frozen=True)
class World:
    district_id: str
    group_id: str
    volunteers: list[str]
    residents: list[str]
    codes: dict[str, str]  # invitation code by coordinator user id


def build_world(where: str, rng: random.Random, *, coordinators: int) -> World:
    """One district and group, volunteers, residents; written as the server would."""
    now = utc_now()
    server_store = open_store(where)
    try:
        district, group = new_id(rng), new_id(rng)
        scope = {"deleted": False, "district_id": district}
        server_store.write_server_records(
            [
                {"kind": "districts", "id": district, **scope, "name": "District 1"},
                {"kind": "groups", "id": group, **scope, "name": "Group 1"},
            ],
            now=now,
        )
        scope["group_id"] = group
        volunteers = [new_id(rng) for _ in range(VOLUNTEERS)]
        bosses = [new_id(rng) for _ in range(coordinators)]
        for i, user in enumerate(volunteers + bosses):
            server_store.create_user(
                user_id=user,
                name=f"User {i}",
                role=Role.VOLUNTEER if user in volunteers else Role.COORDINATOR,
                district_id=district,
                group_id=group,
                districts=[district] if user in bosses else (),
                now=now,
            )
        residents = [new_id(rng) for _ in range(RESIDENTS)]
        records: list[dict[str, Any]] = []
        for i, resident in enumerate(residents):
            records.append(
                {
                    "kind": "residents",
                    "id": resident,
                    **scope,
                    "name": f"Resident {i:03d} " + "x" * 9,
                    "kana": f"resident {i:03d} " + "x" * 12,
                    "address": f"Higashi-machi {i % 9 + 1}-chome",
                    "visit_every_days": rng.choice([7, 14, 30]),
                    "consent": True,
                    "evacuation_register": rng.random() < 0.35,
                    "since": "2020-04-01",
                    "active": True,
                }
            )
            records.append(
                {
                    "kind": "assignments",
                    "id": new_id(rng),
                    **scope,
                    "user_id": volunteers[0],
                    "resident_id": resident,
                    "active": True,
                }
            )
        server_store.write_server_records(records, now=now)
        codes = {user: invite(server_store, user, now) for user in bosses}
    finally:
        server_store.close()
    return World(district, group, volunteers, residents, codes)


async def enrol(
    base_url: str, path: Path | str, code: str, name: str, rng: random.Random
) -> tuple[Database, CouncilClient]:
    """A fresh device file enrolled through the real endpoint (not yet synced)."""
    db = store.open_db(path)
    dev = store.ensure_device(db, new_id(rng))
    client = connect(base_url)
    enrolment = await client.enrol(code, dev.device_id, name)
    store.save_enrolment(
        db,
        user_id=str(enrolment.user["id"]),
        role=str(enrolment.user["role"]),
        token=enrolment.token,
        name=name,
        server_url=base_url,
    )
    return db, client


def make_visits(
    rng: random.Random, world: World, count: int, *, until: datetime
) -> list[Visit]:
    """``count`` visits over the 29 days before ``until``, oldest first, shaped
    like seed.py's (outcome mix, concern notes in Japanese) and ids minted when
    made. A month, not a year: the device's clock has seen the server's time at
    its first pull, and the server refuses a visit recorded more than 30 days
    after it was made, as the phone does."""
    span_ms = 29 * 86_400_000
    end = int(until.timestamp() * 1000)
    moments = sorted(end - rng.randrange(span_ms) for _ in range(count))
    outcomes = [o for o, _ in seed.OUTCOME_WEIGHTS]
    weights = [w for _, w in seed.OUTCOME_WEIGHTS]
    notes: dict[str, list[str]] = seed.VOCAB["notes"]
    visits = []
    for i, ms in enumerate(moments):
        outcome = rng.choices(outcomes, weights)[0]
        concern, note = None, ""
        if outcome is Outcome.MET_CONCERN:
            category = rng.choice(list(ConcernCategory))
            urgent = rng.random() < 0.15
            concern = Concern(category, Urgency.URGENT if urgent else Urgency.NORMAL)
            note = rng.choice(notes[category.value])
        visits.append(
            Visit(
                id=new_id(rng, ms),
                resident_id=world.residents[i % RESIDENTS],
                district_id=world.district_id,
                group_id=world.group_id,
                user_id=world.volunteers[0 if rng.random() < 0.9 else 1],
                visited_at=datetime.fromtimestamp(ms / 1000, UTC),
                outcome=outcome,
                concern=concern,
                note=note,
            )
        )
    return visits


def save_visits(db: Database, visits: list[Visit]) -> None:
    """Each visit as the app saves one (record + outbox), all in one transaction."""
    with db.atomic():
        for visit in visits:
            stamp = int(visit.visited_at.timestamp() * 1000)
            store.save_visit(db, visit, now_ms=stamp)


# ---- measurements ----------------------------------------------------------------


class WireBytes:
    """Push request bodies as sent (gzip), through an httpx event hook."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, request: httpx.Request) -> None:
        if request.url.path == f"{API}/sync/push":
            self.bodies.append(request.content)

    def attach(self, client: CouncilClient) -> None:
        client.http.event_hooks = {"request": [self], "response": []}

    def sizes(self) -> tuple[int, int]:
        """Bytes as sent, and JSON bytes before compression."""
        import gzip

        sent = sum(len(b) for b in self.bodies)
        raw = sum(len(gzip.decompress(b)) for b in self.bodies)
        return sent, raw


@contextmanager
def step(label: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    print(f"  {label}: {time.perf_counter() - start:.2f} s", flush=True)


def floor(
    rows: list[dict[str, Any]], where: Council, folder: Path
) -> tuple[float, float]:
    """The floor of the engine measured: seconds to write ``rows`` into a bare
    table (committed), and to read them back as JSON."""
    if where.cluster is None:
        return sqlite_floor(rows, folder)
    return postgres_floor(rows, where.cluster.database())


def sqlite_floor(rows: list[dict[str, Any]], folder: Path) -> tuple[float, float]:
    """The same rows into a bare SQLite table, then read back as wire JSON."""
    path = folder / "floor.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    columns = list(rows[0])
    conn.execute(
        f"CREATE TABLE visits ({columns[0]} TEXT PRIMARY KEY, {', '.join(columns[1:])})"
    )
    tuples = [tuple(r[c] for c in columns) for r in rows]
    insert = f"INSERT INTO visits VALUES ({', '.join('?' for _ in columns)})"
    start = time.perf_counter()
    with conn:
        conn.executemany(insert, tuples)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    read = conn.execute("SELECT * FROM visits").fetchall()
    text = json.dumps(
        [dict(zip(columns, r, strict=True)) for r in read],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    read_s = time.perf_counter() - start
    conn.close()
    assert len(read) == len(rows) and text
    return write_s, read_s


def _postgres_type(rows: list[dict[str, Any]], column: str) -> str:
    """A column type for the device's values (SQLite keeps flags as ints)."""
    value = next((r[column] for r in rows if r[column] is not None), None)
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE PRECISION"
    return 'TEXT COLLATE "C"'  # as the store's text columns


def postgres_floor(rows: list[dict[str, Any]], url: str) -> tuple[float, float]:
    """The same rows into a bare PostgreSQL table with one COPY, committed,
    then read back as wire JSON."""
    columns = list(rows[0])
    types = [_postgres_type(rows, c) for c in columns]
    tuples = [tuple(r[c] for c in columns) for r in rows]
    with psycopg.connect(url) as conn:
        definitions = [f"{c} {t}" for c, t in zip(columns, types, strict=True)]
        definitions[0] += " PRIMARY KEY"
        conn.execute(f"CREATE TABLE floor_visits ({', '.join(definitions)})".encode())
        conn.commit()
        copy_sql = f"COPY floor_visits ({', '.join(columns)}) FROM STDIN"
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy(copy_sql.encode()) as copy:
            for t in tuples:
                copy.write_row(t)
        conn.commit()
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        read = conn.execute("SELECT * FROM floor_visits").fetchall()
        text = json.dumps(
            [dict(zip(columns, r, strict=True)) for r in read],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        read_s = time.perf_counter() - start
        conn.rollback()  # the read's transaction
    assert len(read) == len(rows) and text
    return write_s, read_s


def pouchdb_docs(rows: list[dict[str, Any]], path: Path) -> None:
    """The visits as the wire has them, one CouchDB document a line."""
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            wire = to_wire("visits", row)
            doc = {"_id": wire.pop("id"), **wire}
            f.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")


def pouchdb(docs: Path, count: int) -> dict[str, Any]:
    if not (POUCHDB / "node_modules").is_dir():
        print("installing bench/pouchdb (npm ci)...", flush=True)
        npm = ["npm", "ci", "--no-audit", "--no-fund"]
        subprocess.run(npm, cwd=POUCHDB, check=True)
    command = ["node", str(POUCHDB / "replicate.mjs"), "--docs", str(docs)]
    command += ["--count", str(count), "--timeout", "900"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=960)
    if done.returncode != 0:
        raise RuntimeError(f"PouchDB run failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def noop_rounds(
    db: Database, client: CouncilClient, rounds: int
) -> tuple[list[float], list[float]]:
    """sync_once with nothing to do: over one kept client, and over a new client
    each round (as AppState.sync_now does it). Milliseconds."""
    kept: list[float] = []
    fresh: list[float] = []
    for i in range(rounds + 5):
        start = time.perf_counter()
        report = await engine.sync_once(db, client)
        if i >= 5:
            kept.append((time.perf_counter() - start) * 1000)
        assert report.pushed == report.pulled == 0, report
    token = store.device(db).token
    for i in range(rounds + 5):
        start = time.perf_counter()
        one = connect(str(client.http.base_url), token)
        try:
            await engine.sync_once(db, one)
        finally:
            await one.aclose()
        if i >= 5:
            fresh.append((time.perf_counter() - start) * 1000)
    return kept, fresh


# ---- main ------------------------------------------------------------------------


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    with council(args.store, folder) as where:
        return await run_on(args, folder, where)


async def run_on(
    args: argparse.Namespace, folder: Path, where: Council
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    world = build_world(where.where, rng, coordinators=2)
    pusher_code, puller_code = world.codes.values()
    figures: dict[str, Any] = {"store_version": store_version(where)}
    print(f"store: {args.store} {figures['store_version']}", flush=True)
    with Server(where.where, folder, http=args.http, loop=args.loop) as server:
        print(
            f"server: subprocess pid {server.pid}"
            f" on {server.url} (http={args.http}, loop={args.loop})",
            flush=True,
        )
        print("setup (not timed):", flush=True)
        db, client = await enrol(
            server.url, folder / "pusher.sqlite", pusher_code, "pusher", rng
        )
        with step("enrolled, first pull of the world"):
            await engine.sync_once(db, client)
        with step(f"{args.count} visits saved with store.save_visit"):
            visits = make_visits(rng, world, args.count, until=utc_now())
            save_visits(db, visits)
        assert store.pending_count(db) == args.count
        wire = WireBytes()
        wire.attach(client)

        with Phase(server.pid, where.db_pid) as push_phase:
            pushed, rejected = await engine.push(
                db, client, RetryPolicy(), batch=args.batch
            )
        push_s = push_phase.wall_s
        assert (pushed, rejected) == (args.count, 0), (pushed, rejected)
        assert store.pending_count(db) == 0
        sent, raw = wire.sizes()
        figures |= {
            "push_s": push_s,
            "push_rps": pushed / push_s,
            "gzip_bytes_per_visit": sent / pushed,
            "json_bytes_per_visit": raw / pushed,
            "push_requests": len(wire.bodies),
            "push_cpu_device_s": push_phase.client_cpu_s,
            "push_cpu_server_s": push_phase.server_cpu_s,
            "push_cpu_db_s": push_phase.db_cpu_s,
        }
        print(
            f"push: {pushed} visits in {push_s:.2f} s = {pushed / push_s:,.0f}/s"
            f" ({len(wire.bodies)} requests of {args.batch});"
            f" {sent / pushed:.1f} bytes/visit gzipped, {raw / pushed:.1f} as JSON;"
            f" {push_phase.cpu()}",
            flush=True,
        )
        rows = [dict(r) for r in db.query("SELECT * FROM visits ORDER BY id")]
        db.close()
        await client.aclose()

        ids = [visit["id"] for visit in held_visits(where.where)]
        assert (len(ids), len(set(ids))) == (args.count, args.count), len(ids)

        db, client = await enrol(
            server.url, folder / "puller.sqlite", puller_code, "puller", rng
        )
        with Phase(server.pid, where.db_pid) as pull_phase:
            pulled, pages, _ = await engine.pull(
                db, client, RetryPolicy(), page=args.page, now=utc_now
            )
        pull_s = pull_phase.wall_s
        got = db.execute("SELECT count(*) FROM visits").fetchone()[0]
        assert got == args.count, got
        figures |= {
            "pull_s": pull_s,
            "pull_rps": pulled / pull_s,
            "pulled": pulled,
            "pull_cpu_device_s": pull_phase.client_cpu_s,
            "pull_cpu_server_s": pull_phase.server_cpu_s,
            "pull_cpu_db_s": pull_phase.db_cpu_s,
        }
        print(
            f"pull: {pulled} records ({got} visits) in {pull_s:.2f} s"
            f" = {pulled / pull_s:,.0f}/s ({pages} pages of {args.page});"
            f" {pull_phase.cpu()}",
            flush=True,
        )

        kept, fresh = await noop_rounds(db, client, args.rounds)
        figures |= {
            "noop_round_ms": statistics.median(kept),
            "noop_round_p95_ms": percentile(kept, 95),
            "noop_round_new_client_ms": statistics.median(fresh),
        }
        print(
            f"sync round with nothing to do: median {statistics.median(kept):.2f} ms,"
            f" p95 {percentile(kept, 95):.2f} ms (n={len(kept)}); with a new client"
            f" each round (as AppState.sync_now): median {statistics.median(fresh):.2f}"
            " ms",
            flush=True,
        )
        db.close()
        await client.aclose()

    write_s, read_s = floor(rows, where, folder)
    figures |= {"floor_write_s": write_s, "floor_read_s": read_s}
    how = "SQLite executemany" if where.cluster is None else "PostgreSQL COPY"
    print(
        f"floor: bare {how} {write_s:.2f} s"
        f" ({len(rows) / write_s:,.0f}/s), read back + JSON {read_s:.2f} s",
        flush=True,
    )
    figures["pouchdb_push_rps"] = figures["pouchdb_pull_rps"] = None
    if not args.skip_pouchdb:
        docs = folder / "visits.jsonl"
        pouchdb_docs(rows, docs)
        print("PouchDB peer on the same visits (bench/pouchdb)...", flush=True)
        peer = pouchdb(docs, len(rows))
        figures |= {
            "pouchdb_push_rps": float(peer["push_rps"]),
            "pouchdb_pull_rps": float(peer["pull_rps"]),
            "pouchdb_push_s": float(peer["push_s"]),
            "pouchdb_pull_s": float(peer["pull_s"]),
        }
        print(
            f"PouchDB: push {peer['push_s']:.2f} s = {peer['push_rps']:,.0f}/s,"
            f" pull {peer['pull_s']:.2f} s = {peer['pull_rps']:,.0f}/s",
            flush=True,
        )
    return figures


def verdict(f: dict[str, Any], store_name: str) -> list[Verdict]:
    """Each figure with a target, judged by the targets of ``store_name``;
    the others with target None (printed for information)."""
    figures = [
        ("push records/s", f["push_rps"], ">=", "push_rps"),
        ("pull-and-apply records/s", f["pull_rps"], ">=", "pull_rps"),
        ("push_s / floor_write_s", f["push_vs_floor"], "<=", "vs_floor"),
        (
            "pull_s / (floor_write_s + floor_read_s)",
            f["pull_vs_floor"],
            "<=",
            "vs_floor",
        ),
        ("noop round ms", f["noop_round_ms"], "<=", "noop_round_ms"),
        (
            "gzip bytes per visit",
            f["gzip_bytes_per_visit"],
            "<=",
            "gzip_bytes_per_visit",
        ),
    ]
    if f["pouchdb_push_rps"]:
        figures[2:2] = [
            (
                "push_rps / pouchdb_push_rps",
                f["push_vs_pouchdb"],
                ">=",
                "push_vs_pouchdb",
            ),
            (
                "pull_rps / pouchdb_pull_rps",
                f["pull_vs_pouchdb"],
                ">=",
                "pull_vs_pouchdb",
            ),
        ]
    targets = TARGETS[store_name]
    return [
        Verdict(label, value, way, targets.get(key))
        for label, value, way, key in figures
    ]


@dataclass(frozen=True)
class Verdict:
    label: str
    value: float
    way: str  # ">=" or "<="
    target: float | None  # None: no target on this engine

    def line(self) -> str:
        if self.target is None:
            return f"{self.label}: {self.value:,.2f} (no target on this engine)"
        ok = (
            self.value >= self.target if self.way == ">=" else self.value <= self.target
        )
        mark = "ok" if ok else "MISSES TARGET"
        target = f"target {self.way} {self.target:,g}"
        return f"{self.label}: {self.value:,.2f}, {target}: {mark}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=PUSH_BATCH, help="push batch")
    p.add_argument("--page", type=int, default=PULL_PAGE, help="pull page")
    p.add_argument("--rounds", type=int, default=50, help="no-op sync rounds")
    p.add_argument("--skip-pouchdb", action="store_true")
    server_options(p)
    run_options(p)
    args = p.parse_args(argv)
    print(
        f"sync bench: {args.count} visits, store {args.store},"
        f" {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
        " (other work on the machine stretches wall times; CPU times are shown)",
        flush=True,
    )
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="watchapp-sync-", dir=args.dir) as tmp:
        f = asyncio.run(run(args, Path(tmp)))
    f["load_before"] = load_before

    ratios = {
        "push_vs_pouchdb": None,
        "pull_vs_pouchdb": None,
        "push_vs_floor": f["push_s"] / f["floor_write_s"],
        "pull_vs_floor": f["pull_s"] / (f["floor_write_s"] + f["floor_read_s"]),
    }
    if f["pouchdb_push_rps"]:
        ratios["push_vs_pouchdb"] = f["push_rps"] / f["pouchdb_push_rps"]
        ratios["pull_vs_pouchdb"] = f["pull_rps"] / f["pouchdb_pull_rps"]
    f |= ratios
    for judged in verdict(f, args.store):
        print(judged.line())
    report = {
        "store": args.store,
        "push_rps": round(f["push_rps"], 1),
        "pull_rps": round(f["pull_rps"], 1),
        "floor_write_s": round(f["floor_write_s"], 3),
        "push_s": round(f["push_s"], 3),
        "pull_s": round(f["pull_s"], 3),
        "pouchdb_push_rps": f["pouchdb_push_rps"],
        "pouchdb_pull_rps": f["pouchdb_pull_rps"],
        "noop_round_ms": round(f["noop_round_ms"], 3),
        "gzip_bytes_per_visit": round(f["gzip_bytes_per_visit"], 1),
        "floor_read_s": round(f["floor_read_s"], 3),
        **{k: None if v is None else round(v, 2) for k, v in ratios.items()},
        "noop_round_p95_ms": round(f["noop_round_p95_ms"], 3),
        "noop_round_new_client_ms": round(f["noop_round_new_client_ms"], 3),
        "json_bytes_per_visit": round(f["json_bytes_per_visit"], 1),
        **{
            k: round(f[k], 2)
            for k in (
                "push_cpu_device_s",
                "push_cpu_server_s",
                "pull_cpu_device_s",
                "pull_cpu_server_s",
            )
        },
        # PostgreSQL's backends: the rest of the server's work (None on SQLite).
        **{
            k: None if f[k] is None else round(f[k], 2)
            for k in ("push_cpu_db_s", "pull_cpu_db_s")
        },
        "store_version": f["store_version"],
        "loadavg_1m": [round(f["load_before"], 2), round(os.getloadavg()[0], 2)],
        "count": args.count,
        "pulled": f["pulled"],
        "batch": args.batch,
        "page": args.page,
        "server": f"subprocess, uvicorn http={args.http} loop={args.loop}",
    }
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
