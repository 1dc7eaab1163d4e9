"""The salon organiser's use-cases: today's session, the roster, the door's
headcounts, new members, and the salon's month and year.

Made over a device's AppState (watchapp/app.py); the screens call one verb
per action and re-read what they show, as for the watch round. What is wrong
with an entry raises :class:`watchapp.state.InvalidInput` (nothing is
stored); a new member who is on the roster already raises
:class:`DuplicateMember` with that member, for the screen to offer instead.

Sessions, marks, headcounts and absence notices have ids made from what they
are about (:func:`watchapp.domain.ids.derived_id`): two organisers opening
today's session offline open one session, and a member ticked on both
devices is one mark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from watchapp import salon_store, store
from watchapp.domain import salon_rows
from watchapp.domain.grants import GrantResult, GrantRule, assess
from watchapp.domain.ids import derived_id
from watchapp.domain.model import Role
from watchapp.domain.salons import (
    MAX_HEADCOUNT,
    MAX_NAME_CHARS,
    AbsenceAlert,
    Category,
    ContactKind,
    Headcount,
    Member,
    Programme,
    Salon,
    SalonRecords,
    SalonYear,
    Session,
    SessionTotals,
    absence_alerts,
    fiscal_year,
    kana_key,
    matches_reading,
    name_key,
    salon_year,
    session_totals,
)
from watchapp.domain.validation import ErrorCode, FieldError, check_text, clean_text
from watchapp.state import AppState, InvalidInput

# A session may be recorded for tomorrow at most (set up the evening before).
DAYS_AHEAD = 1
OLDEST_BIRTH_YEAR = 1900
STAFF_ROLES = frozenset({Role.COORDINATOR, Role.ADMIN})


class DuplicateMember(Exception):
    """The member being added is on the roster already (same name and
    reading): ``member`` is the one to tick instead."""

    def __init__(self, member: Member) -> None:
        super().__init__(member.id)
        self.member = member


@dataclass(frozen=True)
class SalonCard:
    """A salon on the organiser's home screen."""

    salon: Salon
    held_today: bool  # something recorded at today's session already
    year: SalonYear
    grant: GrantResult | None  # None: no grant rule for the year
    rule: GrantRule | None
    absences: int  # members to follow up


@dataclass(frozen=True)
class RosterEntry:
    member: Member
    present: bool
    new: bool  # present, and never came before


@dataclass(frozen=True)
class DoorCount:
    """A headcount category at one session: this device's part and the
    other devices' (counts on several devices add up, never overwrite)."""

    category: Category
    first_time: bool
    mine: int
    others: int

    @property
    def total(self) -> int:
        return self.mine + self.others


@dataclass(frozen=True)
class SessionPage:
    salon: Salon
    session: Session
    totals: SessionTotals
    door: tuple[DoorCount, ...]  # every headcount category, new and returning
    roster_size: int
    stored: bool  # False until something is recorded for the day


@dataclass(frozen=True)
class YearPage:
    salon: Salon
    year: SalonYear
    grant: GrantResult | None
    rule: GrantRule | None
    absences: tuple[AbsenceAlert, ...]


DOOR_CATEGORIES: tuple[Category, ...] = (
    Category.ELDERLY_65_74,
    Category.ELDERLY_75_84,
    Category.ELDERLY_85_PLUS,
    Category.UNDER_65,
    Category.CHILDREN_PARENTS,
    Category.HELPER,
)


