"""A push judged by the write rules, inside the transaction that writes it.

Each change is judged against what the server has stored, and what it has
accepted earlier in the same push: never against what a refused change
claimed. A change that refers to a record whose change in this push was
refused is refused too, saying so (a resident re-filed into the pusher's
district and refused cannot carry an assignment or a visit in with it).

Visits are most of what devices push, and nearly all are new: a visit is
judged as if new (its stored record is not looked up), and the store puts it
to :func:`Judgement.admit` with the stored record should it be there already.
Records other changes refer to, and every other kind, are looked up first.
"""

from __future__ import annotations

from watchapp.domain.kinds import KINDS
from watchapp.server import rules
from watchapp.server.store import Account, Judgement, Reads, Stored
from watchapp.sync.protocol import Change, Reason, Rejection

Key = tuple[str, str]


def judge(
    reads: Reads,
    account: Account,
    device_id: str,
    checked: list[Change | Rejection],
    claimed: list[Key | None],
) -> Judgement:
    """The rules for each change that passed the checks. ``claimed`` is the
    (kind, id) each item of the push said it had, if it said: a change the
    checks refused still counts as refused for those that refer to it."""
    ok = [c for c in checked if isinstance(c, Change)]
    referred = {
        (kind, value)
        for c in ok
        for field, kind in rules.REFERENCES.get(c.kind, {}).items()
        if isinstance(value := c.record.get(field), str)
    }
    looked_up = referred | {(c.kind, c.id) for c in ok if c.kind != "visits"}
    known: dict[Key, Stored] = reads.stored(looked_up)
    field_worker = rules.is_field_worker(account)
    mine = reads.assigned_residents(account.user_id) if field_worker else frozenset()
    salons = (
        reads.organised_salons(account.user_id)
        if field_worker and any(c.kind in rules.SALON_WRITES for c in ok)
        else frozenset()
    )
    refused: set[Key] = set()

    def check(change: Change, stored: Stored | None) -> Rejection | None:
        r = change.record
        refs = {
            field: known.get((kind, r[field]))
            for field, kind in rules.REFERENCES.get(change.kind, {}).items()
            if r.get(field) is not None
        }
        return rules.check_write(
            account,
            device_id,
            change,
            stored=stored,
            refs=refs,
            my_residents=mine,
            my_salons=salons,
        )

    judgement = Judgement([], [], {}, admit=check)
    for index, result in enumerate(checked):
        if isinstance(result, Rejection):
            judgement.problems[index] = result
            if (key := claimed[index]) is not None:
                refused.add(key)
            continue
        key = (result.kind, result.id)
        problem = _depends_on_refused(result, refused)
        if problem is None:
            # A visit not looked up is judged as new: should it be stored
            # already, the store puts it to ``admit`` with what it holds.
            problem = check(result, known.get(key) if key in looked_up else None)
        if problem is not None:
            judgement.problems[index] = problem
            refused.add(key)
            continue
        judgement.accepted.append(result)
        judgement.where.append(index)
        if key in looked_up:  # later changes in the push may refer to it
            known[key] = _as_stored(result)
            refused.discard(key)
    return judgement


def _depends_on_refused(change: Change, refused: set[Key]) -> Rejection | None:
    for field, kind in rules.REFERENCES.get(change.kind, {}).items():
        value = change.record.get(field)
        if (kind, value) in refused:
            return Rejection(
                field,
                Reason.DEPENDS_ON_REFUSED,
                f"refers to {kind} {value}, whose change in this push was refused",
            )
    return None


def _as_stored(change: Change) -> Stored:
    r = change.record
    own = KINDS[change.kind].own_id_as  # a resident is filed under its own id
    return Stored(
        kind=change.kind,
        id=change.id,
        hlc=r["hlc"],
        origin=r["origin"],
        deleted=bool(r["deleted"]),
        district_id=r["district_id"],
        group_id=r.get("group_id"),
        resident_id=change.id if own == "resident_id" else r.get("resident_id"),
        user_id=change.id if own == "user_id" else r.get("user_id"),
        role=r.get("role"),
        salon_id=change.id if own == "salon_id" else r.get("salon_id"),
    )
