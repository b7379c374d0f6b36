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
from collections.abc import Iterable, Sequence
from functools import lru_cache

from liveinsight.names import DOTTED_QUAD

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


_Found = tuple[int, int, str]  # (IP version, the address as an integer, its text)


def _address(value: str) -> _Found | None:
    """:func:`parse_ip`'s address as ``(version, integer, text)``. A dotted quad skips
    ``ipaddress``'s pure-Python parser, formatter and even its address object (~4 µs, per
    request: visitors outnumber any cache)."""
    text = value.strip()
    if DOTTED_QUAD.fullmatch(text):
        a, b, c, d = text.split(".")
        return 4, int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d), text
    address = parse_ip(value)
    return None if address is None else (address.version, int(address), str(address))


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
_X_FORWARDED_PROTO = b"x-forwarded-proto"
_FORWARDING = frozenset({_FORWARDED, _X_FORWARDED_FOR, _CF_CONNECTING_IP})


def _forwarding(raw: Sequence[tuple[bytes, bytes]]) -> dict[bytes, list[str]]:
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
        networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        # (version, network bits, mask bits): `address in network` as integer arithmetic,
        # since ipaddress's __contains__ re-reads two properties per call, on every request.
        self._ranges = [(n.version, int(n.network_address), int(n.netmask))
                        for n in networks]

    def _trusted(self, version: int, bits: int) -> bool:
        for net_version, network, mask in self._ranges:
            if net_version == version and bits & mask == network:
                return True
        return False

    def resolve(self, peer: str | None, headers: Sequence[tuple[bytes, bytes]]) -> str:
        """The client IP as text, for a request from ``peer`` with ``headers`` (the ASGI
        scope's raw list, lowercase names; a header sent on several lines counts as one
        comma-separated list, in order)."""
        found = _address(peer) if peer else None
        if found is None:
            return UNKNOWN
        if not self._ranges or not self._trusted(found[0], found[1]):
            return found[2]
        hops = _forwarding(headers)
        if _FORWARDED in hops:
            return self._walk(forwarded_for(",".join(hops[_FORWARDED])), found)
        if _X_FORWARDED_FOR in hops:
            return self._walk(",".join(hops[_X_FORWARDED_FOR]).split(","), found)
        if _CF_CONNECTING_IP in hops:
            return (_address(hops[_CF_CONNECTING_IP][0]) or found)[2]
        return found[2]

    def scheme(self, peer: str | None, headers: Sequence[tuple[bytes, bytes]],
               default: str) -> str:
        """The scheme the client used (``http`` or ``https``): from a trusted proxy, the
        ``proto=`` of the first ``Forwarded`` element or the first ``X-Forwarded-Proto``
        value (what the proxy the client reached saw); else ``default`` (the connection's)."""
        if not self._ranges:
            return default
        found = _address(peer) if peer else None
        if found is None or not self._trusted(found[0], found[1]):
            return default
        for name, value in headers:
            if name == _FORWARDED:
                first = value.decode("latin-1").split(",", 1)[0]
                for pair in first.split(";"):
                    key, _, proto = pair.partition("=")
                    if key.strip().lower() == "proto":
                        return _scheme(proto, default)
            elif name == _X_FORWARDED_PROTO:
                return _scheme(value.decode("latin-1").split(",", 1)[0], default)
        return default

    def _walk(self, hops: list[str], peer: _Found) -> str:
        current = peer
        for hop in reversed(hops):
            found = _address(hop)
            if found is None:
                return current[2]
            current = found
            if not self._trusted(found[0], found[1]):
                return found[2]
        return current[2]


def _scheme(value: str, default: str) -> str:
    proto = value.strip().strip('"').lower()
    return proto if proto in ("http", "https") else default
