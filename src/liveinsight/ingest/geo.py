"""The ``geo`` step: the visitor's country, offline.

``iptocc`` ships its own IP-to-country table (built from the regional internet registries'
delegation files; the table's date is the package version's) and answers in well under a
microsecond. It has no region or city data, and no package ships a current city database
(``geoip2fast`` and ``python-geoacumen`` bundle country data only; ``maxminddb-geolite2``'s
GeoLite2-City dates from 2018; current GeoLite2 needs a MaxMind account), so ``region`` and
``city`` stay empty (see docs/enrichment.md). Non-public addresses (private,
loopback, link-local, reserved) get no country. Addresses are never cached or kept.
"""

from __future__ import annotations

import iptocc

from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason


def country_of(ip: str) -> str:
    """ISO 3166-1 alpha-2 code of a public address, else ``""`` (also for text that is not
    an address). The table only holds addresses delegated to a country, so private,
    loopback, link-local, CGNAT and documentation ranges have none."""
    ip = ip.strip()
    if ip[:7].lower() == "::ffff:" and "." in ip:  # IPv4-mapped IPv6
        ip = ip[7:]
    return iptocc.country_code(ip) or ""


def put_geo(ctx: Context, env: Env) -> DropReason | None:
    ctx.country_code = country_of(ctx.raw.ip)
    return None
