"""The pipeline end to end over real metadata (SQLite) and a real chDB store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from liveinsight.ingest.pipeline import BATCH_STEPS, STEPS, Pipeline, build_pipeline
from liveinsight.ingest.service import Ingestor
from liveinsight.ingest.wal import WriteAheadLog
from liveinsight.meta.repo import Metadata, SiteDirectory
from liveinsight.ops import tracing
from liveinsight.ops.metrics import Metrics
from liveinsight.settings import Settings
from liveinsight.storage.embedded import EmbeddedStore
from liveinsight.storage.migrate import migrate
from liveinsight.types import DropReason, EventRow, RawEvent, SessionRow

from .enrich_factories import CHROME, NOW, PUBLIC_IP, make_meta, raw


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "chdb", "liveinsight")
    migrate(s)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def meta(tmp_path: Path) -> Metadata:
    m = make_meta(tmp_path)
    m.create_site("example.com", aliases=["example.org"], retention_days=30,
                  blocked_ips=["198.51.100.0/24"], blocked_paths=["/admin/*"],
                  blocked_hosts=["staging.example.com"])
    m.create_site("off.example", enabled=False)
    return m


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def pipeline(meta: Metadata, store: EmbeddedStore, clock: Clock,
             metrics: Metrics | None = None) -> Pipeline:
    settings = Settings(_env_file=None, data_dir=store.path.parent)  # type: ignore[call-arg]
    return build_pipeline(settings=settings, meta=meta, sites=SiteDirectory(meta),
                          metrics=metrics or Metrics(), store=store, clock=clock)


def accepted(p: Pipeline, **event: Any) -> tuple[EventRow, list[SessionRow]]:
    out = p.run(raw(**event))
    assert not isinstance(out, DropReason), out
    return out


def test_steps_are_named_and_ordered() -> None:
    assert [name for name, _ in [*STEPS, *BATCH_STEPS]] == [
        "site", "url", "drop_bots", "drop_spam", "drop_blocked", "ua", "geo", "referrer",
        "visitor", "row", "session"]


def test_enriched_pageview_and_session(meta: Metadata, store: EmbeddedStore) -> None:
    p = pipeline(meta, store, Clock())
    row, sessions = accepted(
        p, url="https://www.example.com/pricing?utm_source=twitter&utm_medium=social",
        referrer="https://t.co/abc", props={"plan": "pro"},
    )
    assert (row.site_id, row.hostname, row.pathname) == (1, "example.com", "/pricing")
    assert (row.referrer, row.referrer_source, row.channel) == (
        "t.co/abc", "Twitter", "Organic Social")
    assert (row.utm_source, row.utm_medium) == ("twitter", "social")
    assert (row.country_code, row.browser, row.os, row.device) == (
        "GB", "Chrome", "Windows", "Desktop")
    assert (row.timestamp, row.retention_days, row.props) == (
        "2026-11-22 10:00:00.000", 30, {"plan": "pro"})
    assert row.session_id == sessions[0].session_id and row.visitor_id > 0
    encoded = msgspec.json.encode([row, *sessions])
    assert PUBLIC_IP.encode() not in encoded and b"Windows NT" not in encoded

    second, changes = accepted(p, url="https://example.com/docs",
                               timestamp=NOW + timedelta(minutes=2))
    assert (second.session_id, second.visitor_id) == (row.session_id, row.visitor_id)
    assert [(s.sign, s.version) for s in changes] == [(-1, 1), (1, 2)]
    assert (changes[1].exit_page, changes[1].referrer_source) == ("/docs", "Twitter")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"domain": "unknown.example"}, DropReason.UNKNOWN_SITE),
        ({"domain": "off.example"}, DropReason.SITE_DISABLED),
        ({"user_agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}, DropReason.BOT),
        ({"user_agent": ""}, DropReason.BOT),
        ({"referrer": "https://semalt.com/"}, DropReason.SPAM_REFERRER),
        ({"ip": "198.51.100.20"}, DropReason.BLOCKED_IP),
        ({"url": "https://example.com/admin/users"}, DropReason.BLOCKED_PATH),
        ({"url": "https://staging.example.com/"}, DropReason.BLOCKED_HOST),
        ({"name": "engagement", "engagement_ms": 1000}, DropReason.NO_SESSION),
    ],
)
def test_drops(meta: Metadata, store: EmbeddedStore, event: dict[str, Any],
               reason: DropReason) -> None:
    assert pipeline(meta, store, Clock()).run(raw(**event)) is reason


def test_site_by_uuid_and_alias(meta: Metadata, store: EmbeddedStore) -> None:
    p = pipeline(meta, store, Clock())
    uuid = meta.sites()[0].uuid
    row, _ = accepted(p, domain=None, site_uuid=uuid.upper())
    assert row.site_id == 1
    row, _ = accepted(p, domain="www.example.org")
    assert row.site_id == 1


def test_step_durations_are_exposed(meta: Metadata, store: EmbeddedStore) -> None:
    metrics = Metrics()
    p = pipeline(meta, store, Clock(), metrics)
    for i in range(128):
        p.run(raw(url=f"https://example.com/{i}"))
    text = generate_latest(metrics.registry).decode()
    for name, _ in [*STEPS, *BATCH_STEPS]:
        assert f'liveinsight_pipeline_step_seconds_count{{step="{name}"}} 2.0' in text
    assert "liveinsight_sessions_live 1.0" in text  # one visitor, one live session


def ingest(store: EmbeddedStore, tmp_path: Path, name: str,
           outputs: list[tuple[EventRow, list[SessionRow]]]) -> None:
    path = tmp_path / f"{name}.jsonl"
    encoder = msgspec.json.Encoder()
    lines = [encoder.encode(x) for row, sessions in outputs for x in (row, *sessions)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    store.ingest_segment(path, name)


def session_totals(store: EmbeddedStore) -> list[list[Any]]:
    return store.query(
        "SELECT session_id, sum(sign), sum(sign * pageviews), max(version) "
        "FROM liveinsight.sessions GROUP BY session_id HAVING sum(sign) > 0").rows


def test_restart_continues_live_sessions(meta: Metadata, store: EmbeddedStore,
                                         tmp_path: Path) -> None:
    clock = Clock()
    first = pipeline(meta, store, clock)
    out1 = accepted(first, url="https://example.com/a", referrer="https://www.google.com/")
    out2 = accepted(first, url="https://example.com/b", timestamp=NOW + timedelta(minutes=1))
    other = accepted(first, url="https://example.com/z", user_agent=CHROME + " Other",
                     timestamp=NOW - timedelta(minutes=40))  # already over
    ingest(store, tmp_path, "before-restart", [out1, out2, other])

    clock.now = NOW + timedelta(minutes=5)
    restarted = pipeline(meta, store, clock)
    assert len(restarted.env.tracker) == 1  # the idle one is not warmed
    row, changes = accepted(restarted, url="https://example.com/c",
                            timestamp=NOW + timedelta(minutes=5))
    assert row.session_id == out1[0].session_id
    assert [(s.sign, s.version) for s in changes] == [(-1, 2), (1, 3)]
    assert (changes[1].entry_page, changes[1].exit_page, changes[1].pageviews,
            changes[1].duration, changes[1].referrer_source) == ("/a", "/c", 3, 300, "Google")
    ingest(store, tmp_path, "after-restart", [(row, changes)])
    totals = {int(r[0]): [int(x) for x in r[1:]] for r in session_totals(store)}
    assert totals[row.session_id] == [1, 3, 3]


def test_restart_after_the_timeout_starts_over(meta: Metadata, store: EmbeddedStore,
                                               tmp_path: Path) -> None:
    clock = Clock()
    first = accepted(pipeline(meta, store, clock))
    ingest(store, tmp_path, "old", [first])
    clock.now = NOW + timedelta(minutes=31)
    restarted = pipeline(meta, store, clock)
    assert len(restarted.env.tracker) == 0
    row, changes = accepted(restarted, timestamp=clock.now)
    assert row.session_id != first[0].session_id and [s.sign for s in changes] == [1]


def test_raw_event_fields_used(meta: Metadata, store: EmbeddedStore) -> None:
    p = pipeline(meta, store, Clock())
    event = RawEvent(name="Purchase", url="https://example.com/thanks", timestamp=NOW,
                     ip=PUBLIC_IP, user_agent=CHROME, domain="example.com",
                     revenue_amount="12.50", revenue_currency="eur", screen="Desktop",
                     hash_mode=True)
    out = p.run(event)
    assert not isinstance(out, DropReason)
    row, sessions = out
    assert (row.revenue, row.revenue_currency, row.screen) == ("12.5", "EUR", "Desktop")
    assert (sessions[0].pageviews, sessions[0].events, sessions[0].is_bounce) == (0, 1, 0)


def test_restart_after_a_crash_continues_sessions_still_in_the_log(
        meta: Metadata, store: EmbeddedStore) -> None:
    clock = Clock()
    first = pipeline(meta, store, clock)
    wal = WriteAheadLog(store.path.parent / "wal", fsync="never")
    ingestor = Ingestor(first, wal, Metrics())
    payload, result = ingestor.enrich([
        raw(url="https://example.com/a"),
        raw(url="https://example.com/b", timestamp=NOW + timedelta(minutes=1))])
    ingestor.append(payload, result.accepted)
    wal.close()  # nothing reached the store: as after a crash before the writer's insert

    clock.now = NOW + timedelta(minutes=3)
    restarted = pipeline(meta, store, clock)
    assert len(restarted.env.tracker) == 1
    row, changes = accepted(restarted, url="https://example.com/c", timestamp=clock.now)
    assert row.session_id == changes[0].session_id
    assert [(s.sign, s.version) for s in changes] == [(-1, 2), (1, 3)]
    assert (changes[1].entry_page, changes[1].pageviews) == ("/a", 3)

    clock.now = NOW + timedelta(minutes=40)
    assert len(pipeline(meta, store, clock).env.tracker) == 0  # too old to continue


def test_a_failing_step_drops_only_that_event(meta: Metadata, store: EmbeddedStore,
                                              caplog: pytest.LogCaptureFixture) -> None:
    def explode(ctx: object, env: object) -> None:
        raise RuntimeError("boom")

    base = pipeline(meta, store, Clock())
    broken = Pipeline(base.env, Metrics(), [*STEPS[:2], ("explode", explode), *STEPS[2:]])
    assert broken.run(raw()) is DropReason.INVALID
    assert "'explode' failed" in caplog.text and PUBLIC_IP not in caplog.text
    assert not isinstance(base.run(raw()), DropReason)


def test_a_traced_batch_enriches_as_an_untraced_one(meta: Metadata, store: EmbeddedStore
                                                     ) -> None:
    """Inside a recorded span the per-event steps run step by step over the batch (one span
    each): every event gets the same row or drop reason, and the spans say so."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    events = [raw(url="https://example.com/a"), raw(user_agent="Googlebot/2.1"),
              raw(referrer="https://semalt.com/"), raw(url="https://example.com/b",
                                                       ip="81.2.69.161"),
              raw(domain="unknown.example"), raw(url="https://example.com/admin/x")]
    plain = pipeline(meta, store, Clock()).run_many([(e, None) for e in events])
    tracing.install(tracer)
    try:
        with tracer.start_as_current_span("request"):
            traced = pipeline(meta, store, Clock()).run_many([(e, None) for e in events])
    finally:
        tracing.uninstall(tracer)
    assert _without_session_ids(traced) == _without_session_ids(plain)
    assert [o for o in plain if isinstance(o, DropReason)] == [
        DropReason.BOT, DropReason.SPAM_REFERRER, DropReason.UNKNOWN_SITE,
        DropReason.BLOCKED_PATH]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert [n for n in spans if n.startswith("ingest.step ")] == [
        f"ingest.step {name}" for name, _ in [*STEPS, *BATCH_STEPS]]
    assert spans["ingest.enrich"].attributes == {"ingest.events": 6}
    assert spans["ingest.step site"].attributes == {"ingest.events": 6}
    assert spans["ingest.step session"].attributes == {"ingest.events": 2}
    assert spans["ingest.step site"].parent == spans["ingest.enrich"].context


def _without_session_ids(outs: list[Any]) -> list[Any]:
    """Rows with session ids left out (a new session's id is drawn at random)."""
    return [o if isinstance(o, DropReason) else (
        msgspec.structs.replace(o[0], session_id=0),
        [msgspec.structs.replace(s, session_id=0) for s in o[1]]) for o in outs]
