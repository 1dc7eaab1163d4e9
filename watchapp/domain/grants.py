"""Salon grants as data: the council's conditions and formula for a fiscal
year, and a pure function that applies them to a salon's year.

How a rule reads:
- A session counts towards the grant when its contact kind is in
  ``counted_contacts`` and at least ``min_elderly_per_session`` elderly
  participants came. Only those sessions are used below.
- Conditions: at least ``min_sessions`` counted sessions; and, when ``tiers``
  are set, an average of elderly participants per counted session reaching the
  lowest tier. Each unmet condition is reported, not just the first.
- Amount, when every condition is met: ``base`` + ``per_attendance`` yen per
  participant attendance at counted sessions + ``per_member`` yen per
  registered member + the amount of the highest tier reached; at most ``cap``.
  Yen are whole numbers, and the average is compared exactly (no floats).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from watchapp.domain.salons import ContactKind, SalonYear


@dataclass(frozen=True)
class Tier:
    min_average_elderly: int  # elderly participants per counted session
    amount: int  # yen


@dataclass(frozen=True)
class GrantRule:
    fiscal_year: int
    min_sessions: int = 0
    min_elderly_per_session: int = 0
    counted_contacts: frozenset[ContactKind] = frozenset({ContactKind.GATHERING})
    base: int = 0
    per_attendance: int = 0
    per_member: int = 0
    tiers: tuple[Tier, ...] = ()
    cap: int | None = None

    def __post_init__(self) -> None:
        amounts = (self.base, self.per_attendance, self.per_member)
        if min(amounts) < 0 or any(t.amount < 0 for t in self.tiers):
            raise ValueError("grant amounts must not be negative")
        if self.min_sessions < 0 or self.min_elderly_per_session < 0:
            raise ValueError("grant minimums must not be negative")


class Condition(StrEnum):
    MIN_SESSIONS = "min_sessions"
    LOWEST_TIER = "lowest_tier"


@dataclass(frozen=True)
class Unmet:
    condition: Condition
    required: int
    actual: float  # the average is a fraction; sessions are whole


@dataclass(frozen=True)
class GrantResult:
    counted_sessions: int
    attendances: int  # participants at counted sessions
    elderly: int  # elderly participants at counted sessions
    unmet: tuple[Unmet, ...]
    amount: int  # yen; 0 when a condition is unmet

    @property
    def eligible(self) -> bool:
        return not self.unmet

    @property
    def average_elderly(self) -> float:
        return self.elderly / self.counted_sessions if self.counted_sessions else 0.0


def assess(year: SalonYear, rule: GrantRule) -> GrantResult:
    """Eligibility and amount of ``year`` under ``rule``."""
    if year.fiscal_year != rule.fiscal_year:
        raise ValueError("the rule is for another fiscal year")
    counted = [
        f
        for f in year.sessions
        if f.session.contact in rule.counted_contacts
        and f.totals.elderly >= rule.min_elderly_per_session
    ]
    sessions = len(counted)
    attendances = sum(f.totals.participants for f in counted)
    elderly = sum(f.totals.elderly for f in counted)
    unmet = []
    if sessions < rule.min_sessions:
        unmet.append(Unmet(Condition.MIN_SESSIONS, rule.min_sessions, sessions))
    reached = [t for t in rule.tiers if elderly >= t.min_average_elderly * sessions]
    if rule.tiers and (not reached or sessions == 0):
        lowest = min(t.min_average_elderly for t in rule.tiers)
        average = elderly / sessions if sessions else 0.0
        unmet.append(Unmet(Condition.LOWEST_TIER, lowest, average))
    amount = 0
    if not unmet:
        tier = max(reached, key=lambda t: t.min_average_elderly, default=None)
        amount = (
            rule.base
            + rule.per_attendance * attendances
            + rule.per_member * year.registered_members
            + (tier.amount if tier else 0)
        )
        if rule.cap is not None:
            amount = min(amount, rule.cap)
    return GrantResult(sessions, attendances, elderly, tuple(unmet), amount)
