"""Reading a JSON request body: size limits before and after gzip, clear errors."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from fastapi import Request

from watchapp.server.errors import ApiError
from watchapp.sync.protocol import MAX_BODY_BYTES

# A JSON string may spell half of a UTF-16 pair ("\ud800"), which Python
# decodes to a lone surrogate: no UTF-8 column or answer can hold one (the
# server answered 500). Rare, so only a body with such an escape is checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _too_large() -> ApiError:
    return ApiError(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")


async def read_json(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise _too_large()
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(bytes(raw), MAX_BODY_BYTES + 1)
        except zlib.error as exc:
            raise ApiError(400, "malformed_gzip", "body is not valid gzip") from exc
        if len(data) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise _too_large()
    elif encoding == "identity":
        data = bytes(raw)
    else:
        raise ApiError(415, "unsupported_encoding", f"content-encoding {encoding}")
    try:
        text = data.decode()  # JSON between systems is UTF-8 (RFC 8259)
        value = json.loads(text)
        # A backslash is found with memchr; most bodies have none at all.
        if b"\\" in data and _SURROGATE_ESCAPE.search(text):
            json.dumps(value, ensure_ascii=False).encode()  # a lone one raises
    except ValueError as exc:  # bad UTF-8 or JSON, or a lone surrogate
        raise ApiError(400, "malformed_json", "body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "malformed_json", "body must be a JSON object")
    return value


def only_keys(body: dict[str, Any], allowed: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(400, "unknown_field", f"unknown field: {key}", field=key)
