"""What enrichment costs per event, against a floor measured in the same run.

1. the floor: turning a ``RawEvent`` into an ``EventRow`` and encoding it as the log's JSON
   line, with no enrichment (the least any pipeline must do);
2. the enrichment pipeline (``build_pipeline``) over a realistic mix: 1,000 visitors, 40
   distinct User-Agents, 200 pages, search/social/direct referrers, UTM-tagged links, 5% bots,
   its rows and session rows encoded the same way;
3. the same pipeline with a city database (``geo_city_database``): ``--city-db PATH`` for a
   real DB-IP Lite City / GeoLite2 City file, else one written here with ``mmdb-writer``
   (the ``bench`` extra) with a record per /24 of the events' addresses, shaped like
   GeoLite2 City's (names in 8 languages for city, subdivision, country, registered
   country and continent; location; postal code), so each lookup walks as deep and decodes
   as much as with the real file (the real file is ~130 MB; its page-cache misses are not
   modelled).

Metadata is a SQLite file and the store a chDB data directory in a temp dir. Prints
microseconds per event and the ratio to the floor, the city pipeline's ratio to the
country-only pipeline, and the geo step alone (country only vs with the city database).

    .venv/bin/python bench/pipeline.py [--events 50000] [--city-db PATH]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from liveinsight.ingest.citydb import CityDatabase
from liveinsight.ingest.context import Env
from liveinsight.ingest.geo import put_geo
from liveinsight.ingest.pipeline import STEPS, build_pipeline
from liveinsight.meta.db import make_engine, upgrade
from liveinsight.meta.repo import Metadata, SiteDirectory
from liveinsight.ops.metrics import Metrics
from liveinsight.settings import Settings
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.types import DropReason, EventRow, RawEvent, format_ts

LANGUAGES = ["de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"]

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.{v} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.{v}; rv:120.0) Gecko/20100101 Firefox/12{v}.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel {v}) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
]
REFERRERS = ["", "", "", "https://www.google.com/", "https://t.co/x", "https://news.ycombinator.com/",
             "https://duckduckgo.com/", "https://someblog.net/post/1", "https://chatgpt.com/"]


def events(n: int, seed: int = 7) -> list[RawEvent]:
    rng = random.Random(seed)
    uas = [b.format(v=v) for b in BROWSERS for v in range(1, 11)]
    out = []
    for i in range(n):
        bot = rng.random() < 0.05
        query = "?utm_source=newsletter&utm_medium=email" if rng.random() < 0.1 else ""
        out.append(RawEvent(
            name="pageview" if rng.random() < 0.85 else "Signup",
            url=f"https://www.example.com/page/{rng.randrange(200)}{query}",
            timestamp=START + timedelta(milliseconds=i * 20),
            ip=f"81.2.{rng.randrange(40)}.{rng.randrange(25)}",
            user_agent="Googlebot/2.1 (+http://www.google.com/bot.html)" if bot
            else rng.choice(uas),
            domain="example.com",
            referrer=rng.choice(REFERRERS),
        ))
    return out


def floor(raws: list[RawEvent]) -> float:
    encode = msgspec.json.Encoder().encode
    started = time.perf_counter()
    for raw in raws:
        encode(EventRow(timestamp=format_ts(raw.timestamp), site_id=1, name=raw.name,
                        visitor_id=0, session_id=0, hostname="example.com", pathname=raw.url,
                        referrer=raw.referrer, props=raw.props))
    return time.perf_counter() - started


def _names(name: str) -> dict[str, str]:
    return {lang: f"{name} ({lang})" if lang != "en" else name for lang in LANGUAGES}


def city_db(path: Path) -> Path:
    """A city database covering the events' addresses (81.2.0.0/16, one record per /24),
    each record shaped like GeoLite2 City's."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                        languages=LANGUAGES, description="bench city database")
    for third in range(256):
        writer.insert_network(IPSet([f"81.2.{third}.0/24"]), {
            "city": {"geoname_id": 2643743 + third, "names": _names(f"City {third}")},
            "continent": {"code": "EU", "geoname_id": 6255148, "names": _names("Europe")},
            "country": {"geoname_id": 2635167, "is_in_european_union": False,
                        "iso_code": "GB", "names": _names("United Kingdom")},
            "location": {"accuracy_radius": 20, "latitude": 51.5 + third / 1000,
                         "longitude": -0.1, "time_zone": "Europe/London"},
            "postal": {"code": f"E{third}"},
            "registered_country": {"geoname_id": 2635167, "iso_code": "GB",
                                   "names": _names("United Kingdom")},
            "subdivisions": [{"geoname_id": 6269131, "iso_code": "ENG",
                              "names": _names("England")}],
        })
    writer.to_db_file(str(path))
    return path


