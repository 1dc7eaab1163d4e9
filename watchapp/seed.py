"""A realistic demo city: 46 districts, groups, volunteers, residents, a year of visits.

Deterministic: the same ``seed`` and ``today`` give the same records, ids
included. District names are marked as demo unless a real list is passed in
(see :func:`read_district_csv`).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from faker import Faker
from sqlite_utils import Database

from watchapp import store
from watchapp.domain.hlc import Hlc
from watchapp.domain.ids import uuid7
from watchapp.domain.model import JST, Concern, ConcernCategory, Outcome, Role, Urgency
from watchapp.domain.schema import format_datetime
from watchapp.domain.validation import NAME_MAX_CHARS, clean_text, has_control_chars
from watchapp.server.store import Account, ServerStore
from watchapp.sync.protocol import change_from_row

DISTRICTS = 46
HISTORY_DAYS = 365
VOCAB: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "demo.json").read_text(encoding="utf-8")
)
# Roughly what volunteers report: most visits find the resident well.
OUTCOME_WEIGHTS = [
    (Outcome.MET_WELL, 80),
    (Outcome.MET_CONCERN, 5),
    (Outcome.NOT_HOME, 8),
    (Outcome.PHONE, 4),
    (Outcome.IN_CARE, 2),
    (Outcome.DECLINED, 1),
]


class DistrictFileError(ValueError):
    """The district CSV can't be used; the message says which row and why."""


@dataclass
class City:
    tables: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            k: []
            for k in ("districts", "groups", "users", "residents", "assignments")
            + ("visits",)
        }
    )

    def count(self, table: str) -> int:
        return len(self.tables[table])


