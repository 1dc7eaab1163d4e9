"""A salon's session on one day: tick who came, count walk-ins and helpers at
the door, add a new person to the roster.

Nothing is stored until the first tick or count (the desk makes the session
then). Typing in the search box re-renders only the roster, so the box keeps
its focus and what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial

import flet as ft

from watchapp.domain.salons import Category
from watchapp.salon_state import (
    DOOR_CATEGORIES,
    DoorCount,
    DuplicateMember,
    RosterEntry,
    SalonDesk,
)
from watchapp.state import InvalidInput
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
    TOUCH,
    Choices,
    Shell,
    big_button,
    error_message,
    text,
)

FIRST_TIME = "first"
RETURNING = "returning"
SALONS_ROUTE = "/salons"


def session_route(salon_id: str, on: date) -> str:
    return f"/salon/{salon_id}/day/{on.isoformat()}"


def member_toggle(
    entry: RosterEntry, s: Strings, on_tap: Callable[[], None]
) -> ft.Button:
    """One member, as a big button: present shows a check, the word and a
    filled colour (never the colour alone)."""
    here = entry.present
    fg = "#FFFFFF" if here else "#1B1B1F"
    parts: list[ft.Control] = [
        ft.Icon(
            ft.Icons.CHECK_CIRCLE if here else ft.Icons.RADIO_BUTTON_UNCHECKED,
            size=32,
            color=fg,
        ),
        text(
            s.person.format(name=entry.member.name),
            size=BODY,
            weight=ft.FontWeight.BOLD,
            color=fg,
            expand=True,
        ),
    ]
    if entry.new:
        parts.append(
            ft.Container(
                content=text(s.salon_new_badge, size=SMALL, color=CALM_COLOR),
                bgcolor="#FFFFFF",
                border=ft.Border.all(1, CALM_COLOR),
                border_radius=6,
                padding=ft.Padding.symmetric(horizontal=8, vertical=2),
                key=f"new:{entry.member.id}",
            )
        )
    if here:
        parts.append(
            text(
                s.salon_present,
                size=BODY,
                weight=ft.FontWeight.BOLD,
                color=fg,
                key=f"present:{entry.member.id}",
            )
        )
    return ft.Button(
        key=f"member:{entry.member.id}",
        content=ft.Row(parts, spacing=GAP),
        height=TOUCH + 8,
        on_click=on_tap,
        style=ft.ButtonStyle(
            bgcolor=CALM_COLOR if here else "#FFFFFF",
            side=ft.BorderSide(2, CALM_COLOR),
            shape=ft.RoundedRectangleBorder(radius=14),
        ),
    )


def session_view(
    desk: SalonDesk, s: Strings, shell: Shell, salon_id: str, on: date
) -> ft.View:
    route = session_route(salon_id, on)
    try:
        page = desk.session_page(salon_id, on)
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
                ft.Row(
                    [
                        big_button(
                            s.salon_back, lambda: shell.go(SALONS_ROUTE), key="back"
                        )
                    ]
                ),
            ],
        )

    totals = text("", size=LARGE, weight=ft.FontWeight.BOLD, key="totals")
    roster = ft.Column(spacing=8, key="roster")
    door = ft.Column(spacing=8, key="door")
    filter_box = ft.TextField(
        key="filter",
        label=s.salon_filter_label,
        text_size=BODY,
        prefix_icon=ft.Icons.SEARCH,
    )
    message = text("", key="message", color=OVERDUE_COLOR, visible=False)

    def show_error(exc: InvalidInput) -> None:
        message.value = "\n".join(error_message(s, e) for e in exc.errors)
        message.visible = True

    def paint_totals() -> None:
        t = desk.session_page(salon_id, on).totals
        totals.value = s.session_totals_line.format(
            participants=t.participants, new=t.new, helpers=t.helpers
        )

    def paint_roster() -> None:
        entries = desk.roster(salon_id, on, filter_box.value or "")
        roster.controls = [
            member_toggle(e, s, partial(tap_member, e)) for e in entries
        ] or [text(s.salon_roster_empty, key="roster_empty", color=MUTED_COLOR)]

    def tap_member(entry: RosterEntry) -> None:
        try:
            desk.set_present(salon_id, on, entry.member.id, not entry.present)
        except InvalidInput as exc:
            show_error(exc)
            return
        message.visible = False
        paint_roster()
        paint_totals()

    def typed() -> None:
        paint_roster()

    filter_box.on_change = typed

    # ---- the door: walk-ins and helpers ----------------------------------------

    mode = Choices(
        [(RETURNING, s.salon_door_returning), (FIRST_TIME, s.salon_door_first_time)],
        selected=RETURNING,
        key="first_time",
        on_change=lambda _: paint_door(),
    )

    def counts() -> dict[Category, DoorCount]:
        first_time = mode.value == FIRST_TIME
        return {
            d.category: d
            for d in desk.session_page(salon_id, on).door
            if d.first_time is first_time
        }

    def change(category: Category, by: int) -> None:
        try:
            desk.change_headcount(salon_id, on, category, mode.value == FIRST_TIME, by)
        except InvalidInput as exc:
            show_error(exc)
            return
        message.visible = False
        paint_door()
        paint_totals()

    def door_row(count: DoorCount) -> ft.Control:
        c = count.category
        label: list[ft.Control] = [
            text(s.salon_door_categories[c], size=BODY, weight=ft.FontWeight.BOLD)
        ]
        if count.others:
            label.append(
                text(
                    s.salon_door_others.format(n=count.others),
                    size=SMALL,
                    color=MUTED_COLOR,
                    key=f"door:{c}:others",
                )
            )
        return ft.Row(
            key=f"door:{c}",
            vertical_alignment=ft.CrossAxisAlignment.CENTER,
            controls=[
                ft.Column(label, spacing=2, expand=True),
                ft.Button(
                    content=ft.Text(s.salon_minus, size=LARGE),
                    key=f"door:{c}:minus",
                    height=TOUCH,
                    width=TOUCH,
                    disabled=count.mine == 0,
                    on_click=lambda: change(c, -1),
                ),
                text(
                    s.salon_door_count.format(n=count.mine),
                    size=LARGE,
                    key=f"door:{c}:count",
                    width=64,
                    text_align=ft.TextAlign.CENTER,
                ),
                ft.Button(
                    content=ft.Text(s.salon_plus, size=LARGE),
                    key=f"door:{c}:plus",
                    height=TOUCH,
                    width=TOUCH,
                    on_click=lambda: change(c, 1),
                ),
            ],
        )

    def paint_door() -> None:
        now = counts()
        door.controls = [door_row(now[c]) for c in DOOR_CATEGORIES]

    # ---- a new person ------------------------------------------------------------

    def field(key: str, label: str, **kw: object) -> ft.TextField:
        return ft.TextField(key=key, label=label, text_size=BODY, **kw)  # type: ignore[arg-type]

    name = field("new_name", s.salon_add_name)
    kana = field("new_kana", s.salon_add_kana)
    birth_year = field(
        "new_birth_year", s.salon_add_birth_year, keyboard_type=ft.KeyboardType.NUMBER
    )
    consent = ft.Checkbox(
        key="new_consent",
        label=s.salon_add_consent,
        label_style=ft.TextStyle(size=BODY),
        value=False,
    )
    inputs = {"name": name, "kana": kana, "birth_year": birth_year}
    duplicate = ft.Column(spacing=8, key="duplicate", visible=False)
    form = ft.Column(spacing=GAP, key="add_form", visible=False)

    def clear_form() -> None:
        for f in inputs.values():
            f.value = ""
            f.error = None
        consent.value = False
        duplicate.visible = False
        form.visible = False

    def tick_existing(member_id: str, member_name: str) -> None:
        try:
            desk.set_present(salon_id, on, member_id, True)
        except InvalidInput as exc:
            show_error(exc)
            return
        clear_form()
        paint_roster()
        paint_totals()
        shell.toast(s.salon_ticked.format(name=member_name))

    def save_member() -> None:
        for f in inputs.values():
            f.error = None
        duplicate.visible = False
        try:
            member = desk.add_member(
                salon_id,
                name.value or "",
                kana.value or "",
                birth_year=birth_year.value or "",
                consent=bool(consent.value),
                present_on=on,
            )
        except InvalidInput as exc:
            for e in exc.errors:
                target = inputs.get(e.field)
                if target is not None:
                    target.error = error_message(s, e)
                else:
                    show_error(exc)
            return
        except DuplicateMember as dup:
            found = dup.member
            duplicate.controls = [
                text(
                    s.salon_duplicate.format(name=found.name, kana=found.kana),
                    key="duplicate_text",
                    color=OVERDUE_COLOR,
                ),
                ft.Row(
                    [
                        big_button(
                            s.salon_tick_existing,
                            lambda: tick_existing(found.id, found.name),
                            key="tick_existing",
                        )
                    ]
                ),
            ]
            duplicate.visible = True
            return
        clear_form()
        paint_roster()
        paint_totals()
        shell.toast(s.salon_added.format(name=member.name))

    def open_form() -> None:
        form.visible = not form.visible

    form.controls = [
        name,
        kana,
        birth_year,
        consent,
        duplicate,
        ft.Row(
            [big_button(s.salon_add_save, save_member, key="add_save", primary=True)]
        ),
    ]

    paint_totals()
    paint_roster()
    paint_door()
    return ft.View(
        route=route,
        scroll=ft.ScrollMode.AUTO,
        padding=16,
        spacing=GAP,
        controls=[
            ft.Row(
                [big_button(s.salon_back, lambda: shell.go(SALONS_ROUTE), key="back")]
            ),
            text(
                s.salon_session_title.format(name=page.salon.name, day=s.day(on)),
                size=TITLE,
                weight=ft.FontWeight.BOLD,
                key="title",
            ),
            totals,
            message,
            filter_box,
            roster,
            ft.Row([big_button(s.salon_add_open, open_form, key="add_open")]),
            form,
            text(s.salon_door_title, size=LARGE, weight=ft.FontWeight.BOLD),
            mode.control,
            door,
        ],
    )
