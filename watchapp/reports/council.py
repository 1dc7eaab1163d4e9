"""The yearly salon report from a council's store: its salon records read
through the store contract (``bodies``), each salon's year and grant worked
out with the domain's rules, and the report written as CSV or a workbook.

The grant rules are data (watchapp/data/grants.json, one object per fiscal
year); :func:`load_rules` turns them into :class:`GrantRule` or says what is
wrong with them. Used by ``watchapp export salons`` and by the coordinators'
download (watchapp/server/reports.py) alike.

GrantRulesError   the rules file can't be used (which rule, which key, why)
NoGrantRule       the rules have nothing for the fiscal year asked for
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Collection, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from watchapp.domain import salon_rows
from watchapp.domain.grants import GrantRule, Tier, assess
from watchapp.domain.salons import ContactKind, SalonRecords, salon_year
from watchapp.reports.salons import SalonReport, build_report, write_csv, write_xlsx
from watchapp.strings.reports import JA, SalonHeadings

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "data" / "grants.json"
# The salon kinds the report is made from (absences are not counted in it).
REPORT_KINDS = (
    "salons",
    "salon_organisers",
    "salon_members",
    "salon_sessions",
    "salon_marks",
    "salon_headcounts",
)
_AMOUNTS = ("min_sessions", "min_elderly_per_session", "base", "per_attendance")
_RULE_KEYS = frozenset(
    {"fiscal_year", *_AMOUNTS, "per_member", "counted_contacts", "tiers", "cap"}
)
_TIER_KEYS = frozenset({"min_average_elderly", "amount"})


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES: Mapping[Format, str] = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class GrantRulesError(ValueError):
    """The grant rules file can't be used; the message says where and why."""


class NoGrantRule(LookupError):
    """No grant rule for ``fiscal_year``; ``known`` are the years there are."""

    def __init__(self, fiscal_year: int, known: Collection[int]) -> None:
        years = ", ".join(str(y) for y in sorted(known)) or "none"
        super().__init__(f"no grant rule for fiscal year {fiscal_year} (has: {years})")
        self.fiscal_year = fiscal_year
        self.known = frozenset(known)


class RecordBodies(Protocol):
    """What the report reads of a store: every live record of a kind."""

    def bodies(self, kind: str) -> list[str]: ...


# ---- the grant rules ----------------------------------------------------------


def load_rules(path: Path = DEFAULT_RULES) -> dict[int, GrantRule]:
    """The grant rules in ``path``, by fiscal year.

    The file is ``{"rules": [rule, ...]}``; a rule has ``fiscal_year`` and,
    each optional (the default in brackets), ``min_sessions``,
    ``min_elderly_per_session``, ``base``, ``per_attendance``, ``per_member``
    (0: whole numbers, yen or people), ``counted_contacts`` (["gathering"]:
    contact kinds of watchapp.domain.salons.ContactKind), ``tiers`` ([]:
    ``{"min_average_elderly", "amount"}`` each) and ``cap`` (null: none).
    See watchapp/domain/grants.py for how they are applied.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GrantRulesError(f"{path}: can't read it ({exc.strerror})") from exc
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError alike
        raise GrantRulesError(f"{path}: not JSON text ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise GrantRulesError(f'{path}: needs an object with a "rules" list')
    rules: dict[int, GrantRule] = {}
    for n, item in enumerate(data["rules"], start=1):
        rule = _rule(item, f"{path}: rule {n}")
        if rule.fiscal_year in rules:
            raise GrantRulesError(
                f"{path}: rule {n}: fiscal year {rule.fiscal_year} again"
            )
        rules[rule.fiscal_year] = rule
    if not rules:
        raise GrantRulesError(f"{path}: no rules")
    return rules


def rule_for(rules: Mapping[int, GrantRule], fiscal_year: int) -> GrantRule:
    rule = rules.get(fiscal_year)
    if rule is None:
        raise NoGrantRule(fiscal_year, rules.keys())
    return rule


def _whole(item: Mapping[str, Any], key: str, where: str, default: int = 0) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GrantRulesError(f"{where}: {key} must be a whole number, 0 or more")
    return value


def _rule(item: object, where: str) -> GrantRule:
    if not isinstance(item, dict):
        raise GrantRulesError(f"{where}: must be an object")
    unknown = sorted(set(item) - _RULE_KEYS)
    if unknown:
        raise GrantRulesError(f"{where}: unknown key {unknown[0]!r}")
    if "fiscal_year" not in item:
        raise GrantRulesError(f"{where}: fiscal_year is missing")
    year = _whole(item, "fiscal_year", where)
    if not 2000 <= year <= 2100:
        raise GrantRulesError(f"{where}: fiscal_year {year} is not a plausible year")
    where = f"{where} (fiscal year {year})"
    contacts = item.get("counted_contacts", [ContactKind.GATHERING.value])
    known = ContactKind._value2member_map_
    if (
        not isinstance(contacts, list)
        or not contacts
        or not all(isinstance(c, str) and c in known for c in contacts)
    ):
        raise GrantRulesError(
            f"{where}: counted_contacts must list some of {', '.join(known)}"
        )
    tiers = item.get("tiers", [])
    if not isinstance(tiers, list):
        raise GrantRulesError(f"{where}: tiers must be a list")
    made = []
    for t, tier in enumerate(tiers, start=1):
        at = f"{where}: tier {t}"
        if not isinstance(tier, dict) or set(tier) != _TIER_KEYS:
            raise GrantRulesError(f"{at}: needs min_average_elderly and amount only")
        made.append(
            Tier(_whole(tier, "min_average_elderly", at), _whole(tier, "amount", at))
        )
    cap = item.get("cap")
    try:
        return GrantRule(
            fiscal_year=year,
            min_sessions=_whole(item, "min_sessions", where),
            min_elderly_per_session=_whole(item, "min_elderly_per_session", where),
            counted_contacts=frozenset(ContactKind(c) for c in contacts),
            base=_whole(item, "base", where),
            per_attendance=_whole(item, "per_attendance", where),
            per_member=_whole(item, "per_member", where),
            tiers=tuple(made),
            cap=None if cap is None else _whole(item, "cap", where),
        )
    except ValueError as exc:  # what GrantRule itself refuses
        raise GrantRulesError(f"{where}: {exc}") from exc


# ---- the report -----------------------------------------------------------------


def district_names(store: RecordBodies) -> dict[str, str]:
    """Every district's name by id, in the order they were made."""
    return {
        d["id"]: d["name"] for d in (json.loads(b) for b in store.bodies("districts"))
    }


