"""check_change: the fast path (_FINE) never passes what the field-by-field
check rejects, the reasons a change is rejected, and the clock boundaries.

The property tests compare check_change with a reference written here from the
slow path alone: the unknown-field check, then _check_value for every rule, then
the clock and district checks done on real times, not on the text _latest makes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchapp.domain.hlc import Hlc
from watchapp.domain.ids import derived_id
from watchapp.domain.kinds import (
    ENVELOPE,
    KINDS,
    Field,
    FieldType,
    Kind,
    register,
    unregister,
)
from watchapp.domain.kinds import base as declare
from watchapp.domain.model import JST, Outcome
from watchapp.domain.schema import format_datetime
from watchapp.domain.validation import CLOCK_TOLERANCE, MAX_BACKDATE, NOTE_MAX_CHARS
from watchapp.sync.protocol import (
    _FINE,
    _NAMES,
    _RULES,
    CLOCK_AHEAD_LIMIT,
    ID_MAX_CHARS,
    MAX_CHANGE_AGE,
    TEXT_MAX_CHARS,
    Change,
    Reason,
    Rejection,
    _check_value,
    _Rule,
    check_change,
    parse_moment,
)

Record = dict[str, Any]
# What a check says, without the message: the accepted change, or (field, reason).
Verdict = Change | tuple[str, Reason]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
LATEST = NOW + CLOCK_AHEAD_LIMIT


def wall_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def at_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


HLC = str(Hlc(wall_ms(NOW) - 60_000, 3))
VISITED_AT = format_datetime(NOW - timedelta(hours=1))


# ---- valid records, from the schema --------------------------------------------


def _valid_value(kind: str, spec: Field) -> Any:
    if spec.name == "hlc":
        return HLC
    if spec.choices is not None:
        return next(iter(spec.choices)).value
    if spec.name == "id":
        return f"{kind}-1"
    value = {
        FieldType.BOOL: False,
        FieldType.INT: min(max(7, spec.low), spec.high),
        FieldType.DATE: "2026-01-01",
        FieldType.DATETIME: VISITED_AT,
        FieldType.TEXT: f"{spec.name.removesuffix('_id')}-1"[: spec.max_chars],
    }[spec.datatype]
    return value


def _valid_record(kind: str) -> Record:
    record = {f.name: _valid_value(kind, f) for f in (*ENVELOPE, *KINDS[kind].fields)}
    if kind == "districts":
        record["district_id"] = record["id"]  # a district is its own scope
    if kind == "visits":  # a concern goes with "met, with a concern"
        record["outcome"] = "met_concern"
    if made_from := KINDS[kind].id_from:  # one record per salon and day, say
        record["id"] = derived_id(kind, tuple(record[n] for n in made_from))
    return record


# Every field present and set, as devices send them; "kind" is added on the wire.
VALID: dict[str, Record] = {kind: _valid_record(kind) for kind in KINDS}
OPTIONAL: dict[str, frozenset[str]] = {
    kind: frozenset(f.name for f in (*ENVELOPE, *spec.fields) if not f.required)
    for kind, spec in KINDS.items()
}


def _one_kind_per_rule() -> dict[_Rule, str]:
    """Each distinct field rule, with a kind that has it: the envelope once."""
    rules: dict[_Rule, str] = {}
    for kind, kind_rules in _RULES.items():
        for rule in kind_rules:
            rules.setdefault(rule, kind)
    return rules


RULES = _one_kind_per_rule()
RULE_IDS = [f"{kind}.{rule.name}" for rule, kind in RULES.items()]


def wire(kind: str, record: Record) -> Record:
    return {"kind": kind, **record}


def verdict(result: Change | Rejection) -> Verdict:
    if isinstance(result, Rejection):
        return (result.field, result.reason)
    return result


def check(obj: object, *, now: datetime = NOW) -> Verdict:
    return verdict(check_change(obj, now=now))


# ---- the reference: the slow path only -----------------------------------------


def slow_problems(kind: str, record: Record) -> list[Rejection]:
    """What _check_value says of each field, in rule order."""
    problems = (
        _check_value(rule, record.get(rule.name), present=rule.name in record)
        for rule in _RULES[kind]
    )
    return [problem for problem in problems if problem is not None]


def reference(obj: object, *, now: datetime) -> Verdict:
    if type(obj) is not dict:
        return ("", Reason.MALFORMED)
    kind = obj.get("kind")
    if type(kind) is not str or kind not in _RULES:
        return ("kind", Reason.UNKNOWN_KIND)
    record = {name: value for name, value in obj.items() if name != "kind"}
    unknown = [name for name in record if name not in _NAMES[kind]]
    if unknown:
        return (unknown[0], Reason.UNKNOWN_FIELD)
    problems = slow_problems(kind, record)
    if problems:
        return (problems[0].field, problems[0].reason)
    latest = now + CLOCK_AHEAD_LIMIT
    wall = Hlc.parse(record["hlc"]).wall_ms
    if at_ms(wall) > latest:
        return ("hlc", Reason.CLOCK_AHEAD)
    if at_ms(wall) < now - MAX_CHANGE_AGE:
        return ("hlc", Reason.TOO_OLD)
    if kind == "visits":
        return reference_visit(record, wall, latest)
    if kind == "districts" and record["district_id"] != record["id"]:
        return ("district_id", Reason.BAD_VALUE)
    spec = KINDS[kind]
    if spec.id_from and record["id"] != derived_id(
        kind, tuple(record[n] for n in spec.id_from)
    ):
        return ("id", Reason.BAD_VALUE)
    today = now.astimezone(JST).date()
    for f in spec.fields:
        value, days = record.get(f.name), f.future_days
        if days is not None and value is not None:
            last_day = today + timedelta(days=days)
            if date.fromisoformat(value) > last_day:
                return (f.name, Reason.CLOCK_AHEAD)
    return Change(kind, record)


def reference_visit(record: Record, wall: int, latest: datetime) -> Verdict:
    visited_at = parse_moment(record["visited_at"])
    if visited_at > latest:
        return ("visited_at", Reason.CLOCK_AHEAD)
    if record["deleted"]:
        return Change("visits", record)
    # The device's write time, read to 100 s and taken 100 s earlier.
    written = at_ms(wall // 100_000 * 100_000) - timedelta(seconds=100)
    if visited_at < written - MAX_BACKDATE - CLOCK_TOLERANCE:
        return ("visited_at", Reason.TOO_OLD)
    concern = (record.get("concern_category"), record.get("urgency"))
    if record["outcome"] == "met_concern":
        if None in concern:
            return ("concern_category", Reason.INCONSISTENT)
    elif concern != (None, None):
        return ("concern_category", Reason.INCONSISTENT)
    if concern[0] == "other" and not record.get("note"):
        return ("note", Reason.MISSING_FIELD)
    return Change("visits", record)


# ---- values near the edges -------------------------------------------------------

# Characters a fast check could let through by mistake: C0, DEL, C1, bidi
# overrides and isolates, other invisible or separator characters, non-ASCII
# digits, a lone surrogate (JSON "\ud800" decodes to one) and an emoji.
ODD_CHARS = (
    "\x00\x07\t\n\r\x1b\x7f\x80\x85\x9f\xa0\u061c\u200b\u200e\u2028\u2029"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u3000\ufeff"
    "\u0663\uff12\u00b2\ud800\U0001f600"
)
# What one changed character may become: a digit, a separator, a blank, a
# digit of another script (Arabic-Indic 3, full-width 2, superscript 2).
EDIT_CHARS = "09-:.Z \n\u3000\u0663\uff12\u00b2"
# Parts of "YYYY-MM-DDTHH:MM:SS.mmmZ", and values just past each one's range.
PAST_RANGE = {
    (0, 4): ["0000"],
    (5, 7): ["00", "13"],
    (8, 10): ["00", "29", "30", "31", "32"],
    (11, 13): ["24", "25"],
    (14, 16): ["60"],
    (17, 19): ["60", "61"],
}
# Days that decide: not a leap year, a leap year, a 30-day month.
DAYS = ["2026-02-28", "2024-02-28", "2026-11-25"]
MOMENTS = [f"{day}T23:59:59.999Z" for day in DAYS]
OTHER_FORMS = [
    "20261125",
    "2026-W48-3",
    "2026-330",
    "2026-1-1",
    "2026-11-25T01:00:00Z",
    "2026-11-25T01:00:00.000",
    "2026-11-25T01:00:00.000000Z",
    "2026-11-25T01:00:00.000+09:00",
    "2026-11-25 01:00:00.000Z",
    "2026-11-25t01:00:00.000z",
    "2026-11-25T01:00:00,000Z",
    "20261125T010000.000Z",
    "1764118800000-0",
    "1764118800000.00000",
    "+764118800000-00000",
    "-764118800000-00000",
    "1764118800000-00000-0",
]


def one_char_edits(text: str) -> list[str]:
    """``text`` with one character dropped, changed or added."""
    edits = [text[:at] + text[at + 1 :] for at in range(len(text))]
    for at in range(len(text) + 1):
        for char in EDIT_CHARS:
            edits += [text[:at] + char + text[at + 1 :], text[:at] + char + text[at:]]
    return edits


def past_range(text: str) -> list[str]:
    """``text``, a date or moment, with one part just past its range."""
    return [
        text[:start] + value + text[end:]
        for (start, end), values in PAST_RANGE.items()
        if end <= len(text)
        for value in values
    ]


def at_length(*lengths: int) -> list[str]:
    return [
        char * n for char in ("x", "\u3000", "\n", "\u5c71", "\x85") for n in lengths
    ]


def _edge_values() -> list[Any]:
    values: list[Any] = [None, True, False, 0, 1, -1, 7, 10_000, 10_001]
    values += [-(2**63), 2**64, 7.0, float("nan"), "7", "true", [], {}, ["a"], {"a": 1}]
    for text in (DAYS[0], MOMENTS[0], HLC):
        values += one_char_edits(text)
    for text in (*DAYS, *MOMENTS):
        values += [text, *past_range(text)]
    values += OTHER_FORMS
    values += [str(Hlc(wall_ms(LATEST) + d, 0)) for d in (-1, 0, 1)]
    values += [format_datetime(at_ms(wall_ms(LATEST) + d)) for d in (-1, 0, 1)]
    for rule in RULES:
        for choice in sorted(rule.choices or ()):
            values += [choice, choice.upper(), f" {choice}", f"{choice}\n", choice[:-1]]
    values += at_length(0, 1, 63, 64, 65, 199, 200, 201, 1999, 2000, 2001)
    values += [f"a{char}b" for char in ODD_CHARS + "\t"] + list(ODD_CHARS)
    return values


EDGE_VALUES = _edge_values()
EDGE_TEXTS = [v for v in EDGE_VALUES if type(v) is str]


# ---- strategies ------------------------------------------------------------------

texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(ODD_CHARS + "aZ09-:.TZ ")),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1),
    st.sampled_from(EDGE_TEXTS),
)
anything: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([-1, 0, 10_000, 10_001, 2**63, -(2**70)]),
        st.floats(),
        texts,
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=4,
)
# Times around the latest moment a change may carry.
NOWS = [NOW + timedelta(microseconds=us) for us in (0, 1, 500, 999, -1, -500)]
near_latest_ms = st.integers(-3, 3).map(lambda d: wall_ms(LATEST) + d)


def likely_values(rule: _Rule) -> st.SearchStrategy[Any]:
    """Values of the rule's type, most of them fine for it."""
    strategy: st.SearchStrategy[Any]
    if rule.name == "hlc":
        strategy = st.builds(
            Hlc, st.integers(0, 10**13 - 1) | near_latest_ms, st.integers(0, 99_999)
        ).map(str)
    elif rule.choices is not None:
        strategy = st.sampled_from(sorted(rule.choices))
    elif rule.datatype is FieldType.BOOL:
        strategy = st.booleans()
    elif rule.datatype is FieldType.INT:
        strategy = st.integers(rule.low, rule.high)
    elif rule.datatype is FieldType.DATE:
        strategy = st.dates().map(date.isoformat)
    elif rule.datatype is FieldType.DATETIME:
        strategy = st.one_of(
            st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)).map(
                format_datetime
            ),
            near_latest_ms.map(lambda ms: format_datetime(at_ms(ms))),
        )
    else:
        strategy = st.text(min_size=1 if rule.nonempty else 0, max_size=rule.limit)
    return strategy if rule.required else strategy | st.none()


