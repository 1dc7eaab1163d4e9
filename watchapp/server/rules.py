"""Who may hold and write what: least privilege, checked for push and pull alike.

- volunteer (and salon organiser, until salons arrive): pulls their own user,
  group and district, their assignments, and the residents assigned to them
  with those residents' visits and concern updates; pushes visits only, as
  themselves, for residents assigned to them.
- coordinator: pulls and pushes everything in their districts (not districts
  themselves, and not coordinator or admin accounts).
- admin: everything.

Which roles may write a kind, and which records a change must refer to, are
declared with the kind (:attr:`Kind.writers`, :attr:`Kind.references` in
watchapp/domain/kinds/); what each role may write of it is here.

A change is judged against what the server has stored, and what it accepted
earlier in the same push: its own stored record, and the records it refers
to (:data:`REFERENCES`), never against a change the server refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from watchapp.domain.kinds import KINDS, per_kind
from watchapp.domain.model import Role
from watchapp.server.store import Account, Scope, Stored
from watchapp.sync.protocol import Change, Reason, Rejection

FIELD_WORKERS = frozenset({Role.VOLUNTEER, Role.ORGANISER})
# Who is told they may not write a kind.
_WHO = {Role.ADMIN: "admins", Role.COORDINATOR: "coordinators"}

# The records a change refers to, by field: the kind it names.
REFERENCES: dict[str, dict[str, str]] = per_kind(lambda kind: kind.references)


def is_field_worker(account: Account) -> bool:
    return account.role in FIELD_WORKERS


def scope_of(account: Account, residents: frozenset[str]) -> Scope:
    if account.role is Role.ADMIN:
        return Scope(everything=True)
    if account.role is Role.COORDINATOR:
        return Scope(districts=account.districts)
    return Scope(
        user_id=account.user_id,
        group_id=account.group_id,
        district_id=account.district_id,
        residents=residents,
    )


def _reject(field: str, reason: Reason, message: str) -> Rejection:
    return Rejection(field, reason, message)


def check_write(
    account: Account,
    device_id: str,
    change: Change,
    *,
    stored: Stored | None,
    refs: Mapping[str, Stored | None],
    my_residents: frozenset[str],
) -> Rejection | None:
    """May this device write this change? ``stored`` is the record it would
    overwrite, ``refs`` the records it refers to, by field (see
    :data:`REFERENCES`; None where nothing is stored)."""
    r = change.record
    if r["origin"] != device_id:
        return _reject("origin", Reason.NOT_YOUR_DEVICE, "origin is another device")
    if account.role not in KINDS[change.kind].writers:
        who = _WHO.get(account.role, "volunteers")
        return _reject("kind", Reason.FORBIDDEN, f"{who} can't write {change.kind}")

    if account.role is Role.ADMIN:
        pass
    elif account.role is Role.COORDINATOR:
        stored_role = stored.role if stored is not None else None
        if change.kind == "users" and (
            r["role"] in (Role.ADMIN, Role.COORDINATOR)
            or stored_role in (Role.ADMIN, Role.COORDINATOR)
        ):
            return _reject(
                "role", Reason.FORBIDDEN, "only an admin grants or changes this role"
            )
        for district in {r["district_id"], stored.district_id if stored else None} - {
            None
        }:
            if district not in account.districts:
                return _reject(
                    "district_id", Reason.OUT_OF_SCOPE, "another district's record"
                )
    else:
        # As themselves, for residents assigned to them: every kind they may
        # write has both fields (the registry makes sure).
        if r["user_id"] != account.user_id or (
            stored is not None and stored.user_id != account.user_id
        ):
            return _reject("user_id", Reason.OUT_OF_SCOPE, "another volunteer's visit")
        if r["resident_id"] not in my_residents:
            return _reject(
                "resident_id", Reason.OUT_OF_SCOPE, "resident not assigned to you"
            )

    if "resident_id" in REFERENCES.get(change.kind, {}):
        resident = refs.get("resident_id")
        if resident is None or resident.deleted:
            return _reject("resident_id", Reason.UNKNOWN_REFERENCE, "no such resident")
        if (resident.district_id, resident.group_id) != (
            r["district_id"],
            r["group_id"],
        ):
            return _reject(
                "district_id",
                Reason.BAD_VALUE,
                "district and group must be the resident's",
            )
    if r["deleted"]:  # a tombstone need not name what still stands
        return None
    for field, kind in REFERENCES[change.kind].items():
        if field != "resident_id" and r.get(field) is not None:
            held = refs.get(field)
            if held is None or held.deleted:
                return _reject(
                    field, Reason.UNKNOWN_REFERENCE, f"no such {kind.removesuffix('s')}"
                )
    if change.kind == "assignments":
        user = refs.get("user_id")
        assert user is not None  # a reference: checked above
        return _check_assignee(user, r["district_id"])
    return None


def _check_assignee(user: Stored, district_id: str) -> Rejection | None:
    """Who a resident is assigned to: a volunteer (or an organiser) of the
    resident's own district."""
    if user.role not in FIELD_WORKERS:
        return _reject(
            "user_id", Reason.BAD_VALUE, "only volunteers and organisers are assigned"
        )
    if user.district_id != district_id:
        return _reject(
            "user_id", Reason.OUT_OF_SCOPE, "a volunteer of another district"
        )
    return None
