"""Community salons (ikiiki salon): sessions, attendance and the year's figures.

Pure functions over frozen records: the caller passes the live records (no
tombstones) and, where it matters, today's date.

Counting rules, in one place:
- A participant is a registered member marked present, or a walk-in counted in
  a headcount of any category but ``HELPER``. Helpers are counted apart.
- A member's age band is the age reached in the session's calendar year (a
  birth year, not a birthday, is all the salon records); a member without a
  birth year is counted as elderly of unknown age, since salons are for 65+.
- Attendances (nobe ninzuu) add up participants over sessions; distinct people
  (jitsu ninzuu) count each registered member once and each walk-in flagged new
  once: walk-ins have no identity, so "new" in a headcount is what says a
  person was not counted before.
- A member is new at the first session (among those passed in) they attend.
- Absence follow-up: see ``absence_alerts``.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum

ELDERLY_AGE = 65
ROSTER_WINDOW = 12  # sessions looked at to decide who attended regularly
DEFAULT_ABSENCE_AFTER = 3
MAX_ABSENCE_AFTER = 12
MAX_HEADCOUNT = 500  # of one category at one session
MAX_NAME_CHARS = 40  # a member's name, a kana reading, a salon's name


class ContactKind(StrEnum):
    """How a session reached its members."""

    GATHERING = "gathering"
    PHONE = "phone"  # while gatherings are suspended
    VISIT = "visit"  # while gatherings are suspended


class Programme(StrEnum):
    """What was done at a session: a multi-select from this fixed list."""

    EXERCISE = "exercise"
    BRAIN_TRAINING = "brain_training"
    SINGING_MUSIC = "singing_music"
    TEA_TALK = "tea_talk"
    SHARED_MEAL = "shared_meal"
    HEALTH_CHECK = "health_check"
    LECTURE = "lecture"
    CRAFTS = "crafts"
    GAMES_SPORT = "games_sport"
    SEASONAL_EVENT = "seasonal_event"
    INTERGENERATIONAL = "intergenerational"
    DISASTER_DRILL = "disaster_drill"
    OTHER = "other"


class Category(StrEnum):
    """Who came. Headcounts use every member but ``ELDERLY_AGE_UNKNOWN``, which
    only a registered member without a birth year falls into."""

    ELDERLY_65_74 = "elderly_65_74"
    ELDERLY_75_84 = "elderly_75_84"
    ELDERLY_85_PLUS = "elderly_85_plus"
    ELDERLY_AGE_UNKNOWN = "elderly_age_unknown"
    UNDER_65 = "under_65"
    CHILDREN_PARENTS = "children_parents"
    HELPER = "helper"  # volunteer helpers: not participants


HEADCOUNT_CATEGORIES: tuple[Category, ...] = tuple(
    c for c in Category if c is not Category.ELDERLY_AGE_UNKNOWN
)
PARTICIPANT_CATEGORIES: tuple[Category, ...] = tuple(
    c for c in Category if c is not Category.HELPER
)
ELDERLY_CATEGORIES: frozenset[Category] = frozenset(
    {
        Category.ELDERLY_65_74,
        Category.ELDERLY_75_84,
        Category.ELDERLY_85_PLUS,
        Category.ELDERLY_AGE_UNKNOWN,
    }
)


@dataclass(frozen=True)
class Salon:
    id: str
    district_id: str
    name: str
    place: str
    weekday: int | None = None  # 0 = Monday, as date.weekday()
    starts_at: time | None = None
    organiser_ids: frozenset[str] = frozenset()
    absence_after: int = DEFAULT_ABSENCE_AFTER  # missed sessions before follow-up


@dataclass(frozen=True)
class Member:
    """A registered participant of one salon."""

    id: str
    salon_id: str
    name: str
    kana: str
    consent: bool
    birth_year: int | None = None
    resident_id: str | None = None  # the watched resident this member is
    active: bool = True


@dataclass(frozen=True)
class Session:
    id: str
    salon_id: str
    held_on: date
    contact: ContactKind = ContactKind.GATHERING
    starts_at: time | None = None
    programme: frozenset[Programme] = frozenset()
    programme_text: str = ""
    note: str = ""
    place: str = ""  # empty: the salon's usual place


@dataclass(frozen=True)
class AttendanceMark:
    """A member ticked (or un-ticked) at a session; the latest ``hlc`` wins."""

    id: str
    session_id: str
    member_id: str
    present: bool = True
    hlc: str = ""


@dataclass(frozen=True)
class Headcount:
    """Walk-ins or helpers of one category at a session, new or returning,
    as one device counted them (``counted_on``).

    One per (session, category, new, device); the latest ``hlc`` wins, and a
    session's totals add up the devices' counts.
    """

    id: str
    session_id: str
    category: Category
    count: int
    new: bool = False
    hlc: str = ""
    counted_on: str = ""


@dataclass(frozen=True)
class SessionTotals:
    participants: int
    new: int  # new participants (members and walk-ins), helpers excluded
    helpers: int
    new_helpers: int
    members: int  # registered members present
    by_category: Mapping[Category, int]  # every category, zero included

    @property
    def elderly(self) -> int:
        return sum(self.by_category[c] for c in ELDERLY_CATEGORIES)


def fiscal_year(day: date) -> int:
    """The Japanese fiscal year (April to March) a day falls in, by its start."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_months(year: int) -> tuple[date, ...]:
    """The first days of the twelve months of fiscal ``year``, April first."""
    return tuple(date(year + (m + 3) // 12, (m + 3) % 12 + 1, 1) for m in range(12))


def member_category(member: Member, on: date) -> Category:
    if member.birth_year is None:
        return Category.ELDERLY_AGE_UNKNOWN
    age = on.year - member.birth_year
    if age < ELDERLY_AGE:
        return Category.UNDER_65
    if age < 75:
        return Category.ELDERLY_65_74
    if age < 85:
        return Category.ELDERLY_75_84
    return Category.ELDERLY_85_PLUS


def latest_marks(marks: Iterable[AttendanceMark]) -> dict[tuple[str, str], bool]:
    """Whether each (session, member) is present: the latest write wins
    (by hlc, then id, so two devices agree), which keeps an un-tick made after
    a tick and the union of ticks on different members."""
    latest: dict[tuple[str, str], AttendanceMark] = {}
    for m in marks:
        key = (m.session_id, m.member_id)
        old = latest.get(key)
        if old is None or (m.hlc, m.id) > (old.hlc, old.id):
            latest[key] = m
    return {k: m.present for k, m in latest.items()}


def latest_headcounts(counts: Iterable[Headcount]) -> list[Headcount]:
    """One headcount per (session, category, new, device): the latest write
    wins."""
    latest: dict[tuple[str, Category, bool, str], Headcount] = {}
    for c in counts:
        key = (c.session_id, c.category, c.new, c.counted_on)
        old = latest.get(key)
        if old is None or (c.hlc, c.id) > (old.hlc, old.id):
            latest[key] = c
    return list(latest.values())


def session_totals(
    session: Session,
    present: Iterable[Member],
    headcounts: Iterable[Headcount],
    *,
    new_member_ids: Iterable[str] = (),
) -> SessionTotals:
    """A session's totals from the members present and its headcounts.

    ``headcounts`` must already be one per (category, new, device)
    (``latest_headcounts``); those of other sessions are ignored.
    """
    by_category = dict.fromkeys(Category, 0)
    first_timers = set(new_member_ids)
    members = new = helpers = new_helpers = 0
    for member in present:
        by_category[member_category(member, session.held_on)] += 1
        members += 1
        new += member.id in first_timers
    for c in headcounts:
        if c.session_id != session.id:
            continue
        by_category[c.category] += c.count
        if c.category is Category.HELPER:
            helpers += c.count
            new_helpers += c.count if c.new else 0
        elif c.new:
            new += c.count
    participants = sum(by_category[c] for c in PARTICIPANT_CATEGORIES)
    return SessionTotals(participants, new, helpers, new_helpers, members, by_category)


@dataclass(frozen=True)
class SalonRecords:
    """Everything recorded for one salon (live records only)."""

    salon: Salon
    members: Sequence[Member]
    sessions: Sequence[Session]
    marks: Sequence[AttendanceMark]
    headcounts: Sequence[Headcount]


@dataclass(frozen=True)
class SessionFigures:
    session: Session
    totals: SessionTotals
    present: frozenset[str]  # ids of the members present


@dataclass(frozen=True)
class MonthFigures:
    month: date  # the first day of the month
    sessions: int
    participants: int  # attendances (nobe ninzuu)
    helpers: int
    elderly: int


@dataclass(frozen=True)
class SalonYear:
    salon: Salon
    fiscal_year: int
    sessions: tuple[SessionFigures, ...]  # in the order they were held
    months: tuple[MonthFigures, ...]  # the twelve, April first
    registered_members: int  # active members
    distinct_people: int  # jitsu ninzuu

    @property
    def sessions_held(self) -> int:
        return len(self.sessions)

    @property
    def participants(self) -> int:
        return sum(m.participants for m in self.months)

    @property
    def helpers(self) -> int:
        return sum(m.helpers for m in self.months)

    @property
    def elderly(self) -> int:
        return sum(m.elderly for m in self.months)


def _held_order(session: Session) -> tuple[date, time, str]:
    return (session.held_on, session.starts_at or time(0), session.id)


def session_figures(records: SalonRecords) -> list[SessionFigures]:
    """Every session of the salon, in the order held, with its totals; a
    member is new at the first of these sessions they attend."""
    marks = latest_marks(records.marks)
    members = {m.id: m for m in records.members if m.salon_id == records.salon.id}
    counts = latest_headcounts(records.headcounts)
    counts_by_session: dict[str, list[Headcount]] = defaultdict(list)
    for c in counts:
        counts_by_session[c.session_id].append(c)
    seen: set[str] = set()
    figures = []
    own = (s for s in records.sessions if s.salon_id == records.salon.id)
    for session in sorted(own, key=_held_order):
        present = frozenset(
            mid for mid in members if marks.get((session.id, mid), False)
        )
        totals = session_totals(
            session,
            (members[mid] for mid in sorted(present)),
            counts_by_session[session.id],
            new_member_ids=present - seen,
        )
        seen |= present
        figures.append(SessionFigures(session, totals, present))
    return figures


def salon_year(records: SalonRecords, year: int) -> SalonYear:
    """The salon's figures for fiscal ``year``: month by month and in total."""
    held = [
        f for f in session_figures(records) if fiscal_year(f.session.held_on) == year
    ]
    months = []
    for first in fiscal_months(year):
        in_month = [
            f
            for f in held
            if (f.session.held_on.year, f.session.held_on.month)
            == (first.year, first.month)
        ]
        months.append(
            MonthFigures(
                month=first,
                sessions=len(in_month),
                participants=sum(f.totals.participants for f in in_month),
                helpers=sum(f.totals.helpers for f in in_month),
                elderly=sum(f.totals.elderly for f in in_month),
            )
        )
    members_seen = set().union(*(f.present for f in held))
    new_walk_ins = sum(
        c.count
        for c in latest_headcounts(records.headcounts)
        if c.new
        and c.category is not Category.HELPER
        and c.session_id in {f.session.id for f in held}
    )
    return SalonYear(
        salon=records.salon,
        fiscal_year=year,
        sessions=tuple(held),
        months=tuple(months),
        registered_members=sum(
            1 for m in records.members if m.active and m.salon_id == records.salon.id
        ),
        distinct_people=len(members_seen) + new_walk_ins,
    )


@dataclass(frozen=True)
class AbsenceAlert:
    member: Member
    missed: int  # sessions missed in a row, up to the latest
    last_attended: date


def absence_alerts(
    records: SalonRecords, *, today: date, window: int = ROSTER_WINDOW
) -> list[AbsenceAlert]:
    """Regular members who stopped coming, for the organisers to follow up.

    Only gatherings held on or before ``today`` count (a phone round is not a
    chance to come). With N the salon's ``absence_after``, a member is flagged
    when the last N or more gatherings in a row passed without them, and, in
    the ``window`` gatherings up to and including the last one they attended,
    they came to at least half, and to at least 3. Members never seen, or
    inactive, are not flagged. Sorted by kana.
    """
    n = records.salon.absence_after
    held = [
        f
        for f in session_figures(records)
        if f.session.contact is ContactKind.GATHERING and f.session.held_on <= today
    ]
    alerts = []
    for member in records.members:
        if not member.active or member.salon_id != records.salon.id:
            continue
        came = [member.id in f.present for f in held]
        if True not in came:
            continue
        last = len(came) - 1 - came[::-1].index(True)
        missed = len(came) - 1 - last
        before = came[max(0, last + 1 - window) : last + 1]
        attended = sum(before)
        if missed >= n and attended >= 3 and 2 * attended >= len(before):
            alerts.append(AbsenceAlert(member, missed, held[last].session.held_on))
    alerts.sort(key=lambda a: (a.member.kana, a.member.id))
    return alerts


_KATAKANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
_BLANKS = {ord(" "): None, ord("\u3000"): None}


def kana_key(text: str) -> str:
    """A reading as it is compared and filtered: hiragana, no blanks, width
    folded (katakana, hiragana with an ideographic space, and half-width
    katakana of one reading are one key: tests/test_salon_state.py)."""
    folded = unicodedata.normalize("NFKC", text).translate(_BLANKS)
    return folded.translate(_KATAKANA)


def name_key(text: str) -> str:
    """A name as it is compared for duplicates: width folded, no blanks."""
    return unicodedata.normalize("NFKC", text).translate(_BLANKS)


def matches_reading(member: Member, typed: str) -> bool:
    """Does the roster show ``member`` for what was typed: the start of the
    reading, of a word of it (the given name), or part of the name."""
    key = kana_key(typed)
    if not key:
        return True
    words = reading_words(member.kana)
    return (
        kana_key(member.kana).startswith(key)
        or any(w.startswith(key) for w in words)
        or key in name_key(member.name)
    )


def reading_words(kana: str) -> list[str]:
    """The words of a reading (family name, given name), as keys."""
    folded = unicodedata.normalize("NFKC", kana).replace("\u3000", " ")
    return [kana_key(w) for w in folded.split() if w]
