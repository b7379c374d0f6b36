"""The client's IP address, believing forwarding headers only from trusted proxies.

When the socket peer is not in ``settings.trusted_proxies`` (or none are configured), the
peer is the client and every forwarding header is ignored: anyone can send them. When the
peer is trusted, the first of these headers present decides:

1. ``Forwarded`` (RFC 7239, the ``for=`` parameters),
2. ``X-Forwarded-For``,
3. ``CF-Connecting-IP`` (Cloudflare).

For the first two the address chain is walked from the right (the hop nearest to us) past
every trusted proxy; the first untrusted address is the client. Addresses a client wrote
itself sit further left and are never reached. When every hop is trusted, the left-most
address is used. Unparseable entries (``unknown``, obfuscated identifiers) stop the walk and
the last good address is used, the peer if none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.datastructures import Headers

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "0.0.0.0"  # the server gave no peer address (a Unix socket, a test client)


@lru_cache(maxsize=8192)  # proxies and returning visitors repeat; parsing is pure Python
def parse_ip(value: str) -> IPAddress | None:
    """An address from ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``"[::1]"``, ``::1``;
    IPv4-mapped IPv6 becomes IPv4. None when it is not an address."""
    text = value.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def forwarded_for(header: str) -> list[str]:
    """The ``for=`` values of a ``Forwarded`` header, in order (RFC 7239)."""
    hops = []
    for element in header.split(","):
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                hops.append(value.strip())
    return hops


class ClientIpResolver:
    """Resolves the client address of a request; built once from ``trusted_proxies``."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)

    def resolve(self, peer: str | None, headers: Headers) -> str:
        """The client IP as text, for a request from ``peer`` with ``headers`` (a header
        sent on several lines counts as one comma-separated list, in order)."""
        address = parse_ip(peer) if peer else None
        if address is None:
            return UNKNOWN
        if not self._networks or not self.trusted(address):
            return str(address)
        if "forwarded" in headers:
            joined = ",".join(headers.getlist("forwarded"))
            return str(self._walk(forwarded_for(joined), address))
        if "x-forwarded-for" in headers:
            joined = ",".join(headers.getlist("x-forwarded-for"))
            return str(self._walk(joined.split(","), address))
        if "cf-connecting-ip" in headers:
            return str(parse_ip(headers["cf-connecting-ip"]) or address)
        return str(address)

    def _walk(self, hops: list[str], peer: IPAddress) -> IPAddress:
        current = peer
        for hop in reversed(hops):
            address = parse_ip(hop)
            if address is None:
                return current
            current = address
            if not self.trusted(address):
                return address
        return current
