"""The volunteer's round: who is due, a visit, a concern, my records, and the
first-run profile with its enrolment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from watchapp.strings.base import Part, complete
from watchapp.sync.protocol import EnrolmentProblem, Reason

# How far back each visit-time choice moves the visit, in hours (0 = now).
TIME_CHOICE_HOURS: tuple[int, ...] = (0, 1, 3, 24, 48, 72, 168)


@dataclass(frozen=True)
class Round(Part):
    visit_line: str
    with_category: str
    history_line: str
    concern_heading: str
    concern_line: str
    # today's round
    round_title: str
    round_empty: str
    round_count: str
    due_overdue: str
    due_today: str
    due_in: str
    last_contact: str
    never_visited: str
    salon_absence: str
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
    saved: str
    undo: str
    undone: str
    # concern
    concern_title: str
    concern_category_question: str
    concern_urgency_question: str
    concern_note: str
    concern_note_required: str
    # my records
    history_title: str
    history_empty: str
    rejected_title: str
    rejected_line: str
    rejected_hint: str
    rejected_again: str
    reasons: Mapping[Reason, str]
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
    enrol_problems: Mapping[EnrolmentProblem, str]
    enrol_offline: str

    def __post_init__(self) -> None:
        complete(self.reasons, Reason)
        complete(self.enrol_problems, EnrolmentProblem)
        if len(self.time_choices) != len(TIME_CHOICE_HOURS):
            raise ValueError("time_choices must match TIME_CHOICE_HOURS")
        super().__post_init__()

    def enrol_error(self, reason: EnrolmentProblem | Literal["offline"]) -> str:
        """Why enrolment failed (watchapp.state.EnrolmentFailed.reason)."""
        if isinstance(reason, EnrolmentProblem):
            return self.enrol_problems[reason]
        return self.enrol_offline


# The request's own faults (the device or a proxy in between sent a body the
# council cannot read): nothing the volunteer can change but tell the council.
_JA_APP_FAULT = (
    "アプリとサーバーの組み合わせに問題があります。社協の担当者に連絡してください"
)
# The connection died while the request was on its way.
_JA_CUT_OFF = "電波が弱く、送りきれませんでした。電波のある所でもう一度お試しください"

JA = Round(
    visit_line="{when}　{outcome}",
    with_category="（{category}）",
    history_line="{name}さん　{outcome}",
    concern_heading="{name}さん・気になること",
    concern_line="{day}　{category}・{urgency}・{status}",
    round_title="今日の見守り",
    round_empty="担当の方がまだいません。\n社協の担当者から招待コードを受け取って登録すると、ここに表示されます。",
    round_count="{n}人",
    due_overdue="{n}日 超過",
    due_today="今日が訪問日",
    due_in="あと{n}日",
    last_contact="前回 {when}",
    never_visited="まだ訪問記録がありません",
    salon_absence="サロンを{missed}回続けてお休み（最後の参加 {when}）",
    evacuation_badge="要支援",
    resident_last_visits="最近の訪問",
    resident_no_visits="まだ訪問記録がありません",
    resident_open_concerns="気になること（対応待ち）",
    resident_not_assigned="この方は今、あなたの担当ではありません",
    resident_unknown="この方の情報は端末にありません",
    visit_time="訪問した日時",
    time_choices=("今", "1時間前", "3時間前", "昨日", "2日前", "3日前", "1週間前"),
    outcome_question="どうでしたか",
    saved="{name}さんの訪問を保存しました",
    undo="取り消す",
    undone="取り消しました",
    concern_title="気になること",
    concern_category_question="どんなことですか",
    concern_urgency_question="急ぎますか",
    concern_note="メモ（書かなくても大丈夫です）",
    concern_note_required="メモ（「その他」のときは書いてください）",
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
    enrol_problems={
        EnrolmentProblem.INVITATION_UNKNOWN: "招待コードが違います。もう一度確かめてください",
        EnrolmentProblem.INVITATION_USED: "この招待コードはもう使われています。新しいコードをもらってください",
        EnrolmentProblem.INVITATION_EXPIRED: "この招待コードは期限（72時間）が切れています。新しいコードをもらってください",
        EnrolmentProblem.DEVICE_TAKEN: "この端末はすでに登録されています",
        EnrolmentProblem.TOO_MANY_ATTEMPTS: "何度も違うコードが入力されました。しばらく待ってからお試しください",
        EnrolmentProblem.INVALID_REQUEST: "登録の内容を受け付けられませんでした。お名前と招待コードを確かめてください",
        EnrolmentProblem.UNKNOWN_FIELD: _JA_APP_FAULT,
        EnrolmentProblem.MALFORMED_JSON: _JA_APP_FAULT,
        EnrolmentProblem.MALFORMED_GZIP: _JA_APP_FAULT,
        EnrolmentProblem.TOO_LARGE: _JA_APP_FAULT,
        EnrolmentProblem.UNSUPPORTED_ENCODING: _JA_APP_FAULT,
        EnrolmentProblem.BODY_TIMEOUT: _JA_CUT_OFF,
        EnrolmentProblem.CLIENT_DISCONNECTED: _JA_CUT_OFF,
        EnrolmentProblem.INTERNAL_ERROR: "サーバーで問題が起きました。時間をおいてもう一度お試しください",
    },
    enrol_offline="サーバーにつながりません。電波のある所で、アドレスを確かめてお試しください",
)

_EN_APP_FAULT = "This app and the server do not work together: contact the council"
_EN_CUT_OFF = "The signal was too weak to send it: try again where it is better"

EN = Round(
    visit_line="{when}  {outcome}",
    with_category=" ({category})",
    history_line="{name}  {outcome}",
    concern_heading="{name}: concern",
    concern_line="{day}  {category}, {urgency}, {status}",
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
    salon_absence="Missed the salon {missed} times in a row (last came {when})",
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
    saved="Visit to {name} saved",
    undo="Undo",
    undone="Undone",
    concern_title="Concern",
    concern_category_question="What is it about?",
    concern_urgency_question="Is it urgent?",
    concern_note="Note (optional)",
    concern_note_required="Note (needed for 'Other')",
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
    enrol_problems={
        EnrolmentProblem.INVITATION_UNKNOWN: (
            "That invitation code is not right: please check it"
        ),
        EnrolmentProblem.INVITATION_USED: "This code was already used: ask for a new one",
        EnrolmentProblem.INVITATION_EXPIRED: (
            "This code has expired (72 hours): ask for a new one"
        ),
        EnrolmentProblem.DEVICE_TAKEN: "This device is already enrolled",
        EnrolmentProblem.TOO_MANY_ATTEMPTS: (
            "Too many wrong codes: wait a while and try again"
        ),
        EnrolmentProblem.INVALID_REQUEST: (
            "The council could not accept these details: check your name and the code"
        ),
        EnrolmentProblem.UNKNOWN_FIELD: _EN_APP_FAULT,
        EnrolmentProblem.MALFORMED_JSON: _EN_APP_FAULT,
        EnrolmentProblem.MALFORMED_GZIP: _EN_APP_FAULT,
        EnrolmentProblem.TOO_LARGE: _EN_APP_FAULT,
        EnrolmentProblem.UNSUPPORTED_ENCODING: _EN_APP_FAULT,
        EnrolmentProblem.BODY_TIMEOUT: _EN_CUT_OFF,
        EnrolmentProblem.CLIENT_DISCONNECTED: _EN_CUT_OFF,
        EnrolmentProblem.INTERNAL_ERROR: "The server had a problem: please try again later",
    },
    enrol_offline="Can't reach the server: check the address and the signal",
)
