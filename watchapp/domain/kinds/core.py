"""Who and where: districts (kouku), groups (fureai no kai) and users."""

from __future__ import annotations

from watchapp.domain.kinds.base import (
    ADMINS,
    STAFF,
    HeldBy,
    Kind,
    choice,
    ref,
    text,
)
from watchapp.domain.model import Role

FAMILY: tuple[Kind, ...] = (
    Kind(
        "districts",
        (text("name"),),
        ("district_id",),
        writers=ADMINS,
        own_id_as="district_id",  # a district is its own scope
        held_by=HeldBy.OWN_DISTRICT,
    ),
    Kind(
        "groups",
        (text("name"),),
        ("district_id",),
        writers=STAFF,
        held_by=HeldBy.OWN_GROUP,
    ),
    Kind(
        "users",
        (ref("group_id"), text("name"), choice("role", Role)),
        ("district_id", "group_id"),
        writers=STAFF,
        own_id_as="user_id",
        held_by=HeldBy.SELF,
    ),
)
