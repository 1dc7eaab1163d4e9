from __future__ import annotations

import csv
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import openpyxl
import pytest

from watchapp.domain.grants import GrantRule, assess
from watchapp.domain.salons import (
    AttendanceMark,
    Category,
    ContactKind,
    Headcount,
    Member,
    Programme,
    Salon,
    SalonRecords,
    Session,
    salon_year,
)
from watchapp.reports.salons import SalonReport, build_report, write_csv, write_xlsx
from watchapp.strings.reports import JA

H = JA.salon_report
BANDS = [
    Category.ELDERLY_65_74,
    Category.ELDERLY_75_84,
    Category.ELDERLY_85_PLUS,
    Category.ELDERLY_AGE_UNKNOWN,
    Category.UNDER_65,
    Category.CHILDREN_PARENTS,
]
WALK_IN = [Category.ELDERLY_75_84, Category.UNDER_65, Category.CHILDREN_PARENTS]
MONTHS = (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)
RULE = GrantRule(2026, min_sessions=20, per_attendance=100, per_member=500)


def band(birth_year: int | None, on: date) -> Category:
    """The report's age bands, recomputed here from the raw birth year."""
    if birth_year is None:
        return Category.ELDERLY_AGE_UNKNOWN
    age = on.year - birth_year
    for limit, cat in ((65, Category.UNDER_65), (75, Category.ELDERLY_65_74)):
        if age < limit:
            return cat
    return Category.ELDERLY_75_84 if age < 85 else Category.ELDERLY_85_PLUS


def a_year(rng: random.Random, sid: str, n_sessions: int) -> SalonRecords:
    salon = Salon(sid, "d1", f"salon {sid}", "hall")
    members = [
        Member(
            f"{sid}m{i}",
            sid,
            f"n{i}",
            f"k{i}",
            True,
            rng.choice([None, 1940, 1950, 1960]),
        )
        for i in range(12)
    ]
    sessions, marks, counts = [], [], []
    day = date(2026, 4, 3)
    for n in range(n_sessions):
        s = Session(
            f"{sid}s{n:02}",
            sid,
            day,
            rng.choice([ContactKind.GATHERING] * 5 + [ContactKind.PHONE]),
            time(10, 0),
            frozenset(rng.sample(list(Programme), 2)),
            "text",
        )
        sessions.append(s)
        for m in rng.sample(members, rng.randint(0, 12)):
            marks.append(AttendanceMark(f"{s.id}{m.id}", s.id, m.id))
        for k, cat in enumerate([*WALK_IN, Category.HELPER]):
            counts.append(
                Headcount(
                    f"{s.id}h{k}", s.id, cat, rng.randint(0, 4), new=rng.random() < 0.5
                )
            )
        day += timedelta(days=14)
    # a session of the next fiscal year stays out of 2026's report
    sessions.append(Session(f"{sid}late", sid, date(2027, 4, 2)))
    marks.append(AttendanceMark(f"{sid}late", f"{sid}late", members[0].id))
    return SalonRecords(salon, members, sessions, marks, counts)


@pytest.fixture
def raw() -> list[SalonRecords]:
    rng = random.Random(10)
    return [a_year(rng, "a", 24), a_year(rng, "b", 18)]


@pytest.fixture
def report(raw: list[SalonRecords]) -> SalonReport:
    years = [salon_year(r, 2026) for r in raw]
    return build_report(
        2026, [(y, assess(y, RULE)) for y in years], {"d1": "district"}, H
    )


@dataclass(frozen=True)
class Expected:
    sessions: list[list[object]]
    months: list[int]
    helpers_months: list[int]
    held: int
    total: int
    helpers: int
    distinct: int
    counted: int
    eligible: bool
    amount: int


def expected(records: SalonRecords) -> Expected:
    """Every number of a salon's sheet, recounted from the raw records."""
    members = {m.id: m for m in records.members}
    in_year = [
        s for s in records.sessions if date(2026, 4, 1) <= s.held_on < date(2027, 4, 1)
    ]
    rows: list[list[object]] = []
    monthly = Counter[int]()
    helpers_by_month = Counter[int]()
    seen: set[str] = set()
    new_walk_ins = 0
    counted = attendances = 0
    for s in sorted(in_year, key=lambda s: s.held_on):
        present = [members[m.member_id] for m in records.marks if m.session_id == s.id]
        heads = [c for c in records.headcounts if c.session_id == s.id]
        by = Counter(band(m.birth_year, s.held_on) for m in present)
        for c in heads:
            if c.category is not Category.HELPER:
                by[c.category] += c.count
        participants = sum(by.values())
        helpers = sum(c.count for c in heads if c.category is Category.HELPER)
        new = sum(1 for m in present if m.id not in seen) + sum(
            c.count for c in heads if c.new and c.category is not Category.HELPER
        )
        new_walk_ins += sum(
            c.count for c in heads if c.new and c.category is not Category.HELPER
        )
        seen |= {m.id for m in present}
        rows.append(
            [
                s.held_on,
                s.starts_at,
                *(by[b] for b in BANDS),
                participants,
                new,
                len(present),
                helpers,
            ]
        )
        monthly[s.held_on.month] += participants
        helpers_by_month[s.held_on.month] += helpers
        if s.contact is ContactKind.GATHERING:
            counted += 1
            attendances += participants
    eligible = counted >= RULE.min_sessions
    amount = attendances * 100 + 12 * 500 if eligible else 0
    return Expected(
        sessions=rows,
        months=[monthly[m] for m in MONTHS],
        helpers_months=[helpers_by_month[m] for m in MONTHS],
        held=len(in_year),
        total=sum(monthly.values()),
        helpers=sum(helpers_by_month.values()),
        distinct=len(seen) + new_walk_ins,
        counted=counted,
        eligible=eligible,
        amount=amount,
    )


