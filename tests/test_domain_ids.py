from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchapp.domain.ids import uuid7, uuid7_time_ms


def test_uuid7_layout() -> None:
    value = uuid7(1_700_000_000_000, bytes(range(10)))
    u = uuid.UUID(value)
    assert (u.version, u.variant) == (7, uuid.RFC_4122)
    assert uuid7_time_ms(value) == 1_700_000_000_000


@given(
    st.integers(0, (1 << 48) - 2),
    st.binary(min_size=10, max_size=10),
    st.binary(min_size=10, max_size=10),
)
def test_later_ids_sort_after_earlier(ms: int, a: bytes, b: bytes) -> None:
    assert uuid7(ms, a) < uuid7(ms + 1, b)


@pytest.mark.parametrize(
    ("ms", "rand"), [(-1, bytes(10)), (1 << 48, bytes(10)), (0, b"x")]
)
def test_uuid7_rejects_bad_input(ms: int, rand: bytes) -> None:
    with pytest.raises(ValueError):
        uuid7(ms, rand)


def test_time_of_a_v4_is_an_error() -> None:
    with pytest.raises(ValueError):
        uuid7_time_ms(str(uuid.UUID(int=0, version=4)))
