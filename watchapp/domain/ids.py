"""UUIDv7 ids (RFC 9562), minted on the device that creates a record.

The time and the random bits are passed in, so this stays pure and testable.
"""

from __future__ import annotations

import uuid


def uuid7(unix_ms: int, rand: bytes) -> str:
    """A UUIDv7 string from a Unix time in milliseconds and 10 random bytes.

    Ids minted later sort after earlier ones (to the millisecond), which keeps
    SQLite's primary-key index append-mostly.
    """
    if not 0 <= unix_ms < 1 << 48:
        raise ValueError(f"unix_ms out of range: {unix_ms}")
    if len(rand) != 10:
        raise ValueError(f"need 10 random bytes, got {len(rand)}")
    r = int.from_bytes(rand, "big")  # 80 bits, 74 used
    rand_a = (r >> 62) & 0xFFF
    rand_b = r & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def uuid7_time_ms(value: str) -> int:
    """The millisecond timestamp inside a UUIDv7."""
    u = uuid.UUID(value)
    if u.version != 7:
        raise ValueError(f"not a UUIDv7: {value}")
    return u.int >> 80


# Derived ids live in a namespace of their own: no device mints them.
_DERIVED = uuid.UUID("6f1c2a4e-5b7d-4e0a-9c3f-2d8b1e6a7c90")


def derived_id(table: str, values: tuple[object, ...]) -> str:
    """The id of the one record of ``table`` with these values (a salon's
    session on a day): the same on every device, offline or not."""
    text = "\x1f".join([table, *(_text(v) for v in values)])
    return str(uuid.uuid5(_DERIVED, text))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