def check_sheet(rows: list[list[object]], records: SalonRecords) -> None:
    want = expected(records)
    header = rows.index(
        [
            H.date,
            H.time,
            H.place,
            H.contact,
            H.programme,
            H.programme_text,
            *(H.categories[b] for b in BANDS),
            H.participants,
            H.new,
            H.members_present,
            H.helpers,
        ]
    )
    n = want.held
    sessions = rows[header + 1 : header + 1 + n]
    got = [[r[0], r[1], *r[6:]] for r in sessions]
    assert got == want.sessions
    assert rows[header + 1 + n] == []
    months = rows[header + n + 3 : header + n + 15]
    assert [r[2] for r in months] == want.months
    assert [r[3] for r in months] == want.helpers_months
    assert [r[1] for r in months] == [
        sum(1 for s in want.sessions if isinstance(s[0], date) and s[0].month == m)
        for m in MONTHS
    ]
    totals = {r[0]: r[1] for r in rows[header + n + 16 :]}
    assert totals[H.sessions] == want.held
    assert totals[H.attendances] == want.total
    assert totals[H.helper_attendances] == want.helpers
    assert totals[H.distinct_people] == want.distinct
    assert totals[H.registered_members] == 12
    assert totals[H.counted_sessions] == want.counted
    assert (totals[H.eligibility] == H.eligible) == want.eligible
    assert totals[H.amount] == want.amount


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.date()
    return value


def test_the_workbook_holds_every_number(
    raw: list[SalonRecords], report: SalonReport, tmp_path: Path
) -> None:
    out = tmp_path / "salons.xlsx"
    write_xlsx(report, out)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [H.summary_sheet, "salon a", "salon b"]
    for records, name in zip(raw, ("salon a", "salon b"), strict=True):
        rows = [
            [_cell(v) for v in row if v is not None]
            for row in book[name].iter_rows(values_only=True)
        ]
        # iter_rows pads short rows with None; the header keeps its place
        check_sheet(rows, records)
    summary = [list(r) for r in book[H.summary_sheet].iter_rows(values_only=True)]
    for records, row in zip(raw, summary[2:], strict=True):
        want = expected(records)
        assert row[:2] == ["district", records.salon.name]
        assert row[2:6] == [
            want.held,
            want.total,
            want.helpers,
            want.distinct,
        ]
        assert row[7:19] == want.months
        assert row[-1] == want.amount


def test_the_csv_holds_every_number_and_opens_in_japanese_excel(
    raw: list[SalonRecords], report: SalonReport, tmp_path: Path
) -> None:
    out = tmp_path / "salons.csv"
    write_csv(report, out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as f:
        lines = list(csv.reader(f))
    starts = [i for i, r in enumerate(lines) if r and r[0].startswith("[")]
    assert [lines[i][0] for i in starts] == [
        f"[{H.summary_sheet}]",
        "[salon a]",
        "[salon b]",
    ]
    bounds = [*starts, len(lines) + 1]
    for k, records in enumerate(raw, start=1):
        block = lines[bounds[k] + 1 : bounds[k + 1] - 1]
        check_sheet([_parse(r) for r in block], records)


def _parse(row: list[str]) -> list[object]:
    """CSV text back to the values the workbook holds; blanks dropped, as
    openpyxl's padding is above."""
    out: list[object] = []
    for text in row:
        if not text:
            continue
        if text.isdigit():
            out.append(int(text))
        elif len(text) == 10 and text[4] == "-":
            out.append(date.fromisoformat(text))
        elif len(text) == 5 and text[2] == ":":
            out.append(time.fromisoformat(text))
        else:
            out.append(text)
    return out


def test_a_report_for_another_year_is_refused(raw: list[SalonRecords]) -> None:
    year = salon_year(raw[0], 2025)
    with pytest.raises(ValueError, match="another fiscal year"):
        build_report(2026, [(year, assess(year, GrantRule(2025)))], {}, H)
