"""The watch round: residents, who visits them, visits and concern updates."""

from __future__ import annotations

from watchapp.domain.kinds.base import (
    EVERYONE,
    STAFF,
    HeldBy,
    History,
    Kind,
    choice,
    day,
    flag,
    long_text,
    moment,
    number,
    ref,
    text,
)
from watchapp.domain.model import ConcernCategory, ConcernStatus, Outcome, Urgency

_BY_RESIDENT = {"residents": "resident_id"}

FAMILY: tuple[Kind, ...] = (
    Kind(
        "residents",
        (
            ref("group_id"),
            text("name"),
            text("kana"),
            text("address", required=False),
            number("visit_every_days"),
            flag("consent"),
            flag("evacuation_register"),
            day("since"),
            flag("active"),
        ),
        ("district_id", "group_id"),
        writers=STAFF,
        purged_by={"residents": "id"},
        own_id_as="resident_id",
        held_by=HeldBy.RESIDENT,
        history=History.ALL,
    ),
    Kind(
        "assignments",
        (
            ref("group_id"),
            ref("user_id", "users"),
            ref("resident_id", "residents"),
            flag("active"),
        ),
        ("district_id", "group_id"),
        writers=STAFF,
        purged_by=_BY_RESIDENT,
        indexes=(("user_id", "resident_id"),),
        # A volunteer holds their own; another's for the same resident is not
        # theirs to see.
        held_by=HeldBy.OWN_ASSIGNMENT,
        history=History.ALL,
    ),
    Kind(
        "visits",
        (
            ref("group_id"),
            ref("resident_id", "residents"),
            ref("user_id"),
            moment("visited_at"),
            choice("outcome", Outcome),
            choice("concern_category", ConcernCategory, required=False),
            choice("urgency", Urgency, required=False),
            long_text("note"),
        ),
        ("district_id", "group_id"),
        event=True,
        writers=EVERYONE,
        purged_by=_BY_RESIDENT,
        clock_field="visited_at",
        indexes=(("resident_id", "visited_at"), ("user_id", "visited_at")),
        # The date and outcome plan the next visit; what was of concern
        # and what was written about it are the resident's own business.
        withheld=("concern_category", "urgency", "note"),
        held_by=HeldBy.RESIDENT,
        history=History.RECENT,  # a visit long ago does not plan the next
    ),
    Kind(
        "concern_updates",
        (
            ref("group_id"),
            ref("resident_id", "residents"),
            ref("visit_id"),
            choice("status", ConcernStatus),
            long_text("note"),
        ),
        ("district_id", "group_id"),
        event=True,
        writers=STAFF,
        purged_by=_BY_RESIDENT,
        indexes=(("visit_id",),),
        withheld_whole=True,
        held_by=HeldBy.RESIDENT,
        history=History.ALL,
    ),
)
