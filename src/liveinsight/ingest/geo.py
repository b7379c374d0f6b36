"""The ``geo`` step: the visitor's country, and with a city database its region and city.

``iptocc`` ships its own IP-to-country table (built from the regional internet registries'
delegation files; the table's date is the package version's) and answers in well under a
microsecond. It has no region or city data, and no package ships a current city database,
so region and city come from an optional MMDB file the administrator provides
(``geo_city_database``: DB-IP Lite City or MaxMind GeoLite2 City, ``ingest/citydb.py``).
With one, its country wins and ``iptocc`` answers only for addresses it has no country
for; without one ``region`` and ``city`` stay empty (see docs/enrichment.md). Non-public
addresses (private, loopback, link-local, reserved) get no place. Addresses are never
cached or kept.
"""

from __future__ import annotations

import ipaddress

import iptocc

from liveinsight.ingest.context import Context, Env
from liveinsight.types import DropReason


def plain_ip(ip: str) -> str:
    """``ip`` stripped, an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``, also written
    ``::ffff:102:304``) as its IPv4 address; other text unchanged."""
    ip = ip.strip()
    if ip[:7].lower() == "::ffff:":
        if "." in ip:
            return ip[7:]
        try:
            mapped = ipaddress.IPv6Address(ip).ipv4_mapped
        except ValueError:
            return ip
        return str(mapped) if mapped is not None else ip
    return ip


def country_of(ip: str) -> str:
    """ISO 3166-1 alpha-2 code of a public address, else ``""`` (also for text that is not
    an address). The table only holds addresses delegated to a country, so private,
    loopback, link-local, CGNAT and documentation ranges have none."""
    return iptocc.country_code(plain_ip(ip)) or ""


def put_geo(ctx: Context, env: Env) -> DropReason | None:
    ip = plain_ip(ctx.raw.ip)
    if env.cities is not None and (place := env.cities.lookup(ip)) is not None:
        country, ctx.region, ctx.city = place
        if country:
            ctx.country_code = country
            return None
    ctx.country_code = iptocc.country_code(ip) or ""
    return None
