"""Who may hold and write what: least privilege, checked for push and pull alike.

- volunteer (and salon organiser, until salons arrive): pulls their own user,
  group and district, their assignments, and the residents assigned to them
  with those residents' visits and concern updates; pushes visits only, as
  themselves, for residents assigned to them.
- coordinator: pulls and pushes everything in their districts (not districts
  themselves, and not coordinator or admin accounts).
- admin: everything.
"""

from __future__ import annotations

from watchapp.domain.model import Role
from watchapp.server.store import Account, Scope, Stored
from watchapp.sync.protocol import Change, Reason, Rejection

_VOLUNTEER_KINDS = frozenset({"visits"})
_COORDINATOR_KINDS = frozenset(
    {"groups", "residents", "users", "assignments", "visits", "concern_updates"}
)
_NEEDS_RESIDENT = frozenset({"visits", "assignments", "concern_updates"})


def is_field_worker(account: Account) -> bool:
    return account.role in (Role.VOLUNTEER, Role.ORGANISER)


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
    resident: Stored | None,
    my_residents: frozenset[str],
    stored_role: Role | None = None,
) -> Rejection | None:
    """May this device write this change? ``resident`` is the record it is about;
    ``stored_role`` the role a users change would overwrite."""
    r = change.record
    if r["origin"] != device_id:
        return _reject("origin", Reason.NOT_YOUR_DEVICE, "origin is another device")

    if account.role is Role.ADMIN:
        pass
    elif account.role is Role.COORDINATOR:
        if change.kind not in _COORDINATOR_KINDS:
            return _reject(
                "kind", Reason.FORBIDDEN, f"coordinators can't write {change.kind}"
            )
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
        if change.kind not in _VOLUNTEER_KINDS:
            return _reject(
                "kind", Reason.FORBIDDEN, f"volunteers can't write {change.kind}"
            )
        if r["user_id"] != account.user_id or (
            stored is not None and stored.user_id != account.user_id
        ):
            return _reject("user_id", Reason.OUT_OF_SCOPE, "another volunteer's visit")
        if r["resident_id"] not in my_residents:
            return _reject(
                "resident_id", Reason.OUT_OF_SCOPE, "resident not assigned to you"
            )

    if change.kind in _NEEDS_RESIDENT:
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
    return None
