from __future__ import annotations

from datetime import date

import pytest

from watchapp.domain.grants import Condition, GrantRule, Tier, Unmet, assess
from watchapp.domain.salons import (
    AttendanceMark,
    Category,
    ContactKind,
    Headcount,
    Member,
    Salon,
    SalonRecords,
    SalonYear,
    Session,
    salon_year,
)
from watchapp.strings import salons

SALON = Salon(id="s1", district_id="d1", name="salon", place="hall")


def year_of(elderly: list[int], *, phone: int = 0, members: int = 2) -> SalonYear:
    """Gatherings with these elderly walk-ins each, plus a helper and a child
    at each (never counted as elderly), plus ``phone`` phone rounds of 9."""
    sessions, counts = [], []
    for n, e in enumerate(elderly):
        sid = f"g{n}"
        sessions.append(Session(sid, "s1", date(2026, 4 + n % 12, 1)))
        counts += [
            Headcount(f"{sid}e", sid, Category.ELDERLY_65_74, e),
            Headcount(f"{sid}h", sid, Category.HELPER, 1),
            Headcount(f"{sid}c", sid, Category.CHILDREN_PARENTS, 1),
        ]
    for n in range(phone):
        sid = f"p{n}"
        sessions.append(Session(sid, "s1", date(2026, 5, 2 + n), ContactKind.PHONE))
        counts.append(Headcount(f"{sid}e", sid, Category.ELDERLY_85_PLUS, 9))
    roster = [Member(f"m{i}", "s1", "n", "k", True) for i in range(members)]
    marks: list[AttendanceMark] = []
    return salon_year(SalonRecords(SALON, roster, sessions, marks, counts), 2026)


TIERS = (Tier(5, 10_000), Tier(10, 20_000), Tier(15, 30_000))


@pytest.mark.parametrize(
    ("elderly", "phone", "rule", "amount", "unmet"),
    [
        # a fixed sum once the minimum number of sessions is held
        ([5] * 6, 0, GrantRule(2026, min_sessions=6, base=30_000), 30_000, ()),
        (
            [5] * 5,
            0,
            GrantRule(2026, min_sessions=6, base=30_000),
            0,
            (Unmet(Condition.MIN_SESSIONS, 6, 5),),
        ),
        # sessions with too few elderly do not count towards the minimum
        (
            [5, 5, 5, 2],
            0,
            GrantRule(2026, min_sessions=4, min_elderly_per_session=3, base=1),
            0,
            (Unmet(Condition.MIN_SESSIONS, 4, 3),),
        ),
        # phone rounds count only where the council says so
        (
            [5],
            2,
            GrantRule(2026, min_sessions=3, base=1),
            0,
            (Unmet(Condition.MIN_SESSIONS, 3, 1),),
        ),
        (
            [5],
            2,
            GrantRule(
                2026,
                min_sessions=3,
                counted_contacts=frozenset(ContactKind),
                per_attendance=100,
            ),
            (6 + 9 + 9) * 100,
            (),
        ),
        # per attendance: participants (children too), never helpers
        ([4, 6], 0, GrantRule(2026, per_attendance=200), (5 + 7) * 200, ()),
        # per registered member
        ([4], 0, GrantRule(2026, per_member=1_500), 2 * 1_500, ()),
        # tiers of average elderly attendance: the highest reached pays
        ([10, 10], 0, GrantRule(2026, tiers=TIERS), 20_000, ()),
        ([9, 10], 0, GrantRule(2026, tiers=TIERS), 10_000, ()),  # 9.5 on average
        ([20, 20], 0, GrantRule(2026, tiers=TIERS), 30_000, ()),
        (
            [4, 4],
            0,
            GrantRule(2026, tiers=TIERS),
            0,
            (Unmet(Condition.LOWEST_TIER, 5, 4.0),),
        ),
        (
            [],
            0,
            GrantRule(2026, min_sessions=1, tiers=TIERS),
            0,
            (
                Unmet(Condition.MIN_SESSIONS, 1, 0),
                Unmet(Condition.LOWEST_TIER, 5, 0.0),
            ),
        ),
        # every part together, then capped
        (
            [10] * 6,
            0,
            GrantRule(
                2026,
                min_sessions=6,
                base=10_000,
                per_attendance=50,
                per_member=1_000,
                tiers=TIERS,
            ),
            10_000 + 66 * 50 + 2 * 1_000 + 20_000,
            (),
        ),
        (
            [10] * 6,
            0,
            GrantRule(2026, base=10_000, tiers=TIERS, cap=25_000),
            25_000,
            (),
        ),
    ],
)
def test_each_formula_shape(
    elderly: list[int],
    phone: int,
    rule: GrantRule,
    amount: int,
    unmet: tuple[Unmet, ...],
) -> None:
    result = assess(year_of(elderly, phone=phone), rule)
    assert (result.amount, result.unmet, result.eligible) == (amount, unmet, not unmet)


def test_a_rule_applies_to_its_own_year_only() -> None:
    with pytest.raises(ValueError, match="another fiscal year"):
        assess(year_of([5]), GrantRule(2025))


@pytest.mark.parametrize(
    "field", ["base", "per_attendance", "per_member", "min_sessions"]
)
def test_a_rule_refuses_negative_numbers(field: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        GrantRule(2026, **{field: -1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("held", "required", "ja", "en"),
    [
        (
            8,
            6,
            "今年度 8回開催・条件（6回以上）を満たしています",
            "This year: 8 sessions; the condition (6 or more) is met",
        ),
        (
            4,
            6,
            "今年度 4回開催・条件（6回以上）まであと2回",
            "This year: 4 sessions; 2 more to reach the condition (6 or more)",
        ),
        (3, 0, "今年度 3回開催", "This year: 3 sessions"),
    ],
)
def test_the_organisers_grant_line(held: int, required: int, ja: str, en: str) -> None:
    assert (
        salons.JA.grant_line(held, required),
        salons.EN.grant_line(held, required),
    ) == (ja, en)
