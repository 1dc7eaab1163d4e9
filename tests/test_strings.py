from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from watchapp.domain.model import JST, Outcome
from watchapp.strings import CATALOGS, EN, JA, catalog

ROOT = Path(__file__).resolve().parent.parent
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def test_no_japanese_in_code_outside_the_catalog() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("watchapp", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "strings.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if JAPANESE.search(line)
    ]
    assert offenders == []


def test_japanese_is_the_default() -> None:
    assert catalog() is JA
    assert catalog("fr") is JA
    assert catalog("en") is EN
    assert set(CATALOGS) == {"ja", "en"}


def test_a_missing_label_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="Outcome labels missing"):
        replace(JA, outcomes={o: "x" for o in Outcome if o is not Outcome.PHONE})
    with pytest.raises(ValueError, match="empty string: undo"):
        replace(JA, undo="")


@pytest.mark.parametrize(
    ("moment", "ja", "en"),
    [
        (datetime(2026, 11, 26, 9, 5, tzinfo=JST), "今日 9:05", "Today 9:05"),
        (datetime(2026, 11, 25, 14, 30, tzinfo=JST), "昨日 14:30", "Yesterday 14:30"),
        (
            datetime(2026, 11, 3, 10, 0, tzinfo=JST),
            "11月3日(火) 10:00",
            "Tue 3/11 10:00",
        ),
        # 20:00 UTC on the 25th is 05:00 on the 26th in Kurume
        (
            datetime.fromisoformat("2026-11-25T20:00:00+00:00"),
            "今日 5:00",
            "Today 5:00",
        ),
    ],
)
def test_moments_read_as_people_say_them(moment: datetime, ja: str, en: str) -> None:
    today = date(2026, 11, 26)
    assert (JA.moment(moment, today=today), EN.moment(moment, today=today)) == (ja, en)