# Mostly values of the field's type, so that many records reach the fast path,
# and times close to the latest accepted; a dropped or unknown key ends the check
# early.
MUTATIONS = ["drop", "add", *["likely"] * 4, "clock", "edge", "edge", "any"]


@st.composite
def changes(draw: st.DrawFn, kinds: tuple[str, ...] = ()) -> tuple[str, Record]:
    """A kind (of ``kinds``, or the app's) and a record: a valid one with up
    to four random mutations."""
    kind = draw(st.sampled_from(kinds or sorted(VALID)))
    rules = {rule.name: rule for rule in _RULES[kind]}
    record = dict(VALID[kind] if kind in VALID else _valid_record(kind))
    for _ in range(draw(st.integers(0, 4))):
        mutation = draw(st.sampled_from(MUTATIONS))
        if mutation == "drop":
            if record:
                del record[draw(st.sampled_from(sorted(record)))]
            continue
        if mutation == "add":
            name = draw(st.text(max_size=12) | st.sampled_from(["Id", "id ", "colour"]))
            if name != "kind":
                record[name] = draw(anything)
            continue
        if mutation == "clock":
            ms = draw(near_latest_ms)
            if "visited_at" in rules and draw(st.booleans()):
                record["visited_at"] = format_datetime(at_ms(ms))
            else:
                record["hlc"] = str(Hlc(ms, draw(st.integers(0, 99_999))))
            continue
        name = draw(st.sampled_from(sorted(rules)))
        if mutation == "likely":
            record[name] = draw(likely_values(rules[name]))
        elif mutation == "edge":
            record[name] = draw(st.sampled_from(EDGE_VALUES))
        else:
            record[name] = draw(anything)
    return kind, record


