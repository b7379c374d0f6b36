"""Where webhook, Slack and SMS requests may go.

A URL must be ``https`` (or ``http``) with a host name or address; unless the
``alerts_allow_private_targets`` setting is on, every address its host resolves to must be
a public one: loopback, private (RFC 1918, unique local), link-local (cloud metadata at
169.254.169.254), multicast, reserved and unspecified addresses are refused, when the
channel is saved and again before each request (a name that later resolves inward is
refused then). Redirects are never followed. What remains: a name whose answer changes
between the check and the connection (DNS rebinding within that instant).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from liveinsight.errors import Invalid

MAX_URL = 2000


def check_url(url: object, field: str) -> str:
    """The URL's syntax (not where it leads): ``Invalid`` naming ``field`` otherwise."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise Invalid(f"{field} must be an http(s) URL of at most {MAX_URL} characters",
                      field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Invalid(f"{field} is not a valid URL: {exc}", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"{field} must be an http:// or https:// URL with a host", field=field)
    if parts.username or parts.password:
        raise Invalid(f"{field} must not carry a user name or password", field=field)
    del port
    return url


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_reachable(url: str, field: str, allow_private: bool) -> None:
    """Refuse (``Invalid`` naming ``field``) a URL whose host does not resolve, or resolves
    to a non-public address while ``allow_private`` is off."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Invalid(f"{field}: the host {host!r} does not resolve ({exc})",
                      field=field) from None
    if allow_private:
        return
    for info in infos:
        address = str(info[4][0])
        if not _public(address):
            raise Invalid(f"{field}: {host!r} resolves to {address}, an internal address; "
                          "set LIVEINSIGHT_ALERTS_ALLOW_PRIVATE_TARGETS=true to allow it",
                          field=field)
