"""Enrolment with a one-time invitation code, and "who am I".

A device may send a secret ``enrol_key`` with its request (a new one for each
code it tries). Its token is then worked out from that key
(:func:`watchapp.server.auth.token_for`), so when the answer is lost, the
same request again, within ``RETRY_SECONDS`` and before the token was ever
used, gets the same token once more: nothing changes on the server, and no
enrolled phone is ever logged out by somebody holding its used code and its
device id (which every record it writes carries as ``origin``). Without a
key, a used code is refused outright.
"""

from __future__ import annotations

import hmac
import math
import re
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from watchapp.domain.validation import has_control_chars
from watchapp.server.auth import digest, new_salt, new_token, normalise_code, token_for
from watchapp.server.body import only_keys, read_json
from watchapp.server.context import Context
from watchapp.server.errors import ApiError
from watchapp.server.store import Account, InvitationProblem
from watchapp.sync.protocol import API, EnrolmentProblem

RETRY_SECONDS = 600
# An enrolment body is under 300 bytes; it needs no sync-sized allowance.
MAX_ENROL_BYTES = 4096

# The store's InvitationProblem.reason, as the device is told it.
_PROBLEMS = {
    "unknown": (
        400,
        EnrolmentProblem.INVITATION_UNKNOWN,
        "no such invitation code",
    ),
    "used": (
        400,
        EnrolmentProblem.INVITATION_USED,
        "this invitation code was already used",
    ),
    "expired": (
        400,
        EnrolmentProblem.INVITATION_EXPIRED,
        "this invitation code has expired",
    ),
    "device_taken": (
        409,
        EnrolmentProblem.DEVICE_TAKEN,
        "this device id is already enrolled",
    ),
}

# 256 bits as secrets.token_urlsafe(32) writes them, or more.
_ENROL_KEY = re.compile(r"[A-Za-z0-9_-]{43,128}")

ENROL_SCHEMA = {
    "type": "object",
    "required": ["code", "device_id", "device_name"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "maxLength": 32},
        "device_id": {
            "type": "string",
            "format": "uuid",
            "description": "lower case, with hyphens, as str(uuid.UUID(...)) has it",
        },
        "device_name": {"type": "string", "maxLength": 60},
        "enrol_key": {
            "type": "string",
            "pattern": f"^{_ENROL_KEY.pattern}$",
            "description": "a random secret, new for each code: sent again "
            "with the same code, it gets a lost answer back",
        },
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
        raise ApiError(
            400, EnrolmentProblem.INVALID_REQUEST, f"{key} is required", field=key
        )
    if len(value) > limit or has_control_chars(value, multiline=False):
        raise ApiError(
            400, EnrolmentProblem.INVALID_REQUEST, f"{key} is not usable", field=key
        )
    return value.strip()


def _device_id(body: dict[str, Any]) -> str:
    """One spelling per device: ``{...}``, ``urn:uuid:``, upper case and
    hyphen-less forms are refused, not stored as further devices (and the
    device pushes with the id it sent, so it could not be rewritten)."""
    value = _text(body, "device_id", 64)
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        canonical = ""
    if body["device_id"] != canonical:  # as sent: not even blanks around it
        raise ApiError(
            400,
            EnrolmentProblem.INVALID_REQUEST,
            "device_id must be a UUID in lower case with hyphens",
            field="device_id",
        )
    return canonical


def _enrol_key(body: dict[str, Any]) -> str | None:
    value = body.get("enrol_key")
    if value is None:
        return None
    if not isinstance(value, str) or not _ENROL_KEY.fullmatch(value):
        raise ApiError(
            400,
            EnrolmentProblem.INVALID_REQUEST,
            "enrol_key must be 43 to 128 URL-safe base64 characters",
            field="enrol_key",
        )
    return value


def _redeem(
    ctx: Context, code: str, device_id: str, name: str, enrol_key: str | None
) -> tuple[str, Account]:
    """The token and account of this enrolment, or InvitationProblem."""
    now = ctx.clock()
    salt: str | None = None
    if enrol_key is None:
        token = new_token()
    else:
        salt = new_salt()
        token = token_for(salt, enrol_key)
    try:
        account = ctx.store.redeem_invitation(
            code_hash=digest(code),
            device_id=device_id,
            device_name=name,
            token_hash=digest(token),
            enrol_salt=salt,
            now=now,
        )
        return token, account
    except InvitationProblem as problem:
        if problem.reason != "used" or enrol_key is None:
            raise
        lost = ctx.store.lost_enrolment(
            code_hash=digest(code),
            device_id=device_id,
            since=now - timedelta(seconds=RETRY_SECONDS),
        )
        if lost is None:
            raise
        token = token_for(lost.enrol_salt, enrol_key)
        if not hmac.compare_digest(digest(token), lost.token_hash):
            raise
        return token, lost.account


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
        body = await read_json(request, MAX_ENROL_BYTES)
        only_keys(body, {"code", "device_id", "device_name", "enrol_key"})
        code = normalise_code(_text(body, "code", 32))
        device_id = _device_id(body)
        name = _text(body, "device_name", 60)
        enrol_key = _enrol_key(body)
        limiter = ctx.limiter
        buckets = limiter.buckets(limiter.client(request), device_id)
        wait = await run_in_threadpool(
            lambda: ctx.store.reserve_enrolment(
                buckets, now=ctx.clock(), window=limiter.window
            )
        )
        if wait:
            raise ApiError(
                429,
                EnrolmentProblem.TOO_MANY_ATTEMPTS,
                "too many wrong codes: wait and try again",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        counted = [bucket for bucket, _ in buckets]
        try:
            token, account = await run_in_threadpool(
                _redeem, ctx, code, device_id, name, enrol_key
            )
        except InvitationProblem as problem:
            # A wrong code stays counted; "used" and "expired" too, as they
            # tell a guesser that a code exists.
            if problem.reason == "device_taken":  # the code was right
                await run_in_threadpool(ctx.store.release_enrolment, counted)
            status, err, message = _PROBLEMS[problem.reason]
            raise ApiError(status, err, message, field="code") from None
        await run_in_threadpool(ctx.store.release_enrolment, counted)
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
