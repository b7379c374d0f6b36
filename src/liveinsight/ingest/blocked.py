"""The ``drop_blocked`` step: a site's own exclusions.

- ``blocked_ips``: addresses or CIDR ranges (IPv4 or IPv6) → ``blocked_ip``;
- ``blocked_paths``: shell-style globs over the pathname, where ``*`` also crosses ``/``
  (``/admin/*`` blocks ``/admin/users/1`` but not ``/admin``) → ``blocked_path``;
- ``blocked_hosts``: page hostnames, ``www.`` ignored (e.g. ``staging.example.com``) →
  ``blocked_host``.

Compiled matchers are cached per distinct setting value, so a site's change applies as soon
as the site directory reloads.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from functools import lru_cache

from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=1024)
def _networks(values: tuple[str, ...]) -> tuple[_Network, ...]:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            continue  # a bad entry must not block (or unblock) everything else
    return tuple(out)


@lru_cache(maxsize=1024)
def _paths(globs: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(g.strip()) for g in globs if g.strip()))


@lru_cache(maxsize=1024)
def _hosts(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.strip().lower().removeprefix("www.") for v in values)


def ip_blocked(ip: str, blocked: tuple[str, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in _networks(blocked) if net.version == addr.version)


def path_blocked(pathname: str, globs: tuple[str, ...]) -> bool:
    return any(g.strip() for g in globs) and _paths(globs).match(pathname) is not None


def drop_blocked(ctx: Context, env: Env) -> DropReason | None:
    site = ctx.site
    if site is None:
        return None
    if site.blocked_ips and ip_blocked(ctx.raw.ip, site.blocked_ips):
        return DropReason.BLOCKED_IP
    if site.blocked_paths and path_blocked(ctx.pathname, site.blocked_paths):
        return DropReason.BLOCKED_PATH
    if site.blocked_hosts and ctx.hostname in _hosts(site.blocked_hosts):
        return DropReason.BLOCKED_HOST
    return None
