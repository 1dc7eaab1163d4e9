"""Salon records as the domain's types, from rows as the wire and the device
tables have them (the keys of watchapp/domain/kinds/salons.py; flags as JSON
booleans or 0/1). Tombstones are left out: the domain counts live records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, time
from typing import Any

from watchapp.domain.salons import (
    DEFAULT_ABSENCE_AFTER,
    AttendanceMark,
    Category,
    ContactKind,
    Headcount,
    Member,
    Programme,
    Salon,
    SalonRecords,
    Session,
)

Row = Mapping[str, Any]


def parse_clock(text: str | None) -> time | None:
    """ "09:30" as a time of day; None for none (or an unreadable one)."""
    if not text:
        return None
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        return None


def format_clock(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def programme_of(text: str | None) -> frozenset[Programme]:
    """ "exercise,tea_talk" as the programme; unknown values are dropped."""
    known = Programme._value2member_map_
    return frozenset(
        Programme(part) for part in (text or "").split(",") if part in known
    )


def programme_text(programme: Iterable[Programme]) -> str:
    """The programme as the wire has it, in the fixed list's order."""
    chosen = set(programme)
    return ",".join(p.value for p in Programme if p in chosen)


def _live(rows: Iterable[Row]) -> list[Row]:
    return [r for r in rows if not r.get("deleted")]


def salon(row: Row, organiser_ids: Iterable[str] = ()) -> Salon:
    return Salon(
        id=row["id"],
        district_id=row["district_id"],
        name=row["name"],
        place=row.get("place") or "",
        weekday=row.get("weekday"),
        starts_at=parse_clock(row.get("starts_at")),
        organiser_ids=frozenset(organiser_ids),
        absence_after=row.get("absence_after") or DEFAULT_ABSENCE_AFTER,
    )


def member(row: Row) -> Member:
    return Member(
        id=row["id"],
        salon_id=row["salon_id"],
        name=row["name"],
        kana=row["kana"],
        consent=bool(row["consent"]),
        birth_year=row.get("birth_year"),
        resident_id=row.get("resident_id"),
        active=bool(row.get("active", True)),
    )


def session(row: Row) -> Session:
    return Session(
        id=row["id"],
        salon_id=row["salon_id"],
        held_on=date.fromisoformat(row["held_on"]),
        contact=ContactKind(row["contact"]),
        starts_at=parse_clock(row.get("starts_at")),
        programme=programme_of(row.get("programme")),
        programme_text=row.get("programme_text") or "",
        note=row.get("note") or "",
        place=row.get("place") or "",
    )


def mark(row: Row) -> AttendanceMark:
    return AttendanceMark(
        id=row["id"],
        session_id=row["session_id"],
        member_id=row["member_id"],
        present=bool(row["present"]),
        hlc=row["hlc"],
    )


def headcount(row: Row) -> Headcount:
    return Headcount(
        id=row["id"],
        session_id=row["session_id"],
        category=Category(row["category"]),
        count=int(row["people"]),
        new=bool(row["first_time"]),
        hlc=row["hlc"],
        counted_on=row["counted_on"],
    )


def salon_records(
    *,
    salons: Iterable[Row],
    organisers: Iterable[Row] = (),
    members: Iterable[Row] = (),
    sessions: Iterable[Row] = (),
    marks: Iterable[Row] = (),
    headcounts: Iterable[Row] = (),
) -> list[SalonRecords]:
    """Each live salon with its live records, in the order of ``salons``."""
    by_salon: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for r in _live(organisers):
        if r.get("active", True):
            by_salon[r["salon_id"]]["organisers"].append(r["user_id"])
    for r in _live(members):
        by_salon[r["salon_id"]]["members"].append(member(r))
    for r in _live(sessions):
        by_salon[r["salon_id"]]["sessions"].append(session(r))
    for r in _live(marks):
        by_salon[r["salon_id"]]["marks"].append(mark(r))
    for r in _live(headcounts):
        by_salon[r["salon_id"]]["headcounts"].append(headcount(r))
    out = []
    for row in _live(salons):
        held = by_salon[row["id"]]
        out.append(
            SalonRecords(
                salon=salon(row, held["organisers"]),
                members=held["members"],
                sessions=held["sessions"],
                marks=held["marks"],
                headcounts=held["headcounts"],
            )
        )
    return out
