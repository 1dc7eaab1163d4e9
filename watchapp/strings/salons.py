"""The salon organiser's screens: the year's grant line, a session's totals,
and who to follow up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from watchapp.domain.salons import Category
from watchapp.strings.base import Part, complete


@dataclass(frozen=True)
class Salons(Part):
    grant_sessions_met: str
    grant_sessions_short: str
    grant_held: str
    session_totals_line: str
    absence_line: str
    # my salons
    salons_title: str
    salons_empty: str
    salon_place: str
    salon_absences: str
    salon_open_today: str
    salon_open_year: str
    salon_back: str
    # the session
    salon_session_title: str
    salon_filter_label: str
    salon_present: str
    salon_new_badge: str
    salon_roster_empty: str
    salon_door_title: str
    salon_door_returning: str
    salon_door_first_time: str
    salon_door_categories: Mapping[Category, str]
    salon_door_count: str
    salon_door_others: str
    salon_minus: str
    salon_plus: str
    salon_add_open: str
    salon_add_name: str
    salon_add_kana: str
    salon_add_birth_year: str
    salon_add_consent: str
    salon_add_save: str
    salon_added: str
    salon_duplicate: str
    salon_tick_existing: str
    salon_ticked: str
    # the year
    salon_year_title: str
    salon_month: str
    salon_col_month: str
    salon_col_sessions: str
    salon_col_attendances: str
    salon_col_helpers: str
    salon_year_total: str
    salon_times: str
    salon_people: str
    salon_distinct: str
    salon_absence_title: str
    salon_no_absences: str

    def __post_init__(self) -> None:
        complete(self.salon_door_categories, Category)
        super().__post_init__()

    def grant_line(self, held: int, required: int) -> str:
        """The year so far against the minimum number of sessions."""
        if required <= 0:
            return self.grant_held.format(held=held)
        if held >= required:
            return self.grant_sessions_met.format(held=held, required=required)
        return self.grant_sessions_short.format(
            held=held, required=required, short=required - held
        )


JA = Salons(
    grant_sessions_met="今年度 {held}回開催・条件（{required}回以上）を満たしています",
    grant_sessions_short="今年度 {held}回開催・条件（{required}回以上）まであと{short}回",
    grant_held="今年度 {held}回開催",
    session_totals_line="参加 {participants}人（うち新規 {new}人）・協力者 {helpers}人",
    absence_line="{name}さん　{missed}回続けてお休み（最後の参加 {day}）",
    salons_title="わたしのサロン",
    salons_empty="担当のサロンはまだありません",
    salon_place="場所：{place}",
    salon_absences="続けてお休みの方 {n}人",
    salon_open_today="今日のサロンを開く",
    salon_open_year="今年度の記録を見る",
    salon_back="サロンの一覧へ",
    salon_session_title="{name}　{day}",
    salon_filter_label="よみがなで探す",
    salon_present="出席",
    salon_new_badge="新",
    salon_roster_empty="あてはまる方がいません",
    salon_door_title="来場者・協力者",
    salon_door_returning="2回目以降の方",
    salon_door_first_time="はじめての方",
    salon_door_categories={
        Category.ELDERLY_65_74: "65〜74歳",
        Category.ELDERLY_75_84: "75〜84歳",
        Category.ELDERLY_85_PLUS: "85歳以上",
        Category.ELDERLY_AGE_UNKNOWN: "65歳以上（年齢不明）",
        Category.UNDER_65: "65歳未満",
        Category.CHILDREN_PARENTS: "子ども・保護者",
        Category.HELPER: "協力者",
    },
    salon_door_count="{n}人",
    salon_door_others="他の端末 {n}",
    salon_minus="−",
    salon_plus="＋",
    salon_add_open="新しい方を名簿に追加",
    salon_add_name="お名前",
    salon_add_kana="よみがな",
    salon_add_birth_year="生まれ年（西暦・わからなければ空けておく）",
    salon_add_consent="名簿にのせることにご本人が同意している",
    salon_add_save="追加して出席にする",
    salon_added="{name}さんを名簿に追加し、出席にしました",
    salon_duplicate="同じお名前の方が名簿にいます：{name}さん（{kana}）",
    salon_tick_existing="この方を出席にする",
    salon_ticked="{name}さんを出席にしました",
    salon_year_title="{name}　{year}年度",
    salon_month="{m}月",
    salon_col_month="月",
    salon_col_sessions="開催",
    salon_col_attendances="延べ人数",
    salon_col_helpers="協力者",
    salon_year_total="合計",
    salon_times="{n}回",
    salon_people="{n}人",
    salon_distinct="実人数 {n}人（名簿 {registered}人）",
    salon_absence_title="続けてお休みの方",
    salon_no_absences="続けてお休みの方はいません",
)

EN = Salons(
    grant_sessions_met="This year: {held} sessions; the condition ({required} or more) is met",
    grant_sessions_short="This year: {held} sessions; {short} more to reach the condition ({required} or more)",
    grant_held="This year: {held} sessions",
    session_totals_line="{participants} came ({new} new), {helpers} helpers",
    absence_line="{name}: missed {missed} sessions in a row (last came {day})",
    salons_title="My salons",
    salons_empty="You organise no salon yet",
    salon_place="Place: {place}",
    salon_absences="Missed several sessions in a row: {n}",
    salon_open_today="Open today's salon",
    salon_open_year="This year's record",
    salon_back="Back to my salons",
    salon_session_title="{name}, {day}",
    salon_filter_label="Search by reading",
    salon_present="Present",
    salon_new_badge="New",
    salon_roster_empty="No one matches",
    salon_door_title="Walk-ins and helpers",
    salon_door_returning="Been before",
    salon_door_first_time="First time",
    salon_door_categories={
        Category.ELDERLY_65_74: "Aged 65-74",
        Category.ELDERLY_75_84: "Aged 75-84",
        Category.ELDERLY_85_PLUS: "Aged 85+",
        Category.ELDERLY_AGE_UNKNOWN: "65+ (age unknown)",
        Category.UNDER_65: "Under 65",
        Category.CHILDREN_PARENTS: "Children and parents",
        Category.HELPER: "Helpers",
    },
    salon_door_count="{n}",
    salon_door_others="other devices {n}",
    salon_minus="-",
    salon_plus="+",
    salon_add_open="Add a new person to the roster",
    salon_add_name="Name",
    salon_add_kana="Reading (kana)",
    salon_add_birth_year="Year of birth (leave empty if unknown)",
    salon_add_consent="They agree to be on the roster",
    salon_add_save="Add and mark present",
    salon_added="{name} added to the roster and marked present",
    salon_duplicate="Someone with the same name is on the roster: {name} ({kana})",
    salon_tick_existing="Mark this person present",
    salon_ticked="{name} marked present",
    salon_year_title="{name}: fiscal year {year}",
    salon_month="Month {m}",
    salon_col_month="Month",
    salon_col_sessions="Sessions",
    salon_col_attendances="Attendances",
    salon_col_helpers="Helpers",
    salon_year_total="Total",
    salon_times="{n}",
    salon_people="{n}",
    salon_distinct="{n} different people ({registered} on the roster)",
    salon_absence_title="Missed several sessions in a row",
    salon_no_absences="No one has missed several sessions in a row",
)
