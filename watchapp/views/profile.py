"""First run and settings: the volunteer's name, the server and the invitation code.

Enrolment with the server arrives with the sync issue; until then the address
and the code are kept on the device.
"""

from __future__ import annotations

import flet as ft

from watchapp.state import AppState, InvalidInput
from watchapp.strings import Strings
from watchapp.views.common import (
    BODY,
    GAP,
    MUTED_COLOR,
    TITLE,
    Shell,
    big_button,
    error_message,
    nav_bar,
    status_line,
    text,
)


def profile_view(state: AppState, s: Strings, shell: Shell) -> ft.View:
    profile = state.profile()
    first_run = profile is None

    def field(key: str, label: str, value: str) -> ft.TextField:
        return ft.TextField(key=key, label=label, value=value, text_size=BODY)

    name = field("name", s.profile_name, profile.name if profile else "")
    server_url = field(
        "server_url", s.profile_server_url, profile.server_url if profile else ""
    )
    server_url.keyboard_type = ft.KeyboardType.URL
    invite_code = field(
        "invite_code", s.profile_invite_code, profile.invite_code if profile else ""
    )
    fields = {"name": name, "server_url": server_url, "invite_code": invite_code}

    def save() -> None:
        for f in fields.values():
            f.error = None
        try:
            state.save_profile(name.value, server_url.value, invite_code.value)
        except InvalidInput as exc:
            for e in exc.errors:
                fields[e.field].error = error_message(s, e)
            return
        shell.toast(s.profile_saved)
        shell.go("/")

    return ft.View(
        route="/profile",
        scroll=ft.ScrollMode.AUTO,
        padding=16,
        spacing=GAP,
        navigation_bar=None if first_run else nav_bar(s, 2, shell),
        controls=[
            text(s.profile_title, size=TITLE, weight=ft.FontWeight.BOLD),
            *([] if first_run else [status_line(state, s)]),
            text(s.profile_intro, color=MUTED_COLOR),
            name,
            server_url,
            invite_code,
            ft.Row([big_button(s.profile_save, save, key="save", primary=True)]),
        ],
    )
