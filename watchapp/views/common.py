"""What every screen shares: sizes, the status line, big toggle buttons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Protocol

import flet as ft

from watchapp.domain.model import Role
from watchapp.domain.validation import ErrorCode, FieldError
from watchapp.state import AppState, SyncState
from watchapp.strings.device import Strings

# Sizes for the oldest user: body text never under 18, touch targets over 48.
SMALL = 18
BODY = 20
LARGE = 24
TITLE = 28
TOUCH = 64
GAP = 12

OVERDUE_COLOR = "#B3261E"  # dark red: 7:1 on white
TODAY_COLOR = "#8A4B00"  # dark amber
CALM_COLOR = "#1F3A5F"  # dark blue
MUTED_COLOR = "#3C4043"


class Shell(Protocol):
    """Navigation and messages, provided by app.py (or a test)."""

    def go(self, route: str) -> None: ...

    def toast(
        self, message: str, action: tuple[str, Callable[[], None]] | None = None
    ) -> None: ...


def text(
    value: str, *, size: int = BODY, key: str | None = None, **kw: object
) -> ft.Text:
    return ft.Text(value, size=size, key=key, **kw)  # type: ignore[arg-type]


def list_row(
    first: str,
    *details: str,
    key: str,
    on_click: Callable[[], None] | None = None,
) -> ft.Container:
    """One entry of a list of visits: a line in body text, then smaller
    details, with a rule below."""
    return ft.Container(
        key=key,
        on_click=on_click,
        padding=ft.Padding.symmetric(horizontal=12, vertical=10),
        border=ft.Border.only(bottom=ft.BorderSide(1, "#DADCE0")),
        content=ft.Column(
            spacing=2,
            controls=[
                text(first),
                *(text(d, size=SMALL, color=MUTED_COLOR) for d in details),
            ],
        ),
    )


def status_line(state: AppState, s: Strings, shell: Shell) -> ft.Container:
    """What waits to be sent, the last sync, and a button to send now.

    Offline is normal: it is said calmly, never as an error.
    """
    status = state.status()
    pending = (
        s.status_pending.format(n=status.pending)
        if status.pending
        else s.status_all_sent
    )
    if status.last_sync_at is None and status.syncing:  # the first, after enrolling
        synced = s.status_syncing
    elif status.last_sync_at:
        synced = s.status_last_sync.format(
            when=s.moment(status.last_sync_at, today=state.today())
        )
    else:
        synced = s.status_never_synced
    lines: list[ft.Control] = [
        text(
            s.status_line.format(pending=pending, synced=synced),
            size=SMALL,
            key="status",
            color=CALM_COLOR,
        )
    ]
    if status.last_outcome is SyncState.OFFLINE and status.pending:
        lines.append(text(s.status_offline, size=SMALL, color=CALM_COLOR))
    if status.rejected:
        lines.append(
            text(
                s.status_rejected.format(n=status.rejected),
                size=SMALL,
                color=OVERDUE_COLOR,
                key="status_rejected",
            )
        )
    enrolled = state.is_enrolled()
    if not enrolled and state.profile() is not None:
        lines.append(text(s.status_not_enrolled, size=SMALL, color=MUTED_COLOR))

    async def sync_now() -> None:
        outcome = await state.sync_now()
        shell.toast(s.sync_results[outcome.state])

    row: list[ft.Control] = [ft.Column(lines, spacing=2, expand=True)]
    if enrolled:
        row.append(
            ft.Button(
                content=ft.Text(s.sync_now, size=SMALL),
                key="sync_now",
                height=48,
                on_click=sync_now,
            )
        )
    return ft.Container(
        content=ft.Row(row, vertical_alignment=ft.CrossAxisAlignment.CENTER),
        bgcolor="#E8F0FE",
        padding=ft.Padding.symmetric(horizontal=12, vertical=8),
        border_radius=8,
    )


def error_message(s: Strings, error: FieldError) -> str:
    if error.field == "note" and error.code is ErrorCode.REQUIRED:
        return s.error_note_required
    return s.errors[error.code].format(limit=error.limit)


def big_button(
    label: str,
    on_click: Callable[[], None] | Callable[[], Awaitable[None]],
    *,
    key: str,
    primary: bool = False,
) -> ft.Button:
    return ft.Button(
        content=ft.Text(
            label, size=LARGE, weight=ft.FontWeight.BOLD if primary else None
        ),
        key=key,
        on_click=on_click,
        height=TOUCH + 8 if primary else TOUCH,
        expand=True,
        style=ft.ButtonStyle(
            bgcolor=CALM_COLOR if primary else "#F1F3F4",
            color="#FFFFFF" if primary else "#1B1B1F",
            shape=ft.RoundedRectangleBorder(radius=14),
        ),
    )


class Choices:
    """A wrapped row of big toggle buttons, one of them selected."""

    def __init__(
        self,
        options: Sequence[tuple[str, str]],
        *,
        selected: str | None,
        key: str,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.value = selected
        self._on_change = on_change
        self.buttons: dict[str, ft.Button] = {
            value: ft.Button(
                content=ft.Text(label, size=BODY),
                key=f"{key}:{value}",
                height=TOUCH - 8,
                on_click=partial(self.select, value),
            )
            for value, label in options
        }
        # Semantics tell a screen reader (and the browser tests) which is chosen.
        self.marks = {
            value: ft.Semantics(content=button, identifier=f"{key}:{value}")
            for value, button in self.buttons.items()
        }
        self.control = ft.Row(
            list(self.marks.values()), wrap=True, spacing=8, run_spacing=8, key=key
        )
        self._paint()

    def select(self, value: str) -> None:
        self.value = value
        self._paint()
        if self._on_change:
            self._on_change(value)

    def _paint(self) -> None:
        for value, button in self.buttons.items():
            chosen = value == self.value
            self.marks[value].selected = chosen
            button.style = ft.ButtonStyle(
                bgcolor=CALM_COLOR if chosen else "#FFFFFF",
                color="#FFFFFF" if chosen else CALM_COLOR,
                side=ft.BorderSide(2, CALM_COLOR),
                shape=ft.RoundedRectangleBorder(radius=12),
            )


def nav_bar(s: Strings, route: str, shell: Shell, state: AppState) -> ft.NavigationBar:
    """The three tabs; coordinators see their districts' visits instead of a round."""
    coordinating = state.role() in (Role.COORDINATOR, Role.ADMIN)
    first = (
        ("/district", ft.Icons.MAP, s.nav_district)
        if coordinating
        else (
            "/",
            ft.Icons.CHECKLIST,
            s.nav_round,
        )
    )
    tabs = [
        first,
        ("/history", ft.Icons.HISTORY, s.nav_history),
        ("/profile", ft.Icons.PERSON, s.nav_profile),
    ]
    routes = [t[0] for t in tabs]

    def change(e: ft.Event[ft.NavigationBar]) -> None:
        shell.go(routes[e.control.selected_index])

    return ft.NavigationBar(
        key="nav",
        selected_index=routes.index(route) if route in routes else 0,
        on_change=change,
        destinations=[
            ft.NavigationBarDestination(icon=icon, label=label)
            for _, icon, label in tabs
        ],
    )
