"""Community salons (ikiiki salon): the salon, its organisers and members,
its sessions, who came and the headcounts at the door, and the absences a
watched resident's volunteer is told of.

What two devices write offline must come together without loss, so the
records are shaped for it (tests/test_salon_sync.py):
- a session is one record per salon and day: its id is made from both
  (``id_from``), so two organisers opening today's session offline open
  the same one;
- a mark is one record per session and member: ticks of different members
  are different records (their union survives), and of the same member the
  later write wins, an un-tick too;
- a headcount is one record per session, category, new or returning, and
  device that counts (``counted_on``): each device edits only its own
  count, the totals add them up, and the session shows each device's part.
"""

from __future__ import annotations

from watchapp.domain.kinds.base import (
    STAFF,
    Field,
    FieldType,
    HeldBy,
    History,
    Kind,
    choice,
    choices,
    day,
    flag,
    long_text,
    number,
    ref,
    text,
)
from watchapp.domain.model import Role
from watchapp.domain.salons import (
    MAX_ABSENCE_AFTER,
    MAX_HEADCOUNT,
    MAX_NAME_CHARS,
    Category,
    ContactKind,
    Programme,
)

ORGANISERS = frozenset({Role.ORGANISER, *STAFF})
_BY_SALON = {"salons": "salon_id"}


def _clock_time(name: str) -> Field:
    """A time of day as "HH:MM" (checked by the device; optional)."""
    return Field(name, FieldType.TEXT, required=False, max_chars=5)


FAMILY: tuple[Kind, ...] = (
    Kind(
        "salons",
        (
            text("name", max_chars=MAX_NAME_CHARS, blank=False),
            text("place", required=False),
            number("weekday", low=0, high=6, required=False),  # 0: Monday
            _clock_time("starts_at"),
            number("absence_after", low=1, high=MAX_ABSENCE_AFTER),
            flag("active"),
        ),
        ("district_id",),
        writers=STAFF,
        purged_by={"salons": "id"},
        own_id_as="salon_id",  # a salon is its own scope
        held_by=HeldBy.SALON,
        history=History.ALL,
    ),
    Kind(
        "salon_organisers",
        (ref("salon_id", "salons"), ref("user_id", "users"), flag("active")),
        ("district_id",),
        writers=STAFF,
        purged_by=_BY_SALON,
        held_by=HeldBy.OWN_ASSIGNMENT,  # their own; not who else organises
    ),
    Kind(
        "salon_members",
        (
            ref("salon_id", "salons"),
            text("name", max_chars=MAX_NAME_CHARS, blank=False),
            text("kana", max_chars=MAX_NAME_CHARS, blank=False),
            number("birth_year", low=1900, high=2100, required=False),
            flag("consent"),
            # The watched resident this member is; set by a coordinator.
            ref("resident_id", required=False),
            flag("active"),
        ),
        ("district_id", "salon_id"),
        writers=ORGANISERS,
        purged_by=_BY_SALON,
        indexes=(("salon_id", "kana"),),
        held_by=HeldBy.SALON,
        history=History.ALL,
    ),
    Kind(
        "salon_sessions",
        (
            ref("salon_id", "salons"),
            day("held_on", future_days=1),
            _clock_time("starts_at"),
            choice("contact", ContactKind),
            choices("programme", Programme),
            text("programme_text", required=False),
            long_text("note"),
            text("place", required=False),
        ),
        ("district_id", "salon_id"),
        writers=ORGANISERS,
        purged_by=_BY_SALON,
        indexes=(("salon_id", "held_on"),),
        held_by=HeldBy.SALON,
        history=History.ALL,
        id_from=("salon_id", "held_on"),
    ),
    Kind(
        "salon_marks",
        (
            ref("salon_id", "salons"),
            ref("session_id", "salon_sessions"),
            ref("member_id", "salon_members"),
            flag("present"),
        ),
        ("district_id", "salon_id"),
        writers=ORGANISERS,
        purged_by=_BY_SALON,
        indexes=(("session_id",),),
        held_by=HeldBy.SALON,
        history=History.ALL,
        id_from=("session_id", "member_id"),
    ),
    Kind(
        "salon_headcounts",
        (
            ref("salon_id", "salons"),
            ref("session_id", "salon_sessions"),
            choice("category", Category),
            flag("first_time"),
            ref("counted_on"),  # the device keeping this count
            number("people", high=MAX_HEADCOUNT),
        ),
        ("district_id", "salon_id"),
        writers=ORGANISERS,
        purged_by=_BY_SALON,
        indexes=(("session_id",),),
        held_by=HeldBy.SALON,
        history=History.ALL,
        id_from=("session_id", "category", "first_time", "counted_on"),
    ),
    Kind(
        # A member who is a watched resident and stopped coming: written by
        # the salon's organisers, held by the resident's volunteer (a reason
        # to visit). One per salon and member; ``active`` false once they
        # come again.
        "salon_absences",
        (
            ref("salon_id", "salons"),
            ref("member_id", "salon_members"),
            ref("resident_id"),
            number("missed", high=1000),
            day("last_attended"),
            flag("active"),
        ),
        ("district_id", "salon_id"),
        writers=ORGANISERS,
        purged_by={"residents": "resident_id"},
        held_by=HeldBy.RESIDENT,
        history=History.ALL,
        field_writes=HeldBy.SALON,
        id_from=("salon_id", "member_id"),
    ),
)
