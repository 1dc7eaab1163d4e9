"""The enrolment rate limit: who is asking, and how many wrong codes they may try.

Every enrolment attempt is counted before its code is checked, in one write
transaction of the server's database (so concurrent requests, and several
server processes on one database, cannot all slip under the limit), and given
back when the code was right. Three buckets count each attempt:

- per address and device id (``per_device``): one person's typos lock out
  their own phone only, not the others enrolling from the same community
  centre Wi-Fi (one NAT address);
- per address (``per_address``): a guesser who makes up device ids;
- overall (``overall``): the last line against guessers on many addresses.
  It also bounds the table: a count is only made while the overall bucket
  has room, so it never holds more than about 4 x ``overall`` rows.

An address is the peer's, as the ASGI server saw the connection. Only when
that peer is one of the configured ``trusted_proxies`` is ``X-Forwarded-For``
read, from its right end: the right-most address that is not a trusted proxy
is the client (whatever is left of it, the client itself may have written).
IPv6 clients count per /64, the block one subscriber line gets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# X-Forwarded-For entries read, from the right: one per proxy in front of
# the server is plenty; the rest of a long header is never looked at.
MAX_HOPS = 8


def parse_proxies(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or networks (``10.0.0.5``, ``10.0.0.0/24``, ``::1``).

    Raises:
        ValueError: for anything else, naming it.
    """
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"not an IP address or network: {value!r}") from exc
    return tuple(networks)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:8080"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:8080"
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _key(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """Whom to count an attempt against: see the module docstring."""
    address = _address(peer) if peer else None
    if address is None:
        return "unknown"
    hops = ",".join(forwarded_for).rsplit(",", MAX_HOPS)[-MAX_HOPS:]
    for hop in reversed(hops):
        if not any(address in network for network in trusted):
            break
        forwarded = _address(hop)
        if forwarded is None:
            break  # not written by a proxy: count it against the last one
        address = forwarded
    return _key(address)


@dataclass(frozen=True)
class EnrolmentLimiter:
    """How many attempts with a wrong code each bucket allows per ``window``
    seconds, and which peers may say whom they forward for."""

    per_device: int = 5
    per_address: int = 30
    overall: int = 1000
    window: float = 600.0
    trusted_proxies: tuple[Network, ...] = ()

    def client(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_address(
            peer, request.headers.getlist("x-forwarded-for"), self.trusted_proxies
        )

    def buckets(self, client: str, device_id: str) -> list[tuple[str, int]]:
        """The (name, limit) of each bucket an attempt counts in."""
        return [
            (f"device {client} {device_id}", self.per_device),
            (f"address {client}", self.per_address),
            ("overall", self.overall),
        ]
