"""Composition root: paths, device Databases, AppStates, fonts, theme and routes.

The only module besides views/ that imports flet. In the browser each profile
is its own device: a key kept in the browser's storage names its SQLite file.
Each device syncs in the background every few minutes and right after a save.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import flet as ft

from watchapp import store
from watchapp.domain.grants import GrantRule
from watchapp.domain.model import Role
from watchapp.salon_state import SalonDesk
from watchapp.state import AppState
from watchapp.strings.device import Strings, catalog
from watchapp.strings.round import TIME_CHOICE_HOURS
from watchapp.views.common import BODY, LARGE, SMALL, Shell
from watchapp.views.concern import concern_view
from watchapp.views.district import district_view
from watchapp.views.history import history_view
from watchapp.views.profile import profile_view
from watchapp.views.resident import resident_view
from watchapp.views.round import round_view
from watchapp.views.salon_session import session_view
from watchapp.views.salon_year import year_view
from watchapp.views.salons import salons_view

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
FONT_FAMILY = "NotoJP"
FONT_FILE = "fonts/NotoSansJP-watchapp.woff2"
# The council's salon grant rules by fiscal year (none wired yet).
GRANT_RULES: dict[int, GrantRule] = {}


def default_db_path() -> Path:
    """On a phone, Flet's app data folder; elsewhere ./var/device.sqlite."""
    base = os.environ.get("FLET_APP_STORAGE_DATA")
    folder = Path(base) if base else Path("var")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "device.sqlite"


DEVICE_KEY = "watchapp.device"
SYNC_EVERY_SECONDS = 180.0
_KEY = re.compile(r"[0-9a-f]{32}")


