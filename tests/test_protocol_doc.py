"""docs/protocol.md keeps up with the code: every rejection reason, enrolment
failure, error code, record kind and field (with its type, whether it is
optional, its enum values and its writers), constant and route is in it, and
nothing it lists is gone from the code.

Each check reads the document's own tables, so that a second client's author
can trust them; each returns what is wrong, and the last test shows that the
checks do notice a gap.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from watchapp.domain.model import Role
from watchapp.domain.schema import ENVELOPE, KINDS, Field, FieldType, Kind
from watchapp.domain.validation import MAX_BACKDATE, NOTE_MAX_CHARS
from watchapp.server import create_app
from watchapp.server.auth import INVITATION_HOURS
from watchapp.server.body import MAX_JSON_DEPTH
from watchapp.server.context import DEFAULT_WRITE_QUOTA, Context
from watchapp.server.enrol import MAX_ENROL_BYTES, RETRY_SECONDS
from watchapp.server.store import open_store
from watchapp.sync import protocol
from watchapp.sync.protocol import API, EnrolmentProblem, Reason

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"
SERVER = ROOT / "watchapp" / "server"

Check = Callable[[str], list[str]]


def section(doc: str, number: str) -> str:
    """Section ``<number>`` (``## 3. ...`` or ``### 5.1 ...``), up to the next
    heading of its level or above."""
    head = re.search(rf"^(#+) {re.escape(number)}\.? ", doc, re.M)
    assert head is not None, f"docs/protocol.md has no section {number}"
    rest = doc[head.end() :]
    end = re.search(rf"^#{{1,{len(head.group(1))}}} ", rest, re.M)
    return doc[head.start() : head.end() + (end.start() if end else len(rest))]


def rows(text: str, column: int = 0) -> dict[str, list[str]]:
    """Table rows by the one backticked name in their ``column``."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = (
            re.fullmatch(r"`([^`]+)`", cells[column]) if len(cells) > column else None
        )
        if name:
            out[name.group(1)] = cells
    return out


def differ(what: str, documented: Iterable[str], actual: Iterable[str]) -> list[str]:
    documented, actual = set(documented), set(actual)
    return [f"{what} not documented: {n}" for n in sorted(actual - documented)] + [
        f"{what} documented but not in the code: {n}"
        for n in sorted(documented - actual)
    ]


def check_reasons(doc: str) -> list[str]:
    return differ(
        "rejection reason", rows(section(doc, "6.1")), [r.value for r in Reason]
    )


def check_enrolment(doc: str) -> list[str]:
    text = section(doc, "3")
    named = set(re.findall(r"`([a-z_]+)`", text))
    problems = [
        f"enrolment failure not documented: {p.value}"
        for p in EnrolmentProblem
        if p.value not in named
    ]
    failures = rows(text.split("**Failures.**")[1].split("**Rate limit.**")[0], 1)
    return problems + [
        f"enrolment failure documented but not in the code: {code}"
        for code in sorted(set(failures) - {p.value for p in EnrolmentProblem})
    ]


