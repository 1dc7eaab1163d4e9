"""The server store's records table: one column per schema field, JSON built by
SQLite, and the migration from the earlier table that kept JSON text."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from watchapp.domain.schema import ENVELOPE, KINDS, FieldType, format_datetime
from watchapp.server.store import BODY, Scope, SqliteServerStore, Stored, migrations
from watchapp.sync.protocol import Change, Reason, Rejection

NOTE = '見守り: "元気"\\ 改行\nあり\tタブ'


def every_kind() -> list[dict[str, Any]]:
    """One record of each kind, with text that needs escaping in JSON."""
    scope = {"deleted": False, "district_id": "d1"}
    return [
        {"kind": "districts", "id": "d1", **scope, "name": "京町校区"},
        {"kind": "groups", "id": "g1", **scope, "name": "ふれあいの会"},
        {
            "kind": "residents",
            "id": "r1",
            **scope,
            "group_id": "g1",
            "name": "久留米 花子",
            "kana": "くるめ はなこ",
            "address": None,
            "visit_every_days": 14,
            "consent": False,
            "evacuation_register": True,
            "since": "2024-04-01",
            "active": True,
        },
        {
            "kind": "users",
            "id": "u1",
            **scope,
            "group_id": "g1",
            "name": "筑後 太郎",
            "role": "volunteer",
        },
        {
            "kind": "assignments",
            "id": "a1",
            **scope,
            "group_id": "g1",
            "user_id": "u1",
            "resident_id": "r1",
            "active": False,
        },
        {
            "kind": "visits",
            "id": "v1",
            **scope,
            "group_id": "g1",
            "resident_id": "r1",
            "user_id": "u1",
            "visited_at": "2026-11-20T01:02:03.004Z",
            "outcome": "met_concern",
            "concern_category": "health",
            "urgency": "urgent",
            "note": NOTE,
        },
        {
            "kind": "concern_updates",
            "id": "c1",
            "deleted": True,
            "district_id": "d1",
            "group_id": "g1",
            "resident_id": "r1",
            "visit_id": "v1",
            "status": "resolved",
            "note": None,
        },
    ]


def stamped(record: dict[str, Any], n: int) -> dict[str, Any]:
    return {**record, "hlc": f"{1_790_000_000_000 + n:013d}-00000", "origin": "dev1"}


def test_every_schema_field_has_a_column(tmp_path: Path) -> None:
    store = SqliteServerStore(tmp_path / "council.sqlite")
    columns = {c.name for c in store.db["records"].columns}
    for spec in KINDS.values():
        for f in (*ENVELOPE, *spec.fields):
            assert f.name in columns, (spec.table, f.name)
    store.close()


def test_stored_records_come_back_as_the_wire_has_them(tmp_path: Path) -> None:
    store = SqliteServerStore(tmp_path / "council.sqlite")
    records = [stamped(r, i) for i, r in enumerate(every_kind())]
    store.apply(
        [
            Change(r["kind"], {k: v for k, v in r.items() if k != "kind"})
            for r in records
        ]
    )
    for record in records:
        text = store.db.execute(
            f"SELECT {BODY} FROM records WHERE kind = ? AND id = ?",
            [record["kind"], record["id"]],
        ).fetchone()[0]
        assert json.loads(text) == record
        assert next(iter(json.loads(text))) == "kind"  # kind first, as pulls expect
        for spec in KINDS[record["kind"]].fields:
            if spec.datatype is FieldType.BOOL:
                assert (
                    f'"{spec.name}":{"true" if record[spec.name] else "false"}' in text
                )
    store.close()


def test_a_record_written_twice_in_one_batch_keeps_the_later(tmp_path: Path) -> None:
    store = SqliteServerStore(tmp_path / "council.sqlite")
    visit = stamped(every_kind()[5], 1)
    later = {**stamped(visit, 2), "note": "後で直した"}
    store.apply(
        [
            Change("visits", {k: v for k, v in r.items() if k != "kind"})
            for r in (visit, later, visit)
        ]
    )
    (text,) = store.bodies("visits")
    assert json.loads(text)["note"] == "後で直した"
    store.close()


def test_migration_moves_json_bodies_into_columns(tmp_path: Path) -> None:
    path = tmp_path / "council.sqlite"
    db = Database(sqlite3.connect(path))
    migrations.apply(db, stop_before="m002_record_columns")
    records = [stamped(r, i) for i, r in enumerate(every_kind())]
    own = {"residents": "resident_id", "users": "user_id"}
    for seq, r in enumerate(records, 1):
        db.execute(
            "INSERT INTO records (seq, kind, id, hlc, origin, deleted, district_id,"
            " group_id, resident_id, user_id, active, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                seq,
                r["kind"],
                r["id"],
                r["hlc"],
                r["origin"],
                int(r["deleted"]),
                r["district_id"],
                r.get("group_id"),
                r["id"]
                if own.get(r["kind"]) == "resident_id"
                else r.get("resident_id"),
                r["id"] if own.get(r["kind"]) == "user_id" else r.get("user_id"),
                None if r.get("active") is None else int(r["active"]),
                json.dumps(r, ensure_ascii=False, separators=(",", ":")),
            ],
        )
    db.conn.commit()
    db.close()

    store = SqliteServerStore(path)
    assert "body" not in {c.name for c in store.db["records"].columns}
    held = {
        (r["kind"], r["id"]): r
        for kind in KINDS
        for r in map(json.loads, store.bodies(kind))
    }
    live = {(r["kind"], r["id"]): r for r in records if not r["deleted"]}
    assert held == live
    assert store.without_consent(["r1"]) == frozenset({"r1"})
    assert store.assigned_residents("u1") == frozenset()  # its assignment is inactive
    account = store.account("u1")
    assert account is not None and account.name == "筑後 太郎"
    store.close()


def change(record: dict[str, Any]) -> Change:
    return Change(record["kind"], {k: v for k, v in record.items() if k != "kind"})


def test_a_change_to_a_stored_record_is_put_to_admit_first(tmp_path: Path) -> None:
    store = SqliteServerStore(tmp_path / "council.sqlite")
    visit = every_kind()[5]
    v1 = stamped({**visit, "id": "v1"}, 1)
    store.apply([change(v1)])
    asked: list[tuple[str, str]] = []

    def admit(c: Change, stored: Stored) -> Rejection | None:
        asked.append((c.id, stored.hlc))
        return Rejection("user_id", Reason.OUT_OF_SCOPE, "not yours")

    edited = {**stamped(v1, 2), "note": "書き換え"}
    batch = [
        stamped({**visit, "id": "v2"}, 3),
        edited,
        stamped({**visit, "id": "v3"}, 4),
    ]
    refused = store.apply([change(r) for r in batch], admit=admit)
    assert list(refused) == [1] and refused[1].reason is Reason.OUT_OF_SCOPE
    assert asked == [("v1", v1["hlc"])]  # only the stored one, as stored before
    held = {json.loads(b)["id"]: json.loads(b) for b in store.bodies("visits")}
    assert held == {"v1": v1, "v2": batch[0], "v3": batch[2]}
    store.close()


def test_a_record_twice_in_a_batch_meets_its_earlier_self(tmp_path: Path) -> None:
    store = SqliteServerStore(tmp_path / "council.sqlite")
    visit = every_kind()[5]
    first = stamped({**visit, "note": "一回目"}, 5)
    second = stamped({**visit, "note": "二回目"}, 6)
    asked: list[str] = []

    def admit(c: Change, stored: Stored) -> Rejection | None:
        asked.append(stored.hlc)
        return None

    assert (
        store.apply([change(first), change(second), change(first)], admit=admit) == {}
    )
    assert asked == [first["hlc"], first["hlc"]]
    (text,) = store.bodies("visits")
    assert json.loads(text)["note"] == "二回目"
    store.close()


def test_an_optional_field_left_out_is_stored_as_null(tmp_path: Path) -> None:
    store = SqliteServerStore(tmp_path / "council.sqlite")
    resident = stamped(every_kind()[2], 1)
    del resident["address"]
    store.apply([change(resident)])
    (text,) = store.bodies("residents")
    assert json.loads(text) == {**resident, "address": None}
    store.close()


# ---- a newly assigned resident's history, without an index of visits by resident


def test_history_finds_recent_visits_among_the_districts_recent_records(
    tmp_path: Path,
) -> None:
    """Visits are read from the resident's district from the first seq of the
    window: what counts is when a visit was made, not when it arrived."""
    store = SqliteServerStore(tmp_path / "council.sqlite")
    now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    reference = [r for r in every_kind() if r["kind"] not in ("visits",)]
    store.apply([change(stamped(r, i)) for i, r in enumerate(reference)], now=now)
    visit = every_kind()[5]

    def arrives(vid: str, made_days_ago: int, written_days_ago: int) -> None:
        made = format_datetime(now - timedelta(days=made_days_ago))
        record = stamped({**visit, "id": vid, "visited_at": made}, 100)
        store.apply([change(record)], now=now - timedelta(days=written_days_ago))

    arrives("old", 300, 300)  # outside the window
    arrives("recent", 10, 10)
    arrives("late-but-old", 200, 1)  # an offline phone: made long ago
    arrives("recent-late", 10, 0)
    arrives("elsewhere", 5, 5)
    store.db.execute("UPDATE records SET resident_id = 'r2' WHERE id = 'elsewhere'")
    store.db.conn.commit()

    bodies = store.history("u1", ["r1"], since=now - timedelta(days=180))
    got = [(r["kind"], r["id"]) for r in map(json.loads, bodies)]
    assert got == [
        ("residents", "r1"),
        ("assignments", "a1"),
        ("concern_updates", "c1"),
        ("visits", "recent"),
        ("visits", "recent-late"),
    ]
    assert store.history("u2", ["r1"], since=now) == [bodies[0], bodies[2]]
    store.close()


def test_a_resident_who_moved_brings_the_visits_filed_under_their_old_district(
    tmp_path: Path,
) -> None:
    store = SqliteServerStore(tmp_path / "council.sqlite")
    now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    resident, visit = every_kind()[2], every_kind()[5]
    made = format_datetime(now - timedelta(days=20))
    store.apply([change(stamped(resident, 1))], now=now - timedelta(days=30))
    store.apply(
        [change(stamped({**visit, "id": "before", "visited_at": made}, 2))],
        now=now - timedelta(days=20),
    )
    moved = {**resident, "district_id": "d2"}
    store.apply([change(stamped(moved, 3))], now=now - timedelta(days=10))
    after = {**visit, "id": "after", "district_id": "d2"}
    store.apply([change(stamped(after, 4))], now=now)
    bodies = store.history("u1", ["r1"], since=now - timedelta(days=180))
    got = [(r["kind"], r["id"]) for r in map(json.loads, bodies)]
    assert got == [("visits", "before"), ("residents", "r1"), ("visits", "after")]
    store.close()


def test_a_volunteer_pulls_visits_filed_before_their_resident_moved(
    tmp_path: Path,
) -> None:
    """Found in review: a pull from an older cursor, by a volunteer of another
    district, after the resident moved, still brings the visit filed under
    the district the resident lived in then."""
    store = SqliteServerStore(tmp_path / "council.sqlite")
    resident, visit = every_kind()[2], every_kind()[5]
    store.apply([change(stamped(resident, 1))])
    store.apply([change(stamped(visit, 2))])  # filed under d1
    store.apply([change(stamped({**resident, "district_id": "d2"}, 3))])
    scope = Scope(
        user_id="u9", group_id="g9", district_id="d3", residents=frozenset({"r1"})
    )
    bodies, _ = store.changes_after(scope, 0, 100)
    got = [(r["kind"], r["id"]) for r in map(json.loads, bodies)]
    assert got == [("visits", "v1"), ("residents", "r1")]
    store.close()


def test_a_council_file_from_before_keeps_its_visits_findable(tmp_path: Path) -> None:
    """m003 on a file with records: they count as written the day it runs."""
    path = tmp_path / "council.sqlite"
    store = SqliteServerStore(path)
    store.apply([change(stamped(r, i)) for i, r in enumerate(every_kind())])
    store.db.executescript(
        """
        DROP TABLE seq_days;
        DROP TABLE resident_districts;
        DROP INDEX records_by_resident;
        CREATE INDEX records_by_resident ON records (resident_id, seq);
        DELETE FROM _sqlite_migrations WHERE name = 'm003_visits_found_by_district';
        """
    )
    store.close()
    store = SqliteServerStore(path)
    today = datetime.now(UTC).date().isoformat()
    assert list(store.db.query("SELECT * FROM seq_days")) == [
        {"day": today, "first_seq": 0}
    ]
    assert list(store.db.query("SELECT * FROM resident_districts")) == [
        {"resident_id": "r1", "district_id": "d1"}
    ]
    since = datetime(2026, 11, 1, tzinfo=UTC)
    got = [json.loads(b)["id"] for b in store.history("u1", ["r1"], since=since)]
    assert got == ["r1", "a1", "v1", "c1"]
    store.close()
