"""First run and settings: the volunteer's name, the server and the invitation code.

With a code, saving enrols the device with the council and fetches the
residents; without one, the name is kept on the device alone.
"""

from __future__ import annotations

import flet as ft

from watchapp.state import AppState, EnrolmentFailed, InvalidInput
from watchapp.strings.device import Strings
from watchapp.views.common import (
    BODY,
    GAP,
    MUTED_COLOR,
    OVERDUE_COLOR,
    TITLE,
    Shell,
    big_button,
    error_message,
    nav_bar,
    status_line,
    text,
)


def profile_view(
    state: AppState, s: Strings, shell: Shell, server_url_hint: str = ""
) -> ft.View:
    profile = state.profile()
    first_run = profile is None
    status = state.status()

    def field(key: str, label: str, value: str) -> ft.TextField:
        return ft.TextField(
            key=key, label=label, value=value, text_size=BODY, error_max_lines=3
        )

    name = field("name", s.profile_name, profile.name if profile else "")
    server_url = field(
        "server_url",
        s.profile_server_url,
        (profile.server_url if profile else "") or server_url_hint,
    )
    server_url.keyboard_type = ft.KeyboardType.URL
    invite_code = field(
        "invite_code", s.profile_invite_code, profile.invite_code if profile else ""
    )
    fields = {"name": name, "server_url": server_url, "invite_code": invite_code}

    async def save() -> None:
        for f in fields.values():
            f.error = None
        try:
            if invite_code.value.strip():
                await state.enrol(name.value, server_url.value, invite_code.value)
                message = s.profile_enrolled
            else:
                state.save_profile(name.value, server_url.value, "")
                message = s.profile_saved
        except InvalidInput as exc:
            for e in exc.errors:
                fields[e.field].error = error_message(s, e)
            return
        except EnrolmentFailed as exc:
            invite_code.error = s.enrol_error(exc.reason)
            return
        invite_code.value = ""
        shell.toast(message)
        shell.go("/")

    return ft.View(
        route="/profile",
        scroll=ft.ScrollMode.AUTO,
        horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        padding=16,
        spacing=GAP,
        navigation_bar=None if first_run else nav_bar(s, "/profile", shell, state),
        controls=[
            text(s.profile_title, size=TITLE, weight=ft.FontWeight.BOLD),
            *([] if first_run else [status_line(state, s, shell)]),
            *(
                [text(s.revoked_notice, color=OVERDUE_COLOR, key="notice")]
                if status.notice == "revoked"
                else []
            ),
            text(s.profile_intro, color=MUTED_COLOR),
            name,
            server_url,
            invite_code,
            ft.Row([big_button(s.profile_save, save, key="save", primary=True)]),
        ],
    )
