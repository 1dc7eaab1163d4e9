from __future__ import annotations

from datetime import date, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchapp.domain.grants import GrantRule, assess
from watchapp.domain.salons import (
    AttendanceMark,
    Category,
    ContactKind,
    Headcount,
    Member,
    Salon,
    SalonRecords,
    Session,
    absence_alerts,
    fiscal_months,
    fiscal_year,
    latest_marks,
    member_category,
    salon_year,
    session_totals,
)

SALON = Salon(id="s1", district_id="d1", name="salon", place="hall")
C = Category


def member(mid: str, **kw: object) -> Member:
    fields: dict[str, object] = {
        "id": mid,
        "salon_id": "s1",
        "name": mid,
        "kana": mid,
        "consent": True,
        "birth_year": 1945,
    }
    fields.update(kw)
    return Member(**fields)  # type: ignore[arg-type]


def session(sid: str, day: date, **kw: object) -> Session:
    return Session(id=sid, salon_id="s1", held_on=day, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2026, 4, 1), 2026),
        (date(2026, 3, 31), 2025),
        (date(2026, 12, 31), 2026),
        (date(2027, 1, 1), 2026),
        (date(2027, 3, 31), 2026),
        (date(2027, 4, 1), 2027),
    ],
)
def test_the_fiscal_year_starts_in_april(day: date, year: int) -> None:
    assert fiscal_year(day) == year


def test_a_fiscal_year_has_twelve_months_april_first() -> None:
    months = fiscal_months(2026)
    assert months[0] == date(2026, 4, 1)
    assert months[8] == date(2026, 12, 1)
    assert months[9] == date(2027, 1, 1)
    assert months[-1] == date(2027, 3, 1)
    assert len(months) == 12


@pytest.mark.parametrize(
    ("birth_year", "category"),
    [
        (None, C.ELDERLY_AGE_UNKNOWN),
        (1962, C.UNDER_65),  # 64 in 2026
        (1961, C.ELDERLY_65_74),
        (1952, C.ELDERLY_65_74),
        (1951, C.ELDERLY_75_84),
        (1942, C.ELDERLY_75_84),
        (1941, C.ELDERLY_85_PLUS),
    ],
)
def test_a_members_age_band(birth_year: int | None, category: Category) -> None:
    assert member_category(member("m", birth_year=birth_year), date(2026, 5, 1)) == (
        category
    )


def test_ticks_on_two_devices_unite_and_a_later_untick_wins() -> None:
    marks = [
        AttendanceMark("a1", "x", "m1", True, hlc="0001-a"),
        AttendanceMark("a2", "x", "m2", True, hlc="0002-a"),
        AttendanceMark("b1", "x", "m2", True, hlc="0001-b"),
        AttendanceMark("b2", "x", "m3", True, hlc="0003-b"),
        AttendanceMark("b3", "x", "m1", False, hlc="0004-b"),  # later un-tick
        AttendanceMark("a3", "x", "m3", False, hlc="0002-a"),  # earlier un-tick
    ]
    assert latest_marks(marks) == {
        ("x", "m1"): False,
        ("x", "m2"): True,
        ("x", "m3"): True,
    }
    assert latest_marks(reversed(marks)) == latest_marks(marks)


def test_a_sessions_totals_count_helpers_apart() -> None:
    """The organiser's scene of issue 10: three members, a new walk-in aged
    75-84 and a helper make 4 participants, 1 new, 1 helper."""
    day = date(2026, 11, 26)
    s = session("x", day)
    present = [
        member("m1"),
        member("m2", birth_year=1940),
        member("m3", birth_year=None),
    ]
    counts = [
        Headcount("h1", "x", C.ELDERLY_75_84, 1, new=True),
        Headcount("h2", "x", C.HELPER, 1),
        Headcount("h3", "other", C.UNDER_65, 9),
    ]
    totals = session_totals(s, present, counts)
    assert (totals.participants, totals.new, totals.helpers) == (4, 1, 1)
    assert totals.members == 3
    assert totals.elderly == 4
    assert {c: n for c, n in totals.by_category.items() if n} == {
        C.ELDERLY_75_84: 2,
        C.ELDERLY_85_PLUS: 1,
        C.ELDERLY_AGE_UNKNOWN: 1,
        C.HELPER: 1,
    }