class Devices:
    """The AppState of each device this process serves, opened on first use.

    ``folder``: one file per browser profile. ``single``: every browser shares
    one device file (``watchapp app --db``).
    """

    def __init__(self, *, folder: Path | None = None, single: Path | None = None):
        self.folder = folder
        self.single = single
        self._states: dict[str, AppState] = {}
        self._tasks: set[asyncio.Task[object]] = set()

    def state_for(self, key: str) -> AppState:
        if self.single is not None:
            key = "single"
        if key not in self._states:
            if self.single is not None:
                path = self.single
            else:
                assert self.folder is not None and _KEY.fullmatch(key)
                self.folder.mkdir(parents=True, exist_ok=True)
                path = self.folder / f"{key}.sqlite"
            state = AppState(store.open_db(path))
            state.sync_soon = lambda: self._spawn(state.sync_now())
            self._spawn(self._every_few_minutes(state))
            self._states[key] = state
        return self._states[key]

    def _spawn(self, work: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _every_few_minutes(self, state: AppState) -> None:
        while True:
            await state.sync_now()
            await asyncio.sleep(SYNC_EVERY_SECONDS)


async def device_key(page: ft.Page) -> str:
    """This browser's device key, made on its first visit."""
    prefs = ft.SharedPreferences()
    key = await prefs.get(DEVICE_KEY)
    if isinstance(key, str) and _KEY.fullmatch(key):
        return key
    key = uuid.uuid4().hex
    await prefs.set(DEVICE_KEY, key)
    return key


def views_for(
    route: str, state: AppState, s: Strings, shell: Shell, server_url: str = ""
) -> list[ft.View]:
    """The stack of views for a route; the first run always shows the profile."""
    parts = urlsplit(route)
    segments = [p for p in parts.path.split("/") if p]
    if state.profile() is None or segments == ["profile"]:
        return [profile_view(state, s, shell, server_url)]
    if segments == ["history"]:
        return [history_view(state, s, shell)]
    salons = salon_views(segments, state, s, shell)
    if salons is not None:
        return salons
    if segments == ["district"] or (
        not segments and state.role() in (Role.COORDINATOR, Role.ADMIN)
    ):
        return [district_view(state, s, shell)]
    stack = [round_view(state, s, shell)]
    if len(segments) >= 2 and segments[0] == "resident":
        resident_id = segments[1]
        stack.append(resident_view(state, s, shell, resident_id))
        if segments[2:] == ["concern"]:
            hours = parse_qs(parts.query).get("h", ["0"])[0]
            h = int(hours) if hours.isdigit() and int(hours) in TIME_CHOICE_HOURS else 0
            stack.append(concern_view(state, s, shell, resident_id, h))
    return stack


def salon_views(
    segments: list[str], state: AppState, s: Strings, shell: Shell
) -> list[ft.View] | None:
    """The organiser's stacks: my salons, a day's session, the year; None
    for any other route. An organiser with one salon lands on today's
    session (nothing is stored until a tick)."""
    organiser = state.role() is Role.ORGANISER
    if not (segments[:1] in (["salons"], ["salon"]) or (organiser and not segments)):
        return None
    desk = SalonDesk(state, GRANT_RULES)
    cards = desk.my_salons()
    stack = [salons_view(desk, state, s, shell, cards)]
    if not segments and len(cards) == 1:
        stack.append(session_view(desk, s, shell, cards[0].salon.id, state.today()))
    elif len(segments) == 4 and segments[0] == "salon" and segments[2] == "day":
        try:
            on = date.fromisoformat(segments[3])
        except ValueError:
            return stack
        stack.append(session_view(desk, s, shell, segments[1], on))
    elif len(segments) == 3 and segments[0] == "salon" and segments[2] == "year":
        stack.append(year_view(desk, s, shell, segments[1]))
    return stack


class PageShell:
    """Navigation and messages for one browser session."""

    def __init__(
        self, page: ft.Page, state: AppState, s: Strings, server_url: str = ""
    ) -> None:
        self.page = page
        self.state = state
        self.s = s
        self.server_url = server_url  # offered on the first-run screen

    def changed(self) -> None:
        """The device changed (a sync finished): refresh the lists.

        Screens with choices or typing are left alone, so nothing chosen or
        typed is lost (the visit time on a resident's page, say).
        """
        path = urlsplit(self.page.route).path
        if path == "/" and self.state.role() is Role.ORGANISER:
            return  # an organiser's "/" is today's session: typing, choices
        if path in ("/", "/history", "/district", "/salons"):
            self.render()

    def go(self, route: str) -> None:
        if route == self.page.route:
            self.render()
        else:
            self.page.navigate(route)

    def toast(
        self, message: str, action: tuple[str, Callable[[], None]] | None = None
    ) -> None:
        bar = ft.SnackBar(ft.Text(message, size=BODY), duration=6000)
        if action:
            label, run = action

            def act() -> None:
                run()
                self.render()

            bar.action = label
            bar.on_action = act
        self.page.show_dialog(bar)

    def render(self) -> None:
        self.page.views.clear()
        self.page.views.extend(
            views_for(self.page.route, self.state, self.s, self, self.server_url)
        )
        self.page.update()


def setup_page(page: ft.Page, s: Strings) -> None:
    page.title = s.app_title
    page.fonts = {FONT_FAMILY: FONT_FILE}

    # Each style names the font too: a TextTheme style without font_family
    # falls back to the default font, and Japanese turns into tofu boxes.
    def style(size: int) -> ft.TextStyle:
        return ft.TextStyle(size=size, font_family=FONT_FAMILY)

    page.theme = ft.Theme(
        font_family=FONT_FAMILY,
        color_scheme_seed="#1F3A5F",
        text_theme=ft.TextTheme(
            body_large=style(BODY),
            body_medium=style(BODY),
            body_small=style(SMALL),
            label_large=style(BODY),
            label_medium=style(SMALL),
            label_small=style(SMALL),
            title_large=style(LARGE),
            title_medium=style(LARGE),
            title_small=style(BODY),
        ),
    )
    page.theme_mode = ft.ThemeMode.LIGHT
    page.locale_configuration = ft.LocaleConfiguration(
        supported_locales=[ft.Locale("ja", "JP"), ft.Locale("en", "US")],
        current_locale=ft.Locale("ja", "JP"),
    )


def make_main(
    devices: Devices, lang: str = "ja", server_url: str = ""
) -> Callable[[ft.Page], Awaitable[None]]:
    s = catalog(lang)

    async def main(page: ft.Page) -> None:
        setup_page(page, s)
        state = devices.state_for(await device_key(page))
        shell = PageShell(page, state, s, server_url)

        def view_pop(e: ft.ViewPopEvent) -> None:
            if len(page.views) > 1:
                shell.go(page.views[-2].route)

        page.on_route_change = shell.render
        page.on_view_pop = view_pop
        unsubscribe = state.subscribe(shell.changed)
        page.on_close = unsubscribe
        shell.render()

    return main


def web_app(devices: Devices, lang: str = "ja", server_url: str = "") -> object:
    """The Flet web app as an ASGI app, served entirely from this machine."""
    import flet_web.fastapi as flet_fastapi

    asgi = flet_fastapi.FastAPI()
    asgi.mount(
        "/",
        flet_fastapi.app(
            make_main(devices, lang, server_url),
            assets_dir=str(ASSETS_DIR),
            no_cdn=True,
            app_name=catalog(lang).app_title,
        ),
    )
    return asgi
