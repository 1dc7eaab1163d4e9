"""The synced kinds as the rest of the code has long imported them.

The kinds themselves are declared in :mod:`watchapp.domain.kinds` (one module
per family) and re-exported here; what is left is how a moment is written
and SQLite's JSON for a row, both derived from the registry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from watchapp.domain.kinds import ENVELOPE, KINDS, Field, FieldType, Kind

__all__ = [
    "ENVELOPE",
    "KINDS",
    "Field",
    "FieldType",
    "Kind",
    "format_datetime",
    "json_object_sql",
    "parse_datetime",
]


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