def _rows(
    store: RecordBodies, districts: Collection[str] | None
) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for kind in REPORT_KINDS:
        parsed = (json.loads(body) for body in store.bodies(kind))
        rows[kind] = (
            list(parsed)
            if districts is None
            else [r for r in parsed if r["district_id"] in districts]
        )
    return rows


def _records(rows: Mapping[str, list[dict[str, Any]]]) -> list[SalonRecords]:
    return salon_rows.salon_records(
        salons=rows["salons"],
        organisers=rows["salon_organisers"],
        members=rows["salon_members"],
        sessions=rows["salon_sessions"],
        marks=rows["salon_marks"],
        headcounts=rows["salon_headcounts"],
    )


def read_salons(
    store: RecordBodies, districts: Collection[str] | None = None
) -> list[SalonRecords]:
    """The live salons with their live records; only those of ``districts``
    when given (a coordinator's), every district's when None."""
    return _records(_rows(store, districts))


def council_report(
    store: RecordBodies,
    rule: GrantRule,
    *,
    districts: Collection[str] | None = None,
    headings: SalonHeadings = JA.salon_report,
) -> SalonReport:
    """The report of ``rule``'s fiscal year: every salon of ``districts``
    (all when None) that is active or held a session in the year, by
    district in the order they were made, then by name."""
    names = district_names(store)
    order = {district_id: n for n, district_id in enumerate(names)}
    rows = _rows(store, districts)
    # The domain's Salon has no "active": the flag stays on the wire row.
    active = {s["id"] for s in rows["salons"] if s["active"]}
    years = []
    for records in _records(rows):
        year = salon_year(records, rule.fiscal_year)
        if year.sessions_held or year.salon.id in active:
            years.append((year, assess(year, rule)))
    years.sort(
        key=lambda pair: (
            order.get(pair[0].salon.district_id, len(order)),
            pair[0].salon.name,
            pair[0].salon.id,
        )
    )
    return build_report(rule.fiscal_year, years, names, headings)


def filename(fiscal_year: int, fmt: Format) -> str:
    """An ASCII name for the file: salons-2026.xlsx."""
    return f"salons-{fiscal_year}.{fmt.value}"


def _write(report: SalonReport, out: Path, fmt: Format) -> None:
    if fmt is Format.CSV:
        write_csv(report, out)
    else:
        write_xlsx(report, out)


def write_report(report: SalonReport, out: Path, fmt: Format) -> None:
    """``out`` whole or not at all: written beside it, then renamed over it."""
    temp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    # Made as open() makes files (the umask's mode), not mkstemp's 0600.
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        _write(report, temp, fmt)
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)


def report_bytes(report: SalonReport, fmt: Format) -> bytes:
    """The file's bytes, for a download."""
    with tempfile.TemporaryDirectory(prefix="watchapp-report-") as folder:
        out = Path(folder) / filename(report.fiscal_year, fmt)
        _write(report, out, fmt)
        return out.read_bytes()
