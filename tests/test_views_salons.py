"""The salon organiser's screens over a real device file: landing on today's
session, ticks, the door's counts, new members, the year."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import flet as ft
import pytest

from tests.conftest import NOW, TODAY, Clock
from tests.test_views import FakeShell, click, find, texts, walk
from watchapp import store
from watchapp.app import views_for
from watchapp.domain.hlc import Hlc
from watchapp.domain.salons import Category
from watchapp.domain.validation import ErrorCode
from watchapp.salon_state import SalonDesk, session_id
from watchapp.state import AppState
from watchapp.strings.device import JA
from watchapp.views.common import SMALL
from watchapp.views.salon_session import session_view
from watchapp.views.salon_year import year_view
from watchapp.views.salons import salons_view

ORGANISER = "user-sachiko"
LAST_WEEK = TODAY - timedelta(days=7)
DAY_ROUTE = f"/salon/s1/day/{TODAY.isoformat()}"
MEMBERS = ("m-kato", "m-yagi", "m-yamada")


def row(kind_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": kind_id,
        "hlc": str(Hlc(0)),
        "origin": "seed",
        "deleted": 0,
        "district_id": "d1",
        **fields,
    }


def member_row(mid: str, name: str, kana: str) -> dict[str, Any]:
    return row(
        mid,
        salon_id="s1",
        name=name,
        kana=kana,
        birth_year=1945,
        consent=1,
        resident_id=None,
        active=1,
    )


@pytest.fixture
def state(tmp_path: Path) -> AppState:
    """Sachiko's tablet: she organises one salon of three members, who all
    came last week."""
    db = store.open_db(tmp_path / "organiser.sqlite")
    app = AppState(db, clock=Clock(NOW))
    store.save_enrolment(
        db,
        user_id=ORGANISER,
        role="organiser",
        token="t",
        name="Sachiko",
        server_url="http://council.invalid",
    )
    store.put_reference(
        db,
        "salons",
        [
            row(
                "s1",
                name="Sakura salon",
                place="Hall",
                weekday=TODAY.weekday(),
                starts_at="13:30",
                absence_after=3,
                active=1,
            )
        ],
    )
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
            member_row("m-kato", "Kato Kin", "かとう きん"),
        ],
    )
    past = session_id("s1", LAST_WEEK)
    store.put_reference(
        db,
        "salon_sessions",
        [
            row(
                past,
                salon_id="s1",
                held_on=LAST_WEEK.isoformat(),
                starts_at="13:30",
                contact="gathering",
                programme="",
                programme_text=None,
                note=None,
                place=None,
            )
        ],
    )
    store.put_reference(
        db,
        "salon_marks",
        [
            row(f"mark-{m}", salon_id="s1", session_id=past, member_id=m, present=1)
            for m in MEMBERS
        ],
    )
    return app


@pytest.fixture
def desk(state: AppState) -> SalonDesk:
    return SalonDesk(state)


@pytest.fixture
def shell() -> FakeShell:
    return FakeShell()


def today_view(desk: SalonDesk, shell: FakeShell) -> ft.View:
    return session_view(desk, JA, shell, "s1", TODAY)


def roster_keys(view: ft.View) -> list[object]:
    return [c.key for c in find(view, "roster", ft.Column).controls]


def totals(view: ft.View) -> str:
    return find(view, "totals", ft.Text).value


def type_into(field: ft.TextField, value: str) -> None:
    field.value = value
    handler = getattr(field, "on_change")  # noqa: B009 - typed per control class
    assert handler is not None
    handler()


def test_the_organiser_lands_on_todays_session(
    state: AppState, desk: SalonDesk, shell: FakeShell
) -> None:
    home, session = views_for("/", state, JA, shell)
    assert (home.route, session.route) == ("/salons", DAY_ROUTE)
    assert texts(find(home, "salon:s1", ft.Container)) == [
        "Sakura salon",
        "場所：Hall",
        "今年度 1回開催",
        "今日のサロンを開く",
        "今年度の記録を見る",
    ]
    assert find(session, "title", ft.Text).value == (f"Sakura salon　{JA.day(TODAY)}")
    assert totals(session) == "参加 0人（うち新規 0人）・協力者 0人"
    assert not desk.session_page("s1", TODAY).stored  # nothing until a tick
    click(find(home, "open:s1", ft.Button))
    click(find(home, "year:s1", ft.Button))
    assert shell.routes == [DAY_ROUTE, "/salon/s1/year"]


@pytest.mark.parametrize(
    ("route", "stack"),
    [
        ("/salons", ["/salons"]),
        (DAY_ROUTE, ["/salons", DAY_ROUTE]),
        ("/salon/s1/year", ["/salons", "/salon/s1/year"]),
        ("/salon/s1/day/not-a-day", ["/salons"]),
    ],
)
def test_salon_routes(
    state: AppState, shell: FakeShell, route: str, stack: list[str]
) -> None:
    assert [v.route for v in views_for(route, state, JA, shell)] == stack


def test_typing_filters_the_roster_and_keeps_the_box(
    desk: SalonDesk, shell: FakeShell
) -> None:
    view = today_view(desk, shell)
    box = find(view, "filter", ft.TextField)
    assert roster_keys(view) == [f"member:{m}" for m in MEMBERS]
    type_into(box, "や")
    assert roster_keys(view) == ["member:m-yagi", "member:m-yamada"]
    assert find(view, "filter", ft.TextField) is box  # the same box: focus kept
    type_into(box, "ん")
    assert texts(find(view, "roster", ft.Column)) == ["あてはまる方がいません"]
    type_into(box, "")
    assert len(roster_keys(view)) == 3


def test_a_tap_ticks_and_a_second_tap_unticks(
    desk: SalonDesk, shell: FakeShell
) -> None:
    view = today_view(desk, shell)
    click(find(view, "member:m-yamada", ft.Button))
    button = find(view, "member:m-yamada", ft.Button)
    assert texts(button) == ["Yamada Hanaさん", "出席"]
    assert [c.icon for c in walk(button) if isinstance(c, ft.Icon)] == [
        ft.Icons.CHECK_CIRCLE
    ]
    assert totals(view) == "参加 1人（うち新規 0人）・協力者 0人"
    assert [e.present for e in desk.roster("s1", TODAY)] == [False, False, True]
    assert desk.session_page("s1", TODAY).stored

    click(find(view, "member:m-yamada", ft.Button))
    assert texts(find(view, "member:m-yamada", ft.Button)) == ["Yamada Hanaさん"]
    assert totals(view) == "参加 0人（うち新規 0人）・協力者 0人"
    assert [e.present for e in desk.roster("s1", TODAY)] == [False, False, False]


def test_a_new_walk_in_and_a_helper_at_the_door(
    desk: SalonDesk, shell: FakeShell
) -> None:
    view = today_view(desk, shell)
    for m in MEMBERS:
        click(find(view, f"member:{m}", ft.Button))
    assert totals(view) == "参加 3人（うち新規 0人）・協力者 0人"
    click(find(view, "first_time:first", ft.Button))
    click(find(view, "door:elderly_75_84:plus", ft.Button))
    assert totals(view) == "参加 4人（うち新規 1人）・協力者 0人"
    assert find(view, "door:elderly_75_84:count", ft.Text).value == "1人"
    click(find(view, "first_time:returning", ft.Button))
    assert find(view, "door:elderly_75_84:count", ft.Text).value == "0人"
    assert find(view, "door:helper:minus", ft.Button).disabled
    click(find(view, "door:helper:plus", ft.Button))
    assert totals(view) == "参加 4人（うち新規 1人）・協力者 1人"
    page = desk.session_page("s1", TODAY)
    assert (page.totals.participants, page.totals.new, page.totals.helpers) == (
        4,
        1,
        1,
    )
    click(find(view, "door:helper:minus", ft.Button))
    assert totals(view) == "参加 4人（うち新規 1人）・協力者 0人"


def test_counts_from_other_devices_are_shown_apart(
    state: AppState, desk: SalonDesk, shell: FakeShell
) -> None:
    desk.open_session("s1", TODAY)
    store.put_reference(
        state.db,
        "salon_headcounts",
        [
            row(
                "h-other",
                salon_id="s1",
                session_id=session_id("s1", TODAY),
                category="helper",
                first_time=0,
                counted_on="device-b",
                people=2,
            )
        ],
    )
    view = today_view(desk, shell)
    assert find(view, "door:helper:others", ft.Text).value == "他の端末 2"
    assert find(view, "door:helper:count", ft.Text).value == "0人"
    assert totals(view) == "参加 0人（うち新規 0人）・協力者 2人"


def test_a_new_member_without_a_name_shows_japanese_errors_and_stores_nothing(
    desk: SalonDesk, shell: FakeShell
) -> None:
    view = today_view(desk, shell)
    form = find(view, "add_form", ft.Column)
    assert not form.visible
    click(find(view, "add_open", ft.Button))
    assert form.visible
    click(find(view, "add_save", ft.Button))
    assert find(view, "new_name", ft.TextField).error == "入力してください"
    assert find(view, "new_kana", ft.TextField).error == "入力してください"
    find(view, "new_name", ft.TextField).value = "Sato Tome"
    find(view, "new_kana", ft.TextField).value = "さとう とめ"
    find(view, "new_birth_year", ft.TextField).value = "45"
    click(find(view, "add_save", ft.Button))
    assert find(view, "new_name", ft.TextField).error is None
    assert find(view, "new_birth_year", ft.TextField).error == (
        "生まれ年は西暦4けたで入れてください（例：1945）"
    )
    assert [e.member.id for e in desk.roster("s1", TODAY)] == list(MEMBERS)
    assert not desk.session_page("s1", TODAY).stored


def test_a_new_member_is_added_and_ticked(desk: SalonDesk, shell: FakeShell) -> None:
    view = today_view(desk, shell)
    click(find(view, "add_open", ft.Button))
    find(view, "new_name", ft.TextField).value = "Sato Tome"
    find(view, "new_kana", ft.TextField).value = "さとう とめ"
    find(view, "new_birth_year", ft.TextField).value = "1950"
    find(view, "new_consent", ft.Checkbox).value = True
    click(find(view, "add_save", ft.Button))
    assert shell.toasts[-1][0] == "Sato Tomeさんを名簿に追加し、出席にしました"
    [sato] = [e for e in desk.roster("s1", TODAY) if e.member.name == "Sato Tome"]
    assert (sato.present, sato.new, sato.member.consent) == (True, True, True)
    assert texts(find(view, f"member:{sato.member.id}", ft.Button)) == [
        "Sato Tomeさん",
        "新",
        "出席",
    ]
    assert totals(view) == "参加 1人（うち新規 1人）・協力者 0人"
    assert not find(view, "add_form", ft.Column).visible
    assert find(view, "new_name", ft.TextField).value == ""


def test_a_duplicate_offers_the_member_on_the_roster(
    desk: SalonDesk, shell: FakeShell
) -> None:
    view = today_view(desk, shell)
    click(find(view, "add_open", ft.Button))
    find(view, "new_name", ft.TextField).value = "Yamada　Hana"
    find(view, "new_kana", ft.TextField).value = "ヤマダ ハナコ"
    click(find(view, "add_save", ft.Button))
    assert find(view, "duplicate", ft.Column).visible
    assert find(view, "duplicate_text", ft.Text).value == (
        "同じお名前の方が名簿にいます：Yamada Hanaさん（やまだ はなこ）"
    )
    click(find(view, "tick_existing", ft.Button))
    assert shell.toasts[-1][0] == "Yamada Hanaさんを出席にしました"
    assert [(e.member.id, e.present) for e in desk.roster("s1", TODAY)] == [
        ("m-kato", False),
        ("m-yagi", False),
        ("m-yamada", True),
    ]
    assert texts(find(view, "member:m-yamada", ft.Button))[-1] == "出席"


def test_the_year_month_by_month(desk: SalonDesk, shell: FakeShell) -> None:
    desk.set_present("s1", TODAY, "m-yamada", True)
    desk.change_headcount("s1", TODAY, Category.HELPER, False, 2)
    view = year_view(desk, JA, shell, "s1")
    assert find(view, "title", ft.Text).value == "Sakura salon　2026年度"
    assert texts(find(view, "month_header", ft.Row)) == [
        "月",
        "開催",
        "延べ人数",
        "協力者",
    ]
    assert texts(find(view, "month:2026-11-01", ft.Row)) == [
        "11月",
        "2回",
        "4人",
        "2人",
    ]
    assert texts(find(view, "month:2026-04-01", ft.Row)) == ["4月", "0回", "0人", "0人"]
    assert texts(find(view, "year_total", ft.Row)) == ["合計", "2回", "4人", "2人"]
    assert find(view, "grant", ft.Text).value == "今年度 2回開催"
    assert find(view, "distinct", ft.Text).value == "実人数 3人（名簿 3人）"
    assert texts(find(view, "absences", ft.Column)) == ["続けてお休みの方はいません"]
    click(find(view, "back", ft.Button))
    assert shell.routes == ["/salons"]


def test_every_salon_screen_uses_big_text_and_big_targets(
    state: AppState, desk: SalonDesk, shell: FakeShell
) -> None:
    session = today_view(desk, shell)
    click(find(session, "member:m-yamada", ft.Button))
    click(find(session, "add_open", ft.Button))
    find(session, "new_name", ft.TextField).value = "Yamada Hana"
    find(session, "new_kana", ft.TextField).value = "やまだ はなこ"
    click(find(session, "add_save", ft.Button))
    screens = [
        salons_view(desk, state, JA, shell),
        session,
        year_view(desk, JA, shell, "s1"),
        session_view(desk, JA, shell, "s-nowhere", TODAY),
    ]
    for screen in screens:
        for c in walk(screen):
            if isinstance(c, ft.Text):
                assert c.size is not None and c.size >= SMALL, (screen.route, c.value)
            if isinstance(c, ft.Button):
                assert c.height is not None and c.height >= 48, (screen.route, c.key)
            if isinstance(c, ft.TextField):
                assert c.text_size is not None and c.text_size >= SMALL
            if isinstance(c, ft.Checkbox):
                style = c.label_style
                assert style is not None and (style.size or 0) >= SMALL
    assert texts(screens[-1])[0] == JA.errors[ErrorCode.NOT_ORGANISER]
