"""Salon benchmarks, run on demand: ``python bench/salon.py`` (not part of tests).

On a device file in a temporary folder holding one organiser's salon with a
150-member roster and two years of sessions (two a month, 40-80 % ticked),
measures, through SalonDesk and the session screen's view building:

1. filtering the roster by kana as each key is typed (the roster read, the
   filter, and the roster's controls built), median per keystroke;
2. a tick committed (mark + outbox in one transaction, WAL, synchronous=FULL);

and, with bench/salon_report.py, the yearly report for 46 districts x 4
salons x 24 sessions on each engine. Last line one JSON object:
{"roster_filter_ms_p50", "tick_commit_ms_p50", "report_s_sqlite",
"report_s_postgres"}. Targets: 30 ms, 5 ms, 2 s, 2 s.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from watchapp import store
from watchapp.domain.hlc import Hlc
from watchapp.domain.ids import derived_id
from watchapp.domain.model import JST
from watchapp.salon_state import SalonDesk, session_id
from watchapp.state import AppState

MEMBERS = 150
# Hiragana from "a" to "n" (readings are random syllables): no Japanese text
# outside the catalog.
FAMILY = "".join(chr(c) for c in range(0x3042, 0x3093))
TYPED_KEYS = 10  # keystrokes measured per round: prefixes of members' readings
ORGANISER = "bench-organiser"


def _row(rid: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "hlc": str(Hlc(0)),
        "origin": "seed",
        "deleted": 0,
        "district_id": "d1",
        **fields,
    }


def build(folder: Path, now: datetime) -> SalonDesk:
    db = store.open_db(folder / "organiser.sqlite")
    state = AppState(db, clock=lambda: now)
    store.save_enrolment(
        db, user_id=ORGANISER, role="organiser", token="t", name="b", server_url=""
    )
    store.put_reference(
        db,
        "salons",
        [
            _row(
                "s1",
                name="bench",
                place="hall",
                weekday=now.weekday(),
                starts_at="13:30",
                absence_after=3,
                active=1,
            )
        ],
    )
    store.put_reference(
        db, "salon_organisers", [_row("o1", salon_id="s1", user_id=ORGANISER, active=1)]
    )
    rng = random.Random(7)
    members = []
    for n in range(MEMBERS):
        family = "".join(rng.choice(FAMILY) for _ in range(3))
        given = "".join(rng.choice(FAMILY) for _ in range(2))
        members.append(
            _row(
                f"m{n:03d}",
                salon_id="s1",
                name=f"member {n}",
                kana=f"{family} {given}",
                birth_year=rng.randint(1930, 1960),
                consent=1,
                resident_id=None,
                active=1,
            )
        )
    store.put_reference(db, "salon_members", members)
    sessions, marks = [], []
    for k in range(1, 49):  # two years, twice a month
        day = (now - timedelta(days=15 * k)).date()
        sid = session_id("s1", day)
        sessions.append(
            _row(
                sid,
                salon_id="s1",
                held_on=day.isoformat(),
                starts_at="13:30",
                contact="gathering",
                programme="exercise,tea_talk",
                programme_text=None,
                note=None,
                place=None,
            )
        )
        for m in members:
            if rng.random() < rng.uniform(0.4, 0.8):
                marks.append(
                    _row(
                        derived_id("salon_marks", (sid, m["id"])),
                        salon_id="s1",
                        session_id=sid,
                        member_id=m["id"],
                        present=1,
                    )
                )
    store.put_reference(db, "salon_sessions", sessions)
    store.put_reference(db, "salon_marks", marks)
    return SalonDesk(state)


def _roster_controls(desk: SalonDesk, typed: str, now: datetime) -> int:
    """The roster read and filtered, and its controls built as the screen does."""
    entries = desk.roster("s1", now.date(), typed)
    try:
        salon_session = importlib.import_module("watchapp.views.salon_session")
    except ImportError:  # the screen is not there: the read and filter only
        return len(entries)
    build_roster = getattr(salon_session, "roster_controls", None)
    if build_roster is None:
        return len(entries)
    return len(build_roster(entries))


def measure(folder: Path) -> dict[str, float]:
    now = datetime(2026, 11, 26, 13, 30, tzinfo=JST)
    desk = build(folder, now)
    readings = [e.member.kana for e in desk.roster("s1", now.date())]
    typed_keys = [r[:k] for r in readings[:TYPED_KEYS] for k in (1, 2, 3)]
    filter_ms = []
    for _ in range(5):
        for typed in typed_keys:
            t0 = time.perf_counter()
            _roster_controls(desk, typed, now)
            filter_ms.append((time.perf_counter() - t0) * 1000)
    tick_ms = []
    for n in range(60):
        t0 = time.perf_counter()
        desk.set_present("s1", now.date(), f"m{n:03d}", n % 3 != 0)
        tick_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "roster_filter_ms_p50": round(statistics.median(filter_ms), 2),
        "tick_commit_ms_p50": round(statistics.median(tick_ms), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-report", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures: dict[str, Any] = measure(Path(tmp))
    print(f"roster filter per keystroke: {figures['roster_filter_ms_p50']} ms (median)")
    print(f"tick committed: {figures['tick_commit_ms_p50']} ms (median)")
    figures.update(report_s_sqlite=None, report_s_postgres=None)
    if not args.skip_report:
        # bench/salon_report.py, beside this file (on sys.path as a script's).
        out = importlib.import_module("salon_report").measure()
        figures.update(
            report_s_sqlite=out["report_s_sqlite"],
            report_s_postgres=out["report_s_postgres"],
        )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
