from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.support import Stores
from watchapp import seed, store
from watchapp.__main__ import main
from watchapp.domain.model import Outcome
from watchapp.domain.schema import parse_datetime
from watchapp.server.store import open_store
from watchapp.state import AppState

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
