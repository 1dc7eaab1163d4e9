"""The PostgreSQL engine's schema and the SQL it derives from the kinds.

Migrations are numbered steps, applied once each and recorded in
``schema_migrations``; never edit an applied one. The field columns of
``records`` are not in them: they follow :data:`watchapp.domain.schema.KINDS`
(see :func:`field_columns`), and the store adds a column for any field that
has none yet when it opens.

Text columns are ``COLLATE "C"``: byte order, as SQLite compares, so that
"last writer wins by (hlc, origin)" and ISO timestamps compare the same
whatever locale the database was created with.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from watchapp.domain.kinds import HOLDING, LISTED, HeldBy, History
from watchapp.domain.schema import KINDS, FieldType, Kind

TEXT = 'TEXT COLLATE "C"'

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        f"""
        CREATE TABLE records (
            seq BIGINT NOT NULL,  -- a later write gets a later seq
            kind {TEXT} NOT NULL,
            id {TEXT} NOT NULL,
            hlc {TEXT} NOT NULL,
            origin {TEXT} NOT NULL,
            deleted BOOLEAN NOT NULL,
            district_id {TEXT} NOT NULL,
            group_id {TEXT},
            resident_id {TEXT},  -- for residents: their own id
            user_id {TEXT},  -- for users: their own id
            PRIMARY KEY (kind, id));
        CREATE UNIQUE INDEX records_by_seq ON records (seq);
        CREATE INDEX records_by_district ON records (district_id, seq);
        CREATE INDEX records_by_resident ON records (resident_id, seq)
            WHERE kind != 'visits';
        CREATE INDEX assignments_by_user ON records (user_id)
            WHERE kind = 'assignments';

        -- The next change number and the server's clock, in one row: each
        -- transaction that writes records locks it first (see postgres.py).
        CREATE TABLE server_state (
            one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
            seq BIGINT NOT NULL,
            hlc {TEXT} NOT NULL,
            epoch {TEXT});  -- set when the store first opens it (postgres.py)
        INSERT INTO server_state VALUES (true, 0, '0000000000000-00000', NULL);

        -- The first seq written on each day, for history (as in SQLite).
        CREATE TABLE seq_days (day {TEXT} PRIMARY KEY, first_seq BIGINT NOT NULL);
        CREATE TABLE resident_districts (
            resident_id {TEXT} NOT NULL,
            district_id {TEXT} NOT NULL,
            PRIMARY KEY (resident_id, district_id));

        CREATE TABLE coordinator_districts (
            user_id {TEXT} NOT NULL,
            district_id {TEXT} NOT NULL,
            PRIMARY KEY (user_id, district_id));
        CREATE TABLE invitations (
            code_hash {TEXT} PRIMARY KEY,
            user_id {TEXT} NOT NULL,
            created_at {TEXT} NOT NULL,
            expires_at {TEXT} NOT NULL,
            used_at {TEXT},
            device_id {TEXT},
            enrol_salt {TEXT});
        CREATE TABLE devices (
            n BIGINT GENERATED ALWAYS AS IDENTITY,  -- enrolment order, as rowid
            device_id {TEXT} PRIMARY KEY,
            user_id {TEXT} NOT NULL,
            name {TEXT} NOT NULL,
            token_hash {TEXT} NOT NULL UNIQUE,
            enrolled_at {TEXT} NOT NULL,
            last_seen_at {TEXT},
            revoked_at {TEXT});
        CREATE TABLE device_scopes (
            snap BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            device_id {TEXT} NOT NULL,
            members {TEXT} NOT NULL);
        CREATE INDEX device_scopes_by_device ON device_scopes (device_id, snap);
        CREATE TABLE enrolment_attempts (
            bucket {TEXT} PRIMARY KEY,
            attempts INTEGER NOT NULL,
            window_ends DOUBLE PRECISION NOT NULL);  -- unix seconds
        CREATE TABLE device_writes (
            device_id {TEXT} NOT NULL,
            hour {TEXT} NOT NULL,
            changes INTEGER NOT NULL,
            PRIMARY KEY (device_id, hour));
        CREATE TABLE audit_log (
            n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at {TEXT} NOT NULL,
            user_id {TEXT} NOT NULL,
            device_id {TEXT},
            action {TEXT} NOT NULL,
            kind {TEXT},
            record_id {TEXT} NOT NULL);
        """,
    ),
]

# The scope columns migration 1 makes, whether or not a kind declares them.
SCOPE_COLUMNS = {"group_id": TEXT, "resident_id": TEXT, "user_id": TEXT}

_COLUMN_TYPES = {
    FieldType.TEXT: TEXT,
    FieldType.DATE: TEXT,
    FieldType.DATETIME: TEXT,
    FieldType.INT: "BIGINT",
    FieldType.BOOL: "BOOLEAN",
}
# How information_schema names the types above.
CATALOG_TYPES = {TEXT: "text", "BIGINT": "bigint", "BOOLEAN": "boolean"}

ENVELOPE_COLUMNS = ("id", "hlc", "origin", "deleted", "district_id")


class SchemaMismatch(Exception):
    """A column of ``records`` has another type than the kinds declare."""


def field_columns() -> dict[str, str]:
    """Every field of every kind as a column of ``records``: name -> type.

    Raises :class:`SchemaMismatch` when two kinds give one field name two
    types: they share the column."""
    columns = dict(SCOPE_COLUMNS)
    for kind in KINDS.values():
        for field in kind.fields:
            wanted = _COLUMN_TYPES[field.datatype]
            if columns.setdefault(field.name, wanted) != wanted:
                raise SchemaMismatch(f"{kind.table}.{field.name}: {wanted}")
    return columns


# A push's new rows are COPYed here first, then inserted in one statement that
# skips those already stored: COPY is the fastest way in (bench/NOTES.md), but
# cannot skip a conflict itself. Made and dropped by each write, in its own
# transaction.
STAGE = "incoming"


@dataclass(frozen=True)
class KindSql:
    """How one kind is written and read back."""

    stage: str  # CREATE TEMP TABLE for its rows: seq, then the columns
    copy: str  # COPY into that table
    insert: str  # from that table into records, but those already stored
    upsert: str  # one row; the last writer by (hlc, origin) wins
    keys: tuple[str, ...]  # the record key behind each column, after the seq
    bools: frozenset[int]  # positions in ``keys`` of flags
    ints: frozenset[int]  # positions in ``keys`` of numbers


@functools.cache
def kind_sql(kind: Kind) -> KindSql:
    columns = [f.name for f in kind.wire_fields]
    keys = list(columns)
    # Residents and users are indexed by their own id in these columns (a
    # district's own id is its district_id on the wire already).
    if kind.own_id_as is not None and kind.own_id_as not in columns:
        columns.append(kind.own_id_as)
        keys.append("id")
    types = {f.name: _COLUMN_TYPES[f.datatype] for f in kind.wire_fields}
    names = ", ".join(columns)
    staged = ", ".join(f"{c} {types.get(c, TEXT)}" for c in columns)
    insert = (
        f"INSERT INTO records (seq, kind, {names})"
        f" SELECT s, '{kind.table}', {names} FROM {STAGE}"
        " ON CONFLICT (kind, id) DO NOTHING"
    )
    updates = ", ".join(f"{c} = excluded.{c}" for c in ["seq", *columns])
    values = ", ".join("%s" for _ in columns)
    upsert = (
        f"INSERT INTO records AS r (seq, kind, {names})"
        f" VALUES (%s, '{kind.table}', {values})"
        f" ON CONFLICT (kind, id) DO UPDATE SET {updates}"
        " WHERE (excluded.hlc, excluded.origin) > (r.hlc, r.origin)"
    )
    return KindSql(
        f"CREATE TEMP TABLE {STAGE} (s BIGINT, {staged})",
        f"COPY {STAGE} FROM STDIN",
        insert,
        upsert,
        tuple(keys),
        frozenset(i for i, c in enumerate(columns) if types.get(c) == "BOOLEAN"),
        frozenset(i for i, c in enumerate(columns) if types.get(c) == "BIGINT"),
    )


def json_sql(kind: Kind) -> str:
    """A row of ``kind`` as its wire JSON text: "kind" first, then the
    envelope and the kind's fields; flags as JSON booleans, NULL as null.

    ``json``, not ``jsonb``: it keeps the key order, and is text the pull
    route splices into its page as it is."""
    pairs = [f"'kind', '{kind.table}'"]
    pairs += [f"'{f.name}', {f.name}" for f in kind.wire_fields]
    return f"json_build_object({', '.join(pairs)})::text"


@functools.cache
def body_sql(kinds: tuple[Kind, ...]) -> str:
    """SQL for a row's wire JSON, whatever its kind (of ``kinds``)."""
    cases = " ".join(f"WHEN '{k.table}' THEN {json_sql(k)}" for k in kinds)
    return f"CASE kind {cases} END"


