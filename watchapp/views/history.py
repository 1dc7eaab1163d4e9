"""My records: the visits I logged, newest first."""

from __future__ import annotations

import flet as ft

from watchapp.state import AppState, NotEnrolled
from watchapp.strings import Strings
from watchapp.views.common import (
    GAP,
    MUTED_COLOR,
    SMALL,
    TITLE,
    Shell,
    nav_bar,
    status_line,
    text,
)


def history_view(state: AppState, s: Strings, shell: Shell) -> ft.View:
    today = state.today()
    try:
        entries = state.my_visits()
    except NotEnrolled:
        entries = []
    rows: list[ft.Control] = [
        ft.Container(
            key=f"visit:{e.visit.id}",
            on_click=lambda rid=e.visit.resident_id: shell.go(f"/resident/{rid}"),
            padding=ft.Padding.symmetric(horizontal=12, vertical=10),
            border=ft.Border.only(bottom=ft.BorderSide(1, "#DADCE0")),
            content=ft.Column(
                spacing=2,
                controls=[
                    text(
                        s.history_line.format(
                            name=e.resident_name, outcome=s.outcomes[e.visit.outcome]
                        )
                    ),
                    text(
                        s.moment(e.visit.visited_at, today=today)
                        + (
                            s.with_category.format(
                                category=s.categories[e.visit.concern.category]
                            )
                            if e.visit.concern
                            else ""
                        ),
                        size=SMALL,
                        color=MUTED_COLOR,
                    ),
                ],
            ),
        )
        for e in entries
    ] or [text(s.history_empty, key="history_empty")]
    return ft.View(
        route="/history",
        scroll=ft.ScrollMode.AUTO,
        padding=16,
        spacing=GAP,
        navigation_bar=nav_bar(s, 1, shell),
        controls=[
            text(s.history_title, size=TITLE, weight=ft.FontWeight.BOLD),
            status_line(state, s),
            ft.Column(rows, spacing=0, key="history"),
        ],
    )
