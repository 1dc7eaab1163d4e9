"""Device benchmarks, run on demand: ``python bench/device.py`` (not part of tests).

On a device file in a temporary folder holding one volunteer with 50 residents
and five years of their visits (built with the project's own store code, rows
shaped like watchapp/seed.py makes them), measures:

1. save-to-committed time of one visit through ``AppState.record_visit``
   (validation, record + outbox in one transaction, WAL, synchronous=FULL);
2. the volunteer's list query, ``AppState.round()``;
3. file bytes per 10,000 visits, after a WAL checkpoint and VACUUM.

Also probes the disk's fsync cost, which bounds (1). Prints readable lines, and
as the last line one JSON object. Targets: visit commit <= 5 ms median, list
query <= 20 ms median.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watchapp import seed, store
from watchapp.domain.ids import uuid7
from watchapp.domain.model import (
    JST,
    Outcome,
    Role,
)
from watchapp.state import AppState

RESIDENTS = 50
YEARS = 5
FREQUENCIES = [7, 7, 14, 14, 14, 30, 30]  # days, the mix seed.py uses
DEMO = seed.VOCAB
VISIT_COMMIT_TARGET_MS = 5.0
LIST_QUERY_TARGET_MS = 20.0


# ---- figures ----------------------------------------------------------------


def percentile(samples_ns: list[int], p: float) -> float:
    """Nearest-rank percentile of nanosecond samples, in milliseconds."""
    ordered = sorted(samples_ns)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1] / 1e6


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    n: int

    @classmethod
    def of(cls, samples_ns: list[int]) -> Timing:
        return cls(
            p50_ms=statistics.median(samples_ns) / 1e6,
            p95_ms=percentile(samples_ns, 95),
            p99_ms=percentile(samples_ns, 99),
            max_ms=max(samples_ns) / 1e6,
            n=len(samples_ns),
        )

    def line(self, label: str) -> str:
        return (
            f"{label}: p50 {self.p50_ms:.3f} ms, p95 {self.p95_ms:.3f} ms,"
            f" p99 {self.p99_ms:.3f} ms, max {self.max_ms:.3f} ms (n={self.n})"
        )


def timed(action: Callable[[], object], *, warmup: int, iterations: int) -> Timing:
    for _ in range(warmup):
        action()
    samples: list[int] = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        action()
        samples.append(time.perf_counter_ns() - start)
    return Timing.of(samples)


# ---- a volunteer's device, shaped like seed.py's records ----------------------


@dataclass
class Device:
    tables: dict[str, list[dict[str, Any]]]
    volunteer_id: str
    resident_ids: list[str]


def device_records(
    rng: random.Random, *, today: date, residents: int, years: int
) -> Device:
    """One district, one group, four volunteers; ``residents`` assigned to the first.

    Each resident has been watched for ``years`` (give or take a month), with the
    group's other volunteers covering about one visit in ten.
    """
    make = seed.Maker(rng.randrange(1 << 32), today)
    epoch = datetime.combine(
        today - timedelta(days=365 * years + 60), clock_time(9), tzinfo=JST
    )
    district = make.record("districts", epoch, name=DEMO["district"].format(n=1))
    district["district_id"] = district["id"]
    scope = {"district_id": district["id"]}
    group = make.record("groups", epoch, **scope, name=DEMO["group"].format(n=1))
    scope["group_id"] = group["id"]
    volunteers = [
        make.record(
            "users", epoch, **scope, name=f"Volunteer {i}", role=Role.VOLUNTEER.value
        )
        for i in range(4)
    ]
    for i in range(residents):
        since = today - timedelta(days=365 * years + rng.randint(0, 30))
        resident = make.record(
            "residents",
            datetime.combine(since, clock_time(9), tzinfo=JST),
            **scope,
            # Japanese names are three bytes a character in UTF-8, like these.
            name=f"Resident {i:03d} " + "x" * 9,
            kana=f"resident {i:03d} " + "x" * 12,
            address=f"Higashi-machi {i % 9 + 1}-chome",
            visit_every_days=rng.choice(FREQUENCIES),
            consent=int(rng.random() < 0.9),
            evacuation_register=int(rng.random() < 0.35),
            since=since.isoformat(),
            active=1,
        )
        make.record(
            "assignments",
            epoch,
            **scope,
            user_id=volunteers[0]["id"],
            resident_id=resident["id"],
            active=1,
        )
        make.visits(resident, volunteers, days=365 * years + 60)
    tables = make.city.tables
    return Device(
        tables,
        volunteer_id=volunteers[0]["id"],
        resident_ids=[r["id"] for r in tables["residents"]],
    )


def open_device(path: Path, rng: random.Random) -> Database:
    db = store.open_db(path)
    store.ensure_device(db, uuid7(int(time.time() * 1000), rng.randbytes(10)))
    return db


def write_tables(db: Database, tables: dict[str, list[dict[str, Any]]]) -> None:
    for table, rows in tables.items():
        if rows:
            store.put_reference(db, table, rows)


def compacted_size(db: Database, path: Path) -> int:
    """The file's bytes with everything checkpointed into it and free pages gone."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# ---- the measurements ---------------------------------------------------------