# ---- the fast path never passes what the slow path rejects ---------------------


@settings(max_examples=300, deadline=None)
@given(change=changes(), now=st.sampled_from(NOWS))
def test_check_change_is_the_slow_path(
    change: tuple[str, Record], now: datetime
) -> None:
    kind, record = change
    obj = wire(kind, record)
    assert check(obj, now=now) == reference(obj, now=now)


@settings(max_examples=300, deadline=None)
@given(change=changes())
def test_what_the_fast_path_passes_every_field_check_passes(
    change: tuple[str, Record],
) -> None:
    kind, record = change
    if _FINE[kind](record):
        assert record.keys() == _NAMES[kind]
        assert slow_problems(kind, record) == []


@pytest.mark.parametrize(("rule", "kind"), RULES.items(), ids=RULE_IDS)
def test_every_edge_value_in_every_field(rule: _Rule, kind: str) -> None:
    """Each value near an edge, set in a valid record: not left to chance."""
    wrong = []
    for value in EDGE_VALUES:
        obj = wire(kind, {**VALID[kind], rule.name: value})
        if (got := check(obj)) != (expected := reference(obj, now=NOW)):
            wrong.append((value, got, expected))
    assert wrong == []


@pytest.mark.parametrize(("rule", "kind"), RULES.items(), ids=RULE_IDS)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_any_value_in_any_field(rule: _Rule, kind: str, data: st.DataObject) -> None:
    value = data.draw(likely_values(rule) | texts | anything, label=rule.name)
    obj = wire(kind, {**VALID[kind], rule.name: value})
    assert check(obj) == reference(obj, now=NOW)


