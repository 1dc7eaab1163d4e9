"""The coordinator's screens: the recent visits in their districts."""

from __future__ import annotations

from dataclasses import dataclass

from watchapp.strings.base import Part


@dataclass(frozen=True)
class Dashboard(Part):
    nav_district: str
    district_title: str
    district_empty: str
    district_line: str
    district_detail: str


JA = Dashboard(
    nav_district="地区の訪問",
    district_title="最近の訪問（担当地区）",
    district_empty="まだ訪問の記録が届いていません",
    district_line="{name}さん　{outcome}",
    district_detail="{when} ・ {volunteer}",
)

EN = Dashboard(
    nav_district="Visits",
    district_title="Recent visits (your districts)",
    district_empty="No visits have arrived yet",
    district_line="{name}: {outcome}",
    district_detail="{when} · {volunteer}",
)
