"""Each screen built over a real AppState (SQLite in a temp dir), handlers called."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import flet as ft
import pytest

from tests.conftest import NOW, Round
from tests.support import BASE_URL, Council, assignment_record, fast_retry
from watchapp import store
from watchapp.app import views_for
from watchapp.domain.model import Concern, ConcernCategory, Outcome, Urgency
from watchapp.state import AppState, SyncState
from watchapp.strings.device import JA
from watchapp.sync.protocol import EnrolmentProblem
from watchapp.views.common import SMALL, TOUCH
from watchapp.views.concern import concern_view
from watchapp.views.history import history_view
from watchapp.views.profile import profile_view
from watchapp.views.resident import resident_view
from watchapp.views.round import round_view

C = TypeVar("C", bound=ft.BaseControl)


class FakeShell:
    def __init__(self) -> None:
        self.routes: list[str] = []
        self.toasts: list[tuple[str, tuple[str, Callable[[], None]] | None]] = []

    def go(self, route: str) -> None:
        self.routes.append(route)

    def toast(
        self, message: str, action: tuple[str, Callable[[], None]] | None = None
    ) -> None:
        self.toasts.append((message, action))


def walk(control: Any) -> Iterator[ft.BaseControl]:
    if isinstance(control, ft.BaseControl):
        yield control
        for f in dataclasses.fields(control):
            if f.name.startswith("_") or f.name == "parent":
                continue
            yield from walk(getattr(control, f.name, None))
    elif isinstance(control, list):
        for item in control:
            yield from walk(item)


def find(root: ft.BaseControl, key: str, kind: type[C]) -> C:
    found = [c for c in walk(root) if c.key == key]
    assert len(found) == 1, f"{key}: {len(found)} controls"
    assert isinstance(found[0], kind)
    return found[0]


def texts(root: ft.BaseControl) -> list[str]:
    return [c.value for c in walk(root) if isinstance(c, ft.Text) and c.value]


def click(control: ft.BaseControl) -> None:
    """What Flet does on a tap: call the handler, awaiting it if it is async."""
    handler = getattr(control, "on_click")  # noqa: B009 - typed per control class
    assert handler is not None
    result = handler()
    if inspect.iscoroutine(result):
        asyncio.run(result)


@pytest.fixture
def shell() -> FakeShell:
    return FakeShell()


def test_round_lists_most_overdue_first_with_words(
    rnd: Round, shell: FakeShell
) -> None:
    view = round_view(rnd.state, JA, shell)
    assert [
        find(view, f"due:{rid}", ft.Text).value
        for rid in rnd.ids.values()
        if rid != "r-gone"
    ] == [
        "3日 超過",
        "あと2日",
        "16日 超過",
    ]
    rows = find(view, "round", ft.Column).controls
    assert [r.key for r in rows] == [
        "resident:r-chiba",
        "resident:r-aoki",
        "resident:r-baba",
    ]
    assert (
        find(view, "status", ft.Text).value
        == "未送信はありません ・ まだ同期していません"
    )
    click(rows[0])
    assert shell.routes == ["/resident/r-chiba"]


def test_met_and_well_in_three_taps(rnd: Round, shell: FakeShell) -> None:
    """Launch, tap the first name, tap the big button: saved."""
    first = find(round_view(rnd.state, JA, shell), "round", ft.Column).controls[0]
    click(first)
    page = resident_view(rnd.state, JA, shell, shell.routes[-1].split("/")[-1])
    click(find(page, "outcome:met_well", ft.Button))
    assert shell.routes == ["/resident/r-chiba", "/"]
    assert shell.toasts[0][0] == "Chiba Tomeさんの訪問を保存しました"
    after = round_view(rnd.state, JA, shell)
    assert [r.key for r in find(after, "round", ft.Column).controls][
        -1
    ] == "resident:r-chiba"
    assert find(after, "status", ft.Text).value.startswith("端末に保存済み・未送信 1件")


def test_undo_from_the_snackbar(rnd: Round, shell: FakeShell) -> None:
    page = resident_view(rnd.state, JA, shell, "r-chiba")
    click(find(page, "outcome:met_well", ft.Button))
    action = shell.toasts[0][1]
    assert action is not None and action[0] == "取り消す"
    action[1]()
    assert shell.toasts[-1][0] == "取り消しました"
    assert rnd.state.round()[0].resident.id == "r-chiba"


def test_moving_the_visit_time_back(rnd: Round, shell: FakeShell) -> None:
    page = resident_view(rnd.state, JA, shell, "r-chiba")
    click(find(page, "visit_time:24", ft.Button))
    click(find(page, "outcome:met_well", ft.Button))
    assert rnd.state.my_visits()[0].visit.visited_at == NOW - timedelta(hours=24)


@pytest.mark.parametrize(
    "outcome", [Outcome.NOT_HOME, Outcome.PHONE, Outcome.IN_CARE, Outcome.DECLINED]
)
def test_other_outcomes_save_with_one_tap(
    rnd: Round, shell: FakeShell, outcome: Outcome
) -> None:
    click(
        find(
            resident_view(rnd.state, JA, shell, "r-baba"),
            f"outcome:{outcome}",
            ft.Button,
        )
    )
    assert rnd.state.my_visits()[0].visit.outcome is outcome
    assert shell.routes == ["/"]


def test_concern_path(rnd: Round, shell: FakeShell) -> None:
    page = resident_view(rnd.state, JA, shell, "r-aoki")
    click(find(page, "visit_time:3", ft.Button))
    click(find(page, "outcome:met_concern", ft.Button))
    assert shell.routes == ["/resident/r-aoki/concern?h=3"]
    form = concern_view(rnd.state, JA, shell, "r-aoki", hours=3)
    click(find(form, "category:memory", ft.Button))
    click(find(form, "urgency:urgent", ft.Button))
    find(form, "note", ft.TextField).value = "forgot the appointment"
    click(find(form, "save", ft.Button))
    assert shell.routes[-1] == "/"
    visit = rnd.state.my_visits()[0].visit
    assert (visit.outcome, visit.concern, visit.note) == (
        Outcome.MET_CONCERN,
        Concern(ConcernCategory.MEMORY, Urgency.URGENT),
        "forgot the appointment",
    )
    again = resident_view(rnd.state, JA, shell, "r-aoki")
    assert find(again, f"concern:{visit.id}", ft.Text).value.endswith(
        "物忘れ・急ぎ・未対応\nforgot the appointment"
    )


def test_concern_errors_are_japanese_and_store_nothing(
    rnd: Round, shell: FakeShell
) -> None:
    form = concern_view(rnd.state, JA, shell, "r-aoki")
    click(find(form, "save", ft.Button))  # no category chosen
    error = find(form, "error", ft.Text)
    assert (error.value, error.visible) == ("どんなことか選んでください", True)
    click(find(form, "category:other", ft.Button))
    assert (
        find(form, "note", ft.TextField).label
        == "メモ（「その他」のときは書いてください）"
    )
    click(find(form, "save", ft.Button))
    note = find(form, "note", ft.TextField)
    assert note.error == "「その他」を選んだときは、どんなことかメモに書いてください"
    note.value = "x" * 2001
    click(find(form, "save", ft.Button))
    assert note.error == "2000文字までで書いてください"
    note.value = "bell\x07"
    click(find(form, "save", ft.Button))
    assert note.error == "使えない文字が入っています。書き直してください"
    assert rnd.state.status().pending == 0
    assert shell.routes == []


def test_unknown_resident_page(rnd: Round, shell: FakeShell) -> None:
    view = resident_view(rnd.state, JA, shell, "r-nobody")
    assert find(view, "error", ft.Text).value == "この方の情報は端末にありません"
    click(find(view, "back", ft.Button))
    assert shell.routes == ["/"]


def test_history_lists_my_visits(rnd: Round, shell: FakeShell) -> None:
    rnd.state.record_visit("r-baba", Outcome.PHONE)
    view = history_view(rnd.state, JA, shell)
    rows = find(view, "history", ft.Column).controls
    assert texts(rows[0]) == ["Baba Kinさん　電話で確認した", "今日 10:00"]
    click(rows[0])
    assert shell.routes == ["/resident/r-baba"]


def test_first_run_shows_the_profile_then_the_round(
    tmp_path: Path, shell: FakeShell
) -> None:
    state = AppState(store.open_db(tmp_path / "new.sqlite"))
    [view] = views_for("/", state, JA, shell)
    assert view.route == "/profile" and view.navigation_bar is None
    click(find(view, "save", ft.Button))
    assert find(view, "name", ft.TextField).error == "入力してください"
    find(view, "name", ft.TextField).value = "Hanako"
    find(view, "server_url", ft.TextField).value = "council.example"
    click(find(view, "save", ft.Button))
    assert find(view, "server_url", ft.TextField).error == (
        "http:// か https:// で始まるアドレスを入れてください"
    )
    find(view, "server_url", ft.TextField).value = "https://council.example"
    click(find(view, "save", ft.Button))
    assert shell.routes == ["/"]
    [round_screen] = views_for("/", state, JA, shell)
    assert texts(find(round_screen, "round", ft.Column)) == [JA.round_empty]


@pytest.mark.parametrize(
    ("route", "stack"),
    [
        ("/", ["/"]),
        ("/history", ["/history"]),
        ("/profile", ["/profile"]),
        ("/resident/r-aoki", ["/", "/resident/r-aoki"]),
        (
            "/resident/r-aoki/concern?h=24",
            ["/", "/resident/r-aoki", "/resident/r-aoki/concern"],
        ),
        (
            "/resident/r-aoki/concern?h=999",
            ["/", "/resident/r-aoki", "/resident/r-aoki/concern"],
        ),
        ("/nowhere", ["/"]),
    ],
)
def test_routes(rnd: Round, shell: FakeShell, route: str, stack: list[str]) -> None:
    assert [v.route for v in views_for(route, rnd.state, JA, shell)] == stack


def test_every_screen_uses_big_text_and_big_targets(
    rnd: Round, shell: FakeShell
) -> None:
    rnd.state.record_visit("r-baba", Outcome.PHONE)
    screens = [
        round_view(rnd.state, JA, shell),
        resident_view(rnd.state, JA, shell, "r-aoki"),
        concern_view(rnd.state, JA, shell, "r-aoki"),
        history_view(rnd.state, JA, shell),
        profile_view(rnd.state, JA, shell),
    ]
    for screen in screens:
        for c in walk(screen):
            if isinstance(c, ft.Text):
                assert c.size is not None and c.size >= SMALL, (screen.route, c.value)
            if isinstance(c, ft.Button):
                assert c.height is not None and c.height >= 48, (screen.route, c.key)
            if isinstance(c, ft.TextField):
                assert c.text_size is not None and c.text_size >= SMALL
    assert TOUCH >= 48


@pytest.fixture
def council(tmp_path: Path) -> Council:
    return Council(tmp_path / "council.sqlite")


def fresh_state(council: Council, path: Path) -> AppState:
    return AppState(
        store.open_db(path),
        connect=lambda url, token: council.client(token),
        retry=fast_retry,
        clock=council.clock,
    )


def test_first_run_enrols_with_the_code_and_lands_on_the_round(
    council: Council, tmp_path: Path, shell: FakeShell
) -> None:
    state = fresh_state(council, tmp_path / "phone.sqlite")
    [view] = views_for("/", state, JA, shell, BASE_URL)
    assert find(view, "server_url", ft.TextField).value == BASE_URL
    find(view, "name", ft.TextField).value = "Hanako"
    find(view, "invite_code", ft.TextField).value = "wrong-code"
    click(find(view, "save", ft.Button))
    assert (
        find(view, "invite_code", ft.TextField).error
        == JA.enrol_problems[EnrolmentProblem.INVITATION_UNKNOWN]
    )
    code = council.invite("vol1")
    find(view, "invite_code", ft.TextField).value = f"{code[:5]}-{code[5:].lower()}"
    click(find(view, "save", ft.Button))
    assert shell.toasts[-1][0] == "登録しました。担当の方の情報を受け取りました"
    [round_screen] = views_for("/", state, JA, shell)
    rows = find(round_screen, "round", ft.Column).controls
    assert [r.key for r in rows] == ["resident:r1", "resident:r2"]


def test_send_now_and_the_status_line(
    council: Council, tmp_path: Path, shell: FakeShell
) -> None:
    state = fresh_state(council, tmp_path / "phone.sqlite")
    asyncio.run(state.enrol("Hanako", BASE_URL, council.invite("vol1")))
    state.record_visit("r1", Outcome.MET_WELL)
    view = round_view(state, JA, shell)
    assert find(view, "status", ft.Text).value.startswith("端末に保存済み・未送信 1件")
    click(find(view, "sync_now", ft.Button))
    assert shell.toasts[-1][0] == JA.sync_results[SyncState.OK]
    again = round_view(state, JA, shell)
    assert find(again, "status", ft.Text).value.startswith(
        "未送信はありません ・ 最終同期"
    )


def test_right_after_enrolling_the_status_line_says_it_is_syncing(
    council: Council, tmp_path: Path, shell: FakeShell
) -> None:
    """Not "not synced yet" while the first sync is on its way."""
    state = fresh_state(council, tmp_path / "phone.sqlite")
    seen: list[str] = []
    state.subscribe(
        lambda: seen.append(find(round_view(state, JA, shell), "status", ft.Text).value)
    )
    asyncio.run(state.enrol("Hanako", BASE_URL, council.invite("vol1")))
    assert seen[0] == "未送信はありません ・ 同期しています…"
    assert seen[-1].startswith("未送信はありません ・ 最終同期")
    assert not any("まだ同期していません" in line for line in seen)


def test_refused_records_are_listed_in_japanese(
    council: Council, tmp_path: Path, shell: FakeShell
) -> None:
    state = fresh_state(council, tmp_path / "phone.sqlite")
    asyncio.run(state.enrol("Hanako", BASE_URL, council.invite("vol1")))
    council.write(assignment_record("r2", "vol1", active=False))
    visit = state.record_visit("r2", Outcome.MET_WELL)
    asyncio.run(state.sync_now())
    view = history_view(state, JA, shell)
    line = find(view, f"rejected:{visit.id}", ft.Text).value
    assert line.endswith(
        "Resident r2さん：担当ではない方の記録です。担当者に確認してください"
    )
    status = find(round_view(state, JA, shell), "status_rejected", ft.Text)
    assert status.value == "送れなかった記録 1件（わたしの記録で確認できます）"

    # The coordinator puts the assignment right; the volunteer sends it again.
    council.clock.advance(1)
    council.write(assignment_record("r2", "vol1"))
    click(find(view, "send_again", ft.Button))
    assert shell.toasts[-1][0] == JA.sync_results[SyncState.OK]
    assert state.rejected() == [] and state.status().pending == 0
    assert "send_again" not in [c.key for c in walk(history_view(state, JA, shell))]
    assert council.store.stored([("visits", visit.id)])


def test_a_coordinator_sees_visits_from_the_district(
    council: Council, tmp_path: Path, shell: FakeShell
) -> None:
    phone = fresh_state(council, tmp_path / "phone.sqlite")
    asyncio.run(phone.enrol("Hanako", BASE_URL, council.invite("vol1")))
    visit = phone.record_visit("r1", Outcome.PHONE, note="sounded cheerful")
    asyncio.run(phone.sync_now())
    office = fresh_state(council, tmp_path / "office.sqlite")
    asyncio.run(office.enrol("Kato", BASE_URL, council.invite("coord1")))
    [view] = views_for("/", office, JA, shell)
    assert view.route == "/district"
    assert texts(find(view, f"visit:{visit.id}", ft.Container)) == [
        "Resident r1さん　電話で確認した",
        "今日 10:00 ・ User vol1",
        "sounded cheerful",
    ]
