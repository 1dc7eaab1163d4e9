"""Today's round: the residents assigned to me, most overdue first."""

from __future__ import annotations

import flet as ft

from watchapp.domain.rules import Due, DueState, RoundItem
from watchapp.state import AppState
from watchapp.strings.device import Strings
from watchapp.views.common import (
    BODY,
    CALM_COLOR,
    GAP,
    LARGE,
    MUTED_COLOR,
    OVERDUE_COLOR,
    SMALL,
    TITLE,
    TODAY_COLOR,
    Shell,
    nav_bar,
    status_line,
    text,
)


def due_words(s: Strings, due: Due) -> str:
    if due.state is DueState.OVERDUE:
        return s.due_overdue.format(n=due.days)
    if due.state is DueState.TODAY:
        return s.due_today
    return s.due_in.format(n=-due.days)


DUE_COLORS = {
    DueState.OVERDUE: OVERDUE_COLOR,
    DueState.TODAY: TODAY_COLOR,
    DueState.UPCOMING: CALM_COLOR,
}


def round_row(item: RoundItem, s: Strings, shell: Shell) -> ft.Container:
    r = item.resident
    last = (
        s.last_contact.format(when=s.day(item.last_contact))
        if item.last_contact
        else s.never_visited
    )
    title: list[ft.Control] = [
        text(
            s.person.format(name=r.name),
            size=LARGE,
            weight=ft.FontWeight.BOLD,
            expand=True,
        )
    ]
    if r.evacuation_register:
        title.append(
            ft.Container(
                content=text(s.evacuation_badge, size=SMALL, color="#FFFFFF"),
                bgcolor=CALM_COLOR,
                border_radius=6,
                padding=ft.Padding.symmetric(horizontal=8, vertical=2),
            )
        )
    return ft.Container(
        key=f"resident:{r.id}",
        on_click=lambda: shell.go(f"/resident/{r.id}"),
        ink=True,
        padding=ft.Padding.symmetric(horizontal=16, vertical=14),
        border=ft.Border.all(1, "#C4C7C5"),
        border_radius=14,
        content=ft.Column(
            spacing=4,
            controls=[
                ft.Row(title),
                text(
                    due_words(s, item.due),
                    size=BODY,
                    weight=ft.FontWeight.BOLD,
                    color=DUE_COLORS[item.due.state],
                    key=f"due:{r.id}",
                ),
                text(last, size=SMALL, color=MUTED_COLOR),
                *_absence(item, s),
            ],
        ),
    )


def _absence(item: RoundItem, s: Strings) -> list[ft.Control]:
    away = item.salon_absence
    if away is None:
        return []
    words = s.salon_absence.format(missed=away.missed, when=s.day(away.last_attended))
    return [
        text(
            words,
            size=SMALL,
            weight=ft.FontWeight.BOLD,
            color=TODAY_COLOR,
            key=f"salon_absence:{item.resident.id}",
        )
    ]


def round_view(state: AppState, s: Strings, shell: Shell) -> ft.View:
    items = state.round()
    rows: list[ft.Control] = [round_row(i, s, shell) for i in items]
    if not rows:
        notice = state.status().notice == "revoked"
        rows = [
            text(
                s.revoked_notice if notice else s.round_empty,
                key="round_empty",
                color=OVERDUE_COLOR if notice else None,
            )
        ]
    return ft.View(
        route="/",
        scroll=ft.ScrollMode.AUTO,
        padding=16,
        spacing=GAP,
        navigation_bar=nav_bar(s, "/", shell, state),
        controls=[
            ft.Row(
                [
                    text(s.round_title, size=TITLE, weight=ft.FontWeight.BOLD),
                    text(s.round_count.format(n=len(items)), color=MUTED_COLOR),
                ],
                alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
            ),
            status_line(state, s, shell),
            ft.Column(rows, spacing=GAP, key="round"),
        ],
    )
