"""The yearly salon report's benchmark, run on demand:
``python bench/salon_report.py`` (not part of tests).

The demo city (watchapp/seed.py: 46 districts x 4 salons, 20-40 members
each, two sessions a month with their marks and headcounts, beside the
visits of the watch rounds) is seeded for the year to 31 March, so that
every salon's 24 sessions fall in the fiscal year reported. It is written
into a council store on each engine: a SQLite file in a temporary folder,
and a database of a throwaway PostgreSQL cluster started with durable
settings as bench/sync.py starts it (tests/pg.py) and stopped at the end.

Then, ``--rounds`` times on each, the report of every district is built as
``watchapp export salons`` builds it (watchapp/reports/council.py): the
salon records read through the store, each salon's year and grant worked
out, the workbook written. Timed from the store already open (a server
holds it open) to the file renamed into place; the median is reported,
with its parts (read, compute, write) from a separate round.

Prints readable lines, and as the last line one JSON object:
``{"report_s_sqlite", "report_s_postgres", "salons", "sessions"}``.

    python bench/salon_report.py [--store both|sqlite|postgres] [--rounds N]
                                 [--dir DIR] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sync import council, store_version

from watchapp import seed
from watchapp.domain.grants import assess
from watchapp.domain.salons import salon_year
from watchapp.reports import council as reports
from watchapp.reports.salons import build_report
from watchapp.server.store import ServerStore, open_store
from watchapp.strings.reports import JA

FISCAL_YEAR = 2026
# The seed's year ends the day before: 1 April 2026 to 31 March 2027.
TODAY = date(FISCAL_YEAR + 1, 4, 1)
TARGET_S = 2.0


def timed_report(store: ServerStore, out: Path) -> float:
    """One report, as the command line makes it: seconds."""
    rule = reports.rule_for(reports.load_rules(), FISCAL_YEAR)
    started = time.perf_counter()
    report = reports.council_report(store, rule)
    reports.write_report(report, out, reports.Format.XLSX)
    return time.perf_counter() - started


def parts(store: ServerStore, out: Path) -> dict[str, float]:
    """Where a report's time goes: reading, the figures, the workbook."""
    rule = reports.rule_for(reports.load_rules(), FISCAL_YEAR)
    t0 = time.perf_counter()
    salons = reports.read_salons(store)
    names = reports.district_names(store)
    t1 = time.perf_counter()
    years = [salon_year(r, FISCAL_YEAR) for r in salons]
    report = build_report(
        FISCAL_YEAR, [(y, assess(y, rule)) for y in years], names, JA.salon_report
    )
    t2 = time.perf_counter()
    reports.write_report(report, out, reports.Format.XLSX)
    t3 = time.perf_counter()
    return {"read": t1 - t0, "compute": t2 - t1, "write_xlsx": t3 - t2}


def run(engine: str, city: seed.City, folder: Path, rounds: int) -> float:
    with council(engine, folder) as where:
        store = open_store(where.where)
        try:
            started = time.perf_counter()
            seed.serve_city(store, city)
            written = time.perf_counter() - started
            print(f"{engine}: {store_version(where)}")
            records = sum(len(rows) for rows in city.tables.values())
            print(f"  seeded {records:,} records in {written:.1f} s")
            out = folder / f"salons-{engine}.xlsx"
            times = [timed_report(store, out) for _ in range(rounds)]
            split = ", ".join(f"{k} {v:.2f} s" for k, v in parts(store, out).items())
            median = statistics.median(times)
            verdict = "ok" if median <= TARGET_S else "MISSED"
            print(
                f"  report: median {median:.2f} s of {rounds}"
                f" (min {min(times):.2f}, max {max(times):.2f}); {split};"
                f" {out.stat().st_size:,} bytes [target <= {TARGET_S:g} s: {verdict}]"
            )
            return median
        finally:
            store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", default="both", choices=["both", "sqlite", "postgres"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dir", help="folder for the temporary files")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    engines = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    started = time.perf_counter()
    city = seed.demo_city(seed=args.seed, today=TODAY)
    salons, sessions = city.count("salons"), city.count("salon_sessions")
    print(
        f"demo city in {time.perf_counter() - started:.1f} s: {salons} salons,"
        f" {sessions:,} sessions, {city.count('salon_members'):,} members,"
        f" {city.count('salon_marks'):,} marks,"
        f" {city.count('salon_headcounts'):,} headcounts"
    )
    result: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="salon-report-") as tmp:
        for engine in engines:
            folder = Path(tmp) / engine
            folder.mkdir()
            result[f"report_s_{engine}"] = round(
                run(engine, city, folder, args.rounds), 3
            )
    result |= {"salons": salons, "sessions": sessions}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