def fsync_cost(folder: Path, *, iterations: int, append: bool) -> Timing:
    """Write 4 KiB and fsync, as a WAL commit does once under synchronous=FULL.

    ``append`` grows the file each time (a WAL before its first checkpoint, which
    also makes the file system journal its size); otherwise block 0 is rewritten.
    """
    probe = folder / "fsync-probe"
    fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    block = os.urandom(4096)
    writes = iter(range(sys.maxsize))
    try:

        def write_and_sync() -> None:
            os.pwrite(fd, block, 4096 * next(writes) if append else 0)
            os.fsync(fd)

        return timed(write_and_sync, warmup=10, iterations=iterations)
    finally:
        os.close(fd)
        probe.unlink()


def visit_actions(
    state: AppState, resident_ids: list[str], rng: random.Random
) -> Callable[[], object]:
    """Records one visit per call, going round the residents like a volunteer."""
    make = seed.Maker(rng.randrange(1 << 32), datetime.now(UTC).date())
    turn = iter(range(sys.maxsize))

    def record() -> object:
        resident_id = resident_ids[next(turn) % len(resident_ids)]
        outcome = make.outcome()
        if outcome is Outcome.MET_CONCERN:
            concern, note = make.concern()
            return state.record_visit(resident_id, outcome, concern=concern, note=note)
        return state.record_visit(resident_id, outcome)

    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", help="folder for the temporary device files")
    p.add_argument("--iterations", type=int, default=500)
    p.add_argument("--size-visits", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    today = datetime.now(UTC).astimezone(JST).date()
    report: dict[str, Any] = {}

    with tempfile.TemporaryDirectory(prefix="watchapp-bench-", dir=args.dir) as tmp:
        folder = Path(tmp)
        print(f"device files in {folder} (SQLite {sqlite3.sqlite_version})")

        for append in (False, True):
            fsync = fsync_cost(folder, iterations=200, append=append)
            how = "append" if append else "overwrite"
            print(fsync.line(f"disk: 4 KiB {how} + fsync"))
            report[f"fsync_{how}_ms_p50"] = round(fsync.p50_ms, 3)

        # -- the volunteer's device: 50 residents, five years of visits
        path = folder / "device.sqlite"
        build_start = time.perf_counter()
        city = device_records(rng, today=today, residents=RESIDENTS, years=YEARS)
        db = open_device(path, rng)
        write_tables(db, city.tables)
        store.save_profile(
            db,
            name="Volunteer 0",
            server_url="",
            invite_code="",
            user_id=city.volunteer_id,
        )
        visits = len(city.tables["visits"])
        size = compacted_size(db, path)
        print(
            f"device: {RESIDENTS} residents, {visits} visits over {YEARS} years,"
            f" {size / 1e6:.2f} MB compacted"
            f" (built in {time.perf_counter() - build_start:.1f} s)"
        )
        report["fixture_visits"] = visits
        state = AppState(db)

        # -- 2. the list query, before the benchmark's own writes
        rounds = timed(state.round, warmup=20, iterations=args.iterations)
        assert len(state.round()) == RESIDENTS
        print(rounds.line("list query AppState.round()"))

        # -- 1. save to committed, one visit at a time
        record = visit_actions(state, city.resident_ids, rng)
        commits = timed(record, warmup=20, iterations=args.iterations)
        print(commits.line("visit commit AppState.record_visit() [FULL]"))
        # The same with synchronous=NORMAL (no fsync per commit): not what the
        # app does, only to split the figure above into fsync and the rest.
        db.execute("PRAGMA synchronous = NORMAL")
        no_sync = timed(record, warmup=20, iterations=args.iterations)
        db.execute("PRAGMA synchronous = FULL")
        print(no_sync.line("  for comparison, synchronous=NORMAL (no fsync)"))
        db.close()

        # -- 3. bytes per 10,000 visits
        size_path = folder / "size.sqlite"
        wanted = args.size_visits
        cohorts: list[Device] = []
        while sum(len(c.tables["visits"]) for c in cohorts) < wanted:
            cohorts.append(
                device_records(rng, today=today, residents=RESIDENTS, years=YEARS)
            )
        size_db = open_device(size_path, rng)
        for cohort in cohorts:
            write_tables(
                size_db, {k: v for k, v in cohort.tables.items() if k != "visits"}
            )
        empty = compacted_size(size_db, size_path)
        rows = [v for c in cohorts for v in c.tables["visits"]][:wanted]
        store.put_reference(size_db, "visits", rows)
        full = compacted_size(size_db, size_path)
        size_db.close()
        per_10k = round((full - empty) / len(rows) * 10_000)
        print(
            f"file size: {empty / 1e3:.0f} kB without visits"
            f" ({len(cohorts) * RESIDENTS} residents), {full / 1e6:.2f} MB with"
            f" {len(rows)} visits -> {per_10k / 1e6:.2f} MB per 10,000 visits"
        )

    verdict = [
        ("visit commit", commits.p50_ms, VISIT_COMMIT_TARGET_MS),
        ("list query", rounds.p50_ms, LIST_QUERY_TARGET_MS),
    ]
    for label, got, target in verdict:
        mark = "ok" if got <= target else "OVER TARGET"
        print(f"{label}: p50 {got:.3f} ms, target <= {target:g} ms: {mark}")
    report = {
        "visit_commit_ms_p50": round(commits.p50_ms, 3),
        "list_query_ms_p50": round(rounds.p50_ms, 3),
        "bytes_per_10k_visits": per_10k,
        "visit_commit_ms_p95": round(commits.p95_ms, 3),
        "list_query_ms_p95": round(rounds.p95_ms, 3),
        "visit_commit_nosync_ms_p50": round(no_sync.p50_ms, 3),
        **report,
        "size_visits": len(rows),
        "iterations": args.iterations,
    }
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
