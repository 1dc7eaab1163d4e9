"""What can go wrong talking to the council, as the device sees it.

SyncError
 ├─ CouncilUnreachable  no network, refused, timed out: offline is normal
 ├─ ServerBusy          503 or 429; .retry_after seconds
 ├─ ServerFailed        any other 5xx
 ├─ Unauthorized        401: the token is unknown
 │   └─ DeviceRevoked   401: this device was revoked
 ├─ EnrolmentRefused    the council did not enrol the device; .code, a member
 │                      of protocol.EnrolmentProblem
 └─ RequestRejected     any other 4xx; .status, .code
"""

from __future__ import annotations

from watchapp.sync.protocol import EnrolmentProblem


class SyncError(Exception):
    pass


class CouncilUnreachable(SyncError):
    pass


class ServerBusy(SyncError):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerFailed(SyncError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(SyncError):
    pass


class DeviceRevoked(Unauthorized):
    pass


class EnrolmentRefused(SyncError):
    def __init__(
        self, message: str, code: EnrolmentProblem, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class RequestRejected(SyncError):
    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
