"""My records: the visits I logged, newest first."""

from __future__ import annotations

from functools import partial

import flet as ft

from watchapp.state import AppState, NotEnrolled
from watchapp.strings.device import Strings
from watchapp.sync.protocol import Reason
from watchapp.views.common import (
    GAP,
    LARGE,
    MUTED_COLOR,
    OVERDUE_COLOR,
    SMALL,
    TITLE,
    Shell,
    big_button,
    list_row,
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
        list_row(
            s.history_line.format(
                name=e.resident_name, outcome=s.outcomes[e.visit.outcome]
            ),
            s.moment(e.visit.visited_at, today=today)
            + (
                s.with_category.format(category=s.categories[e.visit.concern.category])
                if e.visit.concern
                else ""
            ),
            key=f"visit:{e.visit.id}",
            on_click=partial(shell.go, f"/resident/{e.visit.resident_id}"),
        )
        for e in entries
    ] or [text(s.history_empty, key="history_empty")]
    refused: list[ft.Control] = []
    rejected = state.rejected()
    if rejected:
        refused.append(text(s.rejected_title, size=LARGE, weight=ft.FontWeight.BOLD))
        refused += [
            text(
                s.rejected_line.format(
                    when=s.moment(r.visited_at, today=today) if r.visited_at else "",
                    name=r.resident_name,
                    reason=s.reasons[Reason(r.reason)]
                    if r.reason in Reason._value2member_map_
                    else r.reason,
                ),
                size=SMALL,
                color=OVERDUE_COLOR,
                key=f"rejected:{r.record_id}",
            )
            for r in rejected
        ]

        async def send_again() -> None:
            outcome = await state.send_rejected_again()
            shell.toast(s.sync_results[outcome.state])

        refused += [
            text(s.rejected_hint, size=SMALL, color=MUTED_COLOR),
            ft.Row([big_button(s.rejected_again, send_again, key="send_again")]),
        ]
    return ft.View(
        route="/history",
        scroll=ft.ScrollMode.AUTO,
        horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        padding=16,
        spacing=GAP,
        navigation_bar=nav_bar(s, "/history", shell, state),
        controls=[
            text(s.history_title, size=TITLE, weight=ft.FontWeight.BOLD),
            status_line(state, s, shell),
            *refused,
            ft.Column(
                rows,
                spacing=0,
                key="history",
                horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            ),
        ],
    )
