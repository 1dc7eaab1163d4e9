from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchapp.domain.model import (
    JST,
    Concern,
    ConcernCategory,
    Outcome,
    Resident,
    Urgency,
    Visit,
)
from watchapp.domain.validation import (
    NOTE_MAX_CHARS,
    ErrorCode,
    FieldError,
    check_profile,
    check_visit,
    clean_text,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=JST)
RESIDENT = Resident(
    id="r1",
    district_id="d1",
    group_id="g1",
    name="Aoki",
    kana="aoki",
    visit_every_days=7,
    consent=True,
    evacuation_register=False,
    since=date(2026, 1, 1),
)
VISIT = Visit(
    id="v1",
    resident_id="r1",
    district_id="d1",
    group_id="g1",
    user_id="u1",
    visited_at=NOW,
    outcome=Outcome.MET_WELL,
)
CONCERN = Concern(ConcernCategory.HEALTH, Urgency.NORMAL)


@pytest.mark.parametrize(
    ("change", "resident", "errors"),
    [
        ({}, RESIDENT, []),
        ({"visited_at": NOW - timedelta(days=30)}, RESIDENT, []),
        ({"visited_at": NOW + timedelta(minutes=4)}, RESIDENT, []),  # clock skew
        (
            {"visited_at": NOW + timedelta(minutes=6)},
            RESIDENT,
            [FieldError("visited_at", ErrorCode.IN_FUTURE)],
        ),
        (
            {"visited_at": NOW + timedelta(days=365 * 20)},
            RESIDENT,
            [FieldError("visited_at", ErrorCode.IN_FUTURE)],
        ),
        (
            {"visited_at": NOW - timedelta(days=30, minutes=1)},
            RESIDENT,
            [FieldError("visited_at", ErrorCode.TOO_OLD, 30)],
        ),
        (
            {"visited_at": datetime(2026, 11, 26, 10, 0)},
            RESIDENT,
            [FieldError("visited_at", ErrorCode.NO_TIMEZONE)],
        ),
        ({}, None, [FieldError("resident_id", ErrorCode.UNKNOWN_RESIDENT)]),
        (
            {},
            replace(RESIDENT, active=False),
            [FieldError("resident_id", ErrorCode.INACTIVE_RESIDENT)],
        ),
        (
            {"outcome": Outcome.MET_CONCERN},
            RESIDENT,
            [FieldError("concern", ErrorCode.CONCERN_REQUIRED)],
        ),
        ({"outcome": Outcome.MET_CONCERN, "concern": CONCERN}, RESIDENT, []),
        (
            {"concern": CONCERN},
            RESIDENT,
            [FieldError("concern", ErrorCode.CONCERN_NOT_ALLOWED)],
        ),
        (
            {
                "outcome": Outcome.MET_CONCERN,
                "concern": Concern(ConcernCategory.OTHER, Urgency.URGENT),
            },
            RESIDENT,
            [FieldError("note", ErrorCode.REQUIRED)],
        ),
        (
            {
                "outcome": Outcome.MET_CONCERN,
                "concern": Concern(ConcernCategory.OTHER, Urgency.URGENT),
                "note": "neighbour worried",
            },
            RESIDENT,
            [],
        ),
        ({"note": "x" * NOTE_MAX_CHARS}, RESIDENT, []),
        (
            {"note": "x" * (NOTE_MAX_CHARS + 1)},
            RESIDENT,
            [FieldError("note", ErrorCode.TOO_LONG, NOTE_MAX_CHARS)],
        ),
        ({"note": "line one\nline two\tend"}, RESIDENT, []),
        (
            {"note": "bell\x07"},
            RESIDENT,
            [FieldError("note", ErrorCode.CONTROL_CHARS)],
        ),
        (
            {"note": "null\x00byte"},
            RESIDENT,
            [FieldError("note", ErrorCode.CONTROL_CHARS)],
        ),
        (
            {"note": "abc\u202edcb"},  # right-to-left override
            RESIDENT,
            [FieldError("note", ErrorCode.CONTROL_CHARS)],
        ),
        (
            {"visited_at": NOW + timedelta(days=2), "note": "\x1b[31m"},
            None,
            [
                FieldError("resident_id", ErrorCode.UNKNOWN_RESIDENT),
                FieldError("visited_at", ErrorCode.IN_FUTURE),
                FieldError("note", ErrorCode.CONTROL_CHARS),
            ],
        ),
    ],
)
def test_check_visit(
    change: dict[str, object], resident: Resident | None, errors: list[FieldError]
) -> None:
    visit = replace(VISIT, **change)  # type: ignore[arg-type]
    assert check_visit(visit, resident=resident, now=NOW) == errors


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  note  ", "note"),
        ("\u3000note\u3000", "note"),  # ideographic spaces
        ("a\r\nb\rc", "a\nb\nc"),
        ("\u30ab\u3099", "\u30ac"),  # NFC: ka + dakuten -> ga
        ("   ", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("name", "url", "code", "errors"),
    [
        ("Hanako", "", "", []),
        ("Hanako", "https://council.example", "ABCD1234", []),
        ("", "", "", [FieldError("name", ErrorCode.REQUIRED)]),
        ("x" * 41, "", "", [FieldError("name", ErrorCode.TOO_LONG, 40)]),
        ("Ha\nnako", "", "", [FieldError("name", ErrorCode.CONTROL_CHARS)]),
        (
            "Hanako",
            "council.example",
            "",
            [FieldError("server_url", ErrorCode.BAD_URL)],
        ),
        (
            "Hanako",
            "https://council example",
            "",
            [FieldError("server_url", ErrorCode.BAD_URL)],
        ),
        ("Hanako", "", "C" * 33, [FieldError("invite_code", ErrorCode.TOO_LONG, 32)]),
    ],
)
def test_check_profile(
    name: str, url: str, code: str, errors: list[FieldError]
) -> None:
    assert check_profile(name, url, code) == errors


@given(st.text(max_size=3000))
def test_any_note_is_either_accepted_or_named(note: str) -> None:
    visit = replace(VISIT, note=clean_text(note))
    for error in check_visit(visit, resident=RESIDENT, now=NOW):
        assert error.field == "note"
        assert error.code in {ErrorCode.TOO_LONG, ErrorCode.CONTROL_CHARS}
