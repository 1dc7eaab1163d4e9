"""The device's catalog: every part joined into one set of strings per
language, which the screens take as ``s``.

A screen reads ``s.round_title`` or ``s.status_line`` without minding which
part a string comes from; each part still checks itself (watchapp/strings/
base.py), and joining them checks that none is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from watchapp.strings import common, dashboard, reports, salons
from watchapp.strings import round as round_part
from watchapp.strings.base import Part
from watchapp.strings.common import Common
from watchapp.strings.dashboard import Dashboard
from watchapp.strings.reports import Reports
from watchapp.strings.round import Round
from watchapp.strings.salons import Salons


@dataclass(frozen=True)
class Strings(Common, Round, Dashboard, Reports, Salons):
    """One language's strings for the device's screens."""


def _joined(*parts: Part) -> Strings:
    """One language's parts as one catalog; a part missing is a TypeError."""
    return Strings(**{f.name: getattr(p, f.name) for p in parts for f in fields(p)})


JA = _joined(common.JA, round_part.JA, dashboard.JA, reports.JA, salons.JA)
EN = _joined(common.EN, round_part.EN, dashboard.EN, reports.EN, salons.EN)

CATALOGS: dict[str, Strings] = {"ja": JA, "en": EN}


def catalog(lang: str = "ja") -> Strings:
    """The strings for ``lang``; Japanese for anything unknown."""
    return CATALOGS.get(lang, JA)
