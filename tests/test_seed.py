from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import Stores
from watchapp import seed, store
from watchapp.__main__ import main
from watchapp.domain import salon_rows
from watchapp.domain.hlc import Hlc
from watchapp.domain.ids import derived_id
from watchapp.domain.kinds import KINDS
from watchapp.domain.model import Outcome, Role
from watchapp.domain.salons import absence_alerts
from watchapp.domain.schema import parse_datetime
from watchapp.server.store import open_store
from watchapp.state import AppState
from watchapp.sync.protocol import Change, check_change, to_wire

TODAY = date(2026, 11, 26)


@pytest.fixture(scope="module")
def city() -> seed.City:
    return seed.demo_city(seed=7, today=TODAY)


def test_seeding_is_deterministic(city: seed.City) -> None:
    assert seed.demo_city(seed=7, today=TODAY).tables == city.tables
    other = seed.demo_city(seed=8, today=TODAY)
    assert other.tables["residents"] != city.tables["residents"]


def test_forty_six_districts_marked_as_demo(city: seed.City) -> None:
    names = [d["name"] for d in city.tables["districts"]]
    assert names == [seed.VOCAB["district"].format(n=n) for n in range(1, 47)]


def test_a_plausible_city(city: seed.City) -> None:
    t = city.tables
    assert len(t["users"]) >= 3 * 46 and 1000 <= len(t["residents"]) <= 10_000
    assert len(t["assignments"]) == len(t["residents"])
    assert all(" " in r["name"] and r["kana"] for r in t["residents"])
    outcomes = Counter(v["outcome"] for v in t["visits"])
    assert set(outcomes) == {o.value for o in Outcome}
    assert outcomes[Outcome.MET_WELL] > 0.7 * len(t["visits"])
    days = {parse_datetime(v["visited_at"]).date() for v in t["visits"]}
    assert min(days) >= TODAY - timedelta(days=366) and max(days) < TODAY


def test_history_has_realistic_gaps(city: seed.City, tmp_path: Path) -> None:
    """Some residents are overdue today, most are not: a round worth showing."""
    volunteer = seed.demo_volunteer(city)
    db = store.open_db(tmp_path / "device.sqlite")
    store.ensure_device(db, "device-a")
    seed.write_city(db, seed.volunteer_scope(city, volunteer["id"]))
    store.save_profile(
        db, name="x", server_url="", invite_code="", user_id=volunteer["id"]
    )
    days = [i.due.days for i in AppState(db).round()]
    assert len(days) >= 3
    overall = [
        (parse_datetime(b["visited_at"]) - parse_datetime(a["visited_at"])).days
        for a, b in zip(city.tables["visits"], city.tables["visits"][1:], strict=False)
        if a["resident_id"] == b["resident_id"]
    ]
    assert max(overall) >= 40  # somebody went unvisited for weeks
    assert Counter(d > 0 for d in overall)[True] > 0


def test_volunteer_scope_holds_only_their_residents(city: seed.City) -> None:
    volunteer = seed.demo_volunteer(city)
    mine = seed.volunteer_scope(city, volunteer["id"]).tables
    assert mine["users"] == [volunteer]
    assert {a["user_id"] for a in mine["assignments"]} == {volunteer["id"]}
    residents = {r["id"] for r in mine["residents"]}
    assert residents == {a["resident_id"] for a in mine["assignments"]}
    assert {v["resident_id"] for v in mine["visits"]} <= residents
    assert [d["id"] for d in mine["districts"]] == [volunteer["district_id"]]


def test_salon_records_pass_the_push_checks(city: seed.City) -> None:
    """Each as a device would have pushed it when it was written: the checks
    of the wire (ids made from their fields included) accept every one."""
    for kind in seed.SALON_KINDS[:-1]:
        rows = city.tables[kind]
        assert rows, kind
        made_from = KINDS[kind].id_from
        for row in rows:
            written = datetime.fromtimestamp(Hlc.parse(row["hlc"]).wall_ms / 1000, UTC)
            checked = check_change(to_wire(kind, row), now=written)
            assert isinstance(checked, Change), (kind, row["id"], checked)
            if made_from:
                values = tuple(checked.record[n] for n in made_from)
                assert row["id"] == derived_id(kind, values)
    assert city.tables["salon_absences"] == []  # the organisers' devices write them


