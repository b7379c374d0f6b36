"""The network a client address belongs to, as the audit log may keep it: values in,
values out.

A key's use "from a new network" compares networks, not addresses: the /24 of an IPv4
address, the /48 of an IPv6 one (an IPv4-mapped IPv6 address counts as IPv4), so a client
moving within its provider's block is not news. What is kept is :func:`network_key`, an HMAC
under the server secret bound to the key, never the prefix itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

PREFIX_V4, PREFIX_V6 = 24, 48


def network_of(address: str) -> str | None:
    """The address's network (``203.0.113.0/24``, ``2001:db8:1::/48``); None when it is not
    an IP address (an unknown client)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = PREFIX_V4 if ip.version == 4 else PREFIX_V6
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def network_key(secret: bytes, key_id: int, network: str) -> str:
    """32 hex digits of an HMAC of the key's id and the network: the same pair gives the
    same value; neither the prefix nor a link between two keys' networks can be read
    back."""
    digest = hmac.new(secret, f"key-network:{key_id}:{network}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
