"""My salons: a card per salon the organiser runs, with the year so far and
one big button to open today's session."""

from __future__ import annotations

import flet as ft

from watchapp.salon_state import SalonCard, SalonDesk
from watchapp.state import AppState
from watchapp.strings.device import Strings
from watchapp.views.common import (
    CALM_COLOR,
    GAP,
    LARGE,
    MUTED_COLOR,
    OVERDUE_COLOR,
    TITLE,
    Shell,
    big_button,
    nav_bar,
    status_line,
    text,
)

ROUTE = "/salons"


def salon_card(
    card: SalonCard, state: AppState, s: Strings, shell: Shell
) -> ft.Container:
    salon = card.salon
    required = card.rule.min_sessions if card.rule is not None else 0
    today = state.today().isoformat()
    lines: list[ft.Control] = [
        text(salon.name, size=LARGE, weight=ft.FontWeight.BOLD),
        text(s.salon_place.format(place=salon.place), color=MUTED_COLOR),
        text(
            s.grant_line(card.year.sessions_held, required),
            color=CALM_COLOR,
            key=f"grant:{salon.id}",
        ),
    ]
    if card.absences:
        lines.append(
            text(
                s.salon_absences.format(n=card.absences),
                color=OVERDUE_COLOR,
                key=f"absences:{salon.id}",
            )
        )
    lines += [
        ft.Row(
            [
                big_button(
                    s.salon_open_today,
                    lambda: shell.go(f"/salon/{salon.id}/day/{today}"),
                    key=f"open:{salon.id}",
                    primary=True,
                )
            ]
        ),
        ft.Row(
            [
                big_button(
                    s.salon_open_year,
                    lambda: shell.go(f"/salon/{salon.id}/year"),
                    key=f"year:{salon.id}",
                )
            ]
        ),
    ]
    return ft.Container(
        key=f"salon:{salon.id}",
        padding=16,
        border=ft.Border.all(1, "#C4C7C5"),
        border_radius=14,
        content=ft.Column(lines, spacing=8),
    )


def salons_view(
    desk: SalonDesk,
    state: AppState,
    s: Strings,
    shell: Shell,
    cards: list[SalonCard] | None = None,
) -> ft.View:
    """``cards``: the desk's ``my_salons()``, if the caller has them already."""
    cards = desk.my_salons() if cards is None else cards
    rows: list[ft.Control] = [salon_card(c, state, s, shell) for c in cards]
    if not rows:
        rows = [text(s.salons_empty, key="salons_empty")]
    return ft.View(
        route=ROUTE,
        scroll=ft.ScrollMode.AUTO,
        padding=16,
        spacing=GAP,
        navigation_bar=nav_bar(s, ROUTE, shell, state),
        controls=[
            text(s.salons_title, size=TITLE, weight=ft.FontWeight.BOLD),
            status_line(state, s, shell),
            ft.Column(rows, spacing=GAP, key="salons"),
        ],
    )