class SalonDesk:
    """The salon use-cases over the AppState's device file and lock."""

    def __init__(
        self, app: AppState, rules: dict[int, GrantRule] | None = None
    ) -> None:
        self._app = app
        self._rules = rules if rules is not None else {}

    # ---- who and where ---------------------------------------------------------

    def _organises(self, salon_id: str) -> bool:
        app = self._app
        if app.role() in STAFF_ROLES:
            return True
        with app.lock:
            return salon_id in salon_store.organised_by(app.db, app.user_id())

    def _salon_or_refuse(self, salon_id: str) -> dict[str, Any]:
        with self._app.lock:
            row = salon_store.salon(self._app.db, salon_id)
        if row is None or not self._organises(salon_id):
            raise _invalid("salon_id", ErrorCode.NOT_ORGANISER)
        return row

    def my_salons(self) -> list[SalonCard]:
        """The salons this device's user organises (a coordinator: all it
        holds), with the year so far; their absence notices are brought up
        to date on the way (for the volunteers of watched residents)."""
        app = self._app
        today = app.today()
        with app.lock:
            rows = salon_store.salons(app.db)
        cards = []
        for row in rows:
            if not self._organises(row["id"]):
                continue
            records = self._records(row)
            year = salon_year(records, fiscal_year(today))
            rule = self._rules.get(year.fiscal_year)
            alerts = absence_alerts(records, today=today)
            self._write_absences(row, alerts)
            today_id = session_id(row["id"], today)
            cards.append(
                SalonCard(
                    salon=records.salon,
                    held_today=any(s.id == today_id for s in records.sessions),
                    year=year,
                    grant=assess(year, rule) if rule else None,
                    rule=rule,
                    absences=len(alerts),
                )
            )
        return cards

    def _records(self, row: dict[str, Any]) -> SalonRecords:
        with self._app.lock:
            tables = salon_store.salon_tables(self._app.db, row["id"])
        return salon_rows.salon_records(
            salons=[row],
            organisers=tables["salon_organisers"],
            members=tables["salon_members"],
            sessions=tables["salon_sessions"],
            marks=tables["salon_marks"],
            headcounts=tables["salon_headcounts"],
        )[0]

    # ---- the session -----------------------------------------------------------

    def open_session(self, salon_id: str, on: date) -> str:
        """The salon's session on ``on`` (one per salon and day, on every
        device), made as a gathering at the salon's usual time if missing.
        The screens need not call it: the first tick or count makes it."""
        return str(self._session_row(salon_id, on, make=True)["id"])

    def _session_row(self, salon_id: str, on: date, *, make: bool) -> dict[str, Any]:
        """The stored session, or (``make`` false) what it would be."""
        salon = self._salon_or_refuse(salon_id)
        if on > self._app.today() + timedelta(days=DAYS_AHEAD):
            raise _invalid("held_on", ErrorCode.SESSION_AHEAD)
        sid = session_id(salon_id, on)
        app = self._app
        with app.lock:
            row = salon_store.session(app.db, sid)
            if row is not None:
                return row
            fresh = {
                "id": sid,
                "deleted": 0,
                "district_id": salon["district_id"],
                "salon_id": salon_id,
                "held_on": on.isoformat(),
                "starts_at": salon["starts_at"],
                "contact": ContactKind.GATHERING.value,
                "programme": "",
                "programme_text": None,
                "note": None,
                "place": None,
            }
            if make:
                self._write("salon_sessions", fresh)
                made = salon_store.session(app.db, sid)
                assert made is not None
                return made
        return fresh

    def session_page(self, salon_id: str, on: date) -> SessionPage:
        """A session's totals and the door's counts (each device's part);
        a day with nothing recorded yet shows as an empty session."""
        app = self._app
        row = self._session_row(salon_id, on, make=False)
        sid = row["id"]
        with app.lock:
            salon_row = salon_store.salon(app.db, salon_id)
            held = salon_store.members(app.db, salon_id)
            marks = salon_store.marks(app.db, sid)
            counts = salon_store.headcounts(app.db, sid)
            before = salon_store.came_before(app.db, salon_id, row["held_on"])
            me = store.device(app.db).device_id
            stored = salon_store.session(app.db, sid) is not None
        assert salon_row is not None
        session = salon_rows.session(row)
        members = [salon_rows.member(m) for m in held]
        present_ids = {m["member_id"] for m in marks if m["present"]}
        present = [m for m in members if m.id in present_ids]
        heads = [salon_rows.headcount(c) for c in counts]
        totals = session_totals(
            session, present, heads, new_member_ids=present_ids - before
        )
        return SessionPage(
            salon=salon_rows.salon(salon_row),
            session=session,
            totals=totals,
            door=_door(heads, me),
            roster_size=len(members),
            stored=stored,
        )

    def roster(self, salon_id: str, on: date, typed: str = "") -> list[RosterEntry]:
        """The salon's members for the day's session, by reading, filtered by
        what was typed (the start of the reading, or part of the name)."""
        app = self._app
        self._salon_or_refuse(salon_id)
        sid = session_id(salon_id, on)
        with app.lock:
            rows = salon_store.members(app.db, salon_id)
            marks = salon_store.marks(app.db, sid)
            before = salon_store.came_before(app.db, salon_id, on.isoformat())
        present = {m["member_id"] for m in marks if m["present"]}
        out = []
        for r in rows:
            member = salon_rows.member(r)
            if matches_reading(member, typed):
                here = member.id in present
                out.append(RosterEntry(member, here, here and member.id not in before))
        return out

    def set_present(
        self, salon_id: str, on: date, member_id: str, present: bool
    ) -> None:
        """Tick (or un-tick) a member at the day's session: the later write
        wins, on every device."""
        app = self._app
        with app.lock:
            member = salon_store.member(app.db, member_id)
        if member is None or member["salon_id"] != salon_id:
            raise _invalid("member_id", ErrorCode.OTHER_SALON)
        with app.lock:
            row = self._session_row(salon_id, on, make=True)
            self._write(
                "salon_marks",
                {
                    "id": derived_id("salon_marks", (row["id"], member_id)),
                    "district_id": row["district_id"],
                    "salon_id": salon_id,
                    "session_id": row["id"],
                    "member_id": member_id,
                    "present": 1 if present else 0,
                },
            )

    def change_headcount(
        self, salon_id: str, on: date, category: Category, first_time: bool, by: int
    ) -> int:
        """Add (or take back, ``by`` < 0) walk-ins or helpers counted on this
        device; returns this device's count now."""
        app = self._app
        sid = session_id(salon_id, on)
        with app.lock:
            me = store.device(app.db).device_id
            mine = {
                (c["category"], bool(c["first_time"])): c["people"]
                for c in salon_store.headcounts(app.db, sid)
                if c["counted_on"] == me
            }
        current = mine.get((category.value, first_time), 0)
        return self.set_headcount(salon_id, on, category, first_time, current + by)

    def set_headcount(
        self, salon_id: str, on: date, category: Category, first_time: bool, people: int
    ) -> int:
        """This device's count of one category at the day's session, 0 to 500."""
        if not 0 <= people <= MAX_HEADCOUNT:
            raise _invalid("people", ErrorCode.COUNT_RANGE, MAX_HEADCOUNT)
        app = self._app
        with app.lock:
            row = self._session_row(salon_id, on, make=True)
            me = store.device(app.db).device_id
            self._write(
                "salon_headcounts",
                {
                    "id": derived_id(
                        "salon_headcounts", (row["id"], category.value, first_time, me)
                    ),
                    "district_id": row["district_id"],
                    "salon_id": salon_id,
                    "session_id": row["id"],
                    "category": category.value,
                    "first_time": 1 if first_time else 0,
                    "counted_on": me,
                    "people": people,
                },
            )
        return people

    def describe_session(
        self,
        salon_id: str,
        on: date,
        *,
        contact: ContactKind,
        programme: Iterable[Programme],
        programme_text: str = "",
        note: str = "",
    ) -> None:
        """What kind of contact the session was and what was done."""
        programme_text, note = clean_text(programme_text), clean_text(note)
        errors = check_text(
            "programme_text", programme_text, max_chars=200, required=False
        ) + check_text("note", note, max_chars=2000, required=False, multiline=True)
        if errors:
            raise _invalid_all(errors)
        with self._app.lock:
            row = self._session_row(salon_id, on, make=True)
            self._write(
                "salon_sessions",
                {
                    **_fields_of(row),
                    "contact": contact.value,
                    "programme": salon_rows.programme_text(programme),
                    "programme_text": programme_text or None,
                    "note": note or None,
                },
            )

    def cancel_session(self, salon_id: str, on: date) -> None:
        """Take back a session recorded by mistake (a tombstone, synced)."""
        with self._app.lock:
            row = self._session_row(salon_id, on, make=False)
            if salon_store.session(self._app.db, row["id"]) is not None:
                self._write("salon_sessions", {**_fields_of(row), "deleted": 1})

    # ---- members -----------------------------------------------------------------

    def add_member(
        self,
        salon_id: str,
        name: str,
        kana: str,
        *,
        birth_year: str = "",
        consent: bool = False,
        present_on: date | None = None,
    ) -> Member:
        """A new member of the salon, ticked at the session of ``present_on``
        if given."""
        salon = self._salon_or_refuse(salon_id)
        name, kana, year_text = (
            clean_text(name),
            clean_text(kana),
            clean_text(birth_year),
        )
        errors = check_text("name", name, max_chars=MAX_NAME_CHARS, required=True)
        errors += check_text("kana", kana, max_chars=MAX_NAME_CHARS, required=True)
        year = _birth_year(year_text, self._app.today(), errors)
        if errors:
            raise _invalid_all(errors)
        app = self._app
        with app.lock:
            for row in salon_store.members(app.db, salon_id):
                if name_key(row["name"]) == name_key(name) and kana_key(
                    row["kana"]
                ) == kana_key(kana):
                    raise DuplicateMember(salon_rows.member(row))
            member_id = app.new_id()
            self._write(
                "salon_members",
                {
                    "id": member_id,
                    "district_id": salon["district_id"],
                    "salon_id": salon_id,
                    "name": name,
                    "kana": kana,
                    "birth_year": year,
                    "consent": 1 if consent else 0,
                    "resident_id": None,
                    "active": 1,
                },
            )
            member = salon_store.member(app.db, member_id)
        assert member is not None
        if present_on is not None:
            self.set_present(salon_id, present_on, member_id, True)
        return salon_rows.member(member)

    # ---- the month and the year ------------------------------------------------

    def year_page(self, salon_id: str) -> YearPage:
        row = self._salon_or_refuse(salon_id)
        records = self._records(row)
        today = self._app.today()
        year = salon_year(records, fiscal_year(today))
        rule = self._rules.get(year.fiscal_year)
        return YearPage(
            salon=records.salon,
            year=year,
            grant=assess(year, rule) if rule else None,
            rule=rule,
            absences=tuple(absence_alerts(records, today=today)),
        )

    # ---- writing -----------------------------------------------------------------

    def _write(self, kind: str, record: dict[str, Any]) -> None:
        """One record, queued for the council (the caller holds the lock)."""
        app = self._app
        store.write(app.db, kind, record, now_ms=app.now_ms())
        app.notify_saved()

    def _write_absences(
        self, salon: dict[str, Any], alerts: list[AbsenceAlert]
    ) -> None:
        """Absence notices for members who are watched residents: made or
        updated while they are away, made inactive once they come again."""
        wanted = {a.member.id: a for a in alerts if a.member.resident_id}
        with self._app.lock:
            held = {
                r["member_id"]: r
                for r in salon_store.absence_rows(self._app.db, salon["id"])
            }
            for member_id, alert in wanted.items():
                fields = {
                    "missed": alert.missed,
                    "last_attended": alert.last_attended.isoformat(),
                    "active": 1,
                }
                old = held.get(member_id)
                if old is not None and all(old[k] == v for k, v in fields.items()):
                    continue
                self._write(
                    "salon_absences",
                    {
                        "id": derived_id("salon_absences", (salon["id"], member_id)),
                        "district_id": salon["district_id"],
                        "salon_id": salon["id"],
                        "member_id": member_id,
                        "resident_id": alert.member.resident_id,
                        **fields,
                    },
                )
            for member_id, old in held.items():
                if member_id not in wanted and old["active"]:
                    self._write("salon_absences", {**_fields_of(old), "active": 0})