def read_district_csv(path: Path) -> list[str]:
    """District names from a CSV with a ``name`` column (UTF-8, BOM allowed)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "name" not in reader.fieldnames:
            raise DistrictFileError(f"{path}: needs a header row with a 'name' column")
        names: list[str] = []
        for line, row in enumerate(reader, start=2):
            name = clean_text(row.get("name") or "")
            if not name:
                raise DistrictFileError(f"{path}:{line}: empty name")
            if len(name) > NAME_MAX_CHARS or has_control_chars(name, multiline=False):
                raise DistrictFileError(f"{path}:{line}: name not usable: {name!r}")
            if name in names:
                raise DistrictFileError(f"{path}:{line}: duplicate name {name!r}")
            names.append(name)
    if not names:
        raise DistrictFileError(f"{path}: no districts")
    return names


class Maker:
    """Makes demo records with seed-stamped ids and HLCs, deterministically."""

    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("ja_JP")
        self.fake.seed_instance(seed)
        self.today = today
        self.city = City()

    def moment(self, day: date) -> datetime:
        minutes = self.rng.randint(9 * 60, 17 * 60)
        return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=JST)

    def record(self, table: str, at: datetime, **fields: Any) -> dict[str, Any]:
        ms = int(at.timestamp() * 1000)
        row = {
            "id": uuid7(ms, self.rng.randbytes(10)),
            "hlc": str(Hlc(ms)),
            "origin": "seed",
            "deleted": 0,
            **fields,
        }
        self.city.tables[table].append(row)
        return row

    def person(self) -> tuple[str, str]:
        last, last_kana, _ = self.fake.last_name_pair()
        pair = (
            self.fake.first_name_female_pair()
            if self.rng.random() < 0.62  # most people living alone at 75+ are women
            else self.fake.first_name_male_pair()
        )
        return f"{last} {pair[0]}", f"{last_kana} {pair[1]}"

    def outcome(self) -> Outcome:
        return self.rng.choices(
            [o for o, _ in OUTCOME_WEIGHTS], [w for _, w in OUTCOME_WEIGHTS]
        )[0]

    def concern(self) -> tuple[Concern, str]:
        """A concern as volunteers raise them: mostly not urgent, with a note."""
        category = self.rng.choice(list(ConcernCategory))
        urgency = Urgency.URGENT if self.rng.random() < 0.15 else Urgency.NORMAL
        return Concern(category, urgency), self.rng.choice(VOCAB["notes"][category])

    def visits(
        self,
        resident: dict[str, Any],
        volunteers: list[dict[str, Any]],
        *,
        days: int = HISTORY_DAYS,
    ) -> None:
        """The last ``days`` of a resident's visits: every N days, a retry soon
        after "not at home", now and then a long gap; mostly by ``volunteers[0]``."""
        every = resident["visit_every_days"]
        start = max(date.fromisoformat(resident["since"]), self.today - timedelta(days))
        day = start + timedelta(self.rng.randint(0, 3))
        main = volunteers[0]
        while day < self.today:
            outcome = self.outcome()
            by = main if self.rng.random() < 0.9 else self.rng.choice(volunteers)
            at = self.moment(day)
            fields: dict[str, Any] = {
                "concern_category": None,
                "urgency": None,
                "note": "",
            }
            if outcome is Outcome.MET_CONCERN:
                concern, note = self.concern()
                fields = {
                    "concern_category": concern.category.value,
                    "urgency": concern.urgency.value,
                    "note": note,
                }
            self.record(
                "visits",
                at,
                district_id=resident["district_id"],
                group_id=resident["group_id"],
                resident_id=resident["id"],
                user_id=by["id"],
                visited_at=format_datetime(at),
                outcome=outcome.value,
                **fields,
            )
            if outcome is Outcome.NOT_HOME:
                step = self.rng.randint(1, 3)  # try again in a few days
            else:
                step = every + self.rng.randint(-2, 3)
                if self.rng.random() < 0.06:  # illness, summer, a busy month
                    step *= self.rng.randint(2, 3)
            day += timedelta(max(step, 1))

    def build(self, districts: list[tuple[str, str]] | None) -> City:
        """``districts``: (id, name) of real districts; demo ones when None."""
        epoch = datetime.combine(self.today - timedelta(900), time(9), tzinfo=JST)
        if districts is None:
            names = [VOCAB["district"].format(n=n) for n in range(1, DISTRICTS + 1)]
            rows = [self.record("districts", epoch, name=name) for name in names]
        else:
            rows = [
                self.record("districts", epoch, name=name) | {"id": district_id}
                for district_id, name in districts
            ]
            self.city.tables["districts"] = rows
        for district in rows:
            district["district_id"] = district["id"]
            for g in range(1, self.rng.randint(2, 4) + 1):
                group = self.record(
                    "groups",
                    epoch,
                    district_id=district["id"],
                    name=VOCAB["group"].format(n=g),
                )
                self.group(district["id"], group["id"], epoch, organiser=g == 1)
        return self.city

    def group(
        self, district_id: str, group_id: str, epoch: datetime, *, organiser: bool
    ) -> None:
        scope = {"district_id": district_id, "group_id": group_id}
        volunteers = [
            self.record(
                "users",
                epoch,
                **scope,
                name=self.person()[0],
                role=Role.VOLUNTEER.value,
            )
            for _ in range(self.rng.randint(3, 6))
        ]
        if organiser:
            self.record(
                "users",
                epoch,
                **scope,
                name=self.person()[0],
                role=Role.ORGANISER.value,
            )
        town = self.fake.town()
        for i, volunteer in enumerate(volunteers):
            for _ in range(self.rng.randint(3, 8)):
                name, kana = self.person()
                since = self.today - timedelta(self.rng.randint(30, 900))
                resident = self.record(
                    "residents",
                    datetime.combine(since, time(9), tzinfo=JST),
                    **scope,
                    name=name,
                    kana=kana,
                    address=f"{town} {self.fake.chome()}",
                    visit_every_days=self.rng.choice([7, 7, 14, 14, 14, 30, 30]),
                    consent=int(self.rng.random() < 0.9),
                    evacuation_register=int(self.rng.random() < 0.35),
                    since=since.isoformat(),
                    active=int(self.rng.random() < 0.97),
                )
                self.record(
                    "assignments",
                    epoch,
                    **scope,
                    user_id=volunteer["id"],
                    resident_id=resident["id"],
                    active=1,
                )
                others = volunteers[:i] + volunteers[i + 1 :]
                self.visits(resident, [volunteer, *others])


def demo_city(
    *, seed: int, today: date, districts: list[tuple[str, str]] | None = None
) -> City:
    return Maker(seed, today).build(districts)


def demo_volunteer(city: City) -> dict[str, Any]:
    """The volunteer a demo device belongs to: the busiest one in the first group."""
    first_group = city.tables["groups"][0]["id"]
    counts: dict[str, int] = {}
    for a in city.tables["assignments"]:
        if a["group_id"] == first_group:
            counts[a["user_id"]] = counts.get(a["user_id"], 0) + 1
    user_id = max(counts, key=lambda u: (counts[u], u))
    return next(u for u in city.tables["users"] if u["id"] == user_id)


def volunteer_scope(city: City, user_id: str) -> City:
    """What a volunteer's device may hold: their residents and those visits."""
    t = city.tables
    me = next(u for u in t["users"] if u["id"] == user_id)
    assignments = [a for a in t["assignments"] if a["user_id"] == user_id]
    mine = {a["resident_id"] for a in assignments}
    scoped = City()
    scoped.tables = {
        "districts": [d for d in t["districts"] if d["id"] == me["district_id"]],
        "groups": [g for g in t["groups"] if g["id"] == me["group_id"]],
        "users": [me],
        "residents": [r for r in t["residents"] if r["id"] in mine],
        "assignments": assignments,
        "visits": [v for v in t["visits"] if v["resident_id"] in mine],
    }
    return scoped


