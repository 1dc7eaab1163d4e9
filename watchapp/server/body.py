"""Reading a JSON request body: size limits before and after gzip, one gzip
member read to its end, a nesting limit, and a clear 4xx for each fault."""

from __future__ import annotations

import json
import math
import re
import zlib
from typing import Any

from fastapi import Request

from watchapp.server.errors import ApiError
from watchapp.sync.protocol import MAX_BODY_BYTES

# How deeply arrays and objects may nest. A push is 3 levels deep
# ({"changes": [{...}]}) and an enrolment 1; 32 leaves room for any body the
# protocol may grow, far below where Python's own recursion limit (about
# 1,000 frames, shared with the server's stack) turns into a 500 in the parser
# or in an answer that names a rejected change's "id".
MAX_JSON_DEPTH = 32

# A JSON string may spell half of a UTF-16 pair ("\ud800"), which Python
# decodes to a lone surrogate: no UTF-8 column or answer can hold one (the
# server answered 500). Rare, so only a body with such an escape is checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

# The depth check looks at a body's skeleton: its brackets ({ as [, } as ])
# and quotes, every other byte dropped in one C-speed pass.
_TO_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_SKELETON = bytes(set(range(256)) - set(b'[]{}"'))
_QUOTE_ESCAPE = re.compile(rb'\\[\\"]')  # \" or \\, in a string
_STRING = re.compile(rb'"[^"]*"')


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"request body over {limit} bytes")


def _malformed(message: str = "body is not valid JSON") -> ApiError:
    return ApiError(400, "malformed_json", message)


def nested_deeper_than(data: bytes, limit: int) -> bool:
    """Whether arrays and objects in the JSON text ``data`` nest more than
    ``limit`` deep, without parsing it (the parser itself recurses).

    Escaped quotes and backslashes go first (read left to right, as the
    parser does, a match always starts an escape); other escapes (\\n,
    \\u3042) hold no quote and go with the letters. In the skeleton, each
    string is then a pair of quotes around whatever brackets it holds. In
    the usual body no string holds one, every quote pairs with its
    neighbour, and all quotes can simply be dropped; otherwise the strings
    are cut out (dropping two neighbouring quotes first keeps every bracket
    in or out of a string as it was). Each pass then removes the innermost
    ``[]`` pairs: one level.
    """
    if b"\\" in data:
        data = _QUOTE_ESCAPE.sub(b"", data)
    skeleton = data.translate(_TO_SQUARE, _NOT_SKELETON)
    if skeleton.count(b'""') * 2 == skeleton.count(b'"'):
        skeleton = skeleton.translate(None, b'"')
    else:  # a string holds a bracket
        skeleton = _STRING.sub(b"", skeleton.replace(b'""', b""))
    for _ in range(limit):
        shallower = skeleton.replace(b"[]", b"")
        if len(shallower) == len(skeleton):
            return False  # empty, or not balanced: the parser says what is wrong
        skeleton = shallower
    return bool(skeleton)


def _finite(text: str) -> float:
    """1e999 parses as infinity, which no answer can spell (JSON has none)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON, though Python's parser takes them."""
    raise ValueError(f"{name} is not JSON")


def _inflate(raw: bytes, limit: int) -> bytes:
    """One whole gzip member: cut before its checksum, or followed by anything
    (a second member, garbage), is refused rather than read in part."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, "malformed_gzip", "body is not valid gzip") from exc
    if len(data) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    if not inflater.eof:
        raise ApiError(400, "malformed_gzip", "the gzip body is cut short")
    if inflater.unused_data:
        raise ApiError(
            400, "malformed_gzip", "the body goes on after its gzip member ends"
        )
    return data


def parse_json(data: bytes) -> dict[str, Any]:
    """A request body's bytes (after gzip) as a JSON object, or a 400."""
    if nested_deeper_than(data, MAX_JSON_DEPTH):
        raise _malformed(f"body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = data.decode()  # JSON between systems is UTF-8 (RFC 8259)
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
        # A backslash is found with memchr; most bodies have none at all.
        if b"\\" in data and _SURROGATE_ESCAPE.search(text):
            json.dumps(value, ensure_ascii=False).encode()  # a lone one raises
    except (ValueError, RecursionError) as exc:
        # ValueError: bad UTF-8 or JSON, a lone surrogate, an integer of more
        # than 4,300 digits. RecursionError: brackets opened and never closed,
        # which the depth check leaves to the parser to refuse.
        raise _malformed() from exc
    if not isinstance(value, dict):
        raise _malformed("body must be a JSON object")
    return value


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a JSON object, at most ``limit`` bytes before and after gzip."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _too_large(limit)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        data = _inflate(bytes(raw), limit)
    elif encoding == "identity":
        data = bytes(raw)
    else:
        raise ApiError(415, "unsupported_encoding", f"content-encoding {encoding}")
    return parse_json(data)


def only_keys(body: dict[str, Any], allowed: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(400, "unknown_field", f"unknown field: {key}", field=key)