def _is_kind(tables: list[str]) -> str:
    """``kind = 'visits'``, or ``kind IN ('residents', 'visits')``."""
    if len(tables) == 1:
        return f"kind = '{tables[0]}'"
    listed = ", ".join(f"'{t}'" for t in tables)
    return f"kind IN ({listed})"


def _held_by(
    kinds: tuple[Kind, ...], how: HeldBy, history: History | None = None
) -> list[str]:
    """The kinds a field worker holds ``how`` (and that come ``history``)."""
    return [
        k.table
        for k in kinds
        if k.held_by is how and (history is None or k.history is history)
    ]


def _matches(how: HeldBy) -> str:
    column, of_scope = HOLDING[how]
    if how in LISTED:  # a set (residents, salons): bound as an array
        return f"{column} = ANY(%({of_scope})s)"
    return f"{column} = %({of_scope})s"


@functools.cache
def held_sql(kinds: tuple[Kind, ...]) -> str:
    """Which records a field worker's device holds (:attr:`Kind.held_by`), as
    in SQLite: filed under their own district, their group's, or one their
    residents' records are filed under; and held so by their kind. Named
    parameters: district_id, group_id, user_id, residents, salons."""
    frame = ["SELECT %(district_id)s"]
    if groups := _held_by(kinds, HeldBy.OWN_GROUP):
        frame.append(
            f"SELECT district_id FROM records WHERE {_is_kind(groups)}"
            " AND id = %(group_id)s"
        )
    frame.append(
        "SELECT district_id FROM resident_districts"
        " WHERE resident_id = ANY(%(residents)s)"
    )
    if salons := _held_by(kinds, HeldBy.SALON):
        frame.append(
            f"SELECT district_id FROM records WHERE {_is_kind(salons)}"
            f" AND {_matches(HeldBy.SALON)}"
        )
    held = [
        f"({_is_kind(tables)} AND {_matches(how)})"
        for how in HeldBy
        if (tables := _held_by(kinds, how))
    ]
    return (
        f"district_id IN ({' UNION '.join(frame)}) AND ({' OR '.join(held) or 'false'})"
    )