# ---- examples ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_valid_record_of_each_kind_is_accepted(kind: str) -> None:
    record = VALID[kind]
    assert _FINE[kind](record)  # the common case takes the fast path
    assert check(wire(kind, record)) == Change(kind, record)


@pytest.mark.parametrize("kind", sorted(k for k in KINDS if OPTIONAL[k]))
def test_optional_fields_may_be_left_out(kind: str) -> None:
    record = {k: v for k, v in VALID[kind].items() if k not in OPTIONAL[kind]}
    if kind == "visits":  # no concern left: a visit without one
        record["outcome"] = "met_well"
    assert not _FINE[kind](record)  # the slow path, which must accept it too
    assert check(wire(kind, record)) == Change(kind, record)


@pytest.mark.parametrize("kind", sorted(k for k in KINDS if OPTIONAL[k]))
def test_optional_fields_may_be_null(kind: str) -> None:
    record = {**VALID[kind], **dict.fromkeys(OPTIONAL[kind])}
    if kind == "visits":  # no concern left: a visit without one
        record["outcome"] = "met_well"
    assert check(wire(kind, record)) == Change(kind, record)


RESIDENT = VALID["residents"]
VISIT = VALID["visits"]
JAPANESE = {
    "name": "\u5c71\u7530\u3000\u82b1\u5b50",  # Yamada<U+3000>Hanako
    "kana": "\u3084\u307e\u3060\u3000\u306f\u306a\u3053",
    "address": "\u4e45\u7559\u7c73\u5e02\u3000\uff11\u4e01\u76ee",
}
# fmt: off
ACCEPTED: list[tuple[str, str, Record]] = [
    # id, kind, fields to set on a valid record
    ("japanese-names", "residents", JAPANESE),
    ("note-newline-tab", "visits", {"note": "line one\n\tline two\n"}),
    ("note-at-limit", "visits", {"note": "x" * NOTE_MAX_CHARS}),
    ("concern-note-newline", "concern_updates", {"note": "a\nb"}),
    ("name-at-limit", "residents", {"name": "x" * TEXT_MAX_CHARS}),
    ("id-at-limit", "residents", {"id": "r" * ID_MAX_CHARS}),
    ("every-days-max", "residents", {"visit_every_days": 10_000}),
    ("every-days-zero", "residents", {"visit_every_days": 0}),
    ("since-leap-day", "residents", {"since": "2024-02-29"}),
    ("visited-at-last-ms-of-day", "visits",
     {"visited_at": "2026-11-25T23:59:59.999Z"}),
    ("hlc-counter-max", "visits", {"hlc": "1764118800000-99999"}),
]
# fmt: on