def test_the_year_counts_members_once_and_new_walk_ins_once() -> None:
    s1 = session("a", date(2026, 4, 10), starts_at=time(10))
    s2 = session("b", date(2026, 5, 8))
    s3 = session("c", date(2026, 3, 13))  # the year before
    records = SalonRecords(
        salon=SALON,
        members=[member("m1"), member("m2"), member("m9", salon_id="s2")],
        sessions=[s2, s1, s3],
        marks=[
            AttendanceMark("1", "a", "m1"),
            AttendanceMark("2", "b", "m1"),
            AttendanceMark("3", "b", "m2"),
            AttendanceMark("4", "b", "m9"),  # another salon's member: ignored
            AttendanceMark("5", "c", "m2"),
        ],
        headcounts=[
            Headcount("h1", "a", C.UNDER_65, 2, new=True),
            Headcount("h2", "b", C.UNDER_65, 2),  # the same two, returning
            Headcount("h3", "b", C.HELPER, 3),
        ],
    )
    year = salon_year(records, 2026)
    assert [f.session.id for f in year.sessions] == ["a", "b"]
    assert (year.sessions_held, year.participants, year.helpers) == (2, 7, 3)
    assert year.distinct_people == 4
    assert year.registered_members == 2
    assert [(m.sessions, m.participants) for m in year.months[:3]] == [
        (1, 3),
        (1, 4),
        (0, 0),
    ]
    # m1 is new at "a"; m2 came in March, so returns at "b"
    assert [f.totals.new for f in year.sessions] == [3, 0]


def _absence_case(came: str, **salon: object) -> list[int]:
    """``came`` is one character per gathering, oldest first: y or n."""
    sessions = [session(f"s{i:02}", date(2026, 4, 1 + i)) for i in range(len(came))]
    marks = [
        AttendanceMark(f"k{i}", s.id, "m1")
        for i, s in enumerate(sessions)
        if came[i] == "y"
    ]
    records = SalonRecords(
        Salon(id="s1", district_id="d1", name="s", place="p", **salon),  # type: ignore[arg-type]
        [member("m1"), member("m2")],
        sessions,
        marks,
        [],
    )
    return [a.missed for a in absence_alerts(records, today=date(2026, 12, 1))]


@pytest.mark.parametrize(
    ("came", "salon", "missed"),
    [
        ("yyyynnn", {}, [3]),
        ("yyyynn", {}, []),  # two missed: not yet
        ("yyyynnnnn", {}, [5]),  # still flagged while absence goes on
        ("yynnn", {}, []),  # attended only twice: not regular
        ("ynnynnynnn", {}, []),  # 3 of 7 up to the last visit: below half
        ("ynynynynnn", {}, [3]),  # 4 of 7: at least half
        ("yyyyn", {"absence_after": 1}, [1]),
        ("yyyynnn", {"absence_after": 4}, []),
        ("nnnnnnnnnnnnyyyyyynnn", {}, [3]),  # 6 of the 12 up to the last visit
        ("yyyyyyyyyyyynnnnnnnnnyyynnn", {}, []),  # old regularity does not count
        ("", {}, []),
    ],
)
def test_absence_follow_up(
    came: str, salon: dict[str, object], missed: list[int]
) -> None:
    assert _absence_case(came, **salon) == missed


