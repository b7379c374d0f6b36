"""Factories for the enrichment pipeline tests: raw events, site values, contexts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from liveinsight.ingest.context import Context, Env
from liveinsight.ingest.sessions import SessionTracker
from liveinsight.ingest.visitor import SaltCache
from liveinsight.meta.db import make_engine, upgrade
from liveinsight.meta.repo import Metadata, SiteDirectory, SiteInfo
from liveinsight.types import RawEvent

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.6099.109 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")
NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
PUBLIC_IP = "81.2.69.160"  # GB in the RIR delegations


def raw(**overrides: Any) -> RawEvent:
    fields: dict[str, Any] = {
        "name": "pageview",
        "url": "https://example.com/",
        "timestamp": NOW,
        "ip": PUBLIC_IP,
        "user_agent": CHROME,
        "domain": "example.com",
    }
    fields.update(overrides)
    return RawEvent(**fields)


def site_info(**overrides: Any) -> SiteInfo:
    base = SiteInfo(
        id=1, uuid="6f1c0c52-93a4-4a4b-9b8a-0d1f4c0b7e11", domain="example.com", name="Example",
        aliases=(), timezone="UTC", currency="USD", retention_days=0, enabled=True,
        public=False, require_signed_ingest=False, blocked_ips=(), blocked_paths=(),
        blocked_hosts=(),
    )
    return replace(base, **overrides)


def context(event: RawEvent | None = None, **site: Any) -> Context:
    event = event or raw()
    return Context(event, event.timestamp, site=site_info(**site))


def make_meta(tmp_path: Path) -> Metadata:
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    upgrade(engine)
    return Metadata(engine)


def make_env(meta: Metadata, clock: Any = lambda: NOW, timeout_minutes: int = 30) -> Env:
    return Env(
        sites=SiteDirectory(meta), salts=SaltCache(meta, clock),
        tracker=SessionTracker(timedelta(minutes=timeout_minutes), clock), clock=clock,
    )
