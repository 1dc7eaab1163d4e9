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

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from watchapp.domain.hlc import Hlc
from watchapp.domain.model import Outcome
from watchapp.domain.schema import KINDS, Field, FieldType, format_datetime
from watchapp.domain.validation import (
    CLOCK_TOLERANCE,
    MAX_BACKDATE,
    NOTE_MAX_CHARS,
    check_concern,
    has_control_chars,
    note_required,
)

API = "/api/v1"
# A phone sends 500 at most (engine.PUSH_BATCH); a long backlog goes faster in
# bigger batches: one commit for more records (bench/sync.py: ~5% at 2,000).
MAX_CHANGES_PER_PUSH = 2000
MAX_BODY_BYTES = 4 * 1024 * 1024  # after decompression
MAX_PULL_LIMIT = 5000
DEFAULT_PULL_LIMIT = 1000
# A device clock this far ahead of the server's is wrong, not early.
CLOCK_AHEAD_LIMIT = timedelta(minutes=5)
# A change written on a device longer ago than this is refused: no phone stays
# offline for a year, and a record dated 1990 is a wrong clock or a forgery.
MAX_CHANGE_AGE = timedelta(days=366)
ID_MAX_CHARS = 64
TEXT_MAX_CHARS = 200

# ASCII digits only: a moment is compared as text with the server's clock.
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
)
# ASCII digits and a real time of day: then only the day needs a calendar.
_DATETIME_FINE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LONG_TEXT = frozenset({"note"})
_TYPES: dict[str, dict[str, Field]] = {
    kind: {f.name: f for f in spec.wire_fields} for kind, spec in KINDS.items()
}


_HLC = re.compile(r"[0-9]{13}-[0-9]{5}")


@dataclass(frozen=True, slots=True)
class _Rule:
    """What :func:`_check_value` asks of one field, worked out once.

    A record goes through :data:`_FINE` first; only one that does not pass
    is checked field by field, to say why.
    """

    name: str
    datatype: FieldType
    required: bool
    limit: int  # characters, for text
    multiline: bool
    nonempty: bool
    choices: frozenset[str] | None


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
    )


def _fine_test(rule: _Rule) -> str:
    """A Python expression, in ``v``, true only for values that
    :func:`_check_value` passes: the common case in fewer steps.

    Text is not asked its type: a JSON value that is not a string fails
    ``len``, ``isprintable``, a regex or a set lookup with a TypeError or an
    AttributeError, which the caller takes as "not fine"."""
    t = rule.datatype
    if t is FieldType.BOOL:
        test = "v is True or v is False"
    elif t is FieldType.INT:
        test = "type(v) is int and 0 <= v <= 10_000"
    elif rule.name == "hlc":
        test = "hlc(v) is not None"
    elif t is FieldType.DATETIME:
        test = "moment(v) is not None and real_day(v[:10])"
    elif t is FieldType.DATE:
        test = "len(v) == 10 and real_day(v)"
    elif rule.choices is not None:
        test = f"v in choices_{rule.name}"
    else:
        # isprintable() is false for every character has_control_chars looks
        # for (and for a few more, such as the ideographic space, which then
        # get the full check): one C call instead of a regex.
        least = 1 if rule.nonempty else 0
        test = f"{least} <= len(v) <= {rule.limit} and v.isprintable()"
    return test if rule.required else f"v is None or ({test})"


def _fine_kind(kind: str, rules: tuple[_Rule, ...]) -> Callable[[dict[str, Any]], bool]:
    """One function per kind that passes a record with all of the kind's
    fields, each fine, and no other.

    Written out as source, one test after the other, because a call per field
    took two thirds of a push's checking time. Anything it does not pass gets
    the full check, field by field, which says why.
    """
    # Every field present (as devices send them) and nothing else: a missing
    # key is a KeyError, and the count leaves no room for an unknown one.
    lines = [
        f"def fine_{kind}(r):",
        f"    if len(r) != {len(rules)}:",
        "        return False",
    ]
    lines.append("    try:")
    for rule in rules:
        lines.append(f"        v = r[{rule.name!r}]")
        lines.append(f"        if not ({_fine_test(rule)}):")
        lines.append("            return False")
    lines.append("    except (KeyError, TypeError, AttributeError):")
    lines.append("        return False")
    lines.append("    return True")
    namespace: dict[str, Any] = {
        "hlc": _HLC.fullmatch,
        "moment": _DATETIME_FINE.fullmatch,
        "real_day": _real_day,
        **{f"choices_{r.name}": r.choices for r in rules if r.choices is not None},
    }
    exec(compile("\n".join(lines), f"<fine {kind}>", "exec"), namespace)
    fine: Callable[[dict[str, Any]], bool] = namespace[f"fine_{kind}"]
    return fine


@functools.lru_cache(maxsize=4096)
def _real_day(text: str) -> bool:
    """Is ``text`` a real calendar day as YYYY-MM-DD (visits share few days)."""
    if _DATE.fullmatch(text) is None:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


_RULES: dict[str, tuple[_Rule, ...]] = {
    kind: tuple(_rule(f) for f in fields.values()) for kind, fields in _TYPES.items()
}
_NAMES = {kind: frozenset(fields) for kind, fields in _TYPES.items()}
# Change(kind, record) without the named tuple's Python-level __new__: a push
# makes one per record.
_new_change = tuple.__new__
_FINE = {kind: _fine_kind(kind, rules) for kind, rules in _RULES.items()}


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
    TOO_OLD = "too_old"
    INCONSISTENT = "inconsistent"
    DEPENDS_ON_REFUSED = "depends_on_refused"