@pytest.mark.parametrize(
    ("kind", "fields"), [p[1:] for p in ACCEPTED], ids=[p[0] for p in ACCEPTED]
)
def test_accepted(kind: str, fields: Record) -> None:
    record = {**VALID[kind], **fields}
    assert check(wire(kind, record)) == Change(kind, record)


MISSING = object()
# fmt: off
REJECTED: list[tuple[str, str, Record, str, Reason]] = [
    # id, kind, fields to set (MISSING drops one), field, reason
    ("note-nul", "visits", {"note": "a\x00b"}, "note", Reason.CONTROL_CHARS),
    ("note-bidi-override", "visits", {"note": "a\u202eb"}, "note",
     Reason.CONTROL_CHARS),
    ("note-bidi-isolate", "visits", {"note": "a\u2066b"}, "note", Reason.CONTROL_CHARS),
    ("note-c1", "visits", {"note": "a\x85b"}, "note", Reason.CONTROL_CHARS),
    ("note-del", "visits", {"note": "a\x7fb"}, "note", Reason.CONTROL_CHARS),
    ("note-cr", "visits", {"note": "a\r\nb"}, "note", Reason.CONTROL_CHARS),
    ("concern-note-nul", "concern_updates", {"note": "\x00"}, "note",
     Reason.CONTROL_CHARS),
    ("name-newline", "residents", {"name": "a\nb"}, "name", Reason.CONTROL_CHARS),
    ("name-tab", "residents", {"name": "a\tb"}, "name", Reason.CONTROL_CHARS),
    ("id-nul", "residents", {"id": "r\x001"}, "id", Reason.CONTROL_CHARS),
    ("origin-bidi", "residents", {"origin": "\u202edev"}, "origin",
     Reason.CONTROL_CHARS),
    ("unknown-field", "residents", {"colour": "red"}, "colour", Reason.UNKNOWN_FIELD),
    ("unknown-field-null", "residents", {"colour": None}, "colour",
     Reason.UNKNOWN_FIELD),
    ("unknown-and-missing", "residents", {"colour": "red", "name": MISSING}, "colour",
     Reason.UNKNOWN_FIELD),
    ("outcome-missing", "visits", {"outcome": MISSING}, "outcome",
     Reason.MISSING_FIELD),
    ("hlc-missing", "visits", {"hlc": MISSING}, "hlc", Reason.MISSING_FIELD),
    ("id-missing", "districts", {"id": MISSING}, "id", Reason.MISSING_FIELD),
    ("name-null", "residents", {"name": None}, "name", Reason.WRONG_TYPE),
    ("name-a-number", "residents", {"name": 5}, "name", Reason.WRONG_TYPE),
    ("every-days-as-text", "residents", {"visit_every_days": "7"}, "visit_every_days",
     Reason.WRONG_TYPE),
    ("every-days-as-bool", "residents", {"visit_every_days": True},
     "visit_every_days", Reason.WRONG_TYPE),
    ("every-days-as-float", "residents", {"visit_every_days": 7.0},
     "visit_every_days", Reason.WRONG_TYPE),
    ("every-days-negative", "residents", {"visit_every_days": -1}, "visit_every_days",
     Reason.BAD_VALUE),
    ("every-days-over-max", "residents", {"visit_every_days": 10_001},
     "visit_every_days", Reason.BAD_VALUE),
    ("every-days-huge", "residents", {"visit_every_days": 10**30}, "visit_every_days",
     Reason.BAD_VALUE),
    ("deleted-as-1", "residents", {"deleted": 1}, "deleted", Reason.WRONG_TYPE),
    ("consent-as-text", "residents", {"consent": "true"}, "consent", Reason.WRONG_TYPE),
    ("hlc-a-number", "visits", {"hlc": 1764118800000}, "hlc", Reason.WRONG_TYPE),
    ("note-a-list", "visits", {"note": ["a"]}, "note", Reason.WRONG_TYPE),
    ("outcome-fine", "visits", {"outcome": "fine"}, "outcome", Reason.BAD_VALUE),
    ("outcome-upper-case", "visits", {"outcome": "MET_WELL"}, "outcome",
     Reason.BAD_VALUE),
    ("urgency-soon", "visits", {"urgency": "soon"}, "urgency", Reason.BAD_VALUE),
    ("category-empty", "visits", {"concern_category": ""}, "concern_category",
     Reason.BAD_VALUE),
    ("role-superuser", "users", {"role": "superuser"}, "role", Reason.BAD_VALUE),
    ("status-closed", "concern_updates", {"status": "closed"}, "status",
     Reason.BAD_VALUE),
    ("id-empty", "residents", {"id": ""}, "id", Reason.BAD_VALUE),
    ("origin-empty", "residents", {"origin": ""}, "origin", Reason.BAD_VALUE),
    ("group-id-empty", "residents", {"group_id": ""}, "group_id", Reason.BAD_VALUE),
    ("id-too-long", "residents", {"id": "r" * (ID_MAX_CHARS + 1)}, "id",
     Reason.TOO_LONG),
    ("name-too-long", "residents", {"name": "x" * (TEXT_MAX_CHARS + 1)}, "name",
     Reason.TOO_LONG),
    ("name-too-long-japanese", "residents", {"name": "\u3000" * (TEXT_MAX_CHARS + 1)},
     "name", Reason.TOO_LONG),
    ("note-too-long", "visits", {"note": "x" * (NOTE_MAX_CHARS + 1)}, "note",
     Reason.TOO_LONG),
    ("since-feb-30", "residents", {"since": "2026-02-30"}, "since", Reason.BAD_VALUE),
    ("since-month-13", "residents", {"since": "2026-13-01"}, "since", Reason.BAD_VALUE),
    ("since-basic-format", "residents", {"since": "20260101"}, "since",
     Reason.BAD_VALUE),
    ("since-week-date", "residents", {"since": "2026-W01-1"}, "since",
     Reason.BAD_VALUE),
    ("since-full-width-digit", "residents", {"since": "\uff12026-01-01"}, "since",
     Reason.BAD_VALUE),
    ("since-arabic-indic-digit", "residents", {"since": "2026-01-0\u0663"}, "since",
     Reason.BAD_VALUE),
    ("visited-at-24h", "visits", {"visited_at": "2026-11-25T24:00:00.000Z"},
     "visited_at", Reason.BAD_VALUE),
    ("visited-at-leap-second", "visits", {"visited_at": "2026-11-25T23:59:60.000Z"},
     "visited_at", Reason.BAD_VALUE),
    ("visited-at-feb-30", "visits", {"visited_at": "2026-02-30T01:00:00.000Z"},
     "visited_at", Reason.BAD_VALUE),
    ("visited-at-no-ms", "visits", {"visited_at": "2026-11-25T01:00:00Z"},
     "visited_at", Reason.BAD_VALUE),
    ("visited-at-offset", "visits", {"visited_at": "2026-11-25T10:00:00.000+09:00"},
     "visited_at", Reason.BAD_VALUE),
    ("visited-at-full-width-digit", "visits",
     {"visited_at": "2026-11-25T0\uff11:00:00.000Z"}, "visited_at",
     Reason.BAD_VALUE),
    ("hlc-short", "visits", {"hlc": "12345-00000"}, "hlc", Reason.BAD_VALUE),
    ("hlc-arabic-indic-digit", "visits", {"hlc": "176411880000\u0663-00000"}, "hlc",
     Reason.BAD_VALUE),
    ("hlc-full-width-digit", "visits", {"hlc": "1764118800000-0000\uff12"}, "hlc",
     Reason.BAD_VALUE),
    ("hlc-trailing-newline", "visits", {"hlc": HLC + "\n"}, "hlc",
     Reason.CONTROL_CHARS),
    ("district-not-its-own-scope", "districts", {"district_id": "district-2"},
     "district_id", Reason.BAD_VALUE),
]
# fmt: on


