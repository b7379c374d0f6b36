"""How fast ``liveinsight demo`` makes and stores its rows, against a floor from the same run.

Stages, each over the same plan (``--days`` of traffic for the three demo sites at
``--scale``):

- floor: ``msgspec`` encoding of the same number of already-built ``EventRow``s and
  ``SessionRow``s (``encode_lines``), i.e. the least Python can do to produce these lines;
- generate: drawing the traffic and writing its JSON lines (``demo.frames``);
- generate + log: the same, appended as frames to a write-ahead log (fsync never);
- end to end: ``demo.write_demo`` into a fresh data dir: generation, log, and the batch
  writer's ``store.ingest_segment`` into chDB until every segment is stored.

Run: ``.venv/bin/python bench/demo.py [--days 30] [--scale 1]``
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from liveinsight import demo, demo_catalog
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.meta.repo import SiteInfo
from liveinsight.settings import Settings
from liveinsight.types import EventRow, SessionRow


def _sites() -> list[SiteInfo]:
    return [SiteInfo(i + 1, f"00000000-0000-0000-0000-00000000000{i}", s.domain, s.name, (),
                     s.timezone, "USD", 0, True, False, False, (), (), ())
            for i, s in enumerate(demo_catalog.SITES)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    now = datetime.now(UTC)
    plans = demo.plan(_sites(), args.days, now, args.scale, random.Random(7))

    started = time.perf_counter()
    events = sessions = 0
    sample: list[bytes] = []
    for payload, n_events, n_sessions in demo.frames(plans, now, 7):
        events += n_events
        sessions += n_sessions
        if len(sample) < 3:
            sample.append(payload)
    generate_s = time.perf_counter() - started

    rows = [line for payload in sample for line in payload.splitlines()]
    built: list[EventRow | SessionRow] = []
    for line in rows:
        if line.startswith(b'{"_k":"e"'):
            built.append(msgspec.json.decode(line, type=EventRow))
        else:
            built.append(msgspec.json.decode(line, type=SessionRow))
    copies = (events + sessions) // len(built) + 1
    encoder = msgspec.json.Encoder()
    started = time.perf_counter()
    for _ in range(copies):
        encoder.encode_lines(built)
    floor_s = (time.perf_counter() - started) * (events + sessions) / (copies * len(built))

    with tempfile.TemporaryDirectory() as tmp:
        wal = WriteAheadLog(Path(tmp) / "wal", fsync="never", max_bytes=1 << 40)
        started = time.perf_counter()
        for payload, n_events, _ in demo.frames(plans, now, 7):
            wal.append(payload, n_events)
        logged_s = time.perf_counter() - started
        wal.close()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data",  # type: ignore[call-arg]
                            wal_fsync="never")
        report = demo.write_demo(settings, days=args.days, scale=args.scale, now=now)

    rate = events / generate_s
    floor = events / floor_s
    print(f"{events:,} events, {sessions:,} sessions ({args.days} days, scale {args.scale})")
    print(f"{'stage':<28}{'events/s':>12}{'vs floor':>10}")
    for name, seconds in (("floor: encode built rows", floor_s), ("generate", generate_s),
                          ("generate + log", logged_s),
                          ("end to end (chDB ingest)", report.seconds)):
        r = events / seconds
        print(f"{name:<28}{r:>12,.0f}{r / floor:>10.2f}")
    print(f"generate vs floor: {rate / floor:.2f}")


if __name__ == "__main__":
    main()