def session_id(salon_id: str, on: date) -> str:
    """The one session of a salon on a day, whichever device opens it."""
    return derived_id("salon_sessions", (salon_id, on.isoformat()))


def _door(heads: list[Headcount], me: str) -> tuple[DoorCount, ...]:
    out = []
    for category in DOOR_CATEGORIES:
        for first_time in (True, False):
            same = [h for h in heads if (h.category, h.new) == (category, first_time)]
            mine = sum(h.count for h in same if h.counted_on == me)
            others = sum(h.count for h in same if h.counted_on != me)
            out.append(DoorCount(category, first_time, mine, others))
    return tuple(out)


def _fields_of(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as a record to write again (the envelope is restamped)."""
    return {k: v for k, v in row.items() if k not in ("hlc", "origin")}


def _birth_year(text: str, today: date, errors: list[FieldError]) -> int | None:
    if not text:
        return None
    digits = text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if not (digits.isascii() and digits.isdigit() and len(digits) == 4):
        errors.append(FieldError("birth_year", ErrorCode.BIRTH_YEAR))
        return None
    year = int(digits)
    if not OLDEST_BIRTH_YEAR <= year <= today.year:
        errors.append(FieldError("birth_year", ErrorCode.BIRTH_YEAR))
        return None
    return year


def _invalid(field: str, code: ErrorCode, limit: int | None = None) -> InvalidInput:
    return InvalidInput([FieldError(field, code, limit)])


def _invalid_all(errors: list[FieldError]) -> InvalidInput:
    return InvalidInput(errors)
