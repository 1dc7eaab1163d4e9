"""The record-kind registry: every synced kind, declared once.

A kind (:class:`Kind`) is declared in the module of its family
(:mod:`.core`, :mod:`.watch`, :mod:`.salons`) and registered here. What
follows from the declarations is derived where it is used, through
:func:`per_kind` and :func:`when_changed`, so that a kind registered later
(a test's throwaway kind) is checked, stored, pushed and pulled like any
other:

- the device's tables, indexes and purges (watchapp/store.py);
- the push checks (watchapp/sync/protocol.py) and the push schema in the
  OpenAPI document (watchapp/server/sync.py);
- who may write what, and the references that must exist
  (watchapp/server/rules.py, watchapp/server/judge.py);
- the server's columns (watchapp/server/store/), and which records a field
  worker's device pulls (:attr:`Kind.held_by`, :attr:`Kind.history`, compiled
  to SQL by each engine).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from watchapp.domain.kinds import core, salons, watch
from watchapp.domain.kinds.base import (
    ENVELOPE,
    HOLDING,
    ID_MAX_CHARS,
    LISTED,
    TEXT_MAX_CHARS,
    Field,
    FieldType,
    HeldBy,
    History,
    Kind,
)
from watchapp.domain.model import Role

__all__ = [
    "ENVELOPE",
    "HOLDING",
    "ID_MAX_CHARS",
    "LISTED",
    "KINDS",
    "TEXT_MAX_CHARS",
    "Field",
    "FieldType",
    "HeldBy",
    "History",
    "Kind",
    "KindError",
    "per_kind",
    "register",
    "unregister",
    "when_changed",
]

T = TypeVar("T")

KINDS: dict[str, Kind] = {}
_rebuilds: list[Callable[[], None]] = []
# Names go into SQL as they are: only plain identifiers.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_FIELD_WORKERS = frozenset({Role.VOLUNTEER, Role.ORGANISER})


class KindError(ValueError):
    """A declaration that does not hold together; nothing was registered."""


def register(kind: Kind) -> Kind:
    """Add a kind; everything derived from the registry follows."""
    if kind.table in KINDS:
        raise KindError(f"{kind.table}: already registered")
    _check(kind)
    KINDS[kind.table] = kind
    try:
        _rebuild()
    except Exception:
        unregister(kind.table)
        raise
    return kind


def unregister(table: str) -> None:
    """Take a kind out again (a test's throwaway kind, when it is done)."""
    del KINDS[table]
    _rebuild()


def when_changed(rebuild: Callable[[], None]) -> Callable[[], None]:
    """Call ``rebuild`` now and whenever a kind is registered or removed:
    for what a module works out once from all kinds (SQL text, say)."""
    rebuild()
    _rebuilds.append(rebuild)
    return rebuild


def per_kind(build: Callable[[Kind], T]) -> dict[str, T]:
    """``build(kind)`` for every kind, by table: a plain dict (looked up once
    per record on a push), refilled in place when the registry changes."""
    table: dict[str, T] = {}

    def refill() -> None:
        table.clear()
        table.update((name, build(kind)) for name, kind in KINDS.items())

    when_changed(refill)
    return table


def _rebuild() -> None:
    for rebuild in _rebuilds:  # in the order made: later ones may use earlier
        rebuild()


def _check(kind: Kind) -> None:
    """Fail at registration, not at the first push."""
    names = [f.name for f in kind.wire_fields]
    own = [kind.own_id_as] if kind.own_id_as else []
    problems = [n for n in (kind.table, *names, *own) if not _NAME.fullmatch(n)]
    if len(set(names)) != len(names):
        problems.append("a field named twice")
    fields = set(names)
    mentioned = [
        *kind.scope,
        *kind.purged_by.values(),
        *kind.withheld,
        *(c for columns in kind.indexes for c in columns),
        *([kind.clock_field] if kind.clock_field else []),
    ]
    problems += [f"no field {n}" for n in mentioned if n not in fields]
    known = {*KINDS, kind.table}
    problems += [
        f"{n} refers to unknown kind {k}"
        for n, k in kind.references.items()
        if k not in known
    ]
    problems += [
        f"purged by unknown kind {k}" for k in kind.purged_by if k not in known
    ]
    problems += [f"id from unknown field {n}" for n in kind.id_from if n not in fields]
    if kind.writers & _FIELD_WORKERS:
        within = kind.written_within
        if within is HeldBy.RESIDENT:
            if not {"user_id", "resident_id"} <= fields:
                problems.append(
                    "field workers write only as themselves for their residents"
                )
        elif within is HeldBy.SALON:
            if "salon_id" not in fields | set(own):
                problems.append("field workers write only for their salons")
        else:
            problems.append(
                "field workers write only as themselves for their residents,"
                " or for their salons (held_by or field_writes)"
            )
    if kind.withheld or kind.withheld_whole:
        if "resident_id" not in fields:
            problems.append("least data is about a resident: no resident_id")
        if kind.withheld_whole and "visit_id" not in fields:
            problems.append("withheld whole unless about one's visit: no visit_id")
    problems += _holding_problems(kind, fields)
    if kind.clock_field and _type_of(kind, kind.clock_field) is not FieldType.DATETIME:
        problems.append(f"{kind.clock_field}: the clock checks need a datetime")
    # The server keeps every kind in one table, a column per field name.
    for other in KINDS.values():
        for f in kind.fields:
            theirs = _type_of(other, f.name)
            if theirs is not None and theirs is not f.datatype:
                problems.append(f"{f.name} is {theirs.value} in {other.table}")
    if problems:
        raise KindError(f"{kind.table}: {'; '.join(problems)}")


def _holding_problems(kind: Kind, fields: set[str]) -> list[str]:
    """The column each way of holding compares must be the kind's; history
    is what comes with one resident, so it needs their id."""
    columns = {*fields, *([kind.own_id_as] if kind.own_id_as else [])}
    problems = []
    if kind.held_by is not None and HOLDING[kind.held_by][0] not in columns:
        problems.append(f"held by {kind.held_by.value}: no {HOLDING[kind.held_by][0]}")
    if kind.history is not None:
        if kind.held_by is HeldBy.SALON:
            pass  # the holding column, checked above
        elif kind.held_by not in {HeldBy.RESIDENT, HeldBy.OWN_ASSIGNMENT}:
            problems.append("history is of records held by resident or assignment")
        elif "resident_id" not in columns:
            problems.append("history is about a resident: no resident_id")
    if kind.history is History.RECENT and (
        kind.held_by is not HeldBy.RESIDENT or kind.clock_field is None
    ):
        problems.append("recent history needs held by resident and a clock field")
    return problems


def _type_of(kind: Kind, name: str) -> FieldType | None:
    return next((f.datatype for f in kind.wire_fields if f.name == name), None)


for _kind in (*core.FAMILY, *watch.FAMILY, *salons.FAMILY):
    register(_kind)
