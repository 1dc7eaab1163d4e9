from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.conftest import NOW, TODAY, VOLUNTEER, Round, resident_row
from watchapp import store
from watchapp.domain.kinds import ENVELOPE, KINDS, FieldType
from watchapp.domain.model import Concern, ConcernCategory, Outcome, Urgency, Visit
from watchapp.sync.protocol import to_wire

SQL_TYPES = {
    FieldType.TEXT: "TEXT",
    FieldType.INT: "INTEGER",
    FieldType.BOOL: "INTEGER",
    FieldType.DATE: "TEXT",
    FieldType.DATETIME: "TEXT",
}


def table_shape(db: Database, table: str) -> dict[str, tuple[str, bool]]:
    """Each column: its type, and whether it refuses NULL (the key does)."""
    return {
        r["name"]: (r["type"], bool(r["notnull"] or r["pk"]))
        for r in db.query(f"PRAGMA table_info([{table}])")
    }


def index_shape(db: Database, table: str) -> dict[str, tuple[str, ...]]:
    return {
        i.name: tuple(i.columns)
        for i in db.table(table).indexes
        if not i.name.startswith("sqlite_autoindex")
    }


@pytest.mark.parametrize("kind", list(KINDS))
def test_migrations_match_the_registry(fresh_db: Database, kind: str) -> None:
    """Every column of every kind's table: name, type and NOT NULL, and its
    indexes, as the registry declares them (watchapp/domain/kinds/)."""
    spec = KINDS[kind]
    assert table_shape(fresh_db, kind) == {
        f.name: (SQL_TYPES[f.datatype], f.required) for f in spec.wire_fields
    }
    assert fresh_db.table(kind).pks == ["id"]
    assert index_shape(fresh_db, kind) == {
        spec.index_name(columns): columns for columns in spec.indexes
    }


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_registry_alone_makes_the_tables_the_migrations_made(
    fresh_db: Database, kind: str
) -> None:
    """A kind added later gets, from its declaration, what m001 wrote by hand."""
    derived = Database(memory=True)
    store.tables_from_kinds(derived)
    assert table_shape(derived, kind) == table_shape(fresh_db, kind)
    assert index_shape(derived, kind) == index_shape(fresh_db, kind)


def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    store.open_db(tmp_path / "d.sqlite").close()
    db = store.open_db(tmp_path / "d.sqlite")
    assert store.migrations.pending(db) == []
    assert [m.name for m in store.migrations.applied(db)] == [
        "m001_initial",
        "m002_enrolment_and_sync",
        "m003_outbox_in_push_order",
    ]


def test_file_is_in_wal_mode(fresh_db: Database) -> None:
    assert fresh_db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def visit(vid: str, rid: str = "r-aoki", **kw: object) -> Visit:
    fields: dict[str, object] = {
        "id": vid,
        "resident_id": rid,
        "district_id": "d1",
        "group_id": "g1",
        "user_id": VOLUNTEER,
        "visited_at": NOW,
        "outcome": Outcome.MET_WELL,
    }
    fields.update(kw)
    return Visit(**fields)  # type: ignore[arg-type]


def test_a_write_stamps_queues_and_advances_the_clock(fresh_db: Database) -> None:
    stamp = store.save_visit(fresh_db, visit("v1"), now_ms=1_000)
    row = fresh_db.table("visits").get("v1")
    assert (row["hlc"], row["origin"], row["deleted"]) == (stamp, "device-a", 0)
    assert list(fresh_db.query("SELECT * FROM outbox")) == [
        {
            "kind": "visits",
            "record_id": "v1",
            "hlc": stamp,
            "rejected_field": None,
            "rejected_reason": None,
        }
    ]
    assert store.device(fresh_db).hlc == stamp == "0000000001000-00000"
    # the clock never runs back, even when the phone's clock does
    assert store.save_visit(fresh_db, visit("v2"), now_ms=500) == "0000000001000-00001"


def test_editing_offline_queues_the_record_once(fresh_db: Database) -> None:
    v = visit("v1")
    store.save_visit(fresh_db, v, now_ms=1_000)
    last = store.delete_visit(fresh_db, v, now_ms=2_000)
    assert store.pending_count(fresh_db) == 1
    assert fresh_db.table("outbox").get(("visits", "v1"))["hlc"] == last
    assert fresh_db.table("visits").get("v1")["deleted"] == 1


def test_a_failed_write_leaves_neither_record_nor_queue(fresh_db: Database) -> None:
    with pytest.raises(Exception, match="NOT NULL"):
        store.write(fresh_db, "visits", {"id": "v1", "district_id": "d1"}, now_ms=1)
    assert fresh_db.table("visits").count == 0
    assert store.pending_count(fresh_db) == 0
    assert store.device(fresh_db).hlc == "0000000000000-00000"


def test_round_rows_skip_other_volunteers_inactive_and_deleted(rnd: Round) -> None:
    rows = store.round_rows(rnd.db, VOLUNTEER)
    by_id = {r.id: (last, outcome) for r, last, outcome in rows}
    assert by_id == {
        "r-aoki": (TODAY - timedelta(days=10), Outcome.NOT_HOME),
        "r-baba": (TODAY - timedelta(days=12), Outcome.MET_WELL),
        "r-chiba": (None, None),
    }
    assert store.round_rows(rnd.db, "someone-else") == []


