"""The salon organiser's use-cases on one device: today's session, ticks,
the door's counts, new members, bad input, and absence notices."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NOW, TODAY, Clock
from watchapp import store
from watchapp.domain.hlc import Hlc
from watchapp.domain.ids import derived_id
from watchapp.domain.salons import Category
from watchapp.domain.validation import ErrorCode
from watchapp.salon_state import DuplicateMember, SalonDesk, session_id
from watchapp.state import AppState, InvalidInput
from watchapp.sync.protocol import change_from_row, check_change

ORGANISER = "user-sachiko"


def row(kind_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": kind_id,
        "hlc": str(Hlc(0)),
        "origin": "seed",
        "deleted": 0,
        "district_id": "d1",
        **fields,
    }


def member_row(mid: str, name: str, kana: str, salon: str = "s1", **kw: Any) -> Any:
    return row(
        mid,
        salon_id=salon,
        name=name,
        kana=kana,
        birth_year=kw.pop("birth_year", 1945),
        consent=1,
        resident_id=kw.pop("resident_id", None),
        active=1,
    )


@pytest.fixture
def desk(tmp_path: Path) -> SalonDesk:
    db = store.open_db(tmp_path / "organiser.sqlite")
    state = AppState(db, clock=Clock(NOW))
    store.save_enrolment(
        db,
        user_id=ORGANISER,
        role="organiser",
        token="t",
        name="Sachiko",
        server_url="http://council.invalid",
    )
    salon = {
        "name": "Sakura salon",
        "place": "Hall",
        "weekday": TODAY.weekday(),
        "starts_at": "13:30",
        "absence_after": 3,
        "active": 1,
    }
    store.put_reference(db, "salons", [row("s1", **salon), row("s2", **salon)])
    store.put_reference(
        db,
        "salon_organisers",
        [row("o1", salon_id="s1", user_id=ORGANISER, active=1)],
    )
    store.put_reference(
        db,
        "salon_members",
        [
            member_row("m-yamada", "Yamada Hana", "やまだ はなこ"),
            member_row("m-yagi", "Yagi Ume", "やぎ うめ"),
            member_row("m-kato", "Kato Kin", "かとう きん", resident_id="r-aoki"),
            member_row("m-other", "Other Salon", "おざわ", salon="s2"),
        ],
    )
    return SalonDesk(state)


def queued(desk: SalonDesk, kind: str) -> list[dict[str, Any]]:
    db = desk._app.db
    return [dict(r) for r in db.query(f"SELECT * FROM [{kind}]")]


def test_two_opens_of_today_are_one_session_with_the_derived_id(
    desk: SalonDesk,
) -> None:
    first = desk.open_session("s1", TODAY)
    again = desk.open_session("s1", TODAY)
    assert first == again == derived_id("salon_sessions", ("s1", TODAY.isoformat()))
    assert len(queued(desk, "salon_sessions")) == 1


def test_nothing_is_recorded_until_a_tick(desk: SalonDesk) -> None:
    page = desk.session_page("s1", TODAY)
    assert not page.stored and page.totals.participants == 0
    assert queued(desk, "salon_sessions") == []
    desk.set_present("s1", TODAY, "m-yamada", True)
    assert desk.session_page("s1", TODAY).stored


def test_ticks_untick_and_the_door_make_the_totals(desk: SalonDesk) -> None:
    for member in ("m-yamada", "m-yagi", "m-kato"):
        desk.set_present("s1", TODAY, member, True)
    desk.set_present("s1", TODAY, "m-yagi", False)
    desk.change_headcount("s1", TODAY, Category.ELDERLY_75_84, True, 1)
    desk.change_headcount("s1", TODAY, Category.HELPER, False, 2)
    desk.change_headcount("s1", TODAY, Category.HELPER, False, -1)
    totals = desk.session_page("s1", TODAY).totals
    # Two members (first time here: new) and a new walk-in; one helper.
    assert (totals.participants, totals.new, totals.helpers) == (3, 3, 1)
    roster = {e.member.id: e.present for e in desk.roster("s1", TODAY)}
    assert roster == {"m-yamada": True, "m-yagi": False, "m-kato": True}


def test_every_record_written_passes_the_councils_checks(desk: SalonDesk) -> None:
    desk.set_present("s1", TODAY, "m-yamada", True)
    desk.change_headcount("s1", TODAY, Category.UNDER_65, False, 1)
    desk.add_member("s1", "Sato Tome", "さとう とめ", birth_year="1940")
    for kind in ("salon_sessions", "salon_marks", "salon_headcounts", "salon_members"):
        for r in queued(desk, kind):
            if r["origin"] == "seed":
                continue
            change = change_from_row(kind, r)
            checked = check_change({"kind": kind, **change.record}, now=NOW)
            assert checked == change, (kind, checked)


def test_the_roster_filters_by_reading_as_typed(desk: SalonDesk) -> None:
    def shown(typed: str) -> list[str]:
        return [e.member.id for e in desk.roster("s1", TODAY, typed)]

    assert shown("") == ["m-kato", "m-yagi", "m-yamada"]
    assert shown("や") == ["m-yagi", "m-yamada"]
    assert shown("ヤマ") == ["m-yamada"]  # katakana finds hiragana
    assert shown("はな") == ["m-yamada"]  # the given name
    assert shown("Kato") == ["m-kato"]  # part of the name
    assert shown("ん") == []


@pytest.mark.parametrize(
    ("name", "kana", "year", "field", "code"),
    [
        ("", "さとう", "", "name", ErrorCode.REQUIRED),
        ("x" * 41, "さとう", "", "name", ErrorCode.TOO_LONG),
        ("Sato", "", "", "kana", ErrorCode.REQUIRED),
        ("Sato", "さとう", "45", "birth_year", ErrorCode.BIRTH_YEAR),
        ("Sato", "さとう", "2030", "birth_year", ErrorCode.BIRTH_YEAR),
    ],
)
def test_a_bad_new_member_stores_nothing(
    desk: SalonDesk, name: str, kana: str, year: str, field: str, code: ErrorCode
) -> None:
    before = queued(desk, "salon_members")
    with pytest.raises(InvalidInput) as raised:
        desk.add_member("s1", name, kana, birth_year=year)
    assert (raised.value.errors[0].field, raised.value.errors[0].code) == (field, code)
    assert queued(desk, "salon_members") == before


def test_a_duplicate_member_is_offered_instead(desk: SalonDesk) -> None:
    with pytest.raises(DuplicateMember) as raised:
        desk.add_member("s1", "Yamada　Hana", "ヤマダ ハナコ")
    assert raised.value.member.id == "m-yamada"


def test_a_new_member_ticked_at_the_door(desk: SalonDesk) -> None:
    member = desk.add_member("s1", "Sato Tome", "さとう とめ", present_on=TODAY)
    entry = next(e for e in desk.roster("s1", TODAY) if e.member.id == member.id)
    assert entry.present and entry.new


@pytest.mark.parametrize("people", [-1, 501])
def test_a_count_out_of_range_stores_nothing(desk: SalonDesk, people: int) -> None:
    with pytest.raises(InvalidInput) as raised:
        desk.set_headcount("s1", TODAY, Category.HELPER, False, people)
    assert raised.value.errors[0].code is ErrorCode.COUNT_RANGE
    assert queued(desk, "salon_headcounts") == []


def test_other_salons_and_far_days_are_refused(desk: SalonDesk) -> None:
    with pytest.raises(InvalidInput) as raised:
        desk.set_present("s1", TODAY, "m-other", True)
    assert raised.value.errors[0].code is ErrorCode.OTHER_SALON
    with pytest.raises(InvalidInput) as raised:
        desk.open_session("s2", TODAY)  # not an organiser of s2
    assert raised.value.errors[0].code is ErrorCode.NOT_ORGANISER
    with pytest.raises(InvalidInput) as raised:
        desk.open_session("s1", TODAY + timedelta(days=2))
    assert raised.value.errors[0].code is ErrorCode.SESSION_AHEAD
    desk.open_session("s1", TODAY + timedelta(days=1))  # set up the day before
    assert len(queued(desk, "salon_sessions")) == 1


def test_a_watched_regular_who_stops_coming_gets_a_notice(desk: SalonDesk) -> None:
    """Kato (a watched resident) came to five gatherings, then missed three:
    the notice is written for the volunteer; when she comes back, it ends."""
    days = [TODAY - timedelta(weeks=w) for w in range(8, 0, -1)]
    for n, day in enumerate(days):
        desk.set_present("s1", day, "m-yamada", True)
        if n < 5:
            desk.set_present("s1", day, "m-kato", True)
    card = desk.my_salons()[0]
    assert card.absences == 1
    notice = queued(desk, "salon_absences")
    assert [(r["resident_id"], r["missed"], r["active"]) for r in notice] == [
        ("r-aoki", 3, 1)
    ]
    assert notice[0]["last_attended"] == days[4].isoformat()
    desk.set_present("s1", TODAY, "m-kato", True)
    desk.my_salons()
    assert [r["active"] for r in queued(desk, "salon_absences")] == [0]


def test_session_id_is_the_derived_one() -> None:
    assert session_id("s1", date(2026, 4, 1)) == derived_id(
        "salon_sessions", ("s1", "2026-04-01")
    )


def test_a_notice_shows_on_the_volunteers_round(rnd: Any) -> None:
    """The volunteer's phone holds the notice (not the salon): the round says
    the resident stopped coming, as a reason to visit."""
    store.put_reference(
        rnd.db,
        "salon_absences",
        [
            row(
                derived_id("salon_absences", ("s1", "m-kato")),
                salon_id="s1",
                member_id="m-kato",
                resident_id="r-aoki",
                missed=3,
                last_attended="2026-10-29",
                active=1,
            )
        ],
    )
    items = {i.resident.id: i.salon_absence for i in rnd.state.round()}
    away = items["r-aoki"]
    assert away is not None and (away.missed, away.last_attended) == (
        3,
        date(2026, 10, 29),
    )
    assert items["r-baba"] is None
