"""Reports coordinators download: the yearly salon report, with its grants.

Coordinators get their districts' salons, admins every district's; field
workers (volunteers, salon organisers) none. Each download is written to the
audit trail (who, which file); nothing about the people in it is logged.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from watchapp.domain.grants import GrantRule
from watchapp.domain.model import Role
from watchapp.reports import council
from watchapp.server.context import Context
from watchapp.server.errors import ApiError
from watchapp.strings.reports import JA
from watchapp.sync.protocol import API

FIRST_YEAR, LAST_YEAR = 2000, 2100
READERS = frozenset({Role.COORDINATOR, Role.ADMIN})
_FORMATS = ", ".join(f.value for f in council.Format)


def _fiscal_year(text: str | None) -> int:
    if text is None or not (text.isascii() and text.isdigit() and len(text) == 4):
        raise ApiError(
            400, "bad_year", "year must be a fiscal year, as 2026", field="year"
        )
    year = int(text)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ApiError(
            400, "bad_year", f"year must be {FIRST_YEAR}..{LAST_YEAR}", field="year"
        )
    return year


def _format(text: str) -> council.Format:
    try:
        return council.Format(text)
    except ValueError:
        raise ApiError(
            400, "bad_format", f"format must be one of {_FORMATS}", field="format"
        ) from None


def _salon_report(
    ctx: Context,
    rule: GrantRule,
    districts: Collection[str] | None,
    fmt: council.Format,
) -> bytes:
    report = council.council_report(
        ctx.store, rule, districts=districts, headings=JA.salon_report
    )
    return council.report_bytes(report, fmt)


def router(ctx: Context, rules: Mapping[int, GrantRule] | None = None) -> APIRouter:
    """``rules``: the grant rules by fiscal year (the council's file when
    None, read now: a file that can't be used stops the server starting)."""
    known = council.load_rules() if rules is None else dict(rules)
    r = APIRouter(prefix=f"{API}/reports")

    @r.get(
        "/salons",
        summary="The yearly salon report with grants (coordinators and admins)",
        response_class=Response,
        responses={
            200: {
                "description": "The report as a file (Content-Disposition)",
                "content": {media: {} for media in council.MEDIA_TYPES.values()},
            }
        },
    )
    async def salons(
        request: Request,
        year: str | None = None,
        fmt: str = Query("xlsx", alias="format"),
    ) -> Response:
        device = await run_in_threadpool(ctx.authenticate, request)
        account = device.account
        if account.role not in READERS:
            raise ApiError(403, "forbidden", "only coordinators download reports")
        fiscal_year = _fiscal_year(year)
        chosen = _format(fmt)
        rule = known.get(fiscal_year)
        if rule is None:
            raise ApiError(
                404,
                "no_grant_rule",
                f"the council has no grant rule for fiscal year {fiscal_year}",
                field="year",
            )
        districts = None if account.role is Role.ADMIN else account.districts
        body = await run_in_threadpool(_salon_report, ctx, rule, districts, chosen)
        name = council.filename(fiscal_year, chosen)
        await run_in_threadpool(
            ctx.store.record_admin_action,
            actor=account.user_id,
            action="export_salon_report",
            subject=name,
            now=ctx.clock(),
        )
        return Response(
            body,
            media_type=council.MEDIA_TYPES[chosen],
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    return r
