"""For coordinators: the latest visits arriving from their districts."""

from __future__ import annotations

import flet as ft

from watchapp.state import AppState
from watchapp.strings.device import Strings
from watchapp.views.common import (
    GAP,
    TITLE,
    Shell,
    list_row,
    nav_bar,
    status_line,
    text,
)


def district_view(state: AppState, s: Strings, shell: Shell) -> ft.View:
    today = state.today()
    rows: list[ft.Control] = [
        list_row(
            s.district_line.format(
                name=e.resident_name, outcome=s.outcomes[e.visit.outcome]
            ),
            s.district_detail.format(
                when=s.moment(e.visit.visited_at, today=today),
                volunteer=e.volunteer_name,
            ),
            *([e.visit.note] if e.visit.note else []),
            key=f"visit:{e.visit.id}",
        )
        for e in state.district_visits()
    ] or [text(s.district_empty, key="district_empty")]
    return ft.View(
        route="/district",
        scroll=ft.ScrollMode.AUTO,
        horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        padding=16,
        spacing=GAP,
        navigation_bar=nav_bar(s, "/district", shell, state),
        controls=[
            text(s.district_title, size=TITLE, weight=ft.FontWeight.BOLD),
            status_line(state, s, shell),
            ft.Column(
                rows,
                spacing=0,
                key="district",
                horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            ),
        ],
    )
