"""Tokens and invitation codes.

Only hashes of tokens and codes are stored. Tokens are 256 random bits, so a
plain SHA-256 is enough; codes are short, so guessing is stopped by the rate
limit (watchapp/server/limiter.py) and their 72-hour life, not by the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud
CODE_LENGTH = 10
INVITATION_HOURS = 72


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """What people type: spaces, dashes and lower case are all fine."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(32)


def token_for(salt: str, enrol_key: str) -> str:
    """The token of an enrolment made with ``enrol_key``, a secret the device
    sent: the same again for the same key. Working it out takes both the salt
    (only the server holds it) and the key (only the device does)."""
    mac = hmac.new(bytes.fromhex(salt), enrol_key.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