@dataclass(frozen=True)
class Rejection:
    field: str
    reason: Reason
    message: str


class Change(NamedTuple):
    """A checked change: its kind and the record as the wire has it.

    A named tuple: a push makes one per record, and a frozen dataclass took
    three times as long to build.
    """

    kind: str
    record: dict[str, Any]

    @property
    def id(self) -> str:
        value: str = self.record["id"]  # checked: text
        return value


def check_change(obj: object, *, now: datetime) -> Change | Rejection:
    """Structure, types, enums, lengths and clocks of one incoming change.

    Scope and references are the server's business; this needs no data.
    """
    return _check(obj, _latest(now))


def check_changes(items: list[Any], *, now: datetime) -> list[Change | Rejection]:
    """:func:`check_change` for each of a batch, at one moment."""
    bounds = _latest(now)
    return [_check(item, bounds) for item in items]


def _check(obj: object, bounds: _Bounds) -> Change | Rejection:
    if type(obj) is not dict:
        return Rejection("", Reason.MALFORMED, "a change must be a JSON object")
    kind = obj.get("kind")
    if type(kind) is not str or kind not in _TYPES:
        return Rejection("kind", Reason.UNKNOWN_KIND, f"unknown kind: {kind!r}")
    record = dict(obj)
    del record["kind"]
    if not _FINE[kind](record):
        if not record.keys() <= _NAMES[kind]:
            name = next(n for n in record if n not in _NAMES[kind])
            return Rejection(name, Reason.UNKNOWN_FIELD, f"unknown field: {name}")
        for rule in _RULES[kind]:
            problem = _check_value(
                rule, record.get(rule.name), present=rule.name in record
            )
            if problem:
                return problem
    stamp = record["hlc"][:13]
    if stamp > bounds.latest_stamp:
        return Rejection(
            "hlc", Reason.CLOCK_AHEAD, "the device clock is ahead of the server's"
        )
    if stamp < bounds.oldest_stamp:
        return Rejection(
            "hlc", Reason.TOO_OLD, "written over a year ago: the device clock is wrong"
        )
    if kind == "visits":
        return _check_visit(record, bounds)
    if kind == "districts" and record["district_id"] != record["id"]:
        return Rejection("district_id", Reason.BAD_VALUE, "a district is its own scope")
    return _new_change(Change, (kind, record))


def _check_visit(record: dict[str, Any], bounds: _Bounds) -> Change | Rejection:
    """What the device checks of a visit it records, checked again: the time
    (not in the future, not backdated further than the device allows, counted
    from when the device wrote it), and the outcome and concern together."""
    moment = record["visited_at"]
    if moment > bounds.latest_moment:
        return Rejection(
            "visited_at",
            Reason.CLOCK_AHEAD,
            "visit time is in the future: the device clock is wrong",
        )
    if record["deleted"]:  # a tombstone takes nothing back but the visit
        return _new_change(Change, ("visits", record))
    if moment < _earliest_visit(record["hlc"][:8]):
        return Rejection(
            "visited_at",
            Reason.TOO_OLD,
            f"visit time over {MAX_BACKDATE.days} days before it was recorded",
        )
    category, urgency = record.get("concern_category"), record.get("urgency")
    outcome = record["outcome"]
    # Most visits have no concern, and need no more checking.
    if category is not None or urgency is not None or outcome == _MET_CONCERN:
        if check_concern(outcome, category, urgency):
            return Rejection(
                "concern_category",
                Reason.INCONSISTENT,
                "a concern needs category and urgency, with met_concern only",
            )
        if note_required(category) and not record.get("note"):
            return Rejection(
                "note", Reason.MISSING_FIELD, "an 'other' concern needs a note"
            )
    return _new_change(Change, ("visits", record))


_MET_CONCERN = Outcome.MET_CONCERN.value


# Device HLC stamps are read to 100 s (their first 8 digits), so the earliest
# visit time is found once per stamp prefix, not per visit; it is made
# 100 s earlier to stay on the device's side of the line.
_STAMP_STEP_MS = 100_000


@functools.lru_cache(maxsize=256)
def _earliest_visit(stamp_prefix: str) -> str:
    """The earliest visit time a device could record at this HLC stamp."""
    written = datetime.fromtimestamp(int(stamp_prefix) * _STAMP_STEP_MS / 1000, UTC)
    earliest = written - MAX_BACKDATE - CLOCK_TOLERANCE - timedelta(seconds=100)
    return format_datetime(earliest)


@dataclass(frozen=True, slots=True)
class _Bounds:
    """What a batch is checked against, at one moment, as fixed-width text
    (checked before): text order is time order."""

    latest_stamp: str  # the latest HLC wall time accepted
    latest_moment: str  # the latest visit time accepted
    oldest_stamp: str  # the oldest HLC wall time accepted


@functools.lru_cache(maxsize=4)
def _latest(now: datetime) -> _Bounds:
    ahead = now + CLOCK_AHEAD_LIMIT
    oldest = now - MAX_CHANGE_AGE
    return _Bounds(
        f"{int(ahead.timestamp() * 1000):013d}",
        format_datetime(ahead),
        f"{int(oldest.timestamp() * 1000):013d}",
    )


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
    if rule.nonempty and not value.isprintable():  # no blanks hidden in ids
        return Rejection(name, Reason.BAD_VALUE, f"{name}: not printable")
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
