"""When a resident is due a visit, and the order of the volunteer's round.

Pure functions: "today" is always passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from watchapp.domain.model import CONTACT_OUTCOMES, JST, Outcome, Resident


class DueState(StrEnum):
    OVERDUE = "overdue"
    TODAY = "today"
    UPCOMING = "upcoming"


@dataclass(frozen=True)
class Due:
    on: date
    days: int  # days overdue when > 0; days still to go when < 0

    @property
    def state(self) -> DueState:
        if self.days > 0:
            return DueState.OVERDUE
        if self.days == 0:
            return DueState.TODAY
        return DueState.UPCOMING


@dataclass(frozen=True)
class RoundItem:
    """One row of the volunteer's round (today's watch list)."""

    resident: Resident
    last_contact: date | None
    last_outcome: Outcome | None
    due: Due
    # A salon the resident came to regularly has missed them: a reason to visit.
    salon_absence: SalonAbsence | None = None


@dataclass(frozen=True)
class SalonAbsence:
    missed: int  # sessions in a row
    last_attended: date


def local_date(moment: datetime) -> date:
    """The calendar day in Kurume of an aware datetime."""
    return moment.astimezone(JST).date()


def counts_as_contact(outcome: Outcome) -> bool:
    return outcome in CONTACT_OUTCOMES


def next_due(resident: Resident, last_contact: date | None) -> date:
    """The day the next visit is due: the frequency after the last contact.

    A resident nobody has reached yet is due from the day watching started.
    """
    if last_contact is None:
        return resident.since
    return last_contact + timedelta(days=resident.visit_every_days)


def due_status(due_on: date, *, today: date) -> Due:
    return Due(on=due_on, days=(today - due_on).days)


def round_items(
    rows: Iterable[tuple[Resident, date | None, Outcome | None]], *, today: date
) -> list[RoundItem]:
    """The round, most overdue first; ties by evacuation register, then kana.

    Each row is a resident, the day of their last contact, and the outcome of
    their latest visit (contact or not).
    """
    items = [
        RoundItem(r, last, outcome, due_status(next_due(r, last), today=today))
        for r, last, outcome in rows
        if r.active
    ]
    items.sort(
        key=lambda i: (
            i.due.on,
            not i.resident.evacuation_register,
            i.resident.kana,
            i.resident.id,
        )
    )
    return items
