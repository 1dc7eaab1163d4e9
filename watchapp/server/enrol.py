"""Enrolment with a one-time invitation code, and "who am I"."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from watchapp.domain.validation import has_control_chars
from watchapp.server.auth import digest, new_token, normalise_code
from watchapp.server.body import only_keys, read_json
from watchapp.server.context import Context
from watchapp.server.errors import ApiError
from watchapp.server.store import Account, InvitationProblem
from watchapp.sync.protocol import API

_PROBLEMS = {
    "unknown": (400, "invitation_unknown", "no such invitation code"),
    "used": (400, "invitation_used", "this invitation code was already used"),
    "expired": (400, "invitation_expired", "this invitation code has expired"),
    "device_taken": (409, "device_taken", "this device id is already enrolled"),
}

ENROL_SCHEMA = {
    "type": "object",
    "required": ["code", "device_id", "device_name"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "maxLength": 32},
        "device_id": {"type": "string", "format": "uuid"},
        "device_name": {"type": "string", "maxLength": 60},
    },
}


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.user_id,
        "name": account.name,
        "role": account.role.value,
        "district_id": account.district_id,
        "group_id": account.group_id,
        "districts": sorted(account.districts),
    }


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_request", f"{key} is required", field=key)
    if len(value) > limit or has_control_chars(value, multiline=False):
        raise ApiError(400, "invalid_request", f"{key} is not usable", field=key)
    return value.strip()


def router(ctx: Context) -> APIRouter:
    r = APIRouter(prefix=API)

    @r.post(
        "/enrol",
        summary="Exchange a one-time invitation code for a device token",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ENROL_SCHEMA}},
            }
        },
    )
    async def enrol(request: Request) -> dict[str, Any]:
        client = request.client.host if request.client else "unknown"
        wait = ctx.limiter.retry_after(client)
        if wait:
            raise ApiError(
                429,
                "too_many_attempts",
                "too many wrong codes: wait and try again",
                headers={"Retry-After": str(wait)},
            )
        body = await read_json(request)
        only_keys(body, {"code", "device_id", "device_name"})
        code = normalise_code(_text(body, "code", 32))
        device_id = _text(body, "device_id", 64)
        try:
            uuid.UUID(device_id)
        except ValueError as exc:
            raise ApiError(
                400, "invalid_request", "device_id must be a UUID", field="device_id"
            ) from exc
        name = _text(body, "device_name", 60)
        token = new_token()
        try:
            account = await run_in_threadpool(
                lambda: ctx.store.redeem_invitation(
                    code_hash=digest(code),
                    device_id=device_id,
                    device_name=name,
                    token_hash=digest(token),
                    now=ctx.clock(),
                )
            )
        except InvitationProblem as problem:
            if problem.reason != "device_taken":
                ctx.limiter.failed(client)
            status, err, message = _PROBLEMS[problem.reason]
            raise ApiError(status, err, message, field="code") from None
        return {
            "ok": True,
            "device_id": device_id,
            "token": token,
            "user": account_json(account),
        }

    @r.get("/me", summary="The user, role and scope of this device")
    async def me(request: Request) -> dict[str, Any]:
        device = await run_in_threadpool(ctx.authenticate, request)
        return {
            "ok": True,
            "device_id": device.device_id,
            "user": account_json(device.account),
        }

    return r
