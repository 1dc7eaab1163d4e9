from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import NOW, TODAY, Round
from watchapp import store
from watchapp.domain.model import Concern, ConcernCategory, Outcome, Urgency
from watchapp.domain.validation import ErrorCode, FieldError
from watchapp.state import AppState, InvalidInput, NotEnrolled, Status, UnknownResident


def order(rnd: Round) -> list[tuple[str, int]]:
    return [(i.resident.id, i.due.days) for i in rnd.state.round()]


def test_round_is_most_overdue_first(rnd: Round) -> None:
    assert order(rnd) == [("r-chiba", 16), ("r-aoki", 3), ("r-baba", -2)]


def test_met_and_well_reorders_the_round_and_counts_as_pending(rnd: Round) -> None:
    seen: list[Status] = []
    rnd.state.subscribe(lambda: seen.append(rnd.state.status()))
    visit = rnd.state.record_visit("r-chiba", Outcome.MET_WELL)
    assert visit.visited_at == NOW
    assert order(rnd) == [("r-aoki", 3), ("r-baba", -2), ("r-chiba", -7)]
    assert seen == [Status(pending=1, last_sync_at=None)]


def test_not_at_home_keeps_the_resident_due(rnd: Round) -> None:
    rnd.state.record_visit("r-aoki", Outcome.NOT_HOME)
    assert order(rnd)[1] == ("r-aoki", 3)


def test_visit_time_can_be_moved_back(rnd: Round) -> None:
    rnd.state.record_visit(
        "r-chiba", Outcome.MET_WELL, visited_at=NOW - timedelta(days=3)
    )
    assert ("r-chiba", -4) in order(rnd)


def test_concern_is_recorded_with_category_urgency_and_note(rnd: Round) -> None:
    visit = rnd.state.record_visit(
        "r-aoki",
        Outcome.MET_CONCERN,
        concern=Concern(ConcernCategory.MEMORY, Urgency.URGENT),
        note="  repeats the same story \r\n twice ",
    )
    page = rnd.state.resident_page("r-aoki")
    assert [c.visit for c in page.concerns] == [visit]
    assert visit.note == "repeats the same story \n twice"
    assert page.visits[0] == visit


def test_undo_takes_the_visit_back_but_still_syncs_the_tombstone(rnd: Round) -> None:
    visit = rnd.state.record_visit("r-chiba", Outcome.MET_WELL)
    rnd.state.undo_visit(visit)
    assert order(rnd)[0] == ("r-chiba", 16)
    assert rnd.state.status().pending == 1
    assert visit.id not in {e.visit.id for e in rnd.state.my_visits()}


BAD = [
    (
        {"visited_at": NOW + timedelta(hours=1)},
        [FieldError("visited_at", ErrorCode.IN_FUTURE)],
    ),
    (
        {"visited_at": NOW - timedelta(days=31)},
        [FieldError("visited_at", ErrorCode.TOO_OLD, 30)],
    ),
    ({"note": "x" * 2001}, [FieldError("note", ErrorCode.TOO_LONG, 2000)]),
    ({"note": "tab\tok but bell\x07"}, [FieldError("note", ErrorCode.CONTROL_CHARS)]),
    (
        {
            "outcome": Outcome.MET_CONCERN,
            "concern": Concern(ConcernCategory.OTHER, Urgency.NORMAL),
            "note": " \u3000 ",
        },
        [FieldError("note", ErrorCode.REQUIRED)],
    ),
    (
        {"resident_id": "r-nobody"},
        [FieldError("resident_id", ErrorCode.UNKNOWN_RESIDENT)],
    ),
    (
        {"resident_id": "r-gone"},
        [FieldError("resident_id", ErrorCode.INACTIVE_RESIDENT)],
    ),
]


@pytest.mark.parametrize(("change", "errors"), BAD)
def test_bad_input_is_named_and_stores_nothing(
    rnd: Round, change: dict[str, object], errors: list[FieldError]
) -> None:
    before = list(rnd.db.query("SELECT * FROM visits ORDER BY id"))
    kwargs: dict[str, object] = {"resident_id": "r-aoki", "outcome": Outcome.MET_WELL}
    kwargs.update(change)
    resident_id = str(kwargs.pop("resident_id"))
    outcome = kwargs.pop("outcome")
    assert isinstance(outcome, Outcome)
    with pytest.raises(InvalidInput) as raised:
        rnd.state.record_visit(resident_id, outcome, **kwargs)  # type: ignore[arg-type]
    assert list(raised.value.errors) == errors
    assert list(rnd.db.query("SELECT * FROM visits ORDER BY id")) == before
    assert rnd.state.status().pending == 0


def test_resident_page_of_an_unknown_resident(rnd: Round) -> None:
    with pytest.raises(UnknownResident):
        rnd.state.resident_page("r-nobody")


def test_my_visits_newest_first_with_names(rnd: Round) -> None:
    rnd.state.record_visit("r-baba", Outcome.PHONE, visited_at=NOW - timedelta(hours=3))
    rnd.state.record_visit("r-chiba", Outcome.MET_WELL)
    assert [
        (e.resident_name, e.visit.outcome) for e in rnd.state.my_visits(limit=3)
    ] == [
        ("Chiba Tome", Outcome.MET_WELL),
        ("Baba Kin", Outcome.PHONE),
        ("Aoki Fumi", Outcome.NOT_HOME),
    ]


def test_first_run_profile(tmp_path: Path) -> None:
    state = AppState(store.open_db(tmp_path / "new.sqlite"))
    assert state.profile() is None
    assert state.round() == []
    with pytest.raises(NotEnrolled):
        state.record_visit("r-aoki", Outcome.MET_WELL)
    with pytest.raises(InvalidInput) as raised:
        state.save_profile("  ", "ftp://x", "")
    assert list(raised.value.errors) == [
        FieldError("name", ErrorCode.REQUIRED),
        FieldError("server_url", ErrorCode.BAD_URL),
    ]
    assert state.profile() is None
    profile = state.save_profile(" Hanako ", "https://council.example/", "ab cd-12")
    assert (profile.name, profile.server_url, profile.invite_code) == (
        "Hanako",
        "https://council.example/",
        "ABCD-12",
    )


def test_today_follows_kurume_not_utc(rnd: Round) -> None:
    rnd.clock.now = NOW.replace(hour=0, minute=30)  # 15:30 UTC the day before
    assert rnd.state.today() == TODAY
