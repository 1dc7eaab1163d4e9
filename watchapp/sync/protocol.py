"""The wire format both ends import: records as JSON objects, and their checks.

No I/O. A change on the wire is one flat JSON object: ``"kind"`` (the table),
the envelope (id, hlc, origin, deleted, district_id) and the kind's fields
from :mod:`watchapp.domain.schema`, nothing else. Booleans are JSON booleans,
dates ISO strings, moments UTC "Z" strings.

    POST /api/v1/sync/push  {"changes": [change, ...]}
      -> {"ok": true, "accepted": N, "rejected": [{"index", "kind", "id",
                                                   "field", "reason", "message"}]}
    GET  /api/v1/sync/pull?cursor=C&limit=L
      -> {"ok": true, "changes": [...], "cursor": C2, "more": bool,
          "purge": {"residents": [...], "districts": [...]}}
    errors -> {"ok": false, "errors": [{"code", "message", "field"?}]}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from watchapp.domain.hlc import Hlc
from watchapp.domain.schema import ENVELOPE, KINDS, Field, FieldType
from watchapp.domain.validation import NOTE_MAX_CHARS, has_control_chars

API = "/api/v1"
MAX_CHANGES_PER_PUSH = 1000
MAX_BODY_BYTES = 4 * 1024 * 1024  # after decompression
MAX_PULL_LIMIT = 5000
DEFAULT_PULL_LIMIT = 1000
# A device clock this far ahead of the server's is wrong, not early.
CLOCK_AHEAD_LIMIT = timedelta(minutes=5)
ID_MAX_CHARS = 64
TEXT_MAX_CHARS = 200

_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_LONG_TEXT = frozenset({"note"})
_TYPES: dict[str, dict[str, Field]] = {
    kind: {f.name: f for f in (*ENVELOPE, *spec.fields)} for kind, spec in KINDS.items()
}


_HLC = re.compile(r"[0-9]{13}-[0-9]{5}")


@dataclass(frozen=True, slots=True)
class _Rule:
    """What :func:`_check_value` asks of one field, worked out once.

    ``fine`` passes only values that :func:`_check_value` passes too, in fewer
    steps; a value it does not pass gets the full check, which says why.
    """

    name: str
    datatype: FieldType
    required: bool
    limit: int  # characters, for text
    multiline: bool
    nonempty: bool
    choices: frozenset[str] | None
    fine: Callable[[Any], bool]


def _rule(spec: Field) -> _Rule:
    name = spec.name
    limit = NOTE_MAX_CHARS if name in _LONG_TEXT else TEXT_MAX_CHARS
    if name in ("id", "origin", "district_id") or name.endswith("_id"):
        limit = ID_MAX_CHARS
    multiline = name in _LONG_TEXT
    nonempty = name.endswith("id") or name == "origin"
    choices = None
    if spec.choices is not None:
        choices = frozenset(str(v) for v in spec.choices._value2member_map_)
    return _Rule(
        name,
        spec.datatype,
        spec.required,
        limit,
        multiline,
        nonempty,
        choices,
        _fine(spec, limit, multiline, nonempty, choices),
    )


def _fine(
    spec: Field,
    limit: int,
    multiline: bool,
    nonempty: bool,
    choices: frozenset[str] | None,
) -> Callable[[Any], bool]:
    t = spec.datatype
    if t is FieldType.BOOL:
        return lambda v: v is True or v is False
    if t is FieldType.INT:
        return lambda v: type(v) is int and 0 <= v <= 10_000
    if spec.name == "hlc":
        return lambda v: type(v) is str and _HLC.fullmatch(v) is not None
    if t is not FieldType.TEXT:
        return lambda v: False  # dates: always the full check
    if choices is not None:
        return lambda v: type(v) is str and v in choices
    return lambda v: (
        type(v) is str
        and len(v) <= limit
        and (bool(v) or not nonempty)
        and not has_control_chars(v, multiline=multiline)
    )


_RULES: dict[str, tuple[_Rule, ...]] = {
    kind: tuple(_rule(f) for f in fields.values()) for kind, fields in _TYPES.items()
}


class Reason(StrEnum):
    """Why a change was rejected; the device shows each in Japanese."""

    MALFORMED = "malformed"
    UNKNOWN_KIND = "unknown_kind"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    BAD_VALUE = "bad_value"
    TOO_LONG = "too_long"
    CONTROL_CHARS = "control_chars"
    CLOCK_AHEAD = "clock_ahead"
    NOT_YOUR_DEVICE = "not_your_device"
    FORBIDDEN = "forbidden"
    OUT_OF_SCOPE = "out_of_scope"
    UNKNOWN_REFERENCE = "unknown_reference"


@dataclass(frozen=True)
class Rejection:
    field: str
    reason: Reason
    message: str


@dataclass(frozen=True)
class Change:
    """A checked change: its kind and the record as the wire has it."""

    kind: str
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record["id"])


def check_change(obj: object, *, now: datetime) -> Change | Rejection:
    """Structure, types, enums, lengths and clocks of one incoming change.

    Scope and references are the server's business; this needs no data.
    """
    if not isinstance(obj, dict):
        return Rejection("", Reason.MALFORMED, "a change must be a JSON object")
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _TYPES:
        return Rejection("kind", Reason.UNKNOWN_KIND, f"unknown kind: {kind!r}")
    fields = _TYPES[kind]
    record = {k: v for k, v in obj.items() if k != "kind"}
    for name in record:
        if name not in fields:
            return Rejection(name, Reason.UNKNOWN_FIELD, f"unknown field: {name}")
    for rule in _RULES[kind]:
        value = record.get(rule.name)
        if value is None and not rule.required or rule.fine(value):
            continue
        problem = _check_value(rule, value, present=rule.name in record)
        if problem:
            return problem
    ahead = now + CLOCK_AHEAD_LIMIT
    if Hlc.parse(record["hlc"]).wall_ms > ahead.timestamp() * 1000:
        return Rejection(
            "hlc", Reason.CLOCK_AHEAD, "the device clock is ahead of the server's"
        )
    moment = record.get("visited_at")
    if moment is not None and parse_moment(moment) > ahead:
        return Rejection(
            "visited_at",
            Reason.CLOCK_AHEAD,
            "visit time is in the future: the device clock is wrong",
        )
    if kind == "districts" and record["district_id"] != record["id"]:
        return Rejection("district_id", Reason.BAD_VALUE, "a district is its own scope")
    return Change(kind, record)


def _check_value(rule: _Rule, value: Any, *, present: bool) -> Rejection | None:
    name = rule.name
    if value is None:
        if rule.required:
            reason = Reason.MISSING_FIELD if not present else Reason.WRONG_TYPE
            return Rejection(name, reason, f"{name} is required")
        return None
    t = rule.datatype
    if t is FieldType.BOOL:
        ok = isinstance(value, bool)
    elif t is FieldType.INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        return Rejection(name, Reason.WRONG_TYPE, f"{name}: expected {t.value}")
    if t is FieldType.INT and not 0 <= value <= 10_000:
        return Rejection(name, Reason.BAD_VALUE, f"{name}: out of range")
    if not isinstance(value, str):
        return None
    limit = rule.limit
    if len(value) > limit:
        return Rejection(name, Reason.TOO_LONG, f"{name}: over {limit} characters")
    if has_control_chars(value, multiline=rule.multiline):
        return Rejection(name, Reason.CONTROL_CHARS, f"{name}: control characters")
    if rule.nonempty and not value:
        return Rejection(name, Reason.BAD_VALUE, f"{name} is empty")
    if rule.choices is not None and value not in rule.choices:
        return Rejection(name, Reason.BAD_VALUE, f"{name}: unknown value {value!r}")
    try:
        if name == "hlc":
            Hlc.parse(value)
        elif t is FieldType.DATETIME:
            if not _DATETIME.fullmatch(value):
                raise ValueError(value)
            parse_moment(value)
        elif t is FieldType.DATE:
            if not _DATE.fullmatch(value):
                raise ValueError(value)
            date.fromisoformat(value)
    except ValueError:
        return Rejection(name, Reason.BAD_VALUE, f"{name}: malformed")
    return None


def parse_moment(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def to_wire(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A device-store row (booleans as 0/1) as a wire change."""
    fields = _TYPES[kind]
    out: dict[str, Any] = {"kind": kind}
    for name, spec in fields.items():
        value = row.get(name)
        if spec.datatype is FieldType.BOOL and value is not None:
            value = bool(value)
        out[name] = value
    return out


def change_from_row(kind: str, row: dict[str, Any]) -> Change:
    """A store row as a change, without the round trip through JSON."""
    wire = to_wire(kind, row)
    del wire["kind"]
    return Change(kind, wire)


def to_row(change: Change) -> dict[str, Any]:
    """A wire change as a device-store row (booleans as 0/1)."""
    fields = _TYPES[change.kind]
    return {
        name: int(value) if isinstance(value, bool) else value
        for name, value in change.record.items()
        if name in fields
    }


def columns(kind: str) -> list[str]:
    return list(_TYPES[kind])


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"ok": False, "errors": [error]}
