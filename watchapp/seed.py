"""A realistic demo city: 46 districts, groups, volunteers, residents, a year of
visits, and four salons a district with a year of sessions.

Deterministic: the same ``seed`` and ``today`` give the same records, ids
included. District names are marked as demo unless a real list is passed in
(see :func:`read_district_csv`).
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from faker import Faker
from sqlite_utils import Database

from watchapp import store
from watchapp.domain.hlc import Hlc
from watchapp.domain.ids import derived_id, uuid7
from watchapp.domain.kinds import KINDS
from watchapp.domain.model import JST, Concern, ConcernCategory, Outcome, Role, Urgency
from watchapp.domain.salon_rows import programme_text
from watchapp.domain.salons import (
    HEADCOUNT_CATEGORIES,
    Category,
    ContactKind,
    Programme,
)
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
SALONS_PER_DISTRICT = 4
SALON_WEEKS = (0, 2)  # the first and third of the salon's weekday in a month
SALON_DEVICE = "seed"  # the device the seed's headcounts are counted on
SALON_STARTS = time(13, 30)
WALK_IN_CATEGORIES = tuple(c for c in HEADCOUNT_CATEGORIES if c is not Category.HELPER)
# The demo organiser's salon has a regular, a watched resident, who stopped
# coming for this many sessions: the absence rule fires in the demo.
STOPPED_COMING = 3
SALON_KINDS = (
    "salons",
    "salon_organisers",
    "salon_members",
    "salon_sessions",
    "salon_marks",
    "salon_headcounts",
    "salon_absences",
)


class DistrictFileError(ValueError):
    """The district CSV can't be used; the message says which row and why."""


