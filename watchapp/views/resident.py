"""A resident's page: one big button per outcome, recent visits, open concerns.

"Met, all well" saves at once: launch, tap the name, tap the button.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import flet as ft

from watchapp.domain.model import Outcome, Visit
from watchapp.domain.rules import local_date
from watchapp.state import (
    AppError,
    AppState,
    InvalidInput,
    NotEnrolled,
    UnknownResident,
)
from watchapp.strings.device import Strings
from watchapp.strings.round import TIME_CHOICE_HOURS
from watchapp.views.common import (
    BODY,
    GAP,
    LARGE,
    MUTED_COLOR,
    OVERDUE_COLOR,
    SMALL,
    TITLE,
    Choices,
    Shell,
    big_button,
    error_message,
    status_line,
    text,
)
from watchapp.views.round import DUE_COLORS, due_words

# Outcomes saved with one tap, in the order shown under the two main buttons.
ONE_TAP = (Outcome.NOT_HOME, Outcome.PHONE, Outcome.IN_CARE, Outcome.DECLINED)


def time_choices(s: Strings, selected_hours: int = 0) -> Choices:
    return Choices(
        [
            (str(h), label)
            for h, label in zip(TIME_CHOICE_HOURS, s.time_choices, strict=True)
        ],
        selected=str(selected_hours),
        key="visit_time",
    )


def visited_at(state: AppState, choices: Choices) -> datetime:
    return state.now() - timedelta(hours=int(choices.value or 0))


def explain(s: Strings, exc: AppError) -> str:
    """The Japanese sentence a user reads for a failed action."""
    if isinstance(exc, InvalidInput):
        return "\n".join(error_message(s, e) for e in exc.errors)
    if isinstance(exc, NotEnrolled):
        return s.error_not_enrolled
    return s.resident_unknown


def saved_toast(
    state: AppState, s: Strings, shell: Shell, visit: Visit, name: str
) -> None:
    def undo() -> None:
        state.undo_visit(visit)
        shell.toast(s.undone)

    shell.toast(s.saved.format(name=name), (s.undo, undo))


def unknown_resident(
    state: AppState, s: Strings, shell: Shell, route: str, back: ft.Button
) -> ft.View:
    """Someone no longer on this device (purged, or a stale link)."""
    return ft.View(
        route=route,
        padding=16,
        controls=[
            status_line(state, s, shell),
            text(s.resident_unknown, key="error"),
            back,
        ],
    )


def resident_view(
    state: AppState, s: Strings, shell: Shell, resident_id: str
) -> ft.View:
    back = big_button(s.back, lambda: shell.go("/"), key="back")
    try:
        page = state.resident_page(resident_id)
    except UnknownResident:
        return unknown_resident(state, s, shell, f"/resident/{resident_id}", back)
    r = page.resident
    today = state.today()
    times = time_choices(s)
    error = text("", key="error", color=OVERDUE_COLOR, visible=False)

    def save(outcome: Outcome) -> None:
        try:
            visit = state.record_visit(
                r.id, outcome, visited_at=visited_at(state, times)
            )
        except AppError as exc:
            error.value = explain(s, exc)
            error.visible = True
            return
        saved_toast(state, s, shell, visit, r.name)
        shell.go("/")

    def concern() -> None:
        shell.go(f"/resident/{r.id}/concern?h={times.value}")

    def on_outcome(outcome: Outcome) -> Callable[[], None]:
        return lambda: save(outcome)

    header: list[ft.Control] = [
        text(s.person.format(name=r.name), size=TITLE, weight=ft.FontWeight.BOLD)
    ]
    if page.item:
        header.append(
            text(
                due_words(s, page.item.due),
                weight=ft.FontWeight.BOLD,
                color=DUE_COLORS[page.item.due.state],
                key="due",
            )
        )
    else:
        header.append(text(s.resident_not_assigned, color=MUTED_COLOR))

    history: list[ft.Control] = [
        text(s.resident_last_visits, size=LARGE, weight=ft.FontWeight.BOLD)
    ]
    history += [
        text(
            s.visit_line.format(
                when=s.moment(v.visited_at, today=today), outcome=s.outcomes[v.outcome]
            )
            + (
                s.with_category.format(category=s.categories[v.concern.category])
                if v.concern
                else ""
            ),
            size=SMALL,
        )
        for v in page.visits
    ] or [text(s.resident_no_visits, size=SMALL, color=MUTED_COLOR)]

    concerns: list[ft.Control] = []
    if page.concerns:
        concerns.append(
            text(s.resident_open_concerns, size=LARGE, weight=ft.FontWeight.BOLD)
        )
        for c in page.concerns:
            assert c.visit.concern is not None
            concerns.append(
                text(
                    s.concern_line.format(
                        day=s.day(local_date(c.visit.visited_at)),
                        category=s.categories[c.visit.concern.category],
                        urgency=s.urgencies[c.visit.concern.urgency],
                        status=s.concern_statuses[c.status],
                    )
                    + (f"\n{c.visit.note}" if c.visit.note else ""),
                    size=SMALL,
                    key=f"concern:{c.visit.id}",
                )
            )

    return ft.View(
        route=f"/resident/{r.id}",
        scroll=ft.ScrollMode.AUTO,
        padding=16,
        spacing=GAP,
        controls=[
            status_line(state, s, shell),
            *header,
            text(s.visit_time, size=BODY, color=MUTED_COLOR),
            times.control,
            error,
            text(s.outcome_question, size=BODY, color=MUTED_COLOR),
            ft.Row(
                [
                    big_button(
                        s.outcomes[Outcome.MET_WELL],
                        on_outcome(Outcome.MET_WELL),
                        key="outcome:met_well",
                        primary=True,
                    )
                ]
            ),
            ft.Row(
                [
                    big_button(
                        s.outcomes[Outcome.MET_CONCERN],
                        concern,
                        key="outcome:met_concern",
                    )
                ]
            ),
            *[
                ft.Row(
                    [big_button(s.outcomes[o], on_outcome(o), key=f"outcome:{o.value}")]
                )
                for o in ONE_TAP
            ],
            *concerns,
            *history,
            ft.Row([back]),
        ],
    )
