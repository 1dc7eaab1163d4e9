"""The yearly salon report: a summary sheet plus one sheet per salon, as data,
then written as CSV (UTF-8 with BOM, for Japanese Excel) or as a workbook.

A salon's sheet has three blocks, a blank row apart: its sessions, its
months, and its year (attendances, distinct people, grant).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path

from openpyxl import Workbook

from watchapp.domain.grants import GrantResult
from watchapp.domain.salons import Category, SalonYear
from watchapp.strings.reports import SalonHeadings

Cell = str | int | float | date | time | None
Row = tuple[Cell, ...]
SESSION_CATEGORIES: tuple[Category, ...] = (
    Category.ELDERLY_65_74,
    Category.ELDERLY_75_84,
    Category.ELDERLY_85_PLUS,
    Category.ELDERLY_AGE_UNKNOWN,
    Category.UNDER_65,
    Category.CHILDREN_PARENTS,
)
SHEET_TITLE_MAX = 31  # Excel's limit
SHEET_TITLE_BANNED = str.maketrans({c: "_" for c in "[]:*?/\\"})


@dataclass(frozen=True)
class Sheet:
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class SalonReport:
    fiscal_year: int
    sheets: tuple[Sheet, ...]  # the summary first


def _grant_words(grant: GrantResult, h: SalonHeadings) -> str:
    if grant.eligible:
        return h.eligible
    return " / ".join(
        h.unmet[u.condition].format(actual=u.actual, required=u.required)
        for u in grant.unmet
    )


def _salon_sheet(
    year: SalonYear, grant: GrantResult, district: str, h: SalonHeadings
) -> list[Row]:
    salon = year.salon
    rows: list[Row] = [
        (h.district, district),
        (h.salon, salon.name),
        (),
        (
            h.date,
            h.time,
            h.place,
            h.contact,
            h.programme,
            h.programme_text,
            *(h.categories[c] for c in SESSION_CATEGORIES),
            h.participants,
            h.new,
            h.members_present,
            h.helpers,
        ),
    ]
    for f in year.sessions:
        s, t = f.session, f.totals
        rows.append(
            (
                s.held_on,
                s.starts_at,
                s.place or salon.place,
                h.contact_kinds[s.contact],
                "、".join(h.programmes[p] for p in sorted(s.programme)),
                s.programme_text,
                *(t.by_category[c] for c in SESSION_CATEGORIES),
                t.participants,
                t.new,
                t.members,
                t.helpers,
            )
        )
    rows += [(), (h.month, h.sessions, h.attendances, h.helper_attendances)]
    rows += [
        (
            h.month_name.format(month=m.month.month),
            m.sessions,
            m.participants,
            m.helpers,
        )
        for m in year.months
    ]
    rows += [
        (),
        (h.sessions, year.sessions_held),
        (h.attendances, year.participants),
        (h.helper_attendances, year.helpers),
        (h.distinct_people, year.distinct_people),
        (h.registered_members, year.registered_members),
        (h.counted_sessions, grant.counted_sessions),
        (h.average_elderly, round(grant.average_elderly, 1)),
        (h.eligibility, _grant_words(grant, h)),
        (h.amount, grant.amount),
    ]
    return rows


def _sheet_title(name: str, taken: set[str]) -> str:
    base = name.translate(SHEET_TITLE_BANNED)[:SHEET_TITLE_MAX] or "_"
    title, n = base, 1
    while title in taken:
        n += 1
        suffix = f"({n})"
        title = base[: SHEET_TITLE_MAX - len(suffix)] + suffix
    taken.add(title)
    return title


def build_report(
    fiscal_year: int,
    years: Sequence[tuple[SalonYear, GrantResult]],
    district_names: Mapping[str, str],
    h: SalonHeadings,
) -> SalonReport:
    """The report's sheets, salons in the order given."""
    summary: list[Row] = [
        (h.fiscal_year.format(year=fiscal_year),),
        (
            h.district,
            h.salon,
            h.sessions,
            h.attendances,
            h.helper_attendances,
            h.distinct_people,
            h.registered_members,
            *(
                h.month_name.format(month=m)
                for m in (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)
            ),
            h.eligibility,
            h.amount,
        ),
    ]
    taken = {h.summary_sheet}
    sheets = []
    for year, grant in years:
        if year.fiscal_year != fiscal_year:
            raise ValueError("a salon's figures are for another fiscal year")
        district = district_names.get(year.salon.district_id, year.salon.district_id)
        summary.append(
            (
                district,
                year.salon.name,
                year.sessions_held,
                year.participants,
                year.helpers,
                year.distinct_people,
                year.registered_members,
                *(m.participants for m in year.months),
                _grant_words(grant, h),
                grant.amount,
            )
        )
        rows = _salon_sheet(year, grant, district, h)
        sheets.append(Sheet(_sheet_title(year.salon.name, taken), tuple(rows)))
    return SalonReport(fiscal_year, (Sheet(h.summary_sheet, tuple(summary)), *sheets))


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, time):
        return cell.strftime("%H:%M")
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell)


def write_csv(report: SalonReport, out: Path) -> None:
    """Every sheet one after the other, each under its title, a blank row
    apart; UTF-8 with BOM so that Japanese Excel reads it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for n, sheet in enumerate(report.sheets):
        if n:
            writer.writerow(())
        writer.writerow((f"[{sheet.title}]",))
        writer.writerows(tuple(_text(c) for c in row) for row in sheet.rows)
    out.write_text(buffer.getvalue(), encoding="utf-8-sig", newline="")


def write_xlsx(report: SalonReport, out: Path) -> None:
    workbook = Workbook()
    first = workbook.active
    if first is not None:
        workbook.remove(first)
    for sheet in report.sheets:
        ws = workbook.create_sheet(sheet.title)
        for row in sheet.rows:
            ws.append(list(row))
        for cells in ws.iter_rows():
            for cell in cells:
                if isinstance(cell.value, date):
                    cell.number_format = "yyyy/mm/dd"
                elif isinstance(cell.value, time):
                    cell.number_format = "hh:mm"
    workbook.save(out)
