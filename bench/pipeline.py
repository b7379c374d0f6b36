"""What enrichment costs per event, against a floor measured in the same run.

1. the floor: turning a ``RawEvent`` into an ``EventRow`` and encoding it as the log's JSON
   line, with no enrichment (the least any pipeline must do);
2. the enrichment pipeline (``build_pipeline``) over a realistic mix: 1,000 visitors, 40
   distinct User-Agents, 200 pages, search/social/direct referrers, UTM-tagged links, 5% bots,
   its rows and session rows encoded the same way.

Metadata is a SQLite file and the store a chDB data directory in a temp dir. Prints
microseconds per event and the ratio to the floor, plus each step's mean from the metrics.

    .venv/bin/python bench/pipeline.py [--events 50000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from liveinsight.ingest.pipeline import STEPS, build_pipeline
from liveinsight.meta.db import make_engine, upgrade
from liveinsight.meta.repo import Metadata, SiteDirectory
from liveinsight.ops.metrics import Metrics
from liveinsight.settings import Settings
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.types import DropReason, EventRow, RawEvent, format_ts

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


def enriched(raws: list[RawEvent], root: Path, metrics: Metrics) -> float:
    engine = make_engine(f"sqlite:///{root / 'meta.db'}")
    upgrade(engine)
    meta = Metadata(engine)
    meta.create_site("example.com")
    store = EmbeddedStore(root / "chdb", "liveinsight")
    try:
        migrate(store)
        now = raws[-1].timestamp
        pipeline = build_pipeline(settings=Settings(_env_file=None),  # type: ignore[call-arg]
                                  meta=meta, sites=SiteDirectory(meta), metrics=metrics,
                                  store=store, clock=lambda: now)
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
    args = parser.parse_args()
    raws = events(args.events)
    metrics = Metrics()
    with tempfile.TemporaryDirectory() as tmp:
        base = floor(raws)
        cost = enriched(raws, Path(tmp), metrics)
    per = 1e6 / len(raws)
    print(f"events: {len(raws)}")
    print(f"floor (row + encode, no enrichment): {base * per:8.2f} µs/event")
    print(f"pipeline (+ encode):                 {cost * per:8.2f} µs/event  "
          f"ratio {cost / base:.2f}x floor")
    print("per step (sampled 1 in 16 events), mean µs:")
    for name, _ in STEPS:
        total = metrics.registry.get_sample_value(
            "liveinsight_pipeline_step_seconds_sum", {"step": name}) or 0.0
        count = metrics.registry.get_sample_value(
            "liveinsight_pipeline_step_seconds_count", {"step": name}) or 0.0
        if count:
            print(f"  {name:13s} {total / count * 1e6:7.2f}")


if __name__ == "__main__":
    main()
