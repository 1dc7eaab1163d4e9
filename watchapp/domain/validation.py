"""Validation of what a user enters: field-level errors, never exceptions.

Normalisation happens in one place (:func:`clean_text`); validators take the
cleaned value. Error codes are mapped to Japanese by the views.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from watchapp.domain.model import ConcernCategory, Outcome, Resident, Visit

NOTE_MAX_CHARS = 2000
NAME_MAX_CHARS = 40
URL_MAX_CHARS = 200
CODE_MAX_CHARS = 32
MAX_BACKDATE = timedelta(days=30)
# A phone's clock may run a little fast; more than this ahead is "the future".
CLOCK_TOLERANCE = timedelta(minutes=5)

# Control characters: Unicode's Cc category (C0 and C1, a set Unicode promises
# never to change), the bidirectional overrides, which can make a note read
# differently from what is stored, and lone surrogates (JSON can spell half a
# UTF-16 pair, "\ud800"; no UTF-8 text can hold one). One regex scan.
_CONTROLS = "\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_MULTILINE = re.compile(f"(?![\t\n])[{_CONTROLS}]")


class ErrorCode(StrEnum):
    REQUIRED = "required"
    TOO_LONG = "too_long"
    CONTROL_CHARS = "control_chars"
    IN_FUTURE = "in_future"
    TOO_OLD = "too_old"
    NO_TIMEZONE = "no_timezone"
    UNKNOWN_RESIDENT = "unknown_resident"
    INACTIVE_RESIDENT = "inactive_resident"
    CONCERN_REQUIRED = "concern_required"
    CONCERN_NOT_ALLOWED = "concern_not_allowed"
    BAD_URL = "bad_url"
    SESSION_AHEAD = "session_ahead"
    COUNT_RANGE = "count_range"
    DUPLICATE_MEMBER = "duplicate_member"
    OTHER_SALON = "other_salon"
    NOT_ORGANISER = "not_organiser"
    BIRTH_YEAR = "birth_year"


@dataclass(frozen=True)
class FieldError:
    field: str
    code: ErrorCode
    limit: int | None = None


def clean_text(text: str) -> str:
    """NFC, Unix newlines, no surrounding blanks (full-width spaces included)."""
    text = unicodedata.normalize("NFC", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def has_control_chars(text: str, *, multiline: bool) -> bool:
    """Any control character; tabs and newlines are fine where ``multiline``."""
    return (_CONTROL_MULTILINE if multiline else _CONTROL).search(text) is not None


def check_text(
    field: str,
    text: str,
    *,
    max_chars: int,
    required: bool,
    multiline: bool = False,
) -> list[FieldError]:
    if not text:
        return [FieldError(field, ErrorCode.REQUIRED)] if required else []
    if len(text) > max_chars:
        return [FieldError(field, ErrorCode.TOO_LONG, max_chars)]
    if has_control_chars(text, multiline=multiline):
        return [FieldError(field, ErrorCode.CONTROL_CHARS)]
    return []


def check_visit(
    visit: Visit, *, resident: Resident | None, now: datetime
) -> list[FieldError]:
    """Every problem with a visit about to be recorded (empty when it is fine).

    ``visit.note`` must already be cleaned. A concern needs a category and an
    urgency; a concern filed as "other" needs a note saying what it is.
    """
    errors: list[FieldError] = []
    if resident is None:
        errors.append(FieldError("resident_id", ErrorCode.UNKNOWN_RESIDENT))
    elif not resident.active:
        errors.append(FieldError("resident_id", ErrorCode.INACTIVE_RESIDENT))

    if visit.visited_at.tzinfo is None:
        errors.append(FieldError("visited_at", ErrorCode.NO_TIMEZONE))
    elif visit.visited_at > now + CLOCK_TOLERANCE:
        errors.append(FieldError("visited_at", ErrorCode.IN_FUTURE))
    elif visit.visited_at < now - MAX_BACKDATE:
        errors.append(FieldError("visited_at", ErrorCode.TOO_OLD, MAX_BACKDATE.days))

    concern = visit.concern
    errors += check_concern(
        visit.outcome,
        concern.category if concern else None,
        concern.urgency if concern else None,
    )
    errors += check_text(
        "note",
        visit.note,
        max_chars=NOTE_MAX_CHARS,
        required=note_required(concern.category if concern else None),
        multiline=True,
    )
    return errors


def check_concern(
    outcome: str, category: str | None, urgency: str | None
) -> list[FieldError]:
    """A concern (category and urgency, both) goes with "met, with a concern",
    and with no other outcome. Takes the enums or their wire text alike: the
    device checks a visit with it and the server checks a pushed one."""
    has_concern = category is not None or urgency is not None
    if outcome == Outcome.MET_CONCERN:
        if category is None or urgency is None:
            return [FieldError("concern", ErrorCode.CONCERN_REQUIRED)]
    elif has_concern:
        return [FieldError("concern", ErrorCode.CONCERN_NOT_ALLOWED)]
    return []


def note_required(category: str | None) -> bool:
    """A concern filed as "other" needs a note saying what it is."""
    return category == ConcernCategory.OTHER


def _dialable(url: str) -> bool:
    """A host, and a port that is a number: what the sync client can dial."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when it is not a port
    except ValueError:
        return False
    return bool(parts.hostname)


def check_profile(name: str, server_url: str, invite_code: str) -> list[FieldError]:
    """The first-run profile: a name is needed; server and code may come later."""
    errors = check_text(
        "name", name, max_chars=NAME_MAX_CHARS, required=True, multiline=False
    )
    url_errors = check_text(
        "server_url",
        server_url,
        max_chars=URL_MAX_CHARS,
        required=False,
        multiline=False,
    )
    if (
        server_url
        and not url_errors
        and (
            not server_url.startswith(("https://", "http://"))
            or any(ch.isspace() for ch in server_url)
            or not _dialable(server_url)
        )
    ):
        url_errors.append(FieldError("server_url", ErrorCode.BAD_URL))
    errors += url_errors
    errors += check_text(
        "invite_code",
        invite_code,
        max_chars=CODE_MAX_CHARS,
        required=False,
        multiline=False,
    )
    return errors
