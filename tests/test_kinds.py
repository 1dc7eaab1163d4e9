"""The record-kind registry: each kind declared once, everything else derived.

A throwaway kind registered here, in the test process, is stored on a device,
pushed, checked, judged, stored by the server and pulled by a second device
with no other code change; then it is taken out again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlite_utils import Database

from tests.conftest import resident_row
from tests.support import BASE_URL, T0, Council, Stores, enrol_device, visible
from watchapp import store
from watchapp.domain import kinds
from watchapp.domain.kinds import KINDS, Kind, KindError, register, unregister
from watchapp.domain.kinds.base import (
    EVERYONE,
    STAFF,
    HeldBy,
    History,
    moment,
    number,
    ref,
    text,
)
from watchapp.domain.model import Outcome, Role
from watchapp.sync import protocol
from watchapp.sync.protocol import API, Reason

T0_MS = int(T0.timestamp() * 1000)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ---- the declarations say what the hand-written copies said ---------------------

ALL_KINDS = [
    "districts",
    "groups",
    "users",
    "residents",
    "assignments",
    "visits",
    "concern_updates",
    "salons",
    "salon_organisers",
    "salon_members",
    "salon_sessions",
    "salon_marks",
    "salon_headcounts",
    "salon_absences",
]


def test_the_registry_holds_every_kind_of_the_app() -> None:
    assert list(KINDS) == ALL_KINDS


def test_who_may_write_each_kind() -> None:
    """As rules.py had it: volunteers visits; coordinators all but districts."""
    writers = {name: kind.writers for name, kind in KINDS.items()}
    assert writers == {
        "districts": {Role.ADMIN},
        "groups": STAFF,
        "users": STAFF,
        "residents": STAFF,
        "assignments": STAFF,
        "visits": EVERYONE,
        "concern_updates": STAFF,
        "salons": STAFF,
        "salon_organisers": STAFF,
        **dict.fromkeys(
            (
                "salon_members",
                "salon_sessions",
                "salon_marks",
                "salon_headcounts",
                "salon_absences",
            ),
            {Role.ORGANISER, *STAFF},
        ),
    }


def test_references_purges_and_own_ids() -> None:
    shape = {
        name: (kind.references, kind.purge, kind.own_id_as, kind.clock_field)
        for name, kind in KINDS.items()
    }
    by_district = {"districts": "district_id"}
    by_resident = {**by_district, "residents": "resident_id"}
    by_salon = {**by_district, "salons": "salon_id"}
    assert shape == {
        "districts": ({}, by_district, "district_id", None),
        "groups": ({}, by_district, None, None),
        "users": ({}, by_district, "user_id", None),
        "residents": ({}, {**by_district, "residents": "id"}, "resident_id", None),
        "assignments": (
            {"user_id": "users", "resident_id": "residents"},
            by_resident,
            None,
            None,
        ),
        "visits": ({"resident_id": "residents"}, by_resident, None, "visited_at"),
        "concern_updates": ({"resident_id": "residents"}, by_resident, None, None),
        "salons": ({}, {**by_district, "salons": "id"}, "salon_id", None),
        "salon_organisers": (
            {"salon_id": "salons", "user_id": "users"},
            by_salon,
            None,
            None,
        ),
        "salon_members": ({"salon_id": "salons"}, by_salon, None, None),
        "salon_sessions": ({"salon_id": "salons"}, by_salon, None, None),
        "salon_marks": (
            {
                "salon_id": "salons",
                "session_id": "salon_sessions",
                "member_id": "salon_members",
            },
            by_salon,
            None,
            None,
        ),
        "salon_headcounts": (
            {"salon_id": "salons", "session_id": "salon_sessions"},
            by_salon,
            None,
            None,
        ),
        # The volunteer's reason to visit goes with the resident.
        "salon_absences": (
            {"salon_id": "salons", "member_id": "salon_members"},
            by_resident,
            None,
            None,
        ),
    }


def test_how_field_workers_hold_each_kind() -> None:
    """As the engines' SQL had it: their residents' records and history,
    their own assignments, user, group and district; visits only recent."""
    held = {name: (k.held_by, k.history) for name, k in KINDS.items()}
    assert held == {
        "districts": (HeldBy.OWN_DISTRICT, None),
        "groups": (HeldBy.OWN_GROUP, None),
        "users": (HeldBy.SELF, None),
        "residents": (HeldBy.RESIDENT, History.ALL),
        "assignments": (HeldBy.OWN_ASSIGNMENT, History.ALL),
        "visits": (HeldBy.RESIDENT, History.RECENT),
        "concern_updates": (HeldBy.RESIDENT, History.ALL),
        # An organiser: the salons they organise, whole; their own organiser
        # records (not who else organises); a volunteer: absences of their
        # residents.
        "salons": (HeldBy.SALON, History.ALL),
        "salon_organisers": (HeldBy.OWN_ASSIGNMENT, None),
        "salon_members": (HeldBy.SALON, History.ALL),
        "salon_sessions": (HeldBy.SALON, History.ALL),
        "salon_marks": (HeldBy.SALON, History.ALL),
        "salon_headcounts": (HeldBy.SALON, History.ALL),
        "salon_absences": (HeldBy.RESIDENT, History.ALL),
    }


def test_one_record_per_salon_and_day_per_member_per_device_count() -> None:
    """What two offline devices must write as the same record."""
    made_from = {name: k.id_from for name, k in KINDS.items() if k.id_from}
    assert made_from == {
        "salon_sessions": ("salon_id", "held_on"),
        "salon_marks": ("session_id", "member_id"),
        "salon_headcounts": ("session_id", "category", "first_time", "counted_on"),
        "salon_absences": ("salon_id", "member_id"),
    }


def test_limits_are_declared_not_guessed_from_names() -> None:
    limits = {
        (name, f.name): (f.max_chars, f.multiline, f.id_like)
        for name, kind in KINDS.items()
        for f in kind.wire_fields
        if f.datatype is kinds.FieldType.TEXT and f.choices is None
    }
    assert limits[("visits", "note")] == (2000, True, False)
    assert limits[("visits", "resident_id")] == (64, False, True)
    assert limits[("residents", "name")] == (200, False, False)
    assert limits[("visits", "origin")] == (64, False, True)


# ---- a declaration that does not hold together is refused -------------------------


def notes(**changes: Any) -> Kind:
    """The throwaway kind: notes a coordinator keeps on their district."""
    declared: dict[str, Any] = {
        "table": "notes_for_test",
        "fields": (text("topic", max_chars=40), number("priority", high=5)),
        "scope": ("district_id",),
        "writers": STAFF,
    }
    declared.update(changes)
    return Kind(**declared)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"table": "notes; DROP TABLE visits"}, "notes; DROP TABLE visits"),
        ({"scope": ("district_id", "salon_id")}, "no field salon_id"),
        ({"fields": (text("topic"), text("topic"))}, "a field named twice"),
        ({"fields": (number("name"),)}, "name is text in districts"),
        ({"writers": EVERYONE}, "field workers write only as themselves"),
        ({"fields": (ref("about", "pets"),)}, "about refers to unknown kind pets"),
        ({"clock_field": "topic"}, "topic: the clock checks need a datetime"),
        ({"withheld": ("topic",)}, "least data is about a resident"),
        ({"indexes": (("colour",),)}, "no field colour"),
        ({"table": "visits"}, "visits: already registered"),
        ({"id_from": ("colour",)}, "id from unknown field colour"),
        (
            {"writers": EVERYONE, "field_writes": HeldBy.SALON},
            "field workers write only for their salons",
        ),
        ({"held_by": HeldBy.SALON}, "held by salon: no salon_id"),
        ({"held_by": HeldBy.RESIDENT}, "held by resident: no resident_id"),
        ({"held_by": HeldBy.OWN_ASSIGNMENT}, "held by own_assignment: no user_id"),
        ({"history": History.ALL}, "history is of records held by resident or"),
        (
            {
                "fields": (ref("resident_id"), moment("at")),
                "held_by": HeldBy.OWN_ASSIGNMENT,
                "history": History.ALL,
            },
            "held by own_assignment: no user_id",
        ),
        (
            {
                "fields": (ref("resident_id"),),
                "held_by": HeldBy.RESIDENT,
                "history": History.RECENT,
            },
            "recent history needs held by resident and a clock field",
        ),
    ],
)
def test_a_bad_declaration_is_refused_and_nothing_registered(
    changes: dict[str, Any], problem: str
) -> None:
    before = dict(KINDS)
    with pytest.raises(KindError, match=problem.replace("(", r"\(")):
        register(notes(**changes))
    assert before == KINDS
    assert list(protocol._FINE) == ALL_KINDS


def test_registering_and_removing_a_kind_updates_what_is_derived() -> None:
    register(notes())
    try:
        assert "notes_for_test" in protocol._FINE
        assert [r.name for r in protocol._RULES["notes_for_test"]][-2:] == [
            "topic",
            "priority",
        ]
    finally:
        unregister("notes_for_test")
    assert list(protocol._FINE) == list(protocol._RULES) == ALL_KINDS


# ---- the throwaway kind, synced through the real server ---------------------------


@pytest.fixture
def notes_kind() -> Iterator[Kind]:
    kind = register(notes())
    try:
        yield kind
    finally:
        unregister(kind.table)


@pytest.fixture
def council(notes_kind: Kind, stores: Stores, tmp_path: Path) -> Iterator[Council]:
    """A council opened with the throwaway kind registered."""
    council = stores.council(tmp_path / "server.sqlite")
    council.store.create_user(
        user_id="coord2",
        name="User coord2",
        role=Role.COORDINATOR,
        district_id="d1",
        group_id="g1",
        districts=["d1"],
        now=council.clock(),
    )
    yield council
    council.close()


def note(note_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": note_id, "district_id": "d1", "topic": "flood drill", **fields}


async def test_a_kind_registered_in_a_test_syncs_device_to_device(
    council: Council, tmp_path: Path
) -> None:
    writer = await enrol_device(council, tmp_path, "coord1")
    reader = await enrol_device(council, tmp_path, "coord2")
    stamp = store.write(
        writer.db, "notes_for_test", note("n1", priority=3), now_ms=T0_MS
    )

    pushed = await writer.state.sync_now()
    assert pushed.report is not None
    assert (pushed.report.pushed, pushed.report.rejected) == (1, 0)
    await reader.state.sync_now()

    origin = store.device(writer.db).device_id
    assert reader.db.table("notes_for_test").get("n1") == {
        "id": "n1",
        "hlc": stamp,
        "origin": origin,
        "deleted": 0,
        "district_id": "d1",
        "topic": "flood drill",
        "priority": 3,
    }
    assert store.pending_count(reader.db) == 0


async def test_the_throwaway_kind_is_checked_and_judged_as_declared(
    council: Council, tmp_path: Path
) -> None:
    """Its limits (priority 0..5, topic 40 characters) and writers (staff, in
    their districts) come from the declaration alone."""
    office = await enrol_device(council, tmp_path, "coord1")
    phone = await enrol_device(council, tmp_path, "vol1")
    bad: list[tuple[str, dict[str, Any]]] = [
        ("n-high", {"priority": 6}),
        ("n-long", {"priority": 1, "topic": "x" * 41}),
        ("n-d2", {"priority": 1, "district_id": "d2"}),
    ]
    for note_id, fields in bad:
        store.write(office.db, "notes_for_test", note(note_id, **fields), now_ms=T0_MS)
    await office.state.sync_now()
    refused = {r.record_id: (r.field, r.reason) for r in store.rejected(office.db)}
    assert refused == {
        "n-high": ("priority", Reason.BAD_VALUE),
        "n-long": ("topic", Reason.TOO_LONG),
        "n-d2": ("district_id", Reason.OUT_OF_SCOPE),
    }

    store.write(phone.db, "notes_for_test", note("n-vol", priority=1), now_ms=T0_MS)
    await phone.state.sync_now()
    assert [(r.field, r.reason) for r in store.rejected(phone.db)] == [
        ("kind", Reason.FORBIDDEN)
    ]


async def test_the_openapi_document_has_a_schema_per_kind(council: Council) -> None:
    async with httpx.AsyncClient(
        transport=council.transport(), base_url=BASE_URL
    ) as http:
        document = (await http.get("/openapi.json")).json()
    body = document["paths"][f"{API}/sync/push"]["post"]["requestBody"]
    changes = body["content"]["application/json"]["schema"]["properties"]["changes"]
    schemas = {s["title"]: s for s in changes["items"]["oneOf"]}
    assert list(schemas) == [*ALL_KINDS, "notes_for_test"]
    assert schemas["notes_for_test"]["properties"]["priority"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 5,
    }
    visit = schemas["visits"]
    assert visit["properties"]["note"] == {
        "type": ["string", "null"],
        "maxLength": 2000,
    }
    assert visit["properties"]["outcome"] == {
        "type": "string",
        "enum": [o.value for o in Outcome],
    }
    assert "note" not in visit["required"] and "visited_at" in visit["required"]
    assert visit["additionalProperties"] is False


# ---- the device's tables follow the registry --------------------------------------


def test_a_registered_kind_gets_its_table_and_index_on_the_device(
    notes_kind: Kind, tmp_path: Path
) -> None:
    db = store.open_db(tmp_path / "device.sqlite")
    assert db.table("notes_for_test").exists()
    assert {c.name: c.type for c in db.table("notes_for_test").columns} == {
        "id": "TEXT",
        "hlc": "TEXT",
        "origin": "TEXT",
        "deleted": "INTEGER",
        "district_id": "TEXT",
        "topic": "TEXT",
        "priority": "INTEGER",
    }
    db.close()


def test_a_field_added_to_a_kind_gets_its_column_at_the_next_open(
    tmp_path: Path,
) -> None:
    register(notes())
    try:
        store.open_db(tmp_path / "device.sqlite").close()
    finally:
        unregister("notes_for_test")
    wider = notes(
        fields=(*notes().fields, text("place", required=False)),
        indexes=(("topic",),),
    )
    register(wider)
    try:
        db = store.open_db(tmp_path / "device.sqlite")
        assert "place" in {c.name for c in db.table("notes_for_test").columns}
        assert "notes_for_test_by_topic" in {
            i.name for i in db.table("notes_for_test").indexes
        }
        db.close()
    finally:
        unregister("notes_for_test")


# ---- what a device purges follows the registry --------------------------------------

CARE_NOTES = Kind(
    "care_notes_for_test",
    (ref("group_id"), ref("resident_id", "residents"), text("topic", max_chars=40)),
    ("district_id", "group_id"),
    writers=STAFF,
    purged_by={"residents": "resident_id"},
)


@pytest.fixture
def care_notes() -> Iterator[Kind]:
    kind = register(CARE_NOTES)
    try:
        yield kind
    finally:
        unregister(kind.table)


def care_note(note_id: str, resident: str, district: str = "d1") -> dict[str, Any]:
    return {
        "id": note_id,
        "hlc": f"0000000000001-{note_id[-1]}0000",
        "origin": "elsewhere",
        "deleted": 0,
        "district_id": district,
        "group_id": "g1",
        "resident_id": resident,
        "topic": "stairs",
    }


def test_a_kind_purged_with_residents_goes_with_them_but_not_unsent_writes(
    care_notes: Kind, fresh_db: Database
) -> None:
    """Declared ``purged_by`` residents: a lost resident takes its care notes
    along, except one still unsent, and the resident that one is about."""
    db = fresh_db
    store.put_reference(
        db,
        "residents",
        [resident_row(r, f"Name {r}", f"kana {r}") for r in ("r1", "r2", "r3")],
    )
    store.put_reference(db, "care_notes_for_test", [care_note("c1", "r1")])
    store.put_reference(db, "care_notes_for_test", [care_note("c2", "r2")])
    unsent = {k: v for k, v in care_note("c3", "r3").items() if k not in ("hlc",)}
    store.write(db, "care_notes_for_test", unsent, now_ms=T0_MS)
    store.apply_page(
        db,
        {},
        cursor="",
        purge_residents=["r1", "r3"],
        purge_districts=[],
        now_ms=T0_MS,
    )
    assert sorted(r["id"] for r in db.table("care_notes_for_test").rows) == ["c2", "c3"]
    assert sorted(r["id"] for r in db.table("residents").rows) == ["r2", "r3"]


def test_every_kind_goes_with_its_district(
    care_notes: Kind, fresh_db: Database
) -> None:
    db = fresh_db
    store.put_reference(
        db,
        "care_notes_for_test",
        [care_note("c1", "r1"), care_note("c2", "r2", district="d2")],
    )
    store.apply_page(
        db, {}, cursor="", purge_residents=[], purge_districts=["d1"], now_ms=T0_MS
    )
    assert [r["id"] for r in db.table("care_notes_for_test").rows] == ["c2"]


# ---- which records a field worker's device holds follows the registry ----------------

HELD_NOTES = Kind(
    "held_notes_for_test",
    (ref("group_id"), ref("resident_id", "residents"), text("topic", max_chars=40)),
    ("district_id", "group_id"),
    writers=STAFF,
    purged_by={"residents": "resident_id"},
    held_by=HeldBy.RESIDENT,
    history=History.ALL,
)


def held_note(note_id: str, resident: str, kind: Kind = HELD_NOTES) -> dict[str, Any]:
    return {
        "kind": kind.table,
        "id": note_id,
        "deleted": False,
        "district_id": "d1",
        "group_id": "g1",
        "resident_id": resident,
        "topic": "stairs",
    }


@pytest.fixture
def held_council(stores: Stores, tmp_path: Path) -> Iterator[Council]:
    """A council opened with HELD_NOTES and CARE_NOTES (held by no field
    worker) registered."""
    registered = [register(HELD_NOTES), register(CARE_NOTES)]
    try:
        council = stores.council(tmp_path / "server.sqlite")
        yield council
        council.close()
    finally:
        for kind in registered:
            unregister(kind.table)


async def test_a_kind_held_by_resident_reaches_that_residents_volunteer_only(
    held_council: Council, tmp_path: Path
) -> None:
    """Declared ``held_by`` resident, with history: a note about r1 comes to
    vol1 (r1's volunteer) with r1's history at enrolment, and a later one by
    pull; vol2 gets only the note about r3, theirs. No engine knows the kind."""
    council = held_council
    council.write(held_note("h1", "r1"), held_note("h3", "r3"))
    vol1 = await enrol_device(council, tmp_path, "vol1")
    vol2 = await enrol_device(council, tmp_path, "vol2")
    assert set(visible(vol1.db, HELD_NOTES.table)) == {"h1"}
    assert set(visible(vol2.db, HELD_NOTES.table)) == {"h3"}

    council.write(held_note("h2", "r2"), held_note("h4", "r3"))
    await vol1.state.sync_now()
    await vol2.state.sync_now()
    assert set(visible(vol1.db, HELD_NOTES.table)) == {"h1", "h2"}
    assert set(visible(vol2.db, HELD_NOTES.table)) == {"h3", "h4"}


async def test_a_kind_held_by_no_field_worker_stays_off_their_phones(
    held_council: Council, tmp_path: Path
) -> None:
    """CARE_NOTES has a resident_id but declares no ``held_by``: coordinators
    get it, volunteers do not, though it is about their resident."""
    council = held_council
    council.write(held_note("c1", "r1", CARE_NOTES))
    vol1 = await enrol_device(council, tmp_path, "vol1")
    coordinator = await enrol_device(council, tmp_path, "coord1")
    council.write(held_note("c2", "r1", CARE_NOTES))
    await vol1.state.sync_now()
    await coordinator.state.sync_now()
    assert visible(vol1.db, CARE_NOTES.table) == {}
    assert set(visible(coordinator.db, CARE_NOTES.table)) == {"c1", "c2"}