def server_error_codes() -> set[str]:
    """Every error code the server's source answers with."""
    source = "\n".join(p.read_text() for p in SERVER.rglob("*.py"))
    codes = set(re.findall(r'\(\s*\d{3},\s*"([a-z_]+)"', source))  # ApiError(...)
    codes |= set(re.findall(r'error_body\(\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'\b\d{3}: "([a-z_]+)"', source))  # routing errors
    codes |= set(re.findall(r'status_code, "([a-z_]+)"', source))  # the fallback
    codes |= {
        EnrolmentProblem[name].value
        for name in re.findall(r"EnrolmentProblem\.([A-Z_]+)", source)
    }
    return codes


def check_error_codes(doc: str) -> list[str]:
    table = [
        line
        for line in section(doc, "2").splitlines()
        if re.match(r"\| \S+ \| `", line)
    ]
    documented = {
        c for line in table for c in re.findall(r"`([a-z_]+)`", line.split("|")[2])
    }
    return differ("error code", documented, server_error_codes())


def field_type(spec: Field) -> str:
    if spec.datatype is not FieldType.TEXT:
        return spec.datatype.value
    if spec.choices is not None:
        return "enum"
    if spec.id_like:
        return "id"
    return "long text" if spec.multiline else "text"


WRITER_LETTERS = {
    Role.ADMIN: "A",
    Role.COORDINATOR: "C",
    Role.VOLUNTEER: "V",
    Role.ORGANISER: "V",
}
_SEGMENT = re.compile(
    r"`(\w+)` (long text|text|id|int|bool|datetime|date|enum)( \(optional\))?(.*)"
)


def check_kind(kind: Kind, row: list[str]) -> list[str]:
    _, fields, writers, references = row
    out = []
    segments = [_SEGMENT.fullmatch(s.strip()) for s in fields.split(", ")]
    if None in segments:
        return [f"{kind.table}: fields not as `name` type [(optional)]: {fields}"]
    names = [m.group(1) for m in segments if m]
    if names != [f.name for f in kind.fields]:
        out.append(f"{kind.table}: fields {names}, the code has {kind.fields}")
    for spec, m in zip(kind.fields, segments, strict=False):
        assert m is not None
        said = (m.group(2), not m.group(3), set(re.findall(r"`(\w+)`", m.group(4))))
        values = {str(v) for v in spec.choices} if spec.choices else set()
        if said != (field_type(spec), spec.required, values):
            out.append(f"{kind.table}.{spec.name}: documented {said}")
    letters = {w.strip() for w in writers.split("(")[0].split(",")}
    if letters != {WRITER_LETTERS[r] for r in kind.writers}:
        out.append(f"{kind.table}: writers {letters}, the code has {kind.writers}")
    out += [
        f"{kind.table}: reference {name} not documented"
        for name in kind.references
        if f"`{name}`" not in references
    ]
    return out


def check_kinds(doc: str) -> list[str]:
    table = rows(section(doc, "5.3"))
    out = differ("record kind", table, KINDS)
    for name, kind in KINDS.items():
        if name in table:
            out += check_kind(kind, table[name])
    envelope = rows(section(doc, "5.1"))
    out += differ("envelope field", envelope, ["kind", *(f.name for f in ENVELOPE)])
    least = section(doc, "7.5")
    for kind in KINDS.values():
        whole = (kind.table,) if kind.withheld_whole else ()
        for name in (*whole, *kind.withheld):
            if f"`{name}`" not in least:
                out.append(f"least data: {kind.table} withholds {name}, not documented")
    return out


def _recent_history_days() -> int:
    default = next(f for f in dataclasses.fields(Context) if f.name == "recent_history")
    return int(default.default.days)  # type: ignore[union-attr]


def check_constants(doc: str) -> list[str]:
    minutes = int(protocol.CLOCK_AHEAD_LIMIT.total_seconds() // 60)
    expected = {
        "MAX_CHANGES_PER_PUSH": f"{protocol.MAX_CHANGES_PER_PUSH:,}",
        "MAX_BODY_BYTES": f"{protocol.MAX_BODY_BYTES // 2**20} MiB, before and after"
        f" gzip; enrolment {MAX_ENROL_BYTES:,} bytes",
        "MAX_JSON_DEPTH": str(MAX_JSON_DEPTH),
        "MAX_PULL_LIMIT": f"{protocol.MAX_PULL_LIMIT:,}"
        f" / {protocol.DEFAULT_PULL_LIMIT:,}",
        "CLOCK_AHEAD_LIMIT": f"{minutes} minutes",
        "MAX_CHANGE_AGE": f"{protocol.MAX_CHANGE_AGE.days} days",
        "MAX_BACKDATE": f"{MAX_BACKDATE.days} days",
        "TEXT_MAX_CHARS": f"{protocol.TEXT_MAX_CHARS} / {NOTE_MAX_CHARS:,}"
        f" / {protocol.ID_MAX_CHARS}",
        "DEFAULT_WRITE_QUOTA": f"{DEFAULT_WRITE_QUOTA:,} changes per device per hour",
        "recent history on a new assignment": f"{_recent_history_days()} days",
        "RETRY_SECONDS": str(RETRY_SECONDS),
        "invitation life": f"{INVITATION_HOURS} hours",
    }
    table = section(doc, "11")
    return [
        f"constant {name}: the code has {value}"
        for name, value in expected.items()
        if not re.search(
            rf"^\| `?{re.escape(name)}`?[^|]* \| {re.escape(value)} \|$", table, re.M
        )
    ]


def check_routes(doc: str, paths: dict[str, Any]) -> list[str]:
    actual = {
        f"{method.upper()} {path.removeprefix(API)}"
        for path, methods in paths.items()
        for method in methods
    }
    documented = {
        f"{method} {path.removeprefix(API)}"
        for method, path in re.findall(
            r"`(GET|POST|PUT|PATCH|DELETE) (/[a-z0-9/_]*)", doc
        )
    }
    out = differ("route", documented, actual)
    if f"`{API}`" not in doc:
        out.append(f"the prefix {API} is not documented")
    return out


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = open_store(tmp_path_factory.mktemp("doc") / "server.sqlite")
    try:
        result: dict[str, Any] = create_app(store).openapi()["paths"]
    finally:
        store.close()
    return result


CHECKS: list[Check] = [
    check_reasons,
    check_enrolment,
    check_error_codes,
    check_kinds,
    check_constants,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_document_matches_the_code(doc: str, check: Check) -> None:
    assert check(doc) == []


def test_every_route_is_documented(doc: str, paths: dict[str, Any]) -> None:
    assert check_routes(doc, paths) == []


def test_the_server_answers_the_codes_the_check_looks_for() -> None:
    """The source scan finds codes of every sort, so a match that finds nothing
    cannot pass for a complete document."""
    assert {"bad_cursor", "revoked", "not_found", "http_error", "internal_error"} | {
        p.value for p in EnrolmentProblem
    } <= server_error_codes()


def test_the_document_is_short_enough_to_read() -> None:
    assert len(DOC.read_text(encoding="utf-8").splitlines()) < 600


# A gap in the document, and what must then be reported.
GAPS = [
    pytest.param(check_reasons, "| `too_old` |", "| `old` |", "too_old", id="reason"),
    pytest.param(
        check_enrolment, "`device_taken`", "`taken`", "device_taken", id="enrol"
    ),
    pytest.param(
        check_error_codes,
        "| 400 | `bad_cursor`",
        "| 400 | `x`",
        "bad_cursor",
        id="code",
    ),
    pytest.param(
        check_kinds, "`visit_id` id", "`visit` id", "concern_updates", id="field"
    ),
    pytest.param(
        check_kinds,
        "`address` text (optional)",
        "`address` text",
        "address",
        id="optional",
    ),
    pytest.param(check_kinds, "`resolved`", "`done`", "status", id="enum"),
    pytest.param(check_kinds, "| A, C, V (V:", "| A, V (V:", "visits", id="writers"),
    pytest.param(
        check_constants, "| 2,000 |", "| 1,000 |", "MAX_CHANGES_PER_PUSH", id="constant"
    ),
]


@pytest.mark.parametrize(("check", "old", "new", "named"), GAPS)
def test_the_checks_notice_a_gap(
    doc: str, check: Check, old: str, new: str, named: str
) -> None:
    assert old in doc
    problems = check(doc.replace(old, new))
    assert any(named in p for p in problems), problems


def test_the_route_check_notices_a_gap(doc: str, paths: dict[str, Any]) -> None:
    problems = check_routes(doc.replace("`GET /me`", "`GET /whoami`"), paths)
    assert problems == [
        "route not documented: GET /me",
        "route documented but not in the code: GET /whoami",
    ]