@functools.cache
def history_sql(kinds: tuple[Kind, ...]) -> str:
    """The seqs of what comes with newly assigned residents
    (:attr:`Kind.history`), as in SQLite; "" for none. Named parameters: as
    :func:`held_sql`'s, and since, first_day, beyond for the window."""
    whole = [
        _is_kind(tables)
        if how is HeldBy.RESIDENT
        else f"({_is_kind(tables)} AND {_matches(how)})"
        for how in HeldBy
        if how is not HeldBy.SALON and (tables := _held_by(kinds, how, History.ALL))
    ]
    salons = _held_by(kinds, HeldBy.SALON, History.ALL)
    by_clock: dict[str, list[str]] = {}
    for kind in kinds:
        if kind.held_by is HeldBy.RESIDENT and kind.history is History.RECENT:
            by_clock.setdefault(str(kind.clock_field), []).append(kind.table)
    parts = []
    if whole:
        # The index by resident leaves visits out: saying so lets it serve.
        parts.append(
            "SELECT seq FROM records WHERE resident_id = ANY(%(residents)s)"
            f" AND kind != 'visits' AND ({' OR '.join(whole)})"
        )
    if salons:  # a salon newly organised: all of it (records_by_salon)
        parts.append(
            f"SELECT seq FROM records WHERE {_matches(HeldBy.SALON)}"
            f" AND {_is_kind(salons)}"
        )
    if by_clock:
        # From the districts the residents' records are filed under, from the
        # first seq written since the window began (seq_days): a record
        # reaches the server after its clock field (the clock check).
        in_window = " OR ".join(
            f"({_is_kind(tables)} AND {clock} >= %(since)s)"
            for clock, tables in by_clock.items()
        )
        parts.append(
            "SELECT seq FROM records WHERE district_id IN ("
            "   SELECT district_id FROM resident_districts"
            "   WHERE resident_id = ANY(%(residents)s))"
            " AND seq >= (SELECT coalesce(min(first_seq), %(beyond)s)"
            "   FROM seq_days WHERE day >= %(first_day)s)"
            " AND resident_id = ANY(%(residents)s)"
            f" AND ({in_window})"
        )
    return " UNION ALL ".join(parts)
