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
_MAX_VERDICTS = 8192


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


@lru_cache(maxsize=8192)  # IPv4Address.__str__ is pure Python too
def _text(address: IPAddress) -> str:
    return str(address)


def forwarded_for(header: str) -> list[str]:
    """The ``for=`` values of a ``Forwarded`` header, in order (RFC 7239)."""
    hops = []
    for element in header.split(","):
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                hops.append(value.strip())
    return hops


_FORWARDED, _X_FORWARDED_FOR, _CF_CONNECTING_IP = b"forwarded", b"x-forwarded-for", \
    b"cf-connecting-ip"
_FORWARDING = frozenset({_FORWARDED, _X_FORWARDED_FOR, _CF_CONNECTING_IP})


def _forwarding(raw: list[tuple[bytes, bytes]]) -> dict[bytes, list[str]]:
    """The forwarding headers' values by name, in order, from one pass over the raw
    (lowercase-named) headers: three ``name in headers`` checks cost three passes."""
    found: dict[bytes, list[str]] = {}
    for name, value in raw:
        if name in _FORWARDING:
            found.setdefault(name, []).append(value.decode("latin-1"))
    return found


class ClientIpResolver:
    """Resolves the client address of a request; built once from ``trusted_proxies``."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        # Verdicts per address: the proxy asks on every request and visitors return, while
        # `address in network` is pure Python (a few µs per network).
        self._verdicts: dict[IPAddress, bool] = {}

    def trusted(self, address: IPAddress) -> bool:
        verdict = self._verdicts.get(address)
        if verdict is None:
            verdict = any(address in network for network in self._networks)
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.clear()  # bounded; refilled by the next requests
            self._verdicts[address] = verdict
        return verdict

    def resolve(self, peer: str | None, headers: Headers) -> str:
        """The client IP as text, for a request from ``peer`` with ``headers`` (a header
        sent on several lines counts as one comma-separated list, in order)."""
        address = parse_ip(peer) if peer else None
        if address is None:
            return UNKNOWN
        if not self._networks or not self.trusted(address):
            return _text(address)
        found = _forwarding(headers.raw)
        if _FORWARDED in found:
            joined = ",".join(found[_FORWARDED])
            return _text(self._walk(forwarded_for(joined), address))
        if _X_FORWARDED_FOR in found:
            joined = ",".join(found[_X_FORWARDED_FOR])
            return _text(self._walk(joined.split(","), address))
        if _CF_CONNECTING_IP in found:
            return _text(parse_ip(found[_CF_CONNECTING_IP][0]) or address)
        return _text(address)

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
