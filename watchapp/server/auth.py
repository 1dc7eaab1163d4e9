"""Tokens, invitation codes and the enrolment rate limit.

Only hashes of tokens and codes are stored. Tokens are 256 random bits, so a
plain SHA-256 is enough; codes are short, so guessing is stopped by the rate
limit and their 72-hour life, not by the hash.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class RateLimiter:
    """At most ``attempts`` failures per ``window`` seconds per client."""

    attempts: int = 10
    window: float = 600.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again; 0 when it may now."""
        with self._lock:
            now = self.clock()
            recent = [
                t for t in self._failures.get(client, []) if now - t < self.window
            ]
            self._failures[client] = recent
            if len(recent) < self.attempts:
                return 0
            return max(1, int(self.window - (now - recent[0])) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(self.clock())
