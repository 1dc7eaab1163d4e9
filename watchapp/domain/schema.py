"""The one definition of the synced tables: their fields, types and enums.

The device store's migrations are checked against it (tests/test_store.py),
and the wire format validates records with it. Every synced record also has
the envelope fields of :data:`ENVELOPE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from watchapp.domain.model import ConcernCategory, ConcernStatus, Outcome, Role, Urgency


class FieldType(StrEnum):
    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    DATE = "date"  # ISO date, "2026-11-26"
    DATETIME = "datetime"  # ISO 8601 UTC, "2026-11-26T01:02:03.000Z"


@dataclass(frozen=True)
class Field:
    name: str
    datatype: FieldType
    required: bool = True
    choices: type[StrEnum] | None = None


@dataclass(frozen=True)
class Kind:
    """A synced table. ``scope`` names the keys that decide who may hold a row.

    Least data: of a resident who has not consented (honnin doui), a
    volunteer's phone gets only what a visit needs. ``withheld`` names the
    fields it does not get of records another person wrote (blanked to
    null); ``withheld_whole`` keeps the whole record from it, unless it is
    about the volunteer's own visit."""

    table: str
    fields: tuple[Field, ...]
    scope: tuple[str, ...]
    withheld: tuple[str, ...] = ()
    withheld_whole: bool = False

    @property
    def wire_fields(self) -> tuple[Field, ...]:
        """The envelope, then the kind's own fields: a record's keys, in order."""
        return (*ENVELOPE, *self.fields)


ENVELOPE: tuple[Field, ...] = (
    Field("id", FieldType.TEXT),  # UUIDv7
    Field("hlc", FieldType.TEXT),
    Field("origin", FieldType.TEXT),  # device id of the last writer
    Field("deleted", FieldType.BOOL),
    Field("district_id", FieldType.TEXT),
)

_T, _I, _B, _D, _DT = (
    FieldType.TEXT,
    FieldType.INT,
    FieldType.BOOL,
    FieldType.DATE,
    FieldType.DATETIME,
)

KINDS: dict[str, Kind] = {
    k.table: k
    for k in (
        Kind("districts", (Field("name", _T),), ("district_id",)),
        Kind("groups", (Field("name", _T),), ("district_id",)),
        Kind(
            "residents",
            (
                Field("group_id", _T),
                Field("name", _T),
                Field("kana", _T),
                Field("address", _T, required=False),
                Field("visit_every_days", _I),
                Field("consent", _B),
                Field("evacuation_register", _B),
                Field("since", _D),
                Field("active", _B),
            ),
            ("district_id", "group_id"),
        ),
        Kind(
            "users",
            (
                Field("group_id", _T),
                Field("name", _T),
                Field("role", _T, choices=Role),
            ),
            ("district_id", "group_id"),
        ),
        Kind(
            "assignments",
            (
                Field("group_id", _T),
                Field("user_id", _T),
                Field("resident_id", _T),
                Field("active", _B),
            ),
            ("district_id", "group_id"),
        ),
        Kind(
            "visits",
            (
                Field("group_id", _T),
                Field("resident_id", _T),
                Field("user_id", _T),
                Field("visited_at", _DT),
                Field("outcome", _T, choices=Outcome),
                Field("concern_category", _T, required=False, choices=ConcernCategory),
                Field("urgency", _T, required=False, choices=Urgency),
                Field("note", _T, required=False),
            ),
            ("district_id", "group_id"),
            # The date and outcome plan the next visit; what was of concern
            # and what was written about it are the resident's own business.
            withheld=("concern_category", "urgency", "note"),
        ),
        Kind(
            "concern_updates",
            (
                Field("group_id", _T),
                Field("resident_id", _T),
                Field("visit_id", _T),
                Field("status", _T, choices=ConcernStatus),
                Field("note", _T, required=False),
            ),
            ("district_id", "group_id"),
            withheld_whole=True,
        ),
    )
}


def json_object_sql(kind: str, table: str = "") -> str:
    """SQLite for a row of ``kind`` as its wire JSON: "kind" first, then the
    envelope and the kind's fields, flags (stored 0/1) as JSON booleans and
    NULL as null. The device store writes pushes with it, the server pulls."""
    pairs = [f"'kind', '{kind}'"]
    for f in KINDS[kind].wire_fields:
        value = f"{table}.{f.name}" if table else f.name
        if f.datatype is FieldType.BOOL:
            value = (
                f"CASE WHEN {value} THEN json('true')"
                f" WHEN NOT {value} THEN json('false') END"
            )
        pairs.append(f"'{f.name}', {value}")
    return f"json_object({', '.join(pairs)})"


def format_datetime(moment: datetime) -> str:
    """The stored and wire form of a moment: UTC, milliseconds, "Z".

    One fixed width, so text order is time order in SQLite.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: a moment needs a time zone")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC timestamp: {text!r}")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
