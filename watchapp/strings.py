"""Every UI string, Japanese first and English second: the only module with Japanese.

One frozen dataclass per language, so a string missing from a language fails at
import and mypy catches a misspelt name. Labels for enum values are mappings,
checked for completeness when the module loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

from watchapp.domain.model import JST, ConcernCategory, ConcernStatus, Outcome, Urgency
from watchapp.domain.validation import ErrorCode
from watchapp.state import SyncState
from watchapp.sync.protocol import Reason

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class Strings:
    app_title: str
    person: str
    status_line: str
    visit_line: str
    with_category: str
    history_line: str
    concern_heading: str
    concern_line: str
    nav_round: str
    nav_history: str
    nav_profile: str
    # status line
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
    # today's round
    round_title: str
    round_empty: str
    round_count: str
    due_overdue: str
    due_today: str
    due_in: str
    last_contact: str
    never_visited: str
    evacuation_badge: str
    # resident page
    resident_last_visits: str
    resident_no_visits: str
    resident_open_concerns: str
    resident_not_assigned: str
    resident_unknown: str
    visit_time: str
    time_choices: tuple[str, ...]
    outcome_question: str
    outcomes: Mapping[Outcome, str]
    # concern
    concern_title: str
    concern_category_question: str
    concern_urgency_question: str
    concern_note: str
    concern_note_required: str
    categories: Mapping[ConcernCategory, str]
    urgencies: Mapping[Urgency, str]
    concern_statuses: Mapping[ConcernStatus, str]
    save: str
    back: str
    saved: str
    undo: str
    undone: str
    # my records
    history_title: str
    history_empty: str
    rejected_title: str
    rejected_line: str
    rejected_hint: str
    rejected_again: str
    reasons: Mapping[Reason, str]
    # coordinators
    nav_district: str
    district_title: str
    district_empty: str
    district_line: str
    district_detail: str
    # first run / profile
    profile_title: str
    profile_intro: str
    profile_name: str
    profile_server_url: str
    profile_invite_code: str
    profile_save: str
    profile_saved: str
    profile_enrolled: str
    profile_enrolling: str
    enrol_errors: Mapping[str, str]
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
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and not value:
                raise ValueError(f"empty string: {f.name}")
        _complete(self.outcomes, Outcome)
        _complete(self.categories, ConcernCategory)
        _complete(self.urgencies, Urgency)
        _complete(self.concern_statuses, ConcernStatus)
        _complete(self.errors, ErrorCode)
        _complete(self.reasons, Reason)
        _complete(self.sync_results, SyncState)
        missing = set(ENROL_ERRORS) - set(self.enrol_errors)
        if missing:
            raise ValueError(f"enrolment messages missing: {sorted(missing)}")
        if len(self.weekdays) != 7:
            raise ValueError("weekdays needs seven names")
        if len(self.time_choices) != len(TIME_CHOICE_HOURS):
            raise ValueError("time_choices must match TIME_CHOICE_HOURS")

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


# Why enrolment can fail: the council's codes, and "offline".
ENROL_ERRORS = (
    "invitation_unknown",
    "invitation_used",
    "invitation_expired",
    "too_many_attempts",
    "device_taken",
    "offline",
)

# How far back each visit-time choice moves the visit, in hours (0 = now).
TIME_CHOICE_HOURS: tuple[int, ...] = (0, 1, 3, 24, 48, 72, 168)


def _complete(mapping: Mapping[E, str], enum: type[E]) -> None:
    missing = [m.value for m in enum if not mapping.get(m)]
    if missing:
        raise ValueError(f"{enum.__name__} labels missing: {missing}")


JA = Strings(
    app_title="見守り記録",
    person="{name}さん",
    status_line="{pending} ・ {synced}",
    visit_line="{when}　{outcome}",
    with_category="（{category}）",
    history_line="{name}さん　{outcome}",
    concern_heading="{name}さん・気になること",
    concern_line="{day}　{category}・{urgency}・{status}",
    nav_round="今日の見守り",
    nav_history="わたしの記録",
    nav_profile="設定",
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
    round_title="今日の見守り",
    round_empty="担当の方がまだいません。\n社協の担当者から招待コードを受け取って登録すると、ここに表示されます。",
    round_count="{n}人",
    due_overdue="{n}日 超過",
    due_today="今日が訪問日",
    due_in="あと{n}日",
    last_contact="前回 {when}",
    never_visited="まだ訪問記録がありません",
    evacuation_badge="要支援",
    resident_last_visits="最近の訪問",
    resident_no_visits="まだ訪問記録がありません",
    resident_open_concerns="気になること（対応待ち）",
    resident_not_assigned="この方は今、あなたの担当ではありません",
    resident_unknown="この方の情報は端末にありません",
    visit_time="訪問した日時",
    time_choices=("今", "1時間前", "3時間前", "昨日", "2日前", "3日前", "1週間前"),
    outcome_question="どうでしたか",
    outcomes={
        Outcome.MET_WELL: "会えた・元気",
        Outcome.MET_CONCERN: "気になることがある",
        Outcome.NOT_HOME: "留守だった",
        Outcome.IN_CARE: "入院・入所中",
        Outcome.DECLINED: "訪問を断られた",
        Outcome.PHONE: "電話で確認した",
    },
    concern_title="気になること",
    concern_category_question="どんなことですか",
    concern_urgency_question="急ぎますか",
    concern_note="メモ（書かなくても大丈夫です）",
    concern_note_required="メモ（「その他」のときは書いてください）",
    categories={
        ConcernCategory.HEALTH: "体調",
        ConcernCategory.MEALS: "食事",
        ConcernCategory.HOME: "住まい",
        ConcernCategory.MEMORY: "物忘れ",
        ConcernCategory.MONEY: "お金",
        ConcernCategory.OTHER: "その他",
    },
    urgencies={Urgency.URGENT: "急ぎ", Urgency.NORMAL: "急ぎではない"},
    concern_statuses={
        ConcernStatus.OPEN: "未対応",
        ConcernStatus.IN_PROGRESS: "対応中",
        ConcernStatus.RESOLVED: "解決済み",
    },
    save="保存する",
    back="戻る",
    saved="{name}さんの訪問を保存しました",
    undo="取り消す",
    undone="取り消しました",
    history_title="わたしの記録",
    history_empty="まだ記録がありません",
    rejected_title="送れなかった記録",
    rejected_line="{when} {name}さん：{reason}",
    rejected_hint="担当のコーディネーターに確かめてから、もう一度送れます",
    rejected_again="もう一度送る",
    reasons={
        Reason.MALFORMED: "記録の形が正しくありません",
        Reason.UNKNOWN_KIND: "この種類の記録は受け付けられません",
        Reason.UNKNOWN_FIELD: "記録に知らない項目があります",
        Reason.MISSING_FIELD: "記録に必要な項目が足りません",
        Reason.WRONG_TYPE: "記録の項目の形が正しくありません",
        Reason.BAD_VALUE: "記録の内容が正しくありません",
        Reason.TOO_LONG: "記録が長すぎます",
        Reason.CONTROL_CHARS: "使えない文字が入っています",
        Reason.CLOCK_AHEAD: "端末の時計が進んでいます。時計を直してから記録し直してください",
        Reason.NOT_YOUR_DEVICE: "別の端末の記録です",
        Reason.FORBIDDEN: "この記録を送る権限がありません",
        Reason.OUT_OF_SCOPE: "担当ではない方の記録です。担当者に確認してください",
        Reason.UNKNOWN_REFERENCE: "サーバーにこの方の登録がありません",
        Reason.TOO_OLD: "日付が古すぎます。端末の日付と時刻を確かめてください",
        Reason.INCONSISTENT: "訪問の結果と「気になること」の内容が合っていません",
        Reason.DEPENDS_ON_REFUSED: "一緒に送った別の記録が受け付けられなかったため、受け付けられませんでした",
    },
    nav_district="地区の訪問",
    district_title="最近の訪問（担当地区）",
    district_empty="まだ訪問の記録が届いていません",
    district_line="{name}さん　{outcome}",
    district_detail="{when} ・ {volunteer}",
    profile_title="はじめに",
    profile_intro=(
        "お名前を入れてください。"
        "サーバーのアドレスと招待コードは、社協の担当者から受け取ったものです"
        "（あとから入れても大丈夫です）。"
    ),
    profile_name="お名前",
    profile_server_url="サーバーのアドレス",
    profile_invite_code="招待コード",
    profile_save="保存する",
    profile_saved="保存しました",
    profile_enrolled="登録しました。担当の方の情報を受け取りました",
    profile_enrolling="登録しています…",
    enrol_errors={
        "invitation_unknown": "招待コードが違います。もう一度確かめてください",
        "invitation_used": "この招待コードはもう使われています。新しいコードをもらってください",
        "invitation_expired": "この招待コードは期限（72時間）が切れています。新しいコードをもらってください",
        "too_many_attempts": "何度も違うコードが入力されました。しばらく待ってからお試しください",
        "device_taken": "この端末はすでに登録されています",
        "offline": "サーバーにつながりません。電波のある所で、アドレスを確かめてお試しください",
    },
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
    },
    error_note_required="「その他」を選んだときは、どんなことかメモに書いてください",
    error_not_enrolled="まだ登録が済んでいません。設定から登録してください",
    weekdays=("月", "火", "水", "木", "金", "土", "日"),
    date_format="{m}月{d}日({w})",
    time_format="{h}:{m:02d}",
    today_word="今日",
    yesterday_word="昨日",
)

EN = Strings(
    app_title="Watch visits",
    person="{name}",
    status_line="{pending} · {synced}",
    visit_line="{when}  {outcome}",
    with_category=" ({category})",
    history_line="{name}  {outcome}",
    concern_heading="{name}: concern",
    concern_line="{day}  {category}, {urgency}, {status}",
    nav_round="Today's round",
    nav_history="My records",
    nav_profile="Settings",
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
    round_title="Today's round",
    round_empty=(
        "Nobody is assigned to you yet.\n"
        "Enrol with the invitation code from the council and they will appear here."
    ),
    round_count="{n} people",
    due_overdue="{n} days overdue",
    due_today="Due today",
    due_in="Due in {n} days",
    last_contact="Last {when}",
    never_visited="No visits recorded yet",
    evacuation_badge="Register",
    resident_last_visits="Recent visits",
    resident_no_visits="No visits recorded yet",
    resident_open_concerns="Concerns waiting for follow-up",
    resident_not_assigned="This person is not assigned to you now",
    resident_unknown="This person is not on this phone",
    visit_time="When was the visit",
    time_choices=(
        "Now",
        "1 h ago",
        "3 h ago",
        "Yesterday",
        "2 days",
        "3 days",
        "1 week",
    ),
    outcome_question="How was it?",
    outcomes={
        Outcome.MET_WELL: "Met, all well",
        Outcome.MET_CONCERN: "Something is wrong",
        Outcome.NOT_HOME: "Not at home",
        Outcome.IN_CARE: "In hospital or care",
        Outcome.DECLINED: "Declined the visit",
        Outcome.PHONE: "Checked by phone",
    },
    concern_title="Concern",
    concern_category_question="What is it about?",
    concern_urgency_question="Is it urgent?",
    concern_note="Note (optional)",
    concern_note_required="Note (needed for 'Other')",
    categories={
        ConcernCategory.HEALTH: "Health",
        ConcernCategory.MEALS: "Meals",
        ConcernCategory.HOME: "Home",
        ConcernCategory.MEMORY: "Memory",
        ConcernCategory.MONEY: "Money",
        ConcernCategory.OTHER: "Other",
    },
    urgencies={Urgency.URGENT: "Urgent", Urgency.NORMAL: "Not urgent"},
    concern_statuses={
        ConcernStatus.OPEN: "Open",
        ConcernStatus.IN_PROGRESS: "In progress",
        ConcernStatus.RESOLVED: "Resolved",
    },
    save="Save",
    back="Back",
    saved="Visit to {name} saved",
    undo="Undo",
    undone="Undone",
    history_title="My records",
    history_empty="No records yet",
    rejected_title="Records not accepted",
    rejected_line="{when} {name}: {reason}",
    rejected_hint="Check with your coordinator, then send them again",
    rejected_again="Send again",
    reasons={
        Reason.MALFORMED: "The record is malformed",
        Reason.UNKNOWN_KIND: "This kind of record is not accepted",
        Reason.UNKNOWN_FIELD: "The record has an unknown field",
        Reason.MISSING_FIELD: "The record misses a field",
        Reason.WRONG_TYPE: "A field has the wrong type",
        Reason.BAD_VALUE: "A value is not valid",
        Reason.TOO_LONG: "The record is too long",
        Reason.CONTROL_CHARS: "Contains characters that can't be used",
        Reason.CLOCK_AHEAD: "This phone's clock is ahead: fix it and record again",
        Reason.NOT_YOUR_DEVICE: "Written by another device",
        Reason.FORBIDDEN: "You may not send this record",
        Reason.OUT_OF_SCOPE: "Not a resident assigned to you: ask the council",
        Reason.UNKNOWN_REFERENCE: "The server does not know this resident",
        Reason.TOO_OLD: "The date is too far back: check this phone's date and time",
        Reason.INCONSISTENT: "The outcome and the concern do not match",
        Reason.DEPENDS_ON_REFUSED: "Refused because a record sent with it was refused",
    },
    nav_district="Visits",
    district_title="Recent visits (your districts)",
    district_empty="No visits have arrived yet",
    district_line="{name}: {outcome}",
    district_detail="{when} · {volunteer}",
    profile_title="Welcome",
    profile_intro=(
        "Enter your name. The server address and invitation code come from the "
        "council (you can add them later)."
    ),
    profile_name="Your name",
    profile_server_url="Server address",
    profile_invite_code="Invitation code",
    profile_save="Save",
    profile_saved="Saved",
    profile_enrolled="Enrolled: your residents have arrived",
    profile_enrolling="Enrolling…",
    enrol_errors={
        "invitation_unknown": "That invitation code is not right: please check it",
        "invitation_used": "This code was already used: ask for a new one",
        "invitation_expired": "This code has expired (72 hours): ask for a new one",
        "too_many_attempts": "Too many wrong codes: wait a while and try again",
        "device_taken": "This device is already enrolled",
        "offline": "Can't reach the server: check the address and the signal",
    },
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
    },
    error_note_required="For 'Other', please write what it is in the note",
    error_not_enrolled="This phone is not enrolled yet: see Settings",
    weekdays=("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    date_format="{w} {d}/{m}",
    time_format="{h}:{m:02d}",
    today_word="Today",
    yesterday_word="Yesterday",
)

CATALOGS: dict[str, Strings] = {"ja": JA, "en": EN}


def catalog(lang: str = "ja") -> Strings:
    """The strings for ``lang``; Japanese for anything unknown."""
    return CATALOGS.get(lang, JA)
