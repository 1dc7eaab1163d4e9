"""A salon's fiscal year so far: month by month, the year's totals, the
grant line and who has missed several sessions in a row."""

from __future__ import annotations

import flet as ft

from watchapp.salon_state import SalonDesk
from watchapp.state import InvalidInput
from watchapp.strings.device import Strings
from watchapp.views.common import (
    BODY,
    CALM_COLOR,
    GAP,
    LARGE,
    MUTED_COLOR,
    OVERDUE_COLOR,
    TITLE,
    Shell,
    big_button,
    error_message,
    text,
)

SALONS_ROUTE = "/salons"
CELL_WIDTHS = (80, 80, 110, 90)


def table_row(
    cells: tuple[str, str, str, str], *, key: str, bold: bool = False
) -> ft.Row:
    weight = ft.FontWeight.BOLD if bold else None
    return ft.Row(
        key=key,
        spacing=8,
        controls=[
            ft.Container(
                width=width,
                content=text(
                    value,
                    size=BODY,
                    weight=weight,
                    text_align=ft.TextAlign.END if i else ft.TextAlign.START,
                ),
            )
            for i, (value, width) in enumerate(zip(cells, CELL_WIDTHS, strict=True))
        ],
    )


def year_view(desk: SalonDesk, s: Strings, shell: Shell, salon_id: str) -> ft.View:
    route = f"/salon/{salon_id}/year"
    back = ft.Row(
        [big_button(s.salon_back, lambda: shell.go(SALONS_ROUTE), key="back")]
    )
    try:
        page = desk.year_page(salon_id)
    except InvalidInput as exc:
        return ft.View(
            route=route,
            padding=16,
            spacing=GAP,
            controls=[
                text(
                    "\n".join(error_message(s, e) for e in exc.errors),
                    key="error",
                    color=OVERDUE_COLOR,
                ),
                back,
            ],
        )
    year = page.year
    people = s.salon_people.format
    times = s.salon_times.format
    rows: list[ft.Control] = [
        table_row(
            (
                s.salon_col_month,
                s.salon_col_sessions,
                s.salon_col_attendances,
                s.salon_col_helpers,
            ),
            key="month_header",
            bold=True,
        )
    ]
    for m in year.months:
        rows.append(
            table_row(
                (
                    s.salon_month.format(m=m.month.month),
                    times(n=m.sessions),
                    people(n=m.participants),
                    people(n=m.helpers),
                ),
                key=f"month:{m.month.isoformat()}",
            )
        )
    rows.append(
        table_row(
            (
                s.salon_year_total,
                times(n=year.sessions_held),
                people(n=year.participants),
                people(n=year.helpers),
            ),
            key="year_total",
            bold=True,
        )
    )
    required = page.rule.min_sessions if page.rule is not None else 0
    absences: list[ft.Control] = [
        text(
            s.absence_line.format(
                name=a.member.name, missed=a.missed, day=s.day(a.last_attended)
            ),
            key=f"absence:{a.member.id}",
            color=OVERDUE_COLOR,
        )
        for a in page.absences
    ] or [text(s.salon_no_absences, key="no_absences", color=MUTED_COLOR)]
    return ft.View(
        route=route,
        scroll=ft.ScrollMode.AUTO,
        padding=16,
        spacing=GAP,
        controls=[
            back,
            text(
                s.salon_year_title.format(name=page.salon.name, year=year.fiscal_year),
                size=TITLE,
                weight=ft.FontWeight.BOLD,
                key="title",
            ),
            text(
                s.grant_line(year.sessions_held, required),
                color=CALM_COLOR,
                key="grant",
            ),
            text(
                s.salon_distinct.format(
                    n=year.distinct_people, registered=year.registered_members
                ),
                key="distinct",
            ),
            ft.Row(
                [ft.Column(rows, spacing=4, key="months")],
                scroll=ft.ScrollMode.AUTO,
            ),
            text(s.salon_absence_title, size=LARGE, weight=ft.FontWeight.BOLD),
            ft.Column(absences, spacing=8, key="absences"),
        ],
    )
