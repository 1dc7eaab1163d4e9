"""The app in headless Chromium, as a volunteer uses it with the demo.

Each test runs `watchapp demo` (council server + app) over its own copy of the
seeded demo city, and enrols a new browser profile (a new device) with the
volunteer's invitation code, so nothing is pending at the start. Screenshots
of every step go to tests/artifacts/browser/<test>/, beside the browser
console, the requests blocked (anything not on 127.0.0.1) and each server
process's output.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Locator, expect, sync_playwright

from tests.browser import (
    ARTIFACTS,
    TIMEOUT_MS,
    VIEWPORT,
    App,
    Demo,
    chromium_missing,
    launch_chromium,
    seed_council,
)

pytestmark = pytest.mark.browser

NOTHING_PENDING = "未送信はありません"
ONE_PENDING = "端末に保存済み・未送信 1件"
SYNCED_TODAY = "最終同期 今日"
OFFLINE = "電波が戻ったら自動で送ります"
NOT_SENT = "今は送れません。記録は端末に保存してあり、電波が戻ったら自動で送ります"
SENT = "送りました。最新の情報を受け取りました"
NOTE = "同じ話を何度もしていた"


# ---- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def council_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo city, seeded once (a few seconds) and copied for each test."""
    folder = tmp_path_factory.mktemp("council")
    return seed_council(folder / "council.sqlite", folder / "seed.log")


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / str(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def demo(council_template: Path, tmp_path: Path, shots: Path) -> Iterator[Demo]:
    demo = Demo(tmp_path / "demo", shots, council_template)
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture
def app(browser: Browser, demo: Demo, shots: Path) -> Iterator[App]:
    """A new browser profile (a new device) on the demo; closed before it stops."""
    context = browser.new_context(viewport=VIEWPORT, locale="ja-JP")
    app = App(context.new_page(), shots)
    try:
        yield app
        try:
            app.shot("end", settle=False)
        except Error as exc:
            print(f"no final screenshot: {exc}")
    finally:
        app.save_logs()
        context.close()


# ---- steps ------------------------------------------------------------------------


def enrol_volunteer(app: App, demo: Demo) -> None:
    """Start the demo, and enrol this browser with the volunteer's code."""
    invitation = demo.start()
    app.open(demo.app_url)
    expect(app.text("はじめに")).to_be_visible()
    app.type_into(app.field("お名前"), invitation.name)
    app.type_into(app.field("招待コード"), invitation.code)
    app.shot("first-run")
    app.tap(app.button("保存する"))
    expect(app.snackbar("登録しました。担当の方の情報を受け取りました")).to_be_visible()
    expect(app.text("今日の見守り")).to_be_visible()
    expect(app.status).to_contain_text(NOTHING_PENDING)
    expect(app.cards.first).to_be_visible()


def resident_name(card: Locator) -> str:
    """The name on a round card: 林 加奈 from "林 加奈さん\\n17日 超過\\n…"."""
    first_line = (card.text_content() or "").strip().splitlines()[0]
    assert first_line.endswith("さん"), first_line
    return first_line.removesuffix("さん")


def open_first_resident(app: App) -> str:
    """Tap the top card of the round; returns the resident's name."""
    first = app.cards.first
    expect(first).to_be_visible()
    name = resident_name(first)
    app.tap(app.card(name))
    expect(app.button("会えた・元気")).to_be_visible()
    expect(app.text(f"{name}さん")).to_be_visible()
    return name


def open_concern_form(app: App, name: str) -> None:
    app.tap(app.button("気になることがある"))
    expect(app.button("保存する")).to_be_visible()
    expect(app.text(f"{name}さん・気になること")).to_be_visible()


def expect_saved(app: App, name: str) -> None:
    """Back on the round, with the snackbar offering to undo."""
    expect(app.text("今日の見守り")).to_be_visible()
    expect(app.snackbar(f"{name}さんの訪問を保存しました")).to_be_visible()
    expect(app.button("取り消す")).to_be_visible()


# ---- tests --------------------------------------------------------------------------


def test_chromium_is_installed() -> None:
    """Fails, never skips, without Chromium (the other tests then error)."""
    missing = chromium_missing()
    assert missing is None, missing


def test_met_and_well_reorders_and_survives_reload(app: App, demo: Demo) -> None:
    """Offline, as with no signal: the visit waits on the device, then is sent."""
    enrol_volunteer(app, demo)
    demo.go_offline()
    app.reload()
    expect(app.status).to_contain_text(NOTHING_PENDING)
    app.tap(app.button("今すぐ送る"))
    expect(app.snackbar(NOT_SENT)).to_be_visible()  # calmly: no signal
    first = app.cards.first
    expect(first).to_contain_text(re.compile("超過|今日が訪問日"))
    app.shot("round-offline")

    name = open_first_resident(app)
    app.shot("resident")

    app.tap(app.button("会えた・元気"))
    expect_saved(app, name)
    expect(app.status).to_contain_text(ONE_PENDING)
    expect(app.text(OFFLINE)).to_be_visible()
    card = app.card(name)
    expect(card).to_contain_text(re.compile(r"あと\d+日"))
    expect(card).not_to_contain_text("超過")
    expect(app.cards.first).not_to_contain_text(f"{name}さん")
    due = re.search(r"あと\d+日", card.text_content() or "")
    assert due is not None
    app.shot("saved")

    app.reload()
    expect(app.status).to_contain_text(ONE_PENDING)
    expect(app.card(name)).to_contain_text(due.group())
    expect(app.cards.first).not_to_contain_text(f"{name}さん")
    app.shot("reloaded")

    app.tap(app.tab("わたしの記録"))
    expect(app.text("わたしの記録")).to_be_visible()
    expect(app.tab("わたしの記録")).to_have_attribute("aria-selected", "true")
    latest = app.cards.first
    expect(latest).to_contain_text(re.compile(re.escape(name) + r"さん\s*会えた・元気"))
    expect(latest).to_contain_text("今日")
    expect(app.status).to_contain_text(ONE_PENDING)
    app.shot("history")

    demo.council_back()
    app.tap(app.button("今すぐ送る"))
    expect(app.snackbar(SENT)).to_be_visible()
    expect(app.status).to_contain_text(NOTHING_PENDING)
    expect(app.status).to_contain_text(SYNCED_TODAY)
    expect(app.text(OFFLINE)).to_have_count(0)
    app.shot("sent")


def test_concern_with_category_and_note(app: App, demo: Demo) -> None:
    """Online: the concern is saved, then sent to the council at once."""
    enrol_volunteer(app, demo)
    name = open_first_resident(app)
    open_concern_form(app, name)
    app.shot("concern-form")

    app.tap(app.button("物忘れ"), answered=True)
    app.tap(app.button("急ぎ"), answered=True)
    app.type_into(app.field("メモ（書かなくても大丈夫です）"), NOTE)
    app.shot("concern-filled")

    app.tap(app.button("保存する"))
    expect_saved(app, name)
    expect(app.status).to_contain_text(NOTHING_PENDING)
    expect(app.status).to_contain_text(SYNCED_TODAY)
    expect(app.text(re.compile("送れなかった記録"))).to_have_count(0)
    app.shot("saved-and-sent")

    app.tap(app.card(name))
    expect(app.button("会えた・元気")).to_be_visible()
    expect(app.text("気になること（対応待ち）")).to_be_visible()
    concern = app.text(re.compile("物忘れ・急ぎ・未対応"))
    expect(concern).to_be_visible()
    expect(concern).to_contain_text(NOTE)
    expect(
        app.text(re.compile("^今日 .*気になることがある（物忘れ）$"))
    ).to_be_visible()
    app.shot("resident-with-concern")


def test_other_without_note_is_refused(app: App, demo: Demo) -> None:
    enrol_volunteer(app, demo)
    name = open_first_resident(app)
    open_concern_form(app, name)

    app.tap(app.button("その他"), answered=True)
    expect(app.field("メモ（「その他」のときは書いてください）")).to_be_visible()
    app.tap(app.button("保存する"))
    expect(
        app.text("「その他」を選んだときは、どんなことかメモに書いてください")
    ).to_be_visible()
    expect(app.status).to_contain_text(NOTHING_PENDING)
    expect(app.button("保存する")).to_be_visible()
    app.shot("refused")


def test_a_visit_reaches_the_coordinators_device(
    app: App, demo: Demo, browser: Browser, shots: Path
) -> None:
    """Two browser profiles, two devices: the volunteer's visit, synced, is on
    the coordinator's screen after the coordinator's device syncs."""
    enrol_volunteer(app, demo)
    name = open_first_resident(app)
    app.tap(app.button("会えた・元気"))
    expect_saved(app, name)
    app.tap(app.button("今すぐ送る"))
    expect(app.snackbar(SENT)).to_be_visible()
    expect(app.status).to_contain_text(NOTHING_PENDING)
    app.shot("volunteer-sent")

    coordinator = demo.coordinator
    assert coordinator is not None
    context = browser.new_context(viewport=VIEWPORT, locale="ja-JP")
    office = App(context.new_page(), shots / "coordinator")
    office.shots.mkdir()
    try:
        office.open(demo.app_url)
        expect(office.text("はじめに")).to_be_visible()
        office.type_into(office.field("お名前"), coordinator.name)
        office.type_into(office.field("招待コード"), coordinator.code)
        office.tap(office.button("保存する"))
        expect(office.text("最近の訪問（担当地区）")).to_be_visible()
        arrived = office.text(re.compile(f"^{re.escape(name)}さん\u3000会えた・元気$"))
        expect(arrived.first).to_be_visible()
        expect(office.tab("地区の訪問")).to_have_attribute("aria-selected", "true")
        office.shot("coordinator-sees-visit")
    finally:
        office.save_logs()
        context.close()
