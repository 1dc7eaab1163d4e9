"""The wire format both ends import: records as JSON objects, and their checks.

No I/O. A change on the wire is one flat JSON object: ``"kind"`` (the table),
the envelope (id, hlc, origin, deleted, district_id) and the kind's fields
as :mod:`watchapp.domain.kinds` declares them, nothing else; every check here
follows those declarations (types, limits, the clock-checked moment), none
guesses from a field's name. Booleans are JSON booleans, dates ISO strings,
moments UTC "Z" strings.

    POST /api/v1/sync/push  {"changes": [change, ...]}
      -> {"ok": true, "accepted": N, "rejected": [{"index", "kind", "id",
                                                   "field", "reason", "message"}]}
    GET  /api/v1/sync/pull?cursor=C&limit=L
      -> {"ok": true, "changes": [...], "cursor": C2, "more": bool,
          "purge": {"residents": [...], "districts": [...], "salons": [...]}}
    errors -> {"ok": false, "errors": [{"code", "message", "field"?}]}
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from watchapp.domain.hlc import Hlc
from watchapp.domain.ids import derived_id
from watchapp.domain.kinds import ENVELOPE, Field, FieldType, Kind, per_kind
from watchapp.domain.kinds import ID_MAX_CHARS as ID_MAX_CHARS  # as they were here
from watchapp.domain.kinds import TEXT_MAX_CHARS as TEXT_MAX_CHARS
from watchapp.domain.model import Outcome
from watchapp.domain.rules import local_date
from watchapp.domain.schema import format_datetime
from watchapp.domain.validation import (
    CLOCK_TOLERANCE,
    MAX_BACKDATE,
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

# ASCII digits only: a moment is compared as text with the server's clock.
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
)
# ASCII digits and a real time of day: then only the day needs a calendar.
_DATETIME_FINE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HLC = re.compile(r"[0-9]{13}-[0-9]{5}")
# The envelope's clock: its form is the HLC's, not a text field's.
_HLC_FIELD = next(f for f in ENVELOPE if f.name == "hlc")

_TYPES: dict[str, dict[str, Field]] = per_kind(
    lambda spec: {f.name: f for f in spec.wire_fields}
)


@dataclass(frozen=True, slots=True)
class _Rule:
    """What :func:`_check_value` asks of one field, from its declaration.

    A record goes through :data:`_FINE` first; only one that does not pass
    is checked field by field, to say why.
    """

    name: str
    datatype: FieldType
    required: bool
    limit: int  # characters, for text
    multiline: bool
    nonempty: bool  # an id: not empty, every character printable
    filled: bool  # not empty, nor blanks alone (a name: Field.blank False)
    choices: frozenset[str] | None
    low: int  # for ints
    high: int
    hlc: bool  # the envelope's clock
    multiple: bool  # several choices, comma-separated


def _rule(spec: Field) -> _Rule:
    choices = None
    if spec.choices is not None:
        choices = frozenset(str(v) for v in spec.choices._value2member_map_)
    return _Rule(
        spec.name,
        spec.datatype,
        spec.required,
        spec.max_chars,
        spec.multiline,
        spec.id_like,
        not spec.blank,
        choices,
        spec.low,
        spec.high,
        spec == _HLC_FIELD,
        spec.multiple,
    )


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


_hlc_form = _HLC.fullmatch
_moment_form = _DATETIME_FINE.fullmatch
_BOOL, _INT, _MOMENT = FieldType.BOOL, FieldType.INT, FieldType.DATETIME


Record = dict[str, Any]


def _fine_kind(rules: tuple[_Rule, ...]) -> Callable[[Record], bool]:
    """A test that passes a record with all of the kind's fields, each fine,
    and no other: the common case in few steps. Anything it does not pass
    gets the full check, field by field, which says why.

    Three loops, over the kind's text fields, its choices and the rest, with
    each test written out in the loop: a function call per field took two
    thirds of a push's checking time, and each loop costs about as much as
    a few fields. Text is not asked its type: a JSON value that is not a
    string fails ``len``, ``isprintable``, a regex or a set lookup with a
    TypeError or an AttributeError, which is "not fine".
    """
    texts: list[tuple[str, int, int, bool]] = []  # name, fewest, most, optional
    picks: list[tuple[str, frozenset[str | None]]] = []  # name, allowed values
    rest: list[tuple[str, FieldType, int, int, bool]] = []  # name, type, range
    several: list[tuple[str, frozenset[str]]] = []  # name, allowed values
    filled: list[str] = []  # names: not blanks alone (not empty: the least 1)
    for r in rules:
        if r.hlc:
            continue  # every record has one: tested on its own below
        if r.multiple:
            several.append((r.name, r.choices or frozenset()))
        elif r.choices is not None:
            # A missing optional value is one more allowed value.
            picks.append((r.name, r.choices | ({None} if not r.required else set())))
        elif r.datatype is FieldType.TEXT:
            least = 1 if r.nonempty or r.filled else 0
            texts.append((r.name, least, r.limit, not r.required))
            if r.filled:
                filled.append(r.name)
        else:
            rest.append((r.name, r.datatype, r.low, r.high, not r.required))
    texts_, picks_, rest_ = tuple(texts), tuple(picks), tuple(rest)
    several_, filled_ = tuple(several), tuple(filled)
    width = len(rules)

    def fine(record: Record) -> bool:
        # Every field present (as devices send them) and nothing else: a
        # missing key is a KeyError, and the count leaves no room for another.
        if len(record) != width:
            return False
        try:
            # isprintable() is false for every character has_control_chars
            # looks for (and for a few more, such as the ideographic space and
            # a newline, which then get the full check).
            for name, least, most, optional in texts_:
                v = record[name]
                if v is None:
                    if optional:
                        continue
                    return False
                if not (least <= len(v) <= most and v.isprintable()):
                    return False
            for name, allowed in picks_:
                if record[name] not in allowed:
                    return False
            for name, datatype, low, high, optional in rest_:
                v = record[name]
                if v is None:
                    if optional:
                        continue
                    return False
                if datatype is _BOOL:
                    if v is not True and v is not False:
                        return False
                elif datatype is _MOMENT:
                    if _moment_form(v) is None or not _real_day(v[:10]):
                        return False
                elif datatype is _INT:
                    if not (type(v) is int and low <= v <= high):
                        return False
                elif not (len(v) == 10 and _real_day(v)):  # a date
                    return False
            for name, allowed in several_:
                if not _several_fine(record[name], allowed):
                    return False
            for name in filled_:
                if record[name] is not None and record[name].isspace():
                    return False
            if _hlc_form(record["hlc"]) is None:
                return False
        except (KeyError, TypeError, AttributeError):
            return False
        return True

    return fine


def _several_fine(value: str, allowed: frozenset[str]) -> bool:
    """ "" (none chosen), or allowed values, each once, comma-separated."""
    if value == "":
        return True
    picked = value.split(",")
    return len(set(picked)) == len(picked) and allowed.issuperset(picked)


def _rules_of(spec: Kind) -> tuple[_Rule, ...]:
    return tuple(_rule(f) for f in spec.wire_fields)


_RULES: dict[str, tuple[_Rule, ...]] = per_kind(_rules_of)
_NAMES: dict[str, frozenset[str]] = per_kind(
    lambda spec: frozenset(f.name for f in spec.wire_fields)
)
_FINE: dict[str, Callable[[dict[str, Any]], bool]] = per_kind(
    lambda spec: _fine_kind(_rules_of(spec))
)
# What is checked once the fields are fine: a scope key that must be the
# record's own id (a district's district_id), and the moment the record is
# about.
_LAST_CHECKS: dict[str, tuple[str | None, str | None]] = per_kind(
    lambda spec: (
        spec.own_id_as if spec.own_id_as in _TYPES[spec.table] else None,
        spec.clock_field,
    )
)
# The fields a record's id is made from (Kind.id_from), and the days that
# may not be too far ahead (Field.future_days): few kinds have either.
_ID_FROM: dict[str, tuple[str, ...]] = per_kind(lambda spec: spec.id_from)
_AHEAD: dict[str, tuple[tuple[str, int], ...]] = per_kind(
    lambda spec: tuple(
        (f.name, f.future_days) for f in spec.fields if f.future_days is not None
    )
)


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


class EnrolmentProblem(StrEnum):
    """Every error code ``POST /enrol`` answers; the device shows each in Japanese.

    The first six are about the enrolment itself; the rest are the request's
    body as any endpoint reads it (watchapp/server/body.py, errors.py), which
    only a faulty client, a proxy or a dying connection brings about.
    """

    INVITATION_UNKNOWN = "invitation_unknown"  # 400: no such code
    INVITATION_USED = "invitation_used"  # 400
    INVITATION_EXPIRED = "invitation_expired"  # 400
    DEVICE_TAKEN = "device_taken"  # 409: the device id is enrolled already
    TOO_MANY_ATTEMPTS = "too_many_attempts"  # 429, with Retry-After
    INVALID_REQUEST = "invalid_request"  # 400: a field missing or unusable
    UNKNOWN_FIELD = "unknown_field"  # 400
    MALFORMED_JSON = "malformed_json"  # 400
    MALFORMED_GZIP = "malformed_gzip"  # 400
    TOO_LARGE = "too_large"  # 413
    UNSUPPORTED_ENCODING = "unsupported_encoding"  # 415
    BODY_TIMEOUT = "body_timeout"  # 408: the body came too slowly
    CLIENT_DISCONNECTED = "client_disconnected"  # 400, for the log: nobody reads it
    INTERNAL_ERROR = "internal_error"  # 500: a fault of the server's


@dataclass(frozen=True)
class Rejection:
    field: str
    reason: Reason
    message: str


@dataclass(frozen=True, slots=True)
class Change:
    """A checked change: its kind and the record as the wire has it."""

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
    own, clock = _LAST_CHECKS[kind]
    if own is not None and record[own] != record["id"]:
        return Rejection(own, Reason.BAD_VALUE, f"{own} must be the record's own id")
    if clock is not None and (problem := _moment_problem(clock, record, bounds)):
        return problem
    if kind == "visits" and (problem := _concern_problem(record)):
        return problem
    if (made_from := _ID_FROM[kind]) and record["id"] != derived_id(
        kind, tuple(record[name] for name in made_from)
    ):
        return Rejection(
            "id",
            Reason.BAD_VALUE,
            f"the id of {kind} is made from {', '.join(made_from)}",
        )
    for name, days in _AHEAD[kind]:
        if record[name] is not None and record[name] > _latest_day(bounds, days):
            return Rejection(
                name, Reason.CLOCK_AHEAD, f"{name} over {days} days after today"
            )
    return Change(kind, record)


def _moment_problem(
    name: str, record: dict[str, Any], bounds: _Bounds
) -> Rejection | None:
    """What the device checks of the moment a record is about (a visit's
    time), checked again: not in the future, and not backdated further than
    the device allows, counted from when the device wrote it."""
    moment = record[name]
    if moment is None:  # an optional moment left out: nothing to compare
        return None
    if moment > bounds.latest_moment:
        return Rejection(
            name,
            Reason.CLOCK_AHEAD,
            f"{name} is in the future: the device clock is wrong",
        )
    if record["deleted"]:  # a tombstone takes nothing back but the record
        return None
    if moment < _earliest_moment(record["hlc"][:8]):
        return Rejection(
            name,
            Reason.TOO_OLD,
            f"{name} over {MAX_BACKDATE.days} days before it was recorded",
        )
    return None


def _concern_problem(record: dict[str, Any]) -> Rejection | None:
    """A visit's outcome and concern, together (a tombstone's are not read)."""
    if record["deleted"]:
        return None
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
    return None


_MET_CONCERN = Outcome.MET_CONCERN.value


# Device HLC stamps are read to 100 s (their first 8 digits), so the earliest
# moment is found once per stamp prefix, not per record; it is made 100 s
# earlier to stay on the device's side of the line.
_STAMP_STEP_MS = 100_000


@functools.lru_cache(maxsize=256)
def _earliest_moment(stamp_prefix: str) -> str:
    """The earliest moment a device could record at this HLC stamp."""
    written = datetime.fromtimestamp(int(stamp_prefix) * _STAMP_STEP_MS / 1000, UTC)
    earliest = written - MAX_BACKDATE - CLOCK_TOLERANCE - timedelta(seconds=100)
    return format_datetime(earliest)


@dataclass(frozen=True, slots=True)
class _Bounds:
    """What a batch is checked against, at one moment, as fixed-width text
    (checked before): text order is time order."""

    latest_stamp: str  # the latest HLC wall time accepted
    latest_moment: str  # the latest moment a record may be about
    oldest_stamp: str  # the oldest HLC wall time accepted
    today: date  # the server's, in Japan: a day a record is about


@functools.lru_cache(maxsize=16)
def _latest_day(bounds: _Bounds, days: int) -> str:
    return (bounds.today + timedelta(days=days)).isoformat()


@functools.lru_cache(maxsize=4)
def _latest(now: datetime) -> _Bounds:
    ahead = now + CLOCK_AHEAD_LIMIT
    oldest = now - MAX_CHANGE_AGE
    return _Bounds(
        f"{int(ahead.timestamp() * 1000):013d}",
        format_datetime(ahead),
        f"{int(oldest.timestamp() * 1000):013d}",
        local_date(now),
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
    if t is FieldType.INT and not rule.low <= value <= rule.high:
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
    if rule.filled and not value.strip():
        return Rejection(name, Reason.BAD_VALUE, f"{name} is blank")
    if rule.multiple:
        if not _several_fine(value, rule.choices or frozenset()):
            return Rejection(name, Reason.BAD_VALUE, f"{name}: unknown or repeated")
    elif rule.choices is not None and value not in rule.choices:
        return Rejection(name, Reason.BAD_VALUE, f"{name}: unknown value {value!r}")
    try:
        if rule.hlc:
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


def change_schema(kind: str) -> dict[str, Any]:
    """JSON Schema of one change of ``kind``, from its declaration: for the
    OpenAPI document and a second client. The checks above are the word on
    what is accepted (a real calendar day, say, which a schema can't say)."""
    spec = _TYPES[kind]
    return {
        "title": kind,
        "type": "object",
        "required": ["kind", *(n for n, f in spec.items() if f.required)],
        "additionalProperties": False,
        "properties": {
            "kind": {"const": kind},
            **{name: _field_schema(field) for name, field in spec.items()},
        },
    }


def _field_schema(spec: Field) -> dict[str, Any]:
    t = spec.datatype
    schema: dict[str, Any]
    if spec == _HLC_FIELD:
        schema = {"type": "string", "pattern": f"^{_HLC.pattern}$"}
    elif t is FieldType.BOOL:
        schema = {"type": "boolean"}
    elif t is FieldType.INT:
        schema = {"type": "integer", "minimum": spec.low, "maximum": spec.high}
    elif t is FieldType.DATE:
        schema = {"type": "string", "format": "date"}
    elif t is FieldType.DATETIME:
        schema = {"type": "string", "format": "date-time"}
        schema["pattern"] = f"^{_DATETIME.pattern}$"
    elif spec.multiple and spec.choices is not None:
        values = "|".join(str(v) for v in spec.choices)
        schema = {"type": "string", "pattern": f"^(({values})(,({values}))*)?$"}
    elif spec.choices is not None:
        schema = {"type": "string", "enum": [str(v) for v in spec.choices]}
    else:
        schema = {"type": "string", "maxLength": spec.max_chars}
        if spec.id_like:
            schema["minLength"] = 1
        if not spec.blank:
            schema["pattern"] = r"\S"  # something besides blanks
    if not spec.required:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"].append(None)
    return schema


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"ok": False, "errors": [error]}
