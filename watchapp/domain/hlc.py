"""Hybrid logical clock (Kulkarni et al. 2014) stamps for last-writer-wins.

A stamp is ``"<wall ms, 13 digits>-<counter, 5 digits>"``: as strings they sort
in the same order as in time. Ties between devices are broken by origin, see
:func:`wins`. The caller passes the physical clock in.
"""

from __future__ import annotations

from dataclasses import dataclass

_COUNTER_MAX = 99_999


@dataclass(frozen=True, order=True)
class Hlc:
    wall_ms: int
    counter: int = 0

    def __str__(self) -> str:
        return f"{self.wall_ms:013d}-{self.counter:05d}"

    @classmethod
    def parse(cls, text: str) -> Hlc:
        wall, sep, counter = text.partition("-")
        if not (sep and len(wall) == 13 and len(counter) == 5):
            raise ValueError(f"malformed HLC: {text!r}")
        # ASCII only: stamps are compared as text, and str.isdigit() also takes
        # digits such as "\u0667" (Arabic-Indic 7), which sorts after "9".
        if not (text.isascii() and wall.isdigit() and counter.isdigit()):
            raise ValueError(f"malformed HLC: {text!r}")
        return cls(int(wall), int(counter))


def tick(last: Hlc, now_ms: int) -> Hlc:
    """The stamp for a local write after ``last``, at physical time ``now_ms``."""
    if now_ms > last.wall_ms:
        return Hlc(now_ms, 0)
    return _bump(last.wall_ms, last.counter + 1)


def receive(last: Hlc, remote: Hlc, now_ms: int) -> Hlc:
    """The local clock after seeing ``remote``: later than both, close to now."""
    wall = max(last.wall_ms, remote.wall_ms, now_ms)
    if wall == last.wall_ms == remote.wall_ms:
        return _bump(wall, max(last.counter, remote.counter) + 1)
    if wall == last.wall_ms:
        return _bump(wall, last.counter + 1)
    if wall == remote.wall_ms:
        return _bump(wall, remote.counter + 1)
    return Hlc(wall, 0)


def _bump(wall_ms: int, counter: int) -> Hlc:
    # Over 100k writes in one millisecond: borrow the next millisecond.
    if counter > _COUNTER_MAX:
        return Hlc(wall_ms + 1, 0)
    return Hlc(wall_ms, counter)


def wins(hlc_a: str, origin_a: str, hlc_b: str, origin_b: str) -> bool:
    """True when write A beats write B: later HLC, ties by the larger origin."""
    return (hlc_a, origin_a) > (hlc_b, origin_b)