@pytest.mark.parametrize(
    ("kind", "fields", "field", "reason"),
    [p[1:] for p in REJECTED],
    ids=[p[0] for p in REJECTED],
)
def test_rejected(kind: str, fields: Record, field: str, reason: Reason) -> None:
    changed = {**VALID[kind], **fields}
    changed = {k: v for k, v in changed.items() if v is not MISSING}
    assert check(wire(kind, changed)) == (field, reason)


@pytest.mark.parametrize(
    "obj",
    [None, 7, "visits", [wire("visits", VISIT)], True],
    ids=["null", "number", "text", "list", "bool"],
)
def test_a_change_that_is_not_an_object_is_malformed(obj: object) -> None:
    assert check(obj) == ("", Reason.MALFORMED)


@pytest.mark.parametrize(
    "kind",
    [MISSING, None, "pets", "Visits", "visits ", ["visits"], 1],
    ids=["missing", "null", "pets", "capitalised", "trailing-space", "list", "1"],
)
def test_an_unknown_kind_is_named(kind: object) -> None:
    obj: Record = dict(VISIT)
    if kind is not MISSING:
        obj["kind"] = kind
    assert check(obj) == ("kind", Reason.UNKNOWN_KIND)


@pytest.mark.parametrize(
    "bad_id",
    ["r1\u3000", "\u3000", "r\u200b1", "r\u20281"],
    ids=["trailing-ideographic-space", "only-ideographic-space", "zero-width", "u2028"],
)
def test_an_id_must_be_printable(bad_id: str) -> None:
    assert check(wire("residents", {**RESIDENT, "id": bad_id})) == (
        "id",
        Reason.BAD_VALUE,
    )