def geo_step(raws: list[RawEvent], cities: CityDatabase | None) -> float:
    """The geo step alone over every event's address."""
    from liveinsight.ingest.context import Context

    env = Env(sites=None, salts=None, tracker=None, clock=None,  # type: ignore[arg-type]
              cities=cities)
    contexts = [Context(raw, raw.timestamp) for raw in raws]
    started = time.perf_counter()
    for ctx in contexts:
        put_geo(ctx, env)
    return time.perf_counter() - started


def enriched(raws: list[RawEvent], root: Path, metrics: Metrics,
             cities: CityDatabase | None = None) -> float:
    engine = make_engine(f"sqlite:///{root / ('meta-city.db' if cities else 'meta.db')}")
    upgrade(engine)
    meta = Metadata(engine)
    meta.create_site("example.com")
    store = EmbeddedStore(root / "chdb", "liveinsight")
    try:
        migrate(store)
        now = raws[-1].timestamp
        pipeline = build_pipeline(settings=Settings(_env_file=None),  # type: ignore[call-arg]
                                  meta=meta, sites=SiteDirectory(meta), metrics=metrics,
                                  store=store, clock=lambda: now, cities=cities)
        pipeline.run(raws[0])  # loads the data sets, as the first request after start does
        encode = msgspec.json.Encoder().encode
        started = time.perf_counter()
        for raw in raws:
            out = pipeline.run(raw)
            if not isinstance(out, DropReason):
                row, sessions = out
                encode(row)
                for s in sessions:
                    encode(s)
        return time.perf_counter() - started
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--city-db", type=Path, default=None,
                        help="a real city database (default: one written here)")
    args = parser.parse_args()
    raws = events(args.events)
    metrics, city_metrics = Metrics(), Metrics()
    with tempfile.TemporaryDirectory() as tmp:
        cities = CityDatabase(args.city_db or city_db(Path(tmp) / "city.mmdb"))
        base = floor(raws)
        cost = enriched(raws, Path(tmp), metrics)
        city_cost = enriched(raws, Path(tmp), city_metrics, cities)
        geo_country = min(geo_step(raws, None) for _ in range(3))
        geo_city = min(geo_step(raws, cities) for _ in range(3))
    per = 1e6 / len(raws)
    print(f"events: {len(raws)}; city database: {cities.info()}")
    print(f"floor (row + encode, no enrichment): {base * per:8.2f} µs/event")
    print(f"pipeline (+ encode), country only:   {cost * per:8.2f} µs/event  "
          f"ratio {cost / base:.2f}x floor")
    print(f"pipeline (+ encode), city database:  {city_cost * per:8.2f} µs/event  "
          f"ratio {city_cost / base:.2f}x floor, {city_cost / cost:.2f}x country only")
    print(f"geo step alone, country only:        {geo_country * per:8.2f} µs/event")
    print(f"geo step alone, city database:       {geo_city * per:8.2f} µs/event  "
          f"ratio {geo_city / geo_country:.1f}x country only, "
          f"+{(geo_city - geo_country) * per:.2f} µs/event")
    for label, registry in (("country only", metrics), ("city database", city_metrics)):
        print(f"per step (sampled 1 in 64 events), mean µs, {label}:")
        for name, _ in STEPS:
            total = registry.registry.get_sample_value(
                "liveinsight_pipeline_step_seconds_sum", {"step": name}) or 0.0
            count = registry.registry.get_sample_value(
                "liveinsight_pipeline_step_seconds_count", {"step": name}) or 0.0
            if count:
                print(f"  {name:13s} {total / count * 1e6:7.2f}")


if __name__ == "__main__":
    main()