def write_city(db: Database, city: City) -> None:
    """Into a device file (tests and benchmarks of the device alone)."""
    for table, rows in city.tables.items():
        if rows:
            store.put_reference(db, table, rows)


def serve_city(server: ServerStore, city: City) -> None:
    """Into the council's store, keeping the seed's stamps."""
    for kind, rows in city.tables.items():
        for start in range(0, len(rows), 5000):
            server.apply([change_from_row(kind, r) for r in rows[start : start + 5000]])


def district_ids(server: ServerStore) -> list[tuple[str, str]]:
    """The districts the council already has, (id, name), in the order made."""
    return [
        (d["id"], d["name"])
        for d in (json.loads(body) for body in server.bodies("districts"))
    ]


def demo_accounts(server: ServerStore, *, now: datetime) -> dict[Role, Account]:
    """The demo's volunteer, salon organiser and coordinator (made if missing).

    The volunteer is the busiest in the first group; the coordinator looks
    after the first three districts.
    """
    groups = [json.loads(b) for b in server.bodies("groups")]
    districts = [json.loads(b)["id"] for b in server.bodies("districts")]
    first = groups[0]
    accounts = server.accounts()
    in_group = [a for a in accounts if a.group_id == first["id"]]
    volunteers = [a for a in in_group if a.role is Role.VOLUNTEER]
    volunteer = max(
        volunteers,
        key=lambda a: (len(server.assigned_residents(a.user_id)), a.user_id),
    )
    organiser = next(a for a in in_group if a.role is Role.ORGANISER)
    coordinator = next((a for a in accounts if a.role is Role.COORDINATOR), None)
    if coordinator is None:
        fake = Faker("ja_JP")
        fake.seed_instance(len(districts))
        coordinator = server.create_user(
            user_id=uuid7(int(now.timestamp() * 1000), random.Random(1).randbytes(10)),
            name=fake.name(),
            role=Role.COORDINATOR,
            district_id=first["district_id"],
            group_id=first["id"],
            districts=districts[:3],
            now=now,
        )
    return {
        Role.VOLUNTEER: volunteer,
        Role.ORGANISER: organiser,
        Role.COORDINATOR: coordinator,
    }
