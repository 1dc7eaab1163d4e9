"""Who may hold and write what: least privilege, checked for push and pull alike.

- volunteer and salon organiser (field workers): pull their own user, group
  and district, their assignments, and the residents assigned to them with
  those residents' visits and concern updates; push visits only, as
  themselves, for residents assigned to them.
- salon organiser, besides: pulls the salons they organise (an active
  salon_organisers record) with all of their records; pushes members,
  sessions, marks, headcounts and absences of those salons only. A member's
  link to a watched resident is a coordinator's to make; a headcount is the
  one the organiser's own device keeps.
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

from watchapp.domain.kinds import KINDS, HeldBy, per_kind, when_changed
from watchapp.domain.model import Role
from watchapp.server.store import Account, Scope, Stored
from watchapp.sync.protocol import Change, Reason, Rejection

FIELD_WORKERS = frozenset({Role.VOLUNTEER, Role.ORGANISER})
# Who is told they may not write a kind.
_WHO = {Role.ADMIN: "admins", Role.COORDINATOR: "coordinators"}

# The records a change refers to, by field: the kind it names.
REFERENCES: dict[str, dict[str, str]] = per_kind(lambda kind: kind.references)
# The kinds a field worker writes for a salon they organise.
SALON_WRITES: dict[str, bool] = {}


@when_changed
def _salon_writes() -> None:
    SALON_WRITES.clear()
    SALON_WRITES.update(
        (k.table, True)
        for k in KINDS.values()
        if k.written_within is HeldBy.SALON and k.writers & FIELD_WORKERS
    )


def is_field_worker(account: Account) -> bool:
    return account.role in FIELD_WORKERS


def scope_of(
    account: Account,
    residents: frozenset[str],
    salons: frozenset[str] = frozenset(),
) -> Scope:
    if account.role is Role.ADMIN:
        return Scope(everything=True)
    if account.role is Role.COORDINATOR:
        return Scope(districts=account.districts)
    return Scope(
        user_id=account.user_id,
        group_id=account.group_id,
        district_id=account.district_id,
        residents=residents,
        salons=salons,
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
    my_salons: frozenset[str] = frozenset(),
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
    elif KINDS[change.kind].written_within is HeldBy.SALON:
        problem = _field_worker_salon_write(device_id, change, stored, my_salons)
        if problem is not None:
            return problem
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
    if "salon_id" in REFERENCES.get(change.kind, {}):
        problem = _same_salon(change, refs)
        if problem is not None:
            return problem
    if r["deleted"]:  # a tombstone need not name what still stands
        return None
    for field, kind in REFERENCES[change.kind].items():
        if field != "resident_id" and r.get(field) is not None:
            held = refs.get(field)
            if held is None or held.deleted:
                return _reject(
                    field, Reason.UNKNOWN_REFERENCE, f"no such {kind.removesuffix('s')}"
                )
    if change.kind in ("assignments", "salon_organisers"):
        user = refs.get("user_id")
        assert user is not None  # a reference: checked above
        return _check_assignee(user, r["district_id"])
    if change.kind == "salon_absences":
        member = refs.get("member_id")
        assert member is not None  # a reference: checked above
        if member.resident_id is None or member.resident_id != r["resident_id"]:
            return _reject(
                "resident_id", Reason.BAD_VALUE, "not the resident this member is"
            )
    return None


def _field_worker_salon_write(
    device_id: str, change: Change, stored: Stored | None, my_salons: frozenset[str]
) -> Rejection | None:
    """An organiser writes only for the salons they organise; a member's link
    to a resident is not theirs to make; a headcount only their device's."""
    r = change.record
    if r["salon_id"] not in my_salons or (
        stored is not None and stored.salon_id not in my_salons
    ):
        return _reject("salon_id", Reason.OUT_OF_SCOPE, "a salon you do not organise")
    if change.kind == "salon_members" and r["resident_id"] != (
        stored.resident_id if stored is not None else None
    ):
        return _reject(
            "resident_id",
            Reason.FORBIDDEN,
            "only a coordinator links a member to a watched resident",
        )
    if change.kind == "salon_headcounts" and r["counted_on"] != device_id:
        return _reject("counted_on", Reason.OUT_OF_SCOPE, "another device's headcount")
    return None


def _same_salon(change: Change, refs: Mapping[str, Stored | None]) -> Rejection | None:
    """A salon's record is filed in the salon's district, and what it refers
    to (a session, a member) is of the same salon."""
    r = change.record
    salon = refs.get("salon_id")
    if salon is None or salon.deleted:
        return _reject("salon_id", Reason.UNKNOWN_REFERENCE, "no such salon")
    if salon.district_id != r["district_id"]:
        return _reject("district_id", Reason.BAD_VALUE, "district must be the salon's")
    for field in REFERENCES[change.kind]:
        held = refs.get(field)
        theirs = held.salon_id if held is not None else None
        if field != "salon_id" and theirs is not None and theirs != r["salon_id"]:
            return _reject(field, Reason.OUT_OF_SCOPE, f"{field}: of another salon")
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
