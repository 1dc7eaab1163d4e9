"""The yearly salon report from a council's store, on both engines: by the
command line (``watchapp export salons``) and by the coordinators' download
(``GET /api/v1/reports/salons``).

A small council's salon records are written through the store, some of them
twice (an un-tick, a corrected headcount, a session deleted), and every
number of every sheet is checked against a recount made here from the
records as last written, by the report's rules restated plainly: a member's
age band by birth year, helpers apart, a member new at the first session
they ever came to, walk-ins new when counted so, grants by the rule's data.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from tests.support import BASE_URL, Council, Stores
from tests.test_server import Server, assert_error
from watchapp.__main__ import main
from watchapp.domain.grants import Condition, GrantRule, Tier
from watchapp.domain.ids import derived_id
from watchapp.domain.salons import Category, ContactKind, Programme
from watchapp.reports.council import (
    DEFAULT_RULES,
    GrantRulesError,
    load_rules,
)
from watchapp.strings.reports import JA
from watchapp.sync.protocol import API

H = JA.salon_report
YEAR = 2026
BANDS = (
    Category.ELDERLY_65_74,
    Category.ELDERLY_75_84,
    Category.ELDERLY_85_PLUS,
    Category.ELDERLY_AGE_UNKNOWN,
    Category.UNDER_65,
    Category.CHILDREN_PARENTS,
)
ELDERLY = BANDS[:4]
WALK_INS = (Category.ELDERLY_75_84, Category.UNDER_65, Category.CHILDREN_PARENTS)
YOUNG = (Category.UNDER_65, Category.CHILDREN_PARENTS)  # Salon Daichi's walk-ins
MONTHS = (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)
# The districts of tests/support.py's council, in the order made.
DISTRICTS = {"d1": "District d1", "d2": "District d2"}
DEFAULT_RULE: dict[str, Any] = next(
    r
    for r in json.loads(DEFAULT_RULES.read_text(encoding="utf-8"))["rules"]
    if r["fiscal_year"] == YEAR
)
OTHER_RULE: dict[str, Any] = {
    "fiscal_year": YEAR,
    "min_sessions": 10,
    "min_elderly_per_session": 2,
    "counted_contacts": ["gathering", "phone"],
    "base": 1000,
    "per_attendance": 50,
    "per_member": 300,
    "tiers": [{"min_average_elderly": 4, "amount": 5000}],
    "cap": 20000,
}
Record = dict[str, Any]
Rows = list[tuple[Any, ...]]

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


# ---- the council's salon records --------------------------------------------------


@dataclass
class World:
    """The records as last written, by (kind, id), tombstones included."""

    council: Council
    final: dict[tuple[str, str], Record] = field(default_factory=dict)

    def write(self, *records: Record) -> None:
        self.council.write(*records)
        for r in records:
            self.final[(r["kind"], r["id"])] = r
        self.council.clock.advance(60)

    def live(self, kind: str) -> list[Record]:
        return [r for (k, _), r in self.final.items() if k == kind and not r["deleted"]]


def record(kind: str, rid: str, district: str, **fields: Any) -> Record:
    return {
        "kind": kind,
        "id": rid,
        "deleted": False,
        "district_id": district,
        **fields,
    }


# (id, district, name, active, sessions in the year, share of members who come)
SALONS = (
    ("sa1", "d1", "Salon Asahi", True, 20, 0.7),
    ("sa2", "d1", "Salon Botan", True, 4, 0.5),  # too few sessions for a grant
    ("sa3", "d1", "Salon Chidori", False, 0, 0.5),  # closed: out of the report
    ("sb1", "d2", "Salon Daichi", True, 14, 0.3),  # few elderly, young walk-ins
)
BIRTH_YEARS = (None, 1930, 1938, 1941, 1948, 1952, 1958, 1961, 1966, 1975)


def build_world(council: Council) -> World:
    world = World(council)
    rng = random.Random(2026)
    later: list[Record] = []
    for sid, district, name, active, held, share in SALONS:
        weekday = rng.randint(0, 4)
        salon = record(
            "salons",
            sid,
            district,
            name=name,
            place=f"{name} hall",
            weekday=weekday,
            starts_at="13:30",
            absence_after=3,
            active=active,
        )
        scope = {"salon_id": sid}
        members = [
            record(
                "salon_members",
                f"{sid}-m{i}",
                district,
                **scope,
                name=f"Member {sid} {i}",
                kana=f"member {sid} {i}",
                birth_year=rng.choice(BIRTH_YEARS),
                consent=rng.random() < 0.9,
                resident_id=None,
                active=i != 3,  # one left, though they came
            )
            for i in range(rng.randint(8, 12))
        ]
        organiser = record(
            "salon_organisers",
            f"{sid}-org1",
            district,
            **scope,
            user_id="org1",
            active=True,
        )
        world.write(salon, organiser, *members)
        # Two sessions of the fiscal year before (February, March), then the
        # year's, every other week from April.
        days = [date(2026, 2, 5), date(2026, 3, 5)]
        days += [
            date.fromordinal(date(2026, 4, 2).toordinal() + 14 * n) for n in range(held)
        ]
        for n, day in enumerate(days):
            later += write_session(world, rng, salon, members, day, n, share)
    # Written again later: un-ticks, late ticks, corrected counts, deletions.
    world.write(*later)
    # A salon deleted outright, with a session of the year left behind.
    gone = record(
        "salons",
        "sgone",
        "d1",
        name="Salon Gone",
        place="",
        weekday=1,
        starts_at=None,
        absence_after=3,
        active=True,
    )
    world.write(gone)
    world.write(
        record(
            "salon_sessions",
            derived_id("salon_sessions", ("sgone", "2026-05-05")),
            "d1",
            salon_id="sgone",
            held_on="2026-05-05",
            starts_at=None,
            contact="gathering",
            programme="",
            programme_text=None,
            note="",
            place=None,
        )
    )
    world.write({**gone, "deleted": True})
    return world


def write_session(
    world: World,
    rng: random.Random,
    salon: Record,
    members: list[Record],
    day: date,
    n: int,
    share: float,
) -> list[Record]:
    """One session, its marks and headcounts; returns what is written later."""
    sid, district = salon["id"], salon["district_id"]
    scope = {"salon_id": sid}
    held_on = day.isoformat()
    session_id = derived_id("salon_sessions", (sid, held_on))
    contact = ContactKind.PHONE if n % 7 == 3 else ContactKind.GATHERING
    session = record(
        "salon_sessions",
        session_id,
        district,
        **scope,
        held_on=held_on,
        starts_at=rng.choice(["13:30", "10:00", None]),
        contact=contact.value,
        programme=",".join(
            p.value for p in Programme if p in set(rng.sample(list(Programme), 2))
        ),
        programme_text=rng.choice(["", "songs of the season", None]),
        note="",
        place=rng.choice([None, None, "Annex"]),
    )
    within = {**scope, "session_id": session_id}
    marks = []
    for m in members:
        if rng.random() < share:
            marks.append(
                record(
                    "salon_marks",
                    derived_id("salon_marks", (session_id, m["id"])),
                    district,
                    **within,
                    member_id=m["id"],
                    present=True,
                )
            )
    counts = []
    walk_ins = YOUNG if sid == "sb1" else WALK_INS
    for category in [*rng.sample(walk_ins, 2), Category.HELPER]:
        for device in ("dev-a", "dev-b")[: rng.randint(1, 2)]:
            new = rng.random() < 0.3
            counts.append(
                record(
                    "salon_headcounts",
                    derived_id(
                        "salon_headcounts", (session_id, category.value, new, device)
                    ),
                    district,
                    **within,
                    category=category.value,
                    first_time=new,
                    counted_on=device,
                    people=rng.randint(0, 4),
                )
            )
    world.write(session, *marks, *counts)
    later: list[Record] = []
    if marks and n % 3 == 0:
        later.append({**marks[0], "present": False})  # un-ticked
    if n % 4 == 1:
        late = members[-1]
        later.append(
            record(
                "salon_marks",
                derived_id("salon_marks", (session_id, late["id"])),
                district,
                **within,
                member_id=late["id"],
                present=True,
            )
        )
    if n % 5 == 2:
        later.append({**counts[0], "people": counts[0]["people"] + 3})
    if n == 6:
        later.append({**session, "deleted": True})  # opened by mistake
    return later


# ---- the recount ------------------------------------------------------------------


def band(birth_year: int | None, on: date) -> Category:
    if birth_year is None:
        return Category.ELDERLY_AGE_UNKNOWN
    age = on.year - birth_year
    if age < 65:
        return Category.UNDER_65
    if age < 75:
        return Category.ELDERLY_65_74
    return Category.ELDERLY_75_84 if age < 85 else Category.ELDERLY_85_PLUS


def in_year(day: date) -> bool:
    return date(YEAR, 4, 1) <= day < date(YEAR + 1, 4, 1)


@dataclass
class Recount:
    salon: Record
    sessions: Rows
    months: Rows
    year: Rows
    summary: tuple[Any, ...]


def recount(
    world: World, salon: Record, district: str, rule: dict[str, Any]
) -> Recount:
    sid = salon["id"]
    members = {m["id"]: m for m in world.live("salon_members") if m["salon_id"] == sid}
    sessions = sorted(
        (s for s in world.live("salon_sessions") if s["salon_id"] == sid),
        key=lambda s: (
            s["held_on"],
            s["starts_at"] or "00:00",
            s["id"],
        ),
    )
    marks = [m for m in world.live("salon_marks") if m["salon_id"] == sid]
    counts = [c for c in world.live("salon_headcounts") if c["salon_id"] == sid]
    seen: set[str] = set()
    rows: Rows = []
    monthly: dict[int, list[int]] = {m: [0, 0, 0] for m in MONTHS}
    came: set[str] = set()
    new_walk_ins = counted = counted_people = counted_elderly = 0
    for s in sessions:
        day = date.fromisoformat(s["held_on"])
        present = sorted(
            m["member_id"]
            for m in marks
            if m["session_id"] == s["id"] and m["present"] and m["member_id"] in members
        )
        heads = [c for c in counts if c["session_id"] == s["id"]]
        by = Counter(band(members[m]["birth_year"], day) for m in present)
        walk_in_new = 0
        for c in heads:
            if c["category"] != Category.HELPER:
                by[Category(c["category"])] += c["people"]
                walk_in_new += c["people"] if c["first_time"] else 0
        helpers = sum(c["people"] for c in heads if c["category"] == Category.HELPER)
        new = len(set(present) - seen) + walk_in_new
        seen |= set(present)
        if not in_year(day):
            continue
        came |= set(present)
        new_walk_ins += walk_in_new
        participants = sum(by.values())
        elderly = sum(by[c] for c in ELDERLY)
        monthly[day.month][0] += 1
        monthly[day.month][1] += participants
        monthly[day.month][2] += helpers
        if (
            s["contact"] in rule["counted_contacts"]
            and elderly >= rule["min_elderly_per_session"]
        ):
            counted += 1
            counted_people += participants
            counted_elderly += elderly
        rows.append(
            (
                day,
                time.fromisoformat(s["starts_at"]) if s["starts_at"] else None,
                s["place"] or salon["place"],
                H.contact_kinds[ContactKind(s["contact"])],
                "、".join(
                    H.programmes[Programme(p)]
                    for p in sorted(s["programme"].split(","))
                    if p
                ),
                s["programme_text"] or "",
                *(by[b] for b in BANDS),
                participants,
                new,
                len(present),
                helpers,
            )
        )
    registered = sum(1 for m in members.values() if m["active"])
    unmet = []
    if counted < rule["min_sessions"]:
        unmet.append(
            H.unmet[Condition.MIN_SESSIONS].format(
                actual=counted, required=rule["min_sessions"]
            )
        )
    tiers = rule["tiers"]
    reached = [
        t
        for t in tiers
        if counted and counted_elderly >= t["min_average_elderly"] * counted
    ]
    average = counted_elderly / counted if counted else 0.0
    if tiers and not reached:
        lowest = min(t["min_average_elderly"] for t in tiers)
        unmet.append(
            H.unmet[Condition.LOWEST_TIER].format(actual=average, required=lowest)
        )
    amount = 0
    if not unmet:
        amount = (
            rule["base"]
            + rule["per_attendance"] * counted_people
            + rule["per_member"] * registered
            + max((t["amount"] for t in reached), default=0)
        )
        if rule["cap"] is not None:
            amount = min(amount, rule["cap"])
    words = " / ".join(unmet) if unmet else H.eligible
    held = sum(v[0] for v in monthly.values())
    attendances = sum(v[1] for v in monthly.values())
    helper_total = sum(v[2] for v in monthly.values())
    distinct = len(came) + new_walk_ins
    months: Rows = [(H.month_name.format(month=m), *monthly[m]) for m in MONTHS]
    year: Rows = [
        (H.sessions, held),
        (H.attendances, attendances),
        (H.helper_attendances, helper_total),
        (H.distinct_people, distinct),
        (H.registered_members, registered),
        (H.counted_sessions, counted),
        (H.average_elderly, round(average, 1)),
        (H.eligibility, words),
        (H.amount, amount),
    ]
    summary = (
        district,
        salon["name"],
        held,
        attendances,
        helper_total,
        distinct,
        registered,
        *(monthly[m][1] for m in MONTHS),
        words,
        amount,
    )
    return Recount(salon, rows, months, year, summary)


SESSION_HEADER = (
    H.date,
    H.time,
    H.place,
    H.contact,
    H.programme,
    H.programme_text,
    *(H.categories[c] for c in BANDS),
    H.participants,
    H.new,
    H.members_present,
    H.helpers,
)


def expected_sheets(
    world: World, districts: set[str], rule: dict[str, Any]
) -> dict[str, Rows]:
    """Every sheet, as the recount has it: the summary first, then a sheet
    per salon that is active or held a session in the year."""
    names = DISTRICTS
    salons = [
        s
        for s in world.live("salons")
        if s["district_id"] in districts
        and (
            s["active"]
            or any(
                x["salon_id"] == s["id"] and in_year(date.fromisoformat(x["held_on"]))
                for x in world.live("salon_sessions")
            )
        )
    ]
    salons.sort(key=lambda s: (list(names).index(s["district_id"]), s["name"]))
    counts = [recount(world, s, names[s["district_id"]], rule) for s in salons]
    sheets: dict[str, Rows] = {
        H.summary_sheet: [
            (H.fiscal_year.format(year=YEAR),),
            (
                H.district,
                H.salon,
                H.sessions,
                H.attendances,
                H.helper_attendances,
                H.distinct_people,
                H.registered_members,
                *(H.month_name.format(month=m) for m in MONTHS),
                H.eligibility,
                H.amount,
            ),
            *(c.summary for c in counts),
        ]
    }
    for c in counts:
        sheets[c.salon["name"]] = [
            (H.district, names[c.salon["district_id"]]),
            (H.salon, c.salon["name"]),
            (),
            SESSION_HEADER,
            *c.sessions,
            (),
            (H.month, H.sessions, H.attendances, H.helper_attendances),
            *c.months,
            (),
            *c.year,
        ]
    return sheets


# ---- reading the files back -------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    return value


def as_cells(sheets: dict[str, Rows]) -> dict[str, Rows]:
    """The sheets as a workbook gives them back: an empty text is no value."""
    return {
        title: [tuple(None if c == "" else c for c in row) for row in rows]
        for title, rows in sheets.items()
    }


def read_workbook(data: bytes) -> dict[str, Rows]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheets = {}
    for ws in workbook.worksheets:
        rows = []
        for row in ws.iter_rows(values_only=True):
            cells = list(row)
            while cells and cells[-1] is None:
                cells.pop()
            rows.append(tuple(_cell(c) for c in cells))
        sheets[ws.title] = rows
    return sheets


def as_text(sheets: dict[str, Rows]) -> dict[str, list[list[str]]]:
    def text(cell: Any) -> str:
        if cell is None:
            return ""
        if isinstance(cell, time):
            return cell.strftime("%H:%M")
        if isinstance(cell, date):
            return cell.isoformat()
        return str(cell)

    return {t: [[text(c) for c in row] for row in rows] for t, rows in sheets.items()}


def read_csv(data: bytes) -> dict[str, list[list[str]]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Japanese Excel needs
    sheets: dict[str, list[list[str]]] = {}
    rows: list[list[str]] = []
    for row in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")):
        if len(row) == 1 and row[0].startswith("[") and row[0].endswith("]"):
            if sheets:
                assert rows.pop() == []  # the blank row between sheets
            rows = sheets[row[0][1:-1]] = []
        else:
            rows.append(row)
    return sheets


# ---- the command line -------------------------------------------------------------


@pytest.fixture(scope="module")
def world(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    council = stores.council(tmp_path_factory.mktemp("salons") / "council.sqlite")
    world = build_world(council)
    yield world
    council.close()


def export(world: World, out: Path, *extra: str) -> int:
    where = str(world.council.where)
    return main(
        [
            "export",
            "salons",
            "--year",
            str(YEAR),
            "--db",
            where,
            "--out",
            str(out),
            *extra,
        ]
    )


def test_the_workbook_holds_every_number(world: World, tmp_path: Path) -> None:
    out = tmp_path / "salons.xlsx"
    assert export(world, out, "--format", "xlsx") == 0
    got = read_workbook(out.read_bytes())
    want = expected_sheets(world, {"d1", "d2"}, DEFAULT_RULE)
    assert list(got) == list(want)
    assert got == as_cells(want)
    # What the world is there for: each rule of the count had a case.
    summary = {row[1]: row for row in want[H.summary_sheet][2:]}
    assert set(summary) == {"Salon Asahi", "Salon Botan", "Salon Daichi"}
    words, amount = summary["Salon Asahi"][-2:]
    assert words == H.eligible and 0 < amount < DEFAULT_RULE["cap"]
    assert summary["Salon Botan"][-1] == 0 and " / " not in summary["Salon Botan"][-2]
    assert summary["Salon Daichi"][-1] == 0 and " / " in summary["Salon Daichi"][-2]


def test_the_csv_holds_every_number_under_other_rules(
    world: World, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [OTHER_RULE]}), encoding="utf-8")
    out = tmp_path / "salons.csv"
    assert export(world, out, "--format", "csv", "--rules", str(rules)) == 0
    want = expected_sheets(world, {"d1", "d2"}, OTHER_RULE)
    assert read_csv(out.read_bytes()) == as_text(want)
    amounts = {row[1]: row[-1] for row in want[H.summary_sheet][2:]}
    assert amounts == amounts | {"Salon Asahi": OTHER_RULE["cap"], "Salon Botan": 0}


def test_a_year_without_a_grant_rule_writes_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "salons.xlsx"
    code = main(
        [
            "export",
            "salons",
            "--year",
            "2031",
            "--db",
            str(world.council.where),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert (
        "no grant rule for fiscal year 2031 (has: 2025, 2026)"
        in capsys.readouterr().err
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_rules_file_writes_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{**OTHER_RULE, "per_member": -1}]}))
    out = tmp_path / "salons.csv"
    assert export(world, out, "--rules", str(rules)) == 2
    err = capsys.readouterr().err
    assert "rule 1 (fiscal year 2026): per_member must be a whole number" in err
    assert not out.exists()


def test_the_export_is_audited(world: World, tmp_path: Path) -> None:
    assert export(world, tmp_path / "a.csv", "--format", "csv") == 0
    [entry] = [
        (e.user_id, e.action, e.record_id) for e in world.council.store.audit(limit=1)
    ]
    assert entry == ("cli", "export_salon_report", "salons-2026.csv")


# ---- the coordinators' download ---------------------------------------------------


@pytest.fixture
async def server(world: World, anyio_backend: str) -> AsyncIterator[Server]:
    transport = httpx.ASGITransport(app=world.council.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield Server(world.council, http)


async def download(server: Server, user: str, **params: str) -> httpx.Response:
    phone = await server.enrol(user)
    return await server.http.get(
        f"{API}/reports/salons", params=params, headers=phone.auth
    )


async def test_a_coordinator_downloads_only_their_districts(
    world: World, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await download(server, "coord1", year="2026", format="xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        'attachment; filename="salons-2026.xlsx"'
    )
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["cache-control"] == "no-store"
    want = expected_sheets(world, {"d1"}, DEFAULT_RULE)
    assert read_workbook(response.content) == as_cells(want)
    assert "Salon Daichi" not in want  # d2's
    [entry] = world.council.store.audit(limit=1)
    assert (entry.user_id, entry.action, entry.record_id) == (
        "coord1",
        "export_salon_report",
        "salons-2026.xlsx",
    )
    names = {m["name"] for m in world.live("salon_members")}
    assert caplog.records and not [n for n in names if n in caplog.text]


async def test_an_admin_downloads_every_district(world: World, server: Server) -> None:
    response = await download(server, "admin1", year="2026", format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    want = expected_sheets(world, {"d1", "d2"}, DEFAULT_RULE)
    assert read_csv(response.content) == as_text(want)


@pytest.mark.parametrize("user", ["vol1", "org1"])
async def test_field_workers_get_no_report(server: Server, user: str) -> None:
    response = await download(server, user, year="2026")
    assert_error(response, 403, "forbidden")


@pytest.mark.parametrize(
    ("params", "status", "code", "field_name"),
    [
        ({"year": "2026", "format": "pdf"}, 400, "bad_format", "format"),
        ({"year": "26"}, 400, "bad_year", "year"),
        ({"year": "２０２６"}, 400, "bad_year", "year"),
        ({"format": "csv"}, 400, "bad_year", "year"),
        ({"year": "1999"}, 400, "bad_year", "year"),
        ({"year": "2031"}, 404, "no_grant_rule", "year"),
    ],
)
async def test_bad_parameters_are_answered_in_the_error_shape(
    server: Server, params: dict[str, str], status: int, code: str, field_name: str
) -> None:
    response = await download(server, "coord1", **params)
    assert_error(response, status, code, field_name)


async def test_the_download_needs_a_token(server: Server) -> None:
    response = await server.http.get(f"{API}/reports/salons", params={"year": "2026"})
    assert_error(response, 401, "unauthorized")


# ---- the grant rules as data ------------------------------------------------------


def test_the_councils_rules_load() -> None:
    tiers = (Tier(5, 10000), Tier(10, 20000))
    assert load_rules() == {
        year: GrantRule(
            year,
            min_sessions=6,
            min_elderly_per_session=3,
            counted_contacts=frozenset({ContactKind.GATHERING}),
            per_attendance=100,
            per_member=0,
            tiers=tiers,
            cap=60000,
        )
        for year in (2025, 2026)
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON text"),
        ('{"rule": []}', 'needs an object with a "rules" list'),
        ('{"rules": []}', "no rules"),
        ('{"rules": [1]}', "rule 1: must be an object"),
        ('{"rules": [{"min_sessions": 6}]}', "rule 1: fiscal_year is missing"),
        ('{"rules": [{"fiscal_year": 26}]}', "fiscal_year 26 is not a plausible"),
        ('{"rules": [{"fiscal_year": 2026, "bonus": 1}]}', "unknown key 'bonus'"),
        (
            '{"rules": [{"fiscal_year": 2026}, {"fiscal_year": 2026}]}',
            "rule 2: fiscal year 2026 again",
        ),
        (
            '{"rules": [{"fiscal_year": 2026, "counted_contacts": ["party"]}]}',
            "counted_contacts must list some of gathering, phone, visit",
        ),
        (
            '{"rules": [{"fiscal_year": 2026, "tiers": [{"amount": 5}]}]}',
            "tier 1: needs min_average_elderly and amount only",
        ),
        (
            '{"rules": [{"fiscal_year": 2026, "per_attendance": 1.5}]}',
            "per_attendance must be a whole number, 0 or more",
        ),
        (
            '{"rules": [{"fiscal_year": 2026, "cap": true}]}',
            "cap must be a whole number, 0 or more",
        ),
    ],
)
def test_an_unusable_rules_file_is_refused_saying_why(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GrantRulesError, match=message) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GrantRulesError, match="can't read it"):
        load_rules(tmp_path / "none.json")
