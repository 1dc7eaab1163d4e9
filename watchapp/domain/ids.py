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