def test_history_and_open_concerns(rnd: Round) -> None:
    concern = visit(
        "v9",
        outcome=Outcome.MET_CONCERN,
        concern=Concern(ConcernCategory.MEALS, Urgency.URGENT),
        note="fridge empty",
    )
    store.save_visit(rnd.db, concern, now_ms=1)
    assert [v.id for v in store.resident_visits(rnd.db, "r-aoki", limit=10)] == [
        "v9",
        "v3",
        "v1",
    ]
    assert [
        (c.visit, c.status.value) for c in store.open_concerns(rnd.db, "r-aoki")
    ] == [(concern, "open")]
    store.put_reference(
        rnd.db,
        "concern_updates",
        [
            {
                "id": "cu1",
                "hlc": "0000000000002-00000",
                "origin": "server",
                "deleted": 0,
                "district_id": "d1",
                "group_id": "g1",
                "resident_id": "r-aoki",
                "visit_id": "v9",
                "status": "resolved",
                "note": "",
            }
        ],
    )
    assert store.open_concerns(rnd.db, "r-aoki") == []
    mine = store.user_visits(rnd.db, VOLUNTEER, limit=2)
    assert [(v.id, name) for v, name in mine] == [
        ("v9", "Aoki Fumi"),
        ("v3", "Aoki Fumi"),
    ]


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from watchapp import store
    from watchapp.domain.model import Outcome, Visit

    db = store.open_db(sys.argv[1])
    store.ensure_device(db, "device-k")
    batch = 0
    while True:
        batch += 1
        with db.atomic():  # one round of 20 visits: all or nothing
            for i in range(20):
                v = Visit(
                    id=f"b{batch:06d}-{i:02d}", resident_id="r1", district_id="d1",
                    group_id="g1", user_id="u1",
                    visited_at=datetime.now(timezone.utc), outcome=Outcome.MET_WELL,
                    note=f"batch {batch} " + "x" * 500,
                )
                store.save_visit(db, v, now_ms=batch * 100 + i)
        print(batch, flush=True)
    """
)


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.35, 0.5, 0.8])
def test_kill_mid_transaction_leaves_whole_records_only(
    tmp_path: Path, delay: float
) -> None:
    path = tmp_path / "killed.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    log = (tmp_path / "out.txt").open("w+")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parent.parent,
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "out.txt").read_text():  # first round committed
        assert time.monotonic() < deadline, "writer never committed"
        assert proc.poll() is None, (tmp_path / "out.txt").read_text()
        time.sleep(0.01)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    log.seek(0)
    reported = [int(line) for line in log.read().split()]
    log.close()

    db = store.open_db(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = {
        row["batch"]: row["n"]
        for row in db.query(
            "SELECT substr(id, 2, 6) AS batch, count(*) AS n FROM visits GROUP BY 1"
        )
    }
    assert set(counts.values()) <= {20}, counts  # no half-written round
    committed = len(counts)
    assert committed >= (reported[-1] if reported else 0)  # nothing acknowledged lost
    queued = {r["record_id"] for r in db.query("SELECT record_id FROM outbox")}
    stored = {r["id"] for r in db.query("SELECT id FROM visits")}
    assert queued == stored  # every record queued, every queue entry a record
    if committed:
        last = db.execute("SELECT max(hlc) FROM visits").fetchone()[0]
        assert store.device(db).hlc == last
    db.close()


# ---- the outbox as pushed ----------------------------------------------------

TRICKY_TEXT: list[object] = [
    '見守り: "元気"\\ 改行\nあり\tタブ',
    "",
    "\x01 \u2028 🍵",
    "\\\"'",
]


def loose_copy(db: Database) -> Database:
    """The device's outbox and synced tables, same columns and types, without
    their constraints: so a test can store what the app never would (NULL flags)."""
    loose = Database(memory=True)
    for name in ("outbox", *KINDS):
        columns = ", ".join(f"{c.name} {c.type}" for c in db.table(name).columns)
        loose.execute(f"CREATE TABLE [{name}] ({columns})")
    return loose


def tricky_rows(kind: str) -> list[dict[str, object]]:
    """Rows of ``kind`` with awkward values in every column: every sort of text,
    flags as 0, 1, 2 and NULL, numbers at both ends, NULL everywhere."""
    fields = (*ENVELOPE, *KINDS[kind].fields)
    values: dict[FieldType, list[object]] = {
        FieldType.TEXT: TRICKY_TEXT,
        FieldType.DATE: ["2026-11-26", "not a date"],
        FieldType.DATETIME: ["2026-11-26T01:02:03.000Z"],
        FieldType.INT: [0, 7, 10_000],
        FieldType.BOOL: [1, 0, 2, None],
    }
    rows: list[dict[str, object]] = []
    for n in range(5):
        row: dict[str, object] = {}
        for f in fields:
            choices = values[f.datatype]
            row[f.name] = None if n == 4 else choices[n % len(choices)]
        row["id"] = f"{kind}-{n}"
        row["hlc"] = f"0000000001000-{n:05d}"
        rows.append(row)
    return rows


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_outbox_batch_carries_each_record_as_the_wire_has_it(
    fresh_db: Database, kind: str
) -> None:
    db = loose_copy(fresh_db)
    rows = tricky_rows(kind)
    db.table(kind).insert_all(rows)
    db.table("outbox").insert_all(
        {"kind": kind, "record_id": r["id"], "hlc": r["hlc"]} for r in rows
    )
    batch = store.outbox_batch(db, 100)
    assert [(o.kind, o.record_id, o.hlc) for o in batch] == [
        (kind, r["id"], r["hlc"]) for r in rows
    ]
    for item, row in zip(batch, rows, strict=True):
        expected = to_wire(kind, row)
        sent = json.loads(item.change)
        assert sent == expected
        assert list(sent) == list(expected)  # "kind" first, then schema order
        assert [type(v) for v in sent.values()] == [type(v) for v in expected.values()]


def queued(db: Database) -> list[tuple[str, str, str | None]]:
    return [
        (r["record_id"], r["hlc"], r["rejected_reason"])
        for r in db.query("SELECT * FROM outbox ORDER BY hlc")
    ]


def test_a_batch_is_read_in_stamp_order_across_kinds(fresh_db: Database) -> None:
    first = store.save_visit(fresh_db, visit("v1"), now_ms=1_000)
    store.put_reference(
        fresh_db, "residents", [resident_row("r1", "青木 一郎", "あおき いちろう")]
    )
    row = dict(fresh_db.table("residents").get("r1"))
    second = store.write(fresh_db, "residents", {**row, "kana": "あ"}, now_ms=2_000)
    third = store.save_visit(fresh_db, visit("v2"), now_ms=3_000)
    batch = store.outbox_batch(fresh_db, 2)
    assert [(o.kind, o.record_id, o.hlc) for o in batch] == [
        ("visits", "v1", first),
        ("residents", "r1", second),
    ]
    rest = store.outbox_batch(fresh_db, 2, after=batch[-1].hlc)
    assert [(o.record_id, o.hlc) for o in rest] == [("v2", third)]
    assert store.outbox_batch(fresh_db, 2, after=third) == []


def test_settling_forgets_the_accepted_and_marks_the_rejected(
    fresh_db: Database,
) -> None:
    stamps = [store.save_visit(fresh_db, visit(f"v{n}"), now_ms=n) for n in range(3)]
    batch = store.outbox_batch(fresh_db, 10)
    store.settle_push(fresh_db, batch, {1: ("note", "too_long")})
    assert queued(fresh_db) == [("v1", stamps[1], "too_long")]
    assert [(r.record_id, r.field, r.reason) for r in store.rejected(fresh_db)] == [
        ("v1", "note", "too_long")
    ]
    assert store.outbox_batch(fresh_db, 10) == []  # not sent again as it is


def test_refused_writes_can_be_queued_again(fresh_db: Database) -> None:
    stamps = [store.save_visit(fresh_db, visit(f"v{n}"), now_ms=n) for n in range(3)]
    batch = store.outbox_batch(fresh_db, 10)
    store.settle_push(fresh_db, batch, {0: ("resident_id", "out_of_scope")})
    assert store.requeue_rejected(fresh_db) == 1
    assert store.rejected(fresh_db) == []
    assert queued(fresh_db) == [("v0", stamps[0], None)]
    assert [o.record_id for o in store.outbox_batch(fresh_db, 10)] == ["v0"]
    assert store.requeue_rejected(fresh_db) == 0


def test_a_write_made_while_its_push_was_on_its_way_stays_queued(
    fresh_db: Database,
) -> None:
    store.save_visit(fresh_db, visit("v1"), now_ms=1_000)
    store.save_visit(fresh_db, visit("v2"), now_ms=1_000)
    store.save_visit(fresh_db, visit("v3"), now_ms=1_000)
    batch = store.outbox_batch(fresh_db, 10)
    # meanwhile: v1 edited again; v2 edited again, then refused as sent;
    # v3's entry dropped (a later write from elsewhere won) and a new record
    # queued, which SQLite may give v3's old rowid
    edited = store.save_visit(fresh_db, visit("v1", note="later"), now_ms=2_000)
    again = store.save_visit(fresh_db, visit("v2", note="later"), now_ms=2_000)
    fresh_db.execute("DELETE FROM outbox WHERE record_id = 'v3'")
    new = store.save_visit(fresh_db, visit("v4"), now_ms=2_000)
    reused = fresh_db.execute("SELECT rowid FROM outbox WHERE record_id = 'v4'")
    assert reused.fetchone()[0] == batch[2].entry
    store.settle_push(fresh_db, batch, {1: ("note", "too_long")})
    assert queued(fresh_db) == [
        ("v1", edited, None),
        ("v2", again, None),
        ("v4", new, None),
    ]
    assert [o.record_id for o in store.outbox_batch(fresh_db, 10)] == ["v1", "v2", "v4"]
