from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchapp.domain.hlc import Hlc, receive, tick, wins


@pytest.mark.parametrize(
    ("last", "now", "expected"),
    [
        (Hlc(1000, 0), 2000, Hlc(2000, 0)),  # clock moved on
        (Hlc(1000, 0), 1000, Hlc(1000, 1)),  # same millisecond
        (Hlc(1000, 4), 900, Hlc(1000, 5)),  # clock stepped back: stay ahead
        (Hlc(1000, 99_999), 1000, Hlc(1001, 0)),  # counter full: borrow a ms
    ],
)
def test_tick(last: Hlc, now: int, expected: Hlc) -> None:
    assert tick(last, now) == expected


@pytest.mark.parametrize(
    ("last", "remote", "now", "expected"),
    [
        (Hlc(1000, 0), Hlc(500, 3), 2000, Hlc(2000, 0)),
        (Hlc(1000, 2), Hlc(1000, 7), 900, Hlc(1000, 8)),
        (Hlc(1000, 2), Hlc(800, 7), 900, Hlc(1000, 3)),
        (Hlc(800, 2), Hlc(1000, 7), 900, Hlc(1000, 8)),
    ],
)
def test_receive(last: Hlc, remote: Hlc, now: int, expected: Hlc) -> None:
    assert receive(last, remote, now) == expected


@pytest.mark.parametrize(
    "text",
    ["", "1000", "abc-00001", "0000000001000-1", "0000000001000_00001", "x" * 19],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        Hlc.parse(text)


def test_ties_are_broken_by_origin() -> None:
    assert wins("0000000001000-00000", "b", "0000000001000-00000", "a")
    assert not wins("0000000001000-00000", "a", "0000000001000-00000", "b")
    assert wins("0000000001000-00001", "a", "0000000001000-00000", "z")


stamps = st.builds(Hlc, st.integers(0, 10**12), st.integers(0, 99_999))


@given(stamps, st.integers(0, 10**12))
def test_tick_is_monotonic_and_text_sorts_like_time(last: Hlc, now: int) -> None:
    new = tick(last, now)
    assert new > last
    assert str(new) > str(last)
    assert Hlc.parse(str(new)) == new


@given(stamps, stamps, st.integers(0, 10**12))
def test_receive_is_after_both(last: Hlc, remote: Hlc, now: int) -> None:
    new = receive(last, remote, now)
    assert new > last
    assert new > remote
