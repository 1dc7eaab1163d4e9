from __future__ import annotations

from datetime import date, datetime

import pytest

from watchapp.domain.model import JST, Outcome, Resident
from watchapp.domain.rules import (
    Due,
    DueState,
    counts_as_contact,
    due_status,
    local_date,
    next_due,
    round_items,
)


def resident(rid: str = "r1", **kw: object) -> Resident:
    fields: dict[str, object] = {
        "id": rid,
        "district_id": "d1",
        "group_id": "g1",
        "name": rid,
        "kana": rid,
        "visit_every_days": 7,
        "consent": True,
        "evacuation_register": False,
        "since": date(2026, 1, 1),
    }
    fields.update(kw)
    return Resident(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("every", "last", "since", "expected"),
    [
        (7, date(2026, 11, 1), date(2026, 1, 1), date(2026, 11, 8)),
        (14, date(2026, 11, 1), date(2026, 1, 1), date(2026, 11, 15)),
        (30, date(2026, 1, 31), date(2025, 1, 1), date(2026, 3, 2)),
        (7, None, date(2026, 11, 20), date(2026, 11, 20)),  # never reached: due at once
    ],
)
def test_next_due(every: int, last: date | None, since: date, expected: date) -> None:
    assert next_due(resident(visit_every_days=every, since=since), last) == expected


@pytest.mark.parametrize(
    ("due_on", "today", "expected"),
    [
        (date(2026, 11, 20), date(2026, 11, 26), Due(date(2026, 11, 20), 6)),
        (date(2026, 11, 26), date(2026, 11, 26), Due(date(2026, 11, 26), 0)),
        (date(2026, 11, 30), date(2026, 11, 26), Due(date(2026, 11, 30), -4)),
    ],
)
def test_due_status(due_on: date, today: date, expected: Due) -> None:
    assert due_status(due_on, today=today) == expected


@pytest.mark.parametrize(
    ("days", "state"),
    [(6, DueState.OVERDUE), (0, DueState.TODAY), (-1, DueState.UPCOMING)],
)
def test_due_state(days: int, state: DueState) -> None:
    assert Due(date(2026, 1, 1), days).state is state


@pytest.mark.parametrize(
    ("outcome", "contact"),
    [
        (Outcome.MET_WELL, True),
        (Outcome.MET_CONCERN, True),
        (Outcome.PHONE, True),
        (Outcome.IN_CARE, True),
        (Outcome.DECLINED, True),
        (Outcome.NOT_HOME, False),
    ],
)
def test_only_not_at_home_leaves_the_resident_due(
    outcome: Outcome, contact: bool
) -> None:
    assert counts_as_contact(outcome) is contact


def test_local_date_is_kurume_time() -> None:
    # 23:30 UTC on the 25th is 08:30 on the 26th in Kurume.
    moment = datetime.fromisoformat("2026-11-25T23:30:00+00:00")
    assert local_date(moment) == date(2026, 11, 26)
    assert local_date(moment.astimezone(JST)) == date(2026, 11, 26)


def test_round_order_most_overdue_first_then_register_then_kana() -> None:
    today = date(2026, 11, 26)
    rows = [
        (resident("late", kana="b"), date(2026, 11, 10), Outcome.MET_WELL),  # 9 over
        (resident("soon", kana="a"), date(2026, 11, 24), Outcome.MET_WELL),  # in 5
        (resident("tie-b", kana="b"), date(2026, 11, 15), None),  # 4 over
        (resident("tie-a", kana="a"), date(2026, 11, 15), None),  # 4 over
        (
            resident("tie-reg", kana="z", evacuation_register=True),
            date(2026, 11, 15),
            None,
        ),
        (resident("never", since=date(2026, 11, 1)), None, None),  # 25 over
        (resident("inactive", active=False), None, None),
    ]
    items = round_items(rows, today=today)
    assert [i.resident.id for i in items] == [
        "never",
        "late",
        "tie-reg",
        "tie-a",
        "tie-b",
        "soon",
    ]
    assert [i.due.days for i in items] == [25, 9, 4, 4, 4, -5]
