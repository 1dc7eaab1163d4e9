"""The names of the domain's values, as a screen and a report both print them:
outcomes, concern categories, urgencies, concern statuses.

It imports only the domain, so the server can use it for report headings
without the device's state, sync client, httpx or Flet (tests/test_strings.py
checks that in a fresh interpreter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from watchapp.domain.model import ConcernCategory, ConcernStatus, Outcome, Urgency
from watchapp.strings.base import Part, complete


@dataclass(frozen=True)
class Reports(Part):
    outcomes: Mapping[Outcome, str]
    categories: Mapping[ConcernCategory, str]
    urgencies: Mapping[Urgency, str]
    concern_statuses: Mapping[ConcernStatus, str]

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
)