@dataclass
class City:
    tables: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            k: []
            for k in ("districts", "groups", "users", "residents", "assignments")
            + ("visits", *SALON_KINDS)
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
        """A record of ``table`` written at ``at``; its id made from its
        fields where the kind says so (``Kind.id_from``), else a UUIDv7."""
        ms = int(at.timestamp() * 1000)
        made_from = KINDS[table].id_from
        row = {
            "id": derived_id(table, tuple(fields[n] for n in made_from))
            if made_from
            else uuid7(ms, self.rng.randbytes(10)),
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
        # After everything else, so that the rest of the city stays as it was.
        self.salons(rows, epoch)
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

    # ---- salons ---------------------------------------------------------------

    def salons(self, districts: list[dict[str, Any]], epoch: datetime) -> None:
        """Four salons a district; the first organised by the district's salon
        organiser. In the demo district (the first), one or two members of
        each salon are watched residents, and in the demo organiser's salon
        one of them, a resident of the demo volunteer, stopped coming."""
        t = self.city.tables
        organisers = {
            u["group_id"]: u for u in t["users"] if u["role"] == Role.ORGANISER.value
        }
        first_groups: dict[str, dict[str, Any]] = {}
        for g in t["groups"]:
            first_groups.setdefault(g["district_id"], g)
        demo = districts[0]["id"]
        volunteer = demo_volunteer(self.city)
        theirs = {
            a["resident_id"]
            for a in t["assignments"]
            if a["user_id"] == volunteer["id"]
        }
        watched = [
            r for r in t["residents"] if r["district_id"] == demo and r["active"]
        ]
        # The demo volunteer's residents first: one of them stops coming.
        watched.sort(key=lambda r: r["id"] not in theirs)
        for district in districts:
            names = self.rng.sample(VOCAB["salon_names"], SALONS_PER_DISTRICT)
            group = first_groups.get(district["id"])
            organiser = organisers.get(group["id"]) if group else None
            for n, name in enumerate(names):
                salon = self.record(
                    "salons",
                    epoch,
                    district_id=district["id"],
                    name=VOCAB["salon"].format(name=name),
                    place=VOCAB["salon_place"].format(town=self.fake.town()),
                    weekday=self.rng.randint(0, 4),
                    starts_at=SALON_STARTS.strftime("%H:%M"),
                    absence_after=3,
                    active=1,
                )
                if n == 0 and organiser is not None:
                    self.record(
                        "salon_organisers",
                        epoch,
                        district_id=district["id"],
                        salon_id=salon["id"],
                        user_id=organiser["id"],
                        active=1,
                    )
                linked: list[dict[str, Any]] = []
                if district["id"] == demo:
                    wanted = 2 if n == 0 else self.rng.randint(1, 2)
                    linked, watched = watched[:wanted], watched[wanted:]
                stopped = linked[0]["id"] if n == 0 and linked else None
                self.salon_year(salon, epoch, linked, stopped)

    def salon_year(
        self,
        salon: dict[str, Any],
        epoch: datetime,
        linked: list[dict[str, Any]],
        stopped: str | None,
    ) -> None:
        """A salon's members and its sessions of the last year (today not
        included). ``linked``: watched residents who are members; the one
        whose id is ``stopped`` missed the last sessions."""
        scope = {"district_id": salon["district_id"], "salon_id": salon["id"]}
        count = self.rng.randint(20, 40)
        members = [self.salon_member(scope, epoch) for _ in range(count)]
        for member, resident in zip(members, linked, strict=False):
            member.update(
                name=resident["name"],
                kana=resident["kana"],
                birth_year=self.rng.randint(1935, 1950),
                consent=1,
                resident_id=resident["id"],
                active=1,
            )
        # Most members come nearly every time, the rest now and then: about
        # ``share`` of them a session, never under 40% or over 80%.
        share = self.rng.uniform(0.45, 0.75)
        regulars = (share - 0.2) / 0.7

        def keenness(member: dict[str, Any]) -> float:
            if not member["active"]:
                return 0.0
            if self.rng.random() < regulars:
                return self.rng.uniform(0.85, 0.97)
            return self.rng.uniform(0.1, 0.3)

        keen = {m["id"]: keenness(m) for m in members}
        absentee = next((m for m in members if m["resident_id"] == stopped), None)
        if absentee is not None:
            keen[absentee["id"]] = 0.9
        fewest, most = math.ceil(0.4 * count), math.floor(0.8 * count)
        days = self.salon_days(salon["weekday"])
        phone = set(self.rng.sample(range(max(len(days) - 4, 0)), 2))
        for i, day in enumerate(days):
            contact = ContactKind.PHONE if i in phone else ContactKind.GATHERING
            present = [m for m in members if self.rng.random() < keen[m["id"]]]
            if absentee is not None and len(days) - i <= STOPPED_COMING + 1:
                # There the session before they stopped, gone since.
                present = [m for m in present if m is not absentee]
                if len(days) - i == STOPPED_COMING + 1:
                    present.append(absentee)
            chosen = {m["id"] for m in present}
            spare = [
                m
                for m in members
                if m["active"] and m["id"] not in chosen and m is not absentee
            ]
            present += self.rng.sample(spare, max(fewest - len(present), 0))
            while len(present) > most:
                present.remove(
                    self.rng.choice([m for m in present if m is not absentee])
                )
            self.salon_session(scope, day, contact, present)

    def salon_member(self, scope: dict[str, str], epoch: datetime) -> dict[str, Any]:
        name, kana = self.person()
        roll = self.rng.random()
        if roll < 0.03:
            birth_year = None  # not told
        elif roll < 0.1:
            birth_year = self.rng.randint(self.today.year - 64, self.today.year - 50)
        else:
            birth_year = self.rng.randint(1930, 1960)
        return self.record(
            "salon_members",
            epoch,
            **scope,
            name=name,
            kana=kana,
            birth_year=birth_year,
            consent=int(self.rng.random() < 0.95),
            resident_id=None,
            active=int(self.rng.random() < 0.97),
        )

    def salon_days(self, weekday: int) -> list[date]:
        """Twice a month on ``weekday`` over the year up to yesterday."""
        start = self.today - timedelta(HISTORY_DAYS)
        days = []
        month = date(start.year, start.month, 1)
        while month < self.today:
            first = month + timedelta((weekday - month.weekday()) % 7)
            days += [first + timedelta(weeks=w) for w in SALON_WEEKS]
            month = (month + timedelta(32)).replace(day=1)
        return [d for d in days if start <= d < self.today]

    def salon_session(
        self,
        scope: dict[str, str],
        day: date,
        contact: ContactKind,
        present: list[dict[str, Any]],
    ) -> None:
        opened = datetime.combine(day, SALON_STARTS, tzinfo=JST)
        chosen = self.rng.sample(list(Programme), self.rng.randint(1, 3))
        session = self.record(
            "salon_sessions",
            opened,
            **scope,
            held_on=day.isoformat(),
            starts_at=SALON_STARTS.strftime("%H:%M"),
            contact=contact.value,
            programme=programme_text(chosen),
            programme_text=self.rng.choice(VOCAB["programme_notes"]),
            note="",
            place=None,
        )
        within = {**scope, "session_id": session["id"]}
        for k, member in enumerate(present):
            self.record(
                "salon_marks",
                opened + timedelta(seconds=20 * k),
                **within,
                member_id=member["id"],
                present=1,
            )
        if contact is not ContactKind.GATHERING:
            return
        counts = self.rng.randint(0, 4)
        counted = opened + timedelta(minutes=40)
        if counts:
            self.record(
                "salon_headcounts",
                counted,
                **within,
                category=Category.HELPER.value,
                first_time=int(self.rng.random() < 0.1),
                counted_on=SALON_DEVICE,
                people=self.rng.randint(2, 5),
            )
        for category in self.rng.sample(WALK_IN_CATEGORIES, max(counts - 1, 0)):
            self.record(
                "salon_headcounts",
                counted,
                **within,
                category=category.value,
                first_time=int(self.rng.random() < 0.3),
                counted_on=SALON_DEVICE,
                people=self.rng.randint(1, 3),
            )


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
