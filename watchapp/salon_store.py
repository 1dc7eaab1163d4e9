"""The device's salon records: what the organiser's screens read, in SQL.

Writes go through :func:`watchapp.store.write` like every other record (one
transaction: the row, its outbox entry, the device clock).
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

Row = dict[str, Any]
SALON_TABLES = (
    "salon_organisers",
    "salon_members",
    "salon_sessions",
    "salon_marks",
    "salon_headcounts",
)


def _rows(db: Database, sql: str, params: list[Any]) -> list[Row]:
    return [dict(r) for r in db.query(sql, params)]


def salons(db: Database) -> list[Row]:
    """Every live salon on the device, by name."""
    return _rows(db, "SELECT * FROM salons WHERE deleted = 0 ORDER BY name, id", [])


def organised_by(db: Database, user_id: str) -> set[str]:
    """The salons this user organises, as far as the device knows."""
    return {
        r["salon_id"]
        for r in db.query(
            "SELECT salon_id FROM salon_organisers"
            " WHERE user_id = ? AND active = 1 AND deleted = 0",
            [user_id],
        )
    }


def salon(db: Database, salon_id: str) -> Row | None:
    found = _rows(db, "SELECT * FROM salons WHERE id = ? AND deleted = 0", [salon_id])
    return found[0] if found else None


def salon_tables(db: Database, salon_id: str) -> dict[str, list[Row]]:
    """All of one salon's live records, by kind (the domain's figures)."""
    return {
        table: _rows(
            db,
            f"SELECT * FROM [{table}] WHERE salon_id = ? AND deleted = 0",
            [salon_id],
        )
        for table in SALON_TABLES
    }


def session(db: Database, session_id: str) -> Row | None:
    found = _rows(
        db, "SELECT * FROM salon_sessions WHERE id = ? AND deleted = 0", [session_id]
    )
    return found[0] if found else None


def members(db: Database, salon_id: str) -> list[Row]:
    """A salon's active members, by kana reading."""
    return _rows(
        db,
        "SELECT * FROM salon_members WHERE salon_id = ? AND deleted = 0"
        " AND active = 1 ORDER BY kana, id",
        [salon_id],
    )


def member(db: Database, member_id: str) -> Row | None:
    found = _rows(
        db, "SELECT * FROM salon_members WHERE id = ? AND deleted = 0", [member_id]
    )
    return found[0] if found else None


def marks(db: Database, session_id: str) -> list[Row]:
    return _rows(
        db,
        "SELECT * FROM salon_marks WHERE session_id = ? AND deleted = 0",
        [session_id],
    )


def headcounts(db: Database, session_id: str) -> list[Row]:
    return _rows(
        db,
        "SELECT * FROM salon_headcounts WHERE session_id = ? AND deleted = 0",
        [session_id],
    )


def came_before(db: Database, salon_id: str, held_on: str) -> set[str]:
    """The members marked present at a session of the salon before this day
    (one mark per session and member: its id is made from both)."""
    return {
        r["member_id"]
        for r in db.query(
            "SELECT DISTINCT m.member_id FROM salon_marks m"
            " JOIN salon_sessions s ON s.id = m.session_id"
            " WHERE s.salon_id = ? AND s.held_on < ? AND s.deleted = 0"
            " AND m.present = 1 AND m.deleted = 0",
            [salon_id, held_on],
        )
    }


def absences(db: Database, *, salon_id: str | None = None) -> list[Row]:
    """Active absence notices: of a salon, or all the device holds (a
    volunteer's, about their residents)."""
    where, params = "active = 1 AND deleted = 0", []
    if salon_id is not None:
        where += " AND salon_id = ?"
        params.append(salon_id)
    return _rows(db, f"SELECT * FROM salon_absences WHERE {where}", params)


def absence_rows(db: Database, salon_id: str) -> list[Row]:
    """Every absence notice of a salon, active or not."""
    return _rows(
        db,
        "SELECT * FROM salon_absences WHERE salon_id = ? AND deleted = 0",
        [salon_id],
    )
