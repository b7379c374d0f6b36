"""Small city databases for the geo tests, written with ``mmdb-writer`` in the layout of
MaxMind GeoLite2 City / DB-IP Lite City (``country.iso_code``, ``subdivisions[0]``,
``city.names``), IPv6 with the IPv4 space at ``::/96`` as both publish theirs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def city(country: str, region: str = "", city_name: str = "", *, region_code: str = "",
         ) -> dict[str, Any]:
    """A record as GeoLite2 City has it (names in two languages, as the real ones have
    several)."""
    record: dict[str, Any] = {
        "continent": {"code": "EU", "names": {"en": "Europe", "de": "Europa"}},
        "country": {"iso_code": country, "names": {"en": country, "de": country}},
        "location": {"latitude": 51.5, "longitude": -0.1, "time_zone": "Europe/London"},
    }
    if region:
        record["subdivisions"] = [{"iso_code": region_code or region[:2].upper(),
                                   "names": {"en": region, "de": region}}]
    if city_name:
        record["city"] = {"geoname_id": 2643743, "names": {"en": city_name, "de": city_name}}
    return record


NETWORKS: dict[str, dict[str, Any]] = {
    "81.2.69.0/24": city("GB", "England", "London", region_code="ENG"),
    "89.160.20.0/24": city("DE", "Berlin", "Berlin", region_code="BE"),
    "2001:480::/32": city("US", "California", "San Diego", region_code="CA"),
    "202.196.224.0/20": city("PH"),  # a country-only record
    "1.0.0.0/24": {"location": {"latitude": 0.0, "longitude": 0.0}},  # no country
}


def write_city_db(path: Path, networks: dict[str, dict[str, Any]] | None = None, *,
                  database_type: str = "GeoLite2-City") -> Path:
    """Write the database to a temporary file beside ``path`` and rename it over ``path``
    (as geoipupdate replaces one)."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type,
                        languages=["en", "de"], description="LiveInsight test city database")
    for network, record in (NETWORKS if networks is None else networks).items():
        writer.insert_network(IPSet([network]), record)
    part = path.with_name(path.name + ".part")
    writer.to_db_file(str(part))
    os.replace(part, path)
    return path
