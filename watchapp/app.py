"""Composition root: paths, the device Database, AppState, fonts, theme and routes.

The only module besides views/ that imports flet. One AppState serves every
browser session of a process (they share one device file in this version).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import flet as ft

from watchapp import store
from watchapp.state import AppState
from watchapp.strings import TIME_CHOICE_HOURS, Strings, catalog
from watchapp.views.common import BODY, LARGE, SMALL, Shell
from watchapp.views.concern import concern_view
from watchapp.views.history import history_view
from watchapp.views.profile import profile_view
from watchapp.views.resident import resident_view
from watchapp.views.round import round_view

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
FONT_FAMILY = "NotoJP"
FONT_FILE = "fonts/NotoSansJP-watchapp.woff2"


def default_db_path() -> Path:
    """On a phone, Flet's app data folder; elsewhere ./var/device.sqlite."""
    base = os.environ.get("FLET_APP_STORAGE_DATA")
    folder = Path(base) if base else Path("var")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "device.sqlite"


def open_state(path: Path) -> AppState:
    return AppState(store.open_db(path))


def views_for(route: str, state: AppState, s: Strings, shell: Shell) -> list[ft.View]:
    """The stack of views for a route; the first run always shows the profile."""
    parts = urlsplit(route)
    segments = [p for p in parts.path.split("/") if p]
    if state.profile() is None or segments == ["profile"]:
        return [profile_view(state, s, shell)]
    if segments == ["history"]:
        return [history_view(state, s, shell)]
    stack = [round_view(state, s, shell)]
    if len(segments) >= 2 and segments[0] == "resident":
        resident_id = segments[1]
        stack.append(resident_view(state, s, shell, resident_id))
        if segments[2:] == ["concern"]:
            hours = parse_qs(parts.query).get("h", ["0"])[0]
            h = int(hours) if hours.isdigit() and int(hours) in TIME_CHOICE_HOURS else 0
            stack.append(concern_view(state, s, shell, resident_id, h))
    return stack


class PageShell:
    """Navigation and messages for one browser session."""

    def __init__(self, page: ft.Page, state: AppState, s: Strings) -> None:
        self.page = page
        self.state = state
        self.s = s

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
        self.page.views.extend(views_for(self.page.route, self.state, self.s, self))
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
    state: AppState, lang: str = "ja"
) -> Callable[[ft.Page], Awaitable[None]]:
    s = catalog(lang)

    async def main(page: ft.Page) -> None:
        setup_page(page, s)
        shell = PageShell(page, state, s)

        def view_pop(e: ft.ViewPopEvent) -> None:
            if len(page.views) > 1:
                shell.go(page.views[-2].route)

        page.on_route_change = shell.render
        page.on_view_pop = view_pop
        shell.render()

    return main


def web_app(state: AppState, lang: str = "ja") -> object:
    """The Flet web app as an ASGI app, served entirely from this machine."""
    import flet_web.fastapi as flet_fastapi

    asgi = flet_fastapi.FastAPI()
    asgi.mount(
        "/",
        flet_fastapi.app(
            make_main(state, lang),
            assets_dir=str(ASSETS_DIR),
            no_cdn=True,
            app_name=catalog(lang).app_title,
        ),
    )
    return asgi