def test_four_salons_a_district_with_a_year_of_sessions(city: seed.City) -> None:
    t = city.tables
    salons = Counter(s["district_id"] for s in t["salons"])
    assert salons == Counter({d["id"]: 4 for d in t["districts"]})
    members = Counter(m["salon_id"] for m in t["salon_members"])
    assert all(20 <= members[s["id"]] <= 40 for s in t["salons"])
    year_ago = TODAY - timedelta(days=365)
    held: dict[str, list[date]] = {s["id"]: [] for s in t["salons"]}
    for s in t["salon_sessions"]:
        held[s["salon_id"]].append(date.fromisoformat(s["held_on"]))
    for salon in t["salons"]:
        days = held[salon["id"]]
        assert 22 <= len(days) <= 26
        assert all(
            year_ago <= d < TODAY and d.weekday() == salon["weekday"] for d in days
        )
    marks = Counter(m["session_id"] for m in t["salon_marks"])
    of_salon = {s["id"]: s["salon_id"] for s in t["salon_sessions"]}
    for session, n in marks.items():
        assert 0.4 <= n / members[of_salon[session]] <= 0.8
    helpers = [h for h in t["salon_headcounts"] if h["category"] == "helper"]
    assert helpers and all(2 <= h["people"] <= 5 for h in helpers)


def test_the_demo_organisers_salon_has_an_absence_to_follow_up(
    city: seed.City,
) -> None:
    t = city.tables
    district = t["districts"][0]["id"]
    organiser = next(
        u
        for u in t["users"]
        if u["role"] == Role.ORGANISER.value and u["group_id"] == t["groups"][0]["id"]
    )
    first = next(s for s in t["salons"] if s["district_id"] == district)
    organised = [o for o in t["salon_organisers"] if o["user_id"] == organiser["id"]]
    assert [(o["salon_id"], o["active"]) for o in organised] == [(first["id"], 1)]
    records = salon_rows.salon_records(
        salons=[first],
        organisers=t["salon_organisers"],
        members=t["salon_members"],
        sessions=t["salon_sessions"],
        marks=t["salon_marks"],
        headcounts=t["salon_headcounts"],
    )
    alerts = absence_alerts(records[0], today=TODAY)
    theirs = {
        a["resident_id"]
        for a in t["assignments"]
        if a["user_id"] == seed.demo_volunteer(city)["id"]
    }
    watched = [a for a in alerts if a.member.resident_id in theirs]
    assert [a.missed for a in watched] == [3]
    linked = [m for m in t["salon_members"] if m["resident_id"]]
    assert {m["district_id"] for m in linked} == {district}
    assert 4 <= len(linked) <= 8


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "districts.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title\nA\n", "needs a header row with a 'name' column"),
        ("name\nA\n \n", ":3: empty name"),
        ("name\nA\nA\n", ":3: duplicate name 'A'"),
        ("name\nA\x07\n", ":2: name not usable"),
        ("name\n", "no districts"),
    ],
)
def test_bad_district_files_are_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(seed.DistrictFileError, match=message):
        seed.read_district_csv(write_csv(tmp_path, text))


def test_import_districts_then_seed_uses_the_real_names(
    stores: Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"District {n}" for n in range(1, 47)]
    csv = write_csv(tmp_path, "\ufeffname\n" + "\n".join(names) + "\n")
    where, release = stores.where(tmp_path / "city.sqlite")
    db_path = str(where)
    assert main(["import-districts", str(csv), "--db", db_path]) == 0
    assert main(["seed", "--db", db_path, "--seed", "3", "--today", "2026-11-26"]) == 0
    council = open_store(where)
    assert [name for _, name in seed.district_ids(council)] == names
    assert len(council.bodies("residents")) > 1000
    council.close()
    release()
    assert "seeded" in capsys.readouterr().out


def test_import_districts_reports_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_csv(tmp_path, "title\nA\n")
    assert main(["import-districts", str(csv), "--db", str(tmp_path / "c.sqlite")]) == 2
    assert "needs a header row" in capsys.readouterr().err
