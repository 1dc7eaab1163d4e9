"""What every part of the catalog shares: the checks that make a missing
string fail when its module is imported.

A part is one frozen dataclass, with one instance per language (``JA``,
``EN``) in its module: a string left out is a TypeError, an empty one or an
unlabelled enum member a ValueError, and mypy catches a misspelt name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class Part:
    """The base of every part. A part with checks of its own runs them in
    ``__post_init__`` and then calls ``super().__post_init__()``, so that a
    class joining several parts (watchapp/strings/device.py) runs them all."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and not value:
                raise ValueError(f"empty string: {f.name}")


def complete(mapping: Mapping[E, str], enum: type[E]) -> None:
    """Raise unless ``mapping`` labels every member of ``enum``."""
    missing = [m.value for m in enum if not mapping.get(m)]
    if missing:
        raise ValueError(f"{enum.__name__} labels missing: {missing}")
