"""What a record kind is made of: its fields, with their types and limits.

Every check, table and schema derives from these declarations (see
:mod:`watchapp.domain.kinds`), so a field says everything that is asked of
it: nothing is guessed from its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from watchapp.domain.model import Role
from watchapp.domain.validation import NOTE_MAX_CHARS

ID_MAX_CHARS = 64
TEXT_MAX_CHARS = 200
INT_RANGE = (0, 10_000)


class FieldType(StrEnum):
    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    DATE = "date"  # ISO date, "2026-11-26"
    DATETIME = "datetime"  # ISO 8601 UTC, "2026-11-26T01:02:03.000Z"


@dataclass(frozen=True)
class Field:
    """One field of a record. Use the helpers below (:func:`text`,
    :func:`ref`, ...) rather than this class: they set the limits together."""

    name: str
    datatype: FieldType
    required: bool = True
    choices: type[StrEnum] | None = None
    max_chars: int = TEXT_MAX_CHARS  # text only
    multiline: bool = False  # text only: newlines and tabs allowed
    id_like: bool = False  # text only: 1..ID_MAX_CHARS printable, no blanks
    blank: bool = True  # text only: False: not empty, nor blanks alone (a name)
    low: int = INT_RANGE[0]  # int only
    high: int = INT_RANGE[1]  # int only
    # Text of choices: several of them, comma-separated ("" for none).
    multiple: bool = False
    # Date only: at most this many days after the server's today.
    future_days: int | None = None
    # The kind whose live record this field must name when a change is
    # pushed; None where it is not checked (an id the device made, say).
    references: str | None = None


def text(
    name: str,
    *,
    required: bool = True,
    max_chars: int = TEXT_MAX_CHARS,
    blank: bool = True,
) -> Field:
    """One line of text: a name, a kana reading, an address; with ``blank``
    False, not empty and not blanks alone."""
    return Field(name, FieldType.TEXT, required, max_chars=max_chars, blank=blank)


def long_text(name: str, *, required: bool = False) -> Field:
    """Free text over several lines: what a volunteer writes down."""
    return Field(
        name, FieldType.TEXT, required, max_chars=NOTE_MAX_CHARS, multiline=True
    )


def ref(name: str, kind: str | None = None, *, required: bool = True) -> Field:
    """An id: of this record, of its scope, or of another record; with
    ``kind``, a pushed change must name a live record of that kind."""
    return Field(
        name,
        FieldType.TEXT,
        required,
        max_chars=ID_MAX_CHARS,
        id_like=True,
        references=kind,
    )


def choice(name: str, values: type[StrEnum], *, required: bool = True) -> Field:
    return Field(name, FieldType.TEXT, required, choices=values)


def choices(name: str, values: type[StrEnum]) -> Field:
    """Any of ``values``, each once, comma-separated: "exercise,tea_talk"."""
    width = sum(len(v) + 1 for v in values._value2member_map_)
    return Field(name, FieldType.TEXT, choices=values, multiple=True, max_chars=width)


def number(
    name: str,
    *,
    low: int = INT_RANGE[0],
    high: int = INT_RANGE[1],
    required: bool = True,
) -> Field:
    return Field(name, FieldType.INT, required, low=low, high=high)


def flag(name: str) -> Field:
    return Field(name, FieldType.BOOL)


def day(name: str, *, future_days: int | None = None) -> Field:
    """A calendar day; with ``future_days``, not later than that after today."""
    return Field(name, FieldType.DATE, future_days=future_days)


def moment(name: str) -> Field:
    return Field(name, FieldType.DATETIME)


class HeldBy(StrEnum):
    """How a field worker's device (a volunteer's, an organiser's) may hold a
    kind's records. Coordinators hold their districts and admins everything,
    whatever the kind; a kind held in none of these ways stays off phones."""

    RESIDENT = "resident"  # about one of their residents (its resident_id)
    OWN_ASSIGNMENT = "own_assignment"  # theirs: its user_id is the worker's
    SELF = "self"  # the worker's own record: its id is their user id
    OWN_GROUP = "own_group"  # their group's record: its id is their group's
    OWN_DISTRICT = "own_district"  # their district's: its id is their district's
    SALON = "salon"  # about a salon they organise (its salon_id)


# What each way compares: a column of the record with what the server knows
# of the field worker (the names of watchapp.server.store.base.Scope).
# "residents" is a set: the column is one of them.
HOLDING: dict[HeldBy, tuple[str, str]] = {
    HeldBy.RESIDENT: ("resident_id", "residents"),
    HeldBy.OWN_ASSIGNMENT: ("user_id", "user_id"),
    HeldBy.SELF: ("id", "user_id"),
    HeldBy.OWN_GROUP: ("id", "group_id"),
    HeldBy.OWN_DISTRICT: ("id", "district_id"),
    HeldBy.SALON: ("salon_id", "salons"),
}
# The ways of holding that a field worker's scope lists one by one (the
# residents assigned to them, the salons they organise); the scope snapshot
# of a device keeps them, and what is gained comes with its history.
LISTED: dict[HeldBy, str] = {HeldBy.RESIDENT: "resident_id", HeldBy.SALON: "salon_id"}


class History(StrEnum):
    """What of a kind comes with a resident newly assigned to a field worker."""

    ALL = "all"  # every record about the resident (or salon) held so
    RECENT = "recent"  # those whose clock field is within the recent window


ENVELOPE: tuple[Field, ...] = (
    ref("id"),  # UUIDv7, minted on the device
    text("hlc"),  # its form is the clock's own (watchapp.domain.hlc)
    ref("origin"),  # device id of the last writer
    flag("deleted"),
    ref("district_id"),
)

EVERYONE = frozenset(Role)
STAFF = frozenset({Role.COORDINATOR, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Kind:
    """A synced table: what its records hold, who holds and writes them.

    - ``scope``: the keys that decide who may hold a record.
    - ``event``: appended (a correction is a new write), not edited.
    - ``writers``: the roles that may push it. Coordinators write only in
      their districts; volunteers and organisers only as themselves (the
      kind's ``user_id``) for residents assigned to them (``resident_id``):
      see watchapp/server/rules.py.
    - ``purged_by``: when a device loses a record of another kind from its
      scope (a resident, a district), the field of this kind that names it:
      those records go too. Every kind goes with its district.
    - ``own_id_as``: a scope key that is the record's own id (a resident's
      ``resident_id``): the server files it under it, and a change must say so
      where the field is on the wire (a district's ``district_id``).
    - ``clock_field``: the moment the record is about, checked against the
      server's clock and against when the device wrote it.
    - ``indexes``: the device's indexes on the kind's table, by columns.
    - ``held_by``: how a field worker's device may hold its records
      (:class:`HeldBy`); None: not at all.
    - ``history``: whether its records about a newly assigned resident (or
      a salon newly organised) come with it (:class:`History`), and which.
    - ``id_from``: the fields a record's id is made from
      (:func:`watchapp.domain.ids.derived_id`): one record per salon and
      day, say, however many devices open it offline.
    - ``field_writes``: what a field worker's write must be within, where
      it is not how they hold the kind (``held_by``): by resident, as
      themselves (``user_id``), for residents assigned to them; by salon,
      for a salon they organise.

    Least data: of a resident who has not consented (honnin doui), a
    volunteer's phone gets only what a visit needs. ``withheld`` names the
    fields it does not get of records another person wrote (blanked to
    null); ``withheld_whole`` keeps the whole record from it, unless it is
    about the volunteer's own visit (its ``visit_id``)."""

    table: str
    fields: tuple[Field, ...]
    scope: tuple[str, ...]
    event: bool = False
    writers: frozenset[Role] = ADMINS
    purged_by: dict[str, str] = field(default_factory=dict, hash=False)
    own_id_as: str | None = None
    clock_field: str | None = None
    indexes: tuple[tuple[str, ...], ...] = ()
    withheld: tuple[str, ...] = ()
    withheld_whole: bool = False
    held_by: HeldBy | None = None
    history: History | None = None
    id_from: tuple[str, ...] = ()
    field_writes: HeldBy | None = None

    @property
    def written_within(self) -> HeldBy | None:
        """What a field worker's write of this kind must be within: their
        residents (as themselves) or their salons."""
        return self.field_writes or self.held_by

    @property
    def wire_fields(self) -> tuple[Field, ...]:
        """The envelope, then the kind's own fields: a record's keys, in order."""
        return (*ENVELOPE, *self.fields)

    @property
    def references(self) -> dict[str, str]:
        """The records a change refers to, by field: the kind each names."""
        return {f.name: f.references for f in self.fields if f.references}

    @property
    def purge(self) -> dict[str, str]:
        """By the kind of record lost from scope: the field naming it."""
        return {"districts": "district_id", **self.purged_by}

    def index_name(self, columns: tuple[str, ...]) -> str:
        """``visits_by_resident`` for (resident_id, visited_at)."""
        return f"{self.table}_by_{columns[0].removesuffix('_id')}"
