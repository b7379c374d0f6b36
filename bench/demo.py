"""How fast ``liveinsight demo`` makes and stores its rows, against a floor from the same run.

Stages, each over the same plan (``--days`` of traffic for the three demo sites at
``--scale``):

- floor: ``msgspec`` encoding of the same number of already-built ``EventRow``s and
  ``SessionRow``s (``encode_lines``), i.e. the least Python can do to produce these lines;
- generate: drawing the traffic and writing its JSON lines (``demo.generate.frames``);
- generate + log: the same, appended as frames to a write-ahead log (fsync never);
- end to end: ``demo.generate.write_demo`` into a fresh data dir: generation, log, and the batch
  writer's ``store.ingest_segment`` into chDB until every segment is stored.

Then the log's line format, on its own: one segment of the first ``--segment-events``
(100,000) generated events and their sessions, ingested with ``store.ingest_segment`` into
a fresh chDB dir (best of three, tables emptied between runs), against the same rows as full
lines (every field, as the log wrote them before it left default-valued fields out, and as
segments left from then still are): the floor here is the full-line segment.

Run: ``.venv/bin/python bench/demo.py [--days 30] [--scale 1] [--segment-events 100000]``
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from liveinsight.demo import catalog, generate
from liveinsight.ingest.wal import WriteAheadLog, frame
from liveinsight.meta.repo import SiteInfo
from liveinsight.settings import Settings
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.types import EventRow, SessionRow


def _sites() -> list[SiteInfo]:
    return [SiteInfo(i + 1, f"00000000-0000-0000-0000-00000000000{i}", s.domain, s.name, (),
                     s.timezone, "USD", 0, True, False, False, (), (), ())
            for i, s in enumerate(catalog.SITES)]


def _full_lines(payload: bytes) -> bytes:
    """``payload``'s rows with every field written (the kind first): the previous format."""
    out = []
    for line in payload.splitlines():
        kind = EventRow if line.startswith(b'{"_k":"e"') else SessionRow
        row = msgspec.json.decode(line, type=kind)
        tag = kind.__struct_config__.tag
        out.append(msgspec.json.encode({"_k": tag, **msgspec.structs.asdict(row)}))
    return b"\n".join(out) + b"\n"


def _ingest_seconds(segments: dict[str, Path], tmp: Path) -> dict[str, float]:
    """Best of three ``store.ingest_segment`` per segment, alternating, tables emptied."""
    store = EmbeddedStore(tmp / "chdb", "bench")
    try:
        migrate(store)
        best = dict.fromkeys(segments, float("inf"))
        for run in range(3):
            for name, path in segments.items():
                for table in ("events", "sessions"):
                    store.command(f"TRUNCATE TABLE `bench`.{table}")
                started = time.perf_counter()
                store.ingest_segment(path, f"{name}-{run}")
                best[name] = min(best[name], time.perf_counter() - started)
        return best
    finally:
        store.close()


def segment_stage(payloads: list[bytes], events: int, sessions: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        segments = {"full lines (floor)": Path(tmp) / "full.wal",
                    "short lines": Path(tmp) / "short.wal"}
        segments["full lines (floor)"].write_bytes(
            b"".join(frame(_full_lines(p)) for p in payloads))
        segments["short lines"].write_bytes(b"".join(frame(p) for p in payloads))
        seconds = _ingest_seconds(segments, Path(tmp))
        print(f"\none segment, {events:,} events + {sessions:,} sessions, "
              "store.ingest_segment (chDB)")
        print(f"{'lines':<28}{'MB':>8}{'events/s':>12}{'vs floor':>10}")
        floor = events / seconds["full lines (floor)"]
        for name, path in segments.items():
            rate = events / seconds[name]
            print(f"{name:<28}{path.stat().st_size / 1e6:>8.1f}{rate:>12,.0f}"
                  f"{rate / floor:>10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--segment-events", type=int, default=100_000)
    args = ap.parse_args()
    now = datetime.now(UTC)
    plans = generate.plan(_sites(), args.days, now, args.scale, random.Random(7))

    started = time.perf_counter()
    events = sessions = 0
    sample: list[bytes] = []
    segment: list[bytes] = []
    segment_rows = [0, 0]
    for payload, n_events, n_sessions in generate.frames(plans, now, 7):
        events += n_events
        sessions += n_sessions
        if len(sample) < 3:
            sample.append(payload)
        if segment_rows[0] < args.segment_events:
            segment.append(payload)
            segment_rows[0] += n_events
            segment_rows[1] += n_sessions
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
        for payload, n_events, _ in generate.frames(plans, now, 7):
            wal.append(payload, n_events)
        logged_s = time.perf_counter() - started
        wal.close()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data",  # type: ignore[call-arg]
                            wal_fsync="never")
        report = generate.write_demo(settings, days=args.days, scale=args.scale, now=now)

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
    segment_stage(segment, *segment_rows)


if __name__ == "__main__":
    main()
