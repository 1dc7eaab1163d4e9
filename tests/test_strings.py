from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields, replace
from datetime import date, datetime
from pathlib import Path

import pytest

from watchapp.domain.model import JST, Outcome
from watchapp.strings import common, dashboard, reports, salons
from watchapp.strings import round as round_part
from watchapp.strings.base import Part
from watchapp.strings.device import CATALOGS, EN, JA, catalog
from watchapp.sync.protocol import EnrolmentProblem

P = EnrolmentProblem

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "watchapp" / "strings"
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def test_no_japanese_in_code_outside_the_catalog() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("watchapp", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if CATALOG not in path.parents
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if JAPANESE.search(line)
    ]
    assert offenders == []


def test_every_part_of_the_catalog_holds_japanese() -> None:
    """The check above looks where the catalog is: it must really be there."""
    parts = sorted(
        p.name for p in CATALOG.glob("*.py") if JAPANESE.search(p.read_text())
    )
    assert parts == ["common.py", "dashboard.py", "reports.py", "round.py", "salons.py"]


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
    with pytest.raises(ValueError, match="EnrolmentProblem labels missing"):
        replace(
            JA,
            enrol_problems={
                p: "x" for p in EnrolmentProblem if p is not P.BODY_TIMEOUT
            },
        )


@pytest.mark.parametrize(
    ("part", "mapping", "message"),
    [
        (reports.JA, "concern_statuses", "ConcernStatus labels missing"),
        (common.EN, "errors", "ErrorCode labels missing"),
        (round_part.JA, "reasons", "Reason labels missing"),
    ],
)
def test_each_part_checks_itself(part: Part, mapping: str, message: str) -> None:
    """A part is complete on its own, before the device joins it to others."""
    with pytest.raises(ValueError, match=message):
        replace(part, **{mapping: {}})


@pytest.mark.parametrize(
    "dropped", ["status_syncing", "enrol_offline", "district_title"]
)
def test_a_string_left_out_of_a_part_fails(dropped: str) -> None:
    part = next(
        p for p in (common.JA, round_part.JA, dashboard.JA) if hasattr(p, dropped)
    )
    values = {f.name: getattr(part, f.name) for f in fields(part) if f.name != dropped}
    with pytest.raises(TypeError, match=dropped):
        type(part)(**values)


def test_the_device_catalog_is_every_part_joined() -> None:
    for lang in ("ja", "en"):
        parts = [
            getattr(m, lang.upper())
            for m in (common, round_part, dashboard, reports, salons)
        ]
        joined = {f.name for f in fields(catalog(lang))}
        assert joined == {f.name for p in parts for f in fields(p)}
        assert all(
            getattr(catalog(lang), f.name) == getattr(p, f.name)
            for p in parts
            for f in fields(p)
        )


def test_the_reports_part_imports_without_the_device() -> None:
    """The server prints report headings with it: neither Flet, httpx, the
    device's state nor its sync client may come along."""
    probe = (
        "import json, sys, watchapp.strings.reports as r; "
        "assert r.JA.outcomes and r.EN.categories; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(done.stdout))
    assert "watchapp.strings.reports" in loaded
    device_only = {"flet", "httpx", "watchapp.state", "watchapp.sync.client"}
    assert loaded & device_only == set()


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
