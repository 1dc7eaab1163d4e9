"""App-wide words: the title, navigation, the status line, form errors, dates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from watchapp.domain.model import JST
from watchapp.domain.validation import ErrorCode
from watchapp.state import SyncState
from watchapp.strings.base import Part, complete


@dataclass(frozen=True)
class Common(Part):
    app_title: str
    person: str
    nav_round: str
    nav_history: str
    nav_profile: str
    save: str
    back: str
    # status line
    status_line: str
    status_pending: str
    status_all_sent: str
    status_last_sync: str
    status_never_synced: str
    status_syncing: str
    status_offline: str
    status_rejected: str
    status_not_enrolled: str
    sync_now: str
    sync_results: Mapping[SyncState, str]
    revoked_notice: str
    # errors
    errors: Mapping[ErrorCode, str]
    error_note_required: str
    error_not_enrolled: str
    # dates
    weekdays: tuple[str, ...]
    date_format: str
    time_format: str
    today_word: str
    yesterday_word: str

    def __post_init__(self) -> None:
        complete(self.errors, ErrorCode)
        complete(self.sync_results, SyncState)
        if len(self.weekdays) != 7:
            raise ValueError("weekdays needs seven names")
        super().__post_init__()

    def day(self, value: date) -> str:
        return self.date_format.format(
            m=value.month, d=value.day, w=self.weekdays[value.weekday()]
        )

    def moment(self, value: datetime, *, today: date) -> str:
        """A visit time as people say it: 今日 14:05, 昨日 9:30, 11月3日(火) 10:00."""
        local = value.astimezone(JST)
        clock = self.time_format.format(h=local.hour, m=local.minute)
        days = (today - local.date()).days
        if days == 0:
            return f"{self.today_word} {clock}"
        if days == 1:
            return f"{self.yesterday_word} {clock}"
        return f"{self.day(local.date())} {clock}"


JA = Common(
    app_title="見守り記録",
    person="{name}さん",
    nav_round="今日の見守り",
    nav_history="わたしの記録",
    nav_profile="設定",
    save="保存する",
    back="戻る",
    status_line="{pending} ・ {synced}",
    status_pending="端末に保存済み・未送信 {n}件",
    status_all_sent="未送信はありません",
    status_last_sync="最終同期 {when}",
    status_never_synced="まだ同期していません",
    status_syncing="同期しています…",
    status_offline="電波が戻ったら自動で送ります",
    status_rejected="送れなかった記録 {n}件（わたしの記録で確認できます）",
    status_not_enrolled="サーバーに未登録（設定から登録できます）",
    sync_now="今すぐ送る",
    sync_results={
        SyncState.OK: "送りました。最新の情報を受け取りました",
        SyncState.OFFLINE: "今は送れません。記録は端末に保存してあり、電波が戻ったら自動で送ります",
        SyncState.REVOKED: "この端末の登録は取り消されました",
        SyncState.UNAUTHORIZED: "サーバーがこの端末を確認できません。担当者に連絡してください",
        SyncState.FAILED: "送れませんでした。時間をおいてもう一度お試しください",
        SyncState.NOT_ENROLLED: "まだサーバーに登録していません。設定から登録してください",
    },
    revoked_notice=(
        "この端末の登録は取り消されました。見守りの方の情報は端末から消去しました。"
        "続けるには、担当者から新しい招待コードを受け取ってください。"
    ),
    errors={
        ErrorCode.REQUIRED: "入力してください",
        ErrorCode.TOO_LONG: "{limit}文字までで書いてください",
        ErrorCode.CONTROL_CHARS: "使えない文字が入っています。書き直してください",
        ErrorCode.IN_FUTURE: "未来の日時は記録できません。端末の時計を確かめてください",
        ErrorCode.TOO_OLD: "{limit}日より前の訪問は、ここでは記録できません",
        ErrorCode.NO_TIMEZONE: "日時が正しくありません",
        ErrorCode.UNKNOWN_RESIDENT: "この方の情報は端末にありません",
        ErrorCode.INACTIVE_RESIDENT: "この方は今、見守りの対象ではありません",
        ErrorCode.CONCERN_REQUIRED: "どんなことか選んでください",
        ErrorCode.CONCERN_NOT_ALLOWED: (
            "気になることは「気になることがある」から記録してください"
        ),
        ErrorCode.BAD_URL: "http:// か https:// で始まるアドレスを入れてください",
        ErrorCode.SESSION_AHEAD: "明日より先の回は、まだ記録できません",
        ErrorCode.COUNT_RANGE: "人数は0人から{limit}人までで入れてください",
        ErrorCode.DUPLICATE_MEMBER: (
            "同じお名前・ふりがなの方がもう名簿にいます。その方に印をつけてください"
        ),
        ErrorCode.OTHER_SALON: "この方は別のサロンの名簿の方です",
        ErrorCode.NOT_ORGANISER: (
            "このサロンの世話人として登録されていません。社協の担当者にお問い合わせください"
        ),
        ErrorCode.BIRTH_YEAR: "生まれ年は西暦4けたで入れてください（例：1945）",
    },
    error_note_required="「その他」を選んだときは、どんなことかメモに書いてください",
    error_not_enrolled="まだ登録が済んでいません。設定から登録してください",
    weekdays=("月", "火", "水", "木", "金", "土", "日"),
    date_format="{m}月{d}日({w})",
    time_format="{h}:{m:02d}",
    today_word="今日",
    yesterday_word="昨日",
)

EN = Common(
    app_title="Watch visits",
    person="{name}",
    nav_round="Today's round",
    nav_history="My records",
    nav_profile="Settings",
    save="Save",
    back="Back",
    status_line="{pending} · {synced}",
    status_pending="Saved on this phone, {n} not sent yet",
    status_all_sent="Nothing waiting to be sent",
    status_last_sync="Last sync {when}",
    status_never_synced="Not synced yet",
    status_syncing="Syncing…",
    status_offline="Will send automatically when there is signal",
    status_rejected="{n} records not accepted (see My records)",
    status_not_enrolled="Not enrolled with the server (see Settings)",
    sync_now="Send now",
    sync_results={
        SyncState.OK: "Sent, and the latest information received",
        SyncState.OFFLINE: "Can't send now. Saved on this phone; it will be sent later",
        SyncState.REVOKED: "This device's enrolment was revoked",
        SyncState.UNAUTHORIZED: "The server does not know this device: contact the council",
        SyncState.FAILED: "Could not send: please try again later",
        SyncState.NOT_ENROLLED: "Not enrolled with the server yet: see Settings",
    },
    revoked_notice=(
        "This device's enrolment was revoked, and residents' data was removed from "
        "it. Ask the council for a new invitation code to continue."
    ),
    errors={
        ErrorCode.REQUIRED: "Please fill this in",
        ErrorCode.TOO_LONG: "At most {limit} characters",
        ErrorCode.CONTROL_CHARS: "Contains characters that can't be used",
        ErrorCode.IN_FUTURE: "A visit can't be in the future: check the phone's clock",
        ErrorCode.TOO_OLD: "Visits over {limit} days ago can't be recorded here",
        ErrorCode.NO_TIMEZONE: "The time is not valid",
        ErrorCode.UNKNOWN_RESIDENT: "This person is not on this phone",
        ErrorCode.INACTIVE_RESIDENT: "This person is no longer being watched over",
        ErrorCode.CONCERN_REQUIRED: "Choose what it is about",
        ErrorCode.CONCERN_NOT_ALLOWED: "Record concerns with 'Something is wrong'",
        ErrorCode.BAD_URL: "Enter an address starting with http:// or https://",
        ErrorCode.SESSION_AHEAD: "Sessions after tomorrow can't be recorded yet",
        ErrorCode.COUNT_RANGE: "Enter a number from 0 to {limit}",
        ErrorCode.DUPLICATE_MEMBER: (
            "Someone with this name and reading is on the roster already: tick them"
        ),
        ErrorCode.OTHER_SALON: "This person is on another salon's roster",
        ErrorCode.NOT_ORGANISER: (
            "You are not registered as an organiser of this salon: ask the council"
        ),
        ErrorCode.BIRTH_YEAR: "Enter the year of birth as four digits (e.g. 1945)",
    },
    error_note_required="For 'Other', please write what it is in the note",
    error_not_enrolled="This phone is not enrolled yet: see Settings",
    weekdays=("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    date_format="{w} {d}/{m}",
    time_format="{h}:{m:02d}",
    today_word="Today",
    yesterday_word="Yesterday",
)