def test_absence_ignores_phone_rounds_future_sessions_and_leavers() -> None:
    days = [date(2026, 6, d) for d in range(1, 9)]
    sessions = [session(f"s{d.day}", d) for d in days]
    sessions[5] = session("s6", days[5], contact=ContactKind.PHONE)
    marks = [AttendanceMark(f"k{i}", f"s{i}", "m1") for i in (1, 2, 3, 4)]
    marks.append(AttendanceMark("k6", "s6", "m1"))  # reached by phone
    records = SalonRecords(SALON, [member("m1")], sessions, marks, [])
    # s5, s7 are missed gatherings; s8 is after today
    assert absence_alerts(records, today=date(2026, 6, 7)) == []
    assert [a.missed for a in absence_alerts(records, today=date(2026, 6, 8))] == [3]
    gone = SalonRecords(SALON, [member("m1", active=False)], sessions, marks, [])
    assert absence_alerts(gone, today=date(2026, 6, 8)) == []
    alert = absence_alerts(records, today=date(2026, 6, 8))[0]
    assert alert.last_attended == date(2026, 6, 4)


# --- figures against a brute-force recount ---------------------------------

MEMBERS = [member(f"m{i}") for i in range(5)]
sessions_st = st.lists(
    st.tuples(
        st.dates(date(2026, 1, 1), date(2027, 6, 30)),
        st.sampled_from(list(ContactKind)),
        st.sets(st.integers(0, 4)),  # members present
        st.lists(
            st.tuples(
                st.sampled_from(
                    [c for c in Category if c is not C.ELDERLY_AGE_UNKNOWN]
                ),
                st.booleans(),
                st.integers(0, 20),
            ),
            max_size=4,
            unique_by=lambda t: (t[0], t[1]),
        ),
    ),
    max_size=15,
)


@settings(max_examples=150, deadline=None)
@given(sessions_st, st.integers(0, 10), st.integers(0, 6))
def test_the_years_figures_match_a_recount(
    raw: list[tuple[date, ContactKind, set[int], list[tuple[Category, bool, int]]]],
    min_sessions: int,
    min_elderly: int,
) -> None:
    sessions, marks, counts = [], [], []
    for n, (day, contact, present, heads) in enumerate(raw):
        sessions.append(session(f"s{n:02}", day, contact=contact))
        marks += [AttendanceMark(f"a{n}-{i}", f"s{n:02}", f"m{i}") for i in present]
        counts += [
            Headcount(f"h{n}-{k}", f"s{n:02}", c, cnt, new=new)
            for k, (c, new, cnt) in enumerate(heads)
        ]
    year = salon_year(SalonRecords(SALON, MEMBERS, sessions, marks, counts), 2026)

    in_year = [
        n for n, r in enumerate(raw) if date(2026, 4, 1) <= r[0] <= date(2027, 3, 31)
    ]
    walk = {
        n: sum(cnt for c, _, cnt in raw[n][3] if c is not C.HELPER) for n in in_year
    }
    people = {n: len(raw[n][2]) + walk[n] for n in in_year}
    elderly_cats = {C.ELDERLY_65_74, C.ELDERLY_75_84, C.ELDERLY_85_PLUS}
    # every member was born in 1945: elderly in any year here
    elderly = {
        n: len(raw[n][2]) + sum(cnt for c, _, cnt in raw[n][3] if c in elderly_cats)
        for n in in_year
    }
    assert year.sessions_held == len(in_year)
    assert year.participants == sum(people.values())
    assert year.helpers == sum(
        cnt for n in in_year for c, _, cnt in raw[n][3] if c is C.HELPER
    )
    members_seen = {i for n in in_year for i in raw[n][2]}
    new_walk_ins = sum(
        cnt for n in in_year for c, new, cnt in raw[n][3] if new and c is not C.HELPER
    )
    assert year.distinct_people == len(members_seen) + new_walk_ins
    for m in year.months:
        days = [
            n
            for n in in_year
            if (raw[n][0].year, raw[n][0].month) == (m.month.year, m.month.month)
        ]
        assert (m.sessions, m.participants) == (len(days), sum(people[n] for n in days))

    grant = assess(
        year,
        GrantRule(2026, min_sessions=min_sessions, min_elderly_per_session=min_elderly),
    )
    counted = [
        n
        for n in in_year
        if raw[n][1] is ContactKind.GATHERING and elderly[n] >= min_elderly
    ]
    assert grant.counted_sessions == len(counted)
    assert grant.eligible == (len(counted) >= min_sessions)