def test_a_lone_surrogate_is_rejected() -> None:
    assert check(wire("residents", {**RESIDENT, "name": "a\ud800"})) == (
        "name",
        Reason.CONTROL_CHARS,
    )


# ---- clocks ----------------------------------------------------------------------


def hlc_at(ms: int) -> Record:
    return {**VISIT, "hlc": str(Hlc(ms, 0))}


def visited_at(ms: int) -> Record:
    return {**VISIT, "visited_at": format_datetime(at_ms(ms))}


@pytest.mark.parametrize(
    "now",
    [
        NOW,
        NOW + timedelta(microseconds=1),
        NOW + timedelta(microseconds=500),
        NOW + timedelta(microseconds=999),
        NOW - timedelta(microseconds=1),
        NOW - timedelta(microseconds=500),
        NOW.astimezone(JST),
        (NOW + timedelta(microseconds=500)).astimezone(JST),
    ],
    ids=["ms", "+1us", "+500us", "+999us", "-1us", "-500us", "jst", "jst+500us"],
)
@pytest.mark.parametrize(
    ("field", "make"), [("hlc", hlc_at), ("visited_at", visited_at)]
)
def test_a_moment_is_accepted_up_to_five_minutes_ahead(
    now: datetime, field: str, make: Callable[[int], Record]
) -> None:
    """As comparing real times: a stamp at millisecond m is the moment m.000."""
    latest = now + CLOCK_AHEAD_LIMIT
    last_ms = wall_ms(latest)  # the last whole millisecond not after latest
    assert at_ms(last_ms) <= latest < at_ms(last_ms + 1)
    for ms in (last_ms - 1, last_ms):
        assert check(wire("visits", make(ms)), now=now) == Change("visits", make(ms))
    for ms in (last_ms + 1, last_ms + 1000, last_ms + 60_000):
        assert check(wire("visits", make(ms)), now=now) == (field, Reason.CLOCK_AHEAD)


