"""The records volunteers and coordinators work with: frozen dataclasses and enums.

Identifiers are English; ``watchapp.strings`` maps them to Japanese.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

JST = timezone(timedelta(hours=9), "JST")
"""Kurume's time zone. Japan has no daylight saving, so a fixed offset is exact."""


class Outcome(StrEnum):
    """What happened on a watch visit (mimamori houmon)."""

    MET_WELL = "met_well"
    MET_CONCERN = "met_concern"
    NOT_HOME = "not_home"
    IN_CARE = "in_care"  # in hospital or in a care facility
    DECLINED = "declined"
    PHONE = "phone"  # checked by telephone


# Outcomes after which the resident's wellbeing is known, so the next visit is
# counted from this one. "Not at home" tells nothing: the resident stays due.
CONTACT_OUTCOMES: frozenset[Outcome] = frozenset(
    {
        Outcome.MET_WELL,
        Outcome.MET_CONCERN,
        Outcome.IN_CARE,
        Outcome.DECLINED,
        Outcome.PHONE,
    }
)


class ConcernCategory(StrEnum):
    HEALTH = "health"
    MEALS = "meals"
    HOME = "home"
    MEMORY = "memory"
    MONEY = "money"
    OTHER = "other"


class Urgency(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


class Role(StrEnum):
    VOLUNTEER = "volunteer"
    ORGANISER = "organiser"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class ConcernStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class District:
    """A school district (kouku)."""

    id: str
    name: str


@dataclass(frozen=True)
class Group:
    """A neighbourhood group (fureai no kai, or one of its han) in a district."""

    id: str
    district_id: str
    name: str


@dataclass(frozen=True)
class Resident:
    """A person watched over (mimamori taishousha)."""

    id: str
    district_id: str
    group_id: str
    name: str
    kana: str
    visit_every_days: int
    consent: bool  # honnin doui: without it only what a visit needs leaves the server
    evacuation_register: bool  # on the evacuation-support register
    since: date  # watched since; the first visit is due on this day
    address: str = ""
    active: bool = True


@dataclass(frozen=True)
class User:
    id: str
    district_id: str
    group_id: str
    name: str
    role: Role


@dataclass(frozen=True)
class Concern:
    category: ConcernCategory
    urgency: Urgency


@dataclass(frozen=True)
class Visit:
    """One watch visit. ``visited_at`` is timezone-aware."""

    id: str
    resident_id: str
    district_id: str
    group_id: str
    user_id: str
    visited_at: datetime
    outcome: Outcome
    concern: Concern | None = None
    note: str = ""
