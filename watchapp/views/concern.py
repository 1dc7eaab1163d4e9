"""The concern path: category, urgency, an optional note, then save."""

from __future__ import annotations

import flet as ft

from watchapp.domain.model import Concern, ConcernCategory, Outcome, Urgency
from watchapp.state import AppError, AppState, InvalidInput, UnknownResident
from watchapp.strings.device import Strings
from watchapp.views.common import (
    BODY,
    GAP,
    MUTED_COLOR,
    OVERDUE_COLOR,
    TITLE,
    Choices,
    Shell,
    big_button,
    error_message,
    status_line,
    text,
)
from watchapp.views.resident import (
    explain,
    saved_toast,
    time_choices,
    unknown_resident,
    visited_at,
)


def concern_view(
    state: AppState, s: Strings, shell: Shell, resident_id: str, hours: int = 0
) -> ft.View:
    back = big_button(s.back, lambda: shell.go(f"/resident/{resident_id}"), key="back")
    try:
        page = state.resident_page(resident_id)
    except UnknownResident:
        route = f"/resident/{resident_id}/concern"
        return unknown_resident(state, s, shell, route, back)
    r = page.resident
    times = time_choices(s, hours)
    note = ft.TextField(
        key="note",
        label=s.concern_note,
        multiline=True,
        min_lines=3,
        max_lines=8,
        text_size=BODY,
        error_max_lines=3,
    )

    def category_changed(value: str) -> None:
        note.label = (
            s.concern_note_required
            if value == ConcernCategory.OTHER.value
            else s.concern_note
        )

    categories = Choices(
        [(c.value, s.categories[c]) for c in ConcernCategory],
        selected=None,
        key="category",
        on_change=category_changed,
    )
    urgency = Choices(
        [(u.value, s.urgencies[u]) for u in (Urgency.URGENT, Urgency.NORMAL)],
        selected=Urgency.NORMAL.value,
        key="urgency",
    )
    error = text("", key="error", color=OVERDUE_COLOR, visible=False)

    def save() -> None:
        concern = (
            Concern(
                ConcernCategory(categories.value), Urgency(urgency.value or "normal")
            )
            if categories.value
            else None
        )
        try:
            visit = state.record_visit(
                r.id,
                Outcome.MET_CONCERN,
                visited_at=visited_at(state, times),
                concern=concern,
                note=note.value,
            )
        except AppError as exc:
            note.error = None
            messages = []
            for e in exc.errors if isinstance(exc, InvalidInput) else ():
                if e.field == "note":
                    note.error = error_message(s, e)
                else:
                    messages.append(error_message(s, e))
            if not isinstance(exc, InvalidInput):
                messages.append(explain(s, exc))
            error.value = "\n".join(messages)
            error.visible = bool(messages)
            return
        saved_toast(state, s, shell, visit, r.name)
        shell.go("/")

    return ft.View(
        route=f"/resident/{r.id}/concern",
        scroll=ft.ScrollMode.AUTO,
        horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        padding=16,
        spacing=GAP,
        controls=[
            status_line(state, s, shell),
            text(
                s.concern_heading.format(name=r.name),
                size=TITLE,
                weight=ft.FontWeight.BOLD,
            ),
            text(s.concern_category_question, color=MUTED_COLOR),
            categories.control,
            text(s.concern_urgency_question, color=MUTED_COLOR),
            urgency.control,
            note,
            text(s.visit_time, color=MUTED_COLOR),
            times.control,
            error,
            ft.Row([big_button(s.save, save, key="save", primary=True)]),
            ft.Row([back]),
        ],
    )