def test_exactly_five_minutes_ahead_is_accepted() -> None:
    limit = wall_ms(NOW) + 5 * 60 * 1000
    accepted = {**VISIT, "hlc": str(Hlc(limit, 99_999))}
    assert check(wire("visits", accepted)) == Change("visits", accepted)
    assert check(wire("visits", hlc_at(limit + 1))) == ("hlc", Reason.CLOCK_AHEAD)
    on_time = {**VISIT, "visited_at": "2026-11-26T01:05:00.000Z"}
    assert check(wire("visits", on_time)) == Change("visits", on_time)
    late = wire("visits", {**VISIT, "visited_at": "2026-11-26T01:05:00.001Z"})
    assert check(late) == ("visited_at", Reason.CLOCK_AHEAD)


def test_a_clock_ahead_is_told_after_the_fields() -> None:
    record = {**VISIT, "hlc": str(Hlc(wall_ms(LATEST) + 1)), "outcome": "fine"}
    assert check(wire("visits", record)) == ("outcome", Reason.BAD_VALUE)


# ---- the checks follow the declarations, whatever they declare ----------------

# A kind with a field of every sort, limits other than the defaults, and
# optional fields of types no kind of the app leaves optional.
EVERY_SORT = Kind(
    "every_sort_for_test",
    (
        declare.text("short", max_chars=3),
        declare.long_text("story", required=True),
        declare.choice("mood", Outcome, required=False),
        declare.number("level", low=-5, high=5),
        Field("count", FieldType.INT, required=False, low=2, high=9),
        Field("ticked", FieldType.BOOL, required=False),
        Field("on_day", FieldType.DATE, required=False),
        Field("at", FieldType.DATETIME, required=False),
        declare.ref("about"),
    ),
    ("district_id",),
)
EVERY_SORT_EDGES = [-6, -5, 5, 6, 1, 2, 9, 10, "abc", "abcd", "a\nb", "a\tb", None]


@pytest.fixture(scope="module")
def every_sort() -> Iterator[str]:
    register(EVERY_SORT)
    try:
        yield EVERY_SORT.table
    finally:
        unregister(EVERY_SORT.table)


def test_a_valid_record_of_every_sort_takes_the_fast_path(every_sort: str) -> None:
    record = _valid_record(every_sort)
    assert _FINE[every_sort](record)
    assert check(wire(every_sort, record)) == Change(every_sort, record)
    nulls = {**record, **dict.fromkeys(["mood", "count", "ticked", "on_day", "at"])}
    assert check(wire(every_sort, nulls)) == Change(every_sort, nulls)


@pytest.mark.parametrize("name", [f.name for f in EVERY_SORT.wire_fields])
def test_every_sort_of_field_at_its_declared_edges(every_sort: str, name: str) -> None:
    wrong = []
    for value in [*EVERY_SORT_EDGES, *EDGE_VALUES]:
        obj = wire(every_sort, {**_valid_record(every_sort), name: value})
        if (got := check(obj)) != (expected := reference(obj, now=NOW)):
            wrong.append((value, got, expected))
    assert wrong == []


@settings(max_examples=300, deadline=None)
@given(data=st.data(), now=st.sampled_from(NOWS))
def test_every_sort_of_field_fast_path_is_the_slow_path(
    every_sort: str, data: st.DataObject, now: datetime
) -> None:
    kind, record = data.draw(changes(kinds=(every_sort,)))
    obj = wire(kind, record)
    assert check(obj, now=now) == reference(obj, now=now)
    if _FINE[kind](record):
        assert slow_problems(kind, record) == []
