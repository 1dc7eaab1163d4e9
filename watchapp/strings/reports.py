"""The names of the domain's values, as a screen and a report both print them:
outcomes, concern categories, urgencies, concern statuses.

It imports only the domain, so the server can use it for report headings
without the device's state, sync client, httpx or Flet (tests/test_strings.py
checks that in a fresh interpreter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from watchapp.domain.grants import Condition
from watchapp.domain.model import ConcernCategory, ConcernStatus, Outcome, Urgency
from watchapp.domain.salons import Category, ContactKind, Programme
from watchapp.strings.base import Part, complete


@dataclass(frozen=True)
class SalonHeadings(Part):
    """The yearly salon report's sheet titles, headers and cell words."""

    summary_sheet: str
    fiscal_year: str
    district: str
    salon: str
    date: str
    time: str
    place: str
    contact: str
    programme: str
    programme_text: str
    participants: str
    new: str
    members_present: str
    helpers: str
    month: str
    month_name: str
    sessions: str
    attendances: str
    helper_attendances: str
    distinct_people: str
    registered_members: str
    counted_sessions: str
    average_elderly: str
    eligibility: str
    eligible: str
    amount: str
    unmet: Mapping[Condition, str]
    categories: Mapping[Category, str]
    contact_kinds: Mapping[ContactKind, str]
    programmes: Mapping[Programme, str]

    def __post_init__(self) -> None:
        complete(self.unmet, Condition)
        complete(self.categories, Category)
        complete(self.contact_kinds, ContactKind)
        complete(self.programmes, Programme)
        super().__post_init__()


@dataclass(frozen=True)
class Reports(Part):
    outcomes: Mapping[Outcome, str]
    categories: Mapping[ConcernCategory, str]
    urgencies: Mapping[Urgency, str]
    concern_statuses: Mapping[ConcernStatus, str]
    salon_report: SalonHeadings

    def __post_init__(self) -> None:
        complete(self.outcomes, Outcome)
        complete(self.categories, ConcernCategory)
        complete(self.urgencies, Urgency)
        complete(self.concern_statuses, ConcernStatus)
        super().__post_init__()


JA = Reports(
    outcomes={
        Outcome.MET_WELL: "会えた・元気",
        Outcome.MET_CONCERN: "気になることがある",
        Outcome.NOT_HOME: "留守だった",
        Outcome.IN_CARE: "入院・入所中",
        Outcome.DECLINED: "訪問を断られた",
        Outcome.PHONE: "電話で確認した",
    },
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
    salon_report=SalonHeadings(
        summary_sheet="集計",
        fiscal_year="{year}年度 サロン実施報告",
        district="校区",
        salon="サロン名",
        date="開催日",
        time="開始時刻",
        place="会場",
        contact="実施形態",
        programme="活動内容",
        programme_text="内容（自由記述）",
        participants="参加者計",
        new="うち新規",
        members_present="うち登録者",
        helpers="協力者（ボランティア）",
        month="月",
        month_name="{month}月",
        sessions="開催回数",
        attendances="延べ人数",
        helper_attendances="協力者延べ人数",
        distinct_people="実人数",
        registered_members="登録者数",
        counted_sessions="助成対象回数",
        average_elderly="高齢者平均参加数",
        eligibility="助成要件",
        eligible="満たしている",
        amount="助成額（円）",
        unmet={
            Condition.MIN_SESSIONS: "開催回数 {actual}回（{required}回以上）",
            Condition.LOWEST_TIER: "高齢者平均 {actual:.1f}人（{required}人以上）",
        },
        categories={
            Category.ELDERLY_65_74: "65〜74歳",
            Category.ELDERLY_75_84: "75〜84歳",
            Category.ELDERLY_85_PLUS: "85歳以上",
            Category.ELDERLY_AGE_UNKNOWN: "65歳以上（年齢不明）",
            Category.UNDER_65: "65歳未満",
            Category.CHILDREN_PARENTS: "子ども・保護者",
            Category.HELPER: "協力者（ボランティア）",
        },
        contact_kinds={
            ContactKind.GATHERING: "集いの場",
            ContactKind.PHONE: "電話での見守り",
            ContactKind.VISIT: "訪問での見守り",
        },
        programmes={
            Programme.EXERCISE: "体操・運動",
            Programme.BRAIN_TRAINING: "脳トレ",
            Programme.SINGING_MUSIC: "歌・音楽",
            Programme.TEA_TALK: "お茶・おしゃべり",
            Programme.SHARED_MEAL: "会食",
            Programme.HEALTH_CHECK: "健康チェック",
            Programme.LECTURE: "講話・講座",
            Programme.CRAFTS: "手芸・工作",
            Programme.GAMES_SPORT: "ゲーム・軽スポーツ",
            Programme.SEASONAL_EVENT: "季節の行事・外出",
            Programme.INTERGENERATIONAL: "世代間交流",
            Programme.DISASTER_DRILL: "防災訓練",
            Programme.OTHER: "その他",
        },
    ),
)

EN = Reports(
    outcomes={
        Outcome.MET_WELL: "Met, all well",
        Outcome.MET_CONCERN: "Something is wrong",
        Outcome.NOT_HOME: "Not at home",
        Outcome.IN_CARE: "In hospital or care",
        Outcome.DECLINED: "Declined the visit",
        Outcome.PHONE: "Checked by phone",
    },
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
    salon_report=SalonHeadings(
        summary_sheet="Summary",
        fiscal_year="Salon report, fiscal year {year}",
        district="District",
        salon="Salon",
        date="Date",
        time="Start",
        place="Place",
        contact="Contact",
        programme="Programme",
        programme_text="Programme (free text)",
        participants="Participants",
        new="New",
        members_present="Registered",
        helpers="Helpers",
        month="Month",
        month_name="{month}",
        sessions="Sessions",
        attendances="Attendances",
        helper_attendances="Helper attendances",
        distinct_people="Distinct people",
        registered_members="Registered members",
        counted_sessions="Sessions counted",
        average_elderly="Average elderly",
        eligibility="Grant conditions",
        eligible="Met",
        amount="Grant (yen)",
        unmet={
            Condition.MIN_SESSIONS: "{actual} sessions ({required} or more)",
            Condition.LOWEST_TIER: "{actual:.1f} elderly on average ({required} or more)",
        },
        categories={
            Category.ELDERLY_65_74: "65-74",
            Category.ELDERLY_75_84: "75-84",
            Category.ELDERLY_85_PLUS: "85+",
            Category.ELDERLY_AGE_UNKNOWN: "65+ (age unknown)",
            Category.UNDER_65: "Under 65",
            Category.CHILDREN_PARENTS: "Children and parents",
            Category.HELPER: "Volunteer helpers",
        },
        contact_kinds={
            ContactKind.GATHERING: "Gathering",
            ContactKind.PHONE: "Phone contact",
            ContactKind.VISIT: "Visit",
        },
        programmes={
            Programme.EXERCISE: "Exercise",
            Programme.BRAIN_TRAINING: "Brain training",
            Programme.SINGING_MUSIC: "Singing and music",
            Programme.TEA_TALK: "Tea and talk",
            Programme.SHARED_MEAL: "Shared meal",
            Programme.HEALTH_CHECK: "Health check",
            Programme.LECTURE: "Talk or lecture",
            Programme.CRAFTS: "Crafts",
            Programme.GAMES_SPORT: "Games and light sport",
            Programme.SEASONAL_EVENT: "Seasonal event or outing",
            Programme.INTERGENERATIONAL: "Intergenerational",
            Programme.DISASTER_DRILL: "Disaster drill",
            Programme.OTHER: "Other",
        },
    ),
)
