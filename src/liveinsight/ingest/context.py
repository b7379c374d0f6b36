"""The per-event state the enrichment steps fill in, and what the steps may use.

Each step reads the fields earlier steps set and sets its own; the runner builds the final
``EventRow`` from the context once every step has run. A context lives for one event only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from liveinsight.types import EventRow, RawEvent, SessionRow

if TYPE_CHECKING:
    from liveinsight.ingest.citydb import CityDatabase
    from liveinsight.ingest.session_store import SessionStore
    from liveinsight.ingest.ua import Agent
    from liveinsight.ingest.visitor import SaltCache
    from liveinsight.meta.repo import SiteDirectory, SiteInfo


@dataclass(slots=True)
class Env:
    """What the steps may use besides the event: lookups, the clock and in-memory state."""

    sites: SiteDirectory
    salts: SaltCache
    tracker: SessionStore
    clock: Callable[[], datetime]
    cities: CityDatabase | None = None  # region and city; None: country only (iptocc)


class Context(msgspec.Struct, gc=False):
    """A msgspec struct rather than a dataclass: one is made per event, and its C ``__init__``
    costs a fraction of a 25-field dataclass's generated one. ``gc=False``: a context never
    takes part in a reference cycle (it lives for one call of ``Pipeline.run``)."""

    raw: RawEvent
    now: datetime  # the clock when the event was taken in (read once per request)
    site: SiteInfo | None = None
    hostname: str = ""
    pathname: str = "/"
    query: dict[str, str] = {}  # first value of each query key
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    utm_term: str = ""
    agent: Agent | None = None
    country_code: str = ""
    region: str = ""
    city: str = ""
    referrer_host: str = ""  # lowercase, "www." stripped; "" without a usable referrer
    referrer_path: str = ""
    referrer: str = ""
    referrer_source: str = ""
    channel: str = "Direct"
    visitor_id: int = 0
    previous_salt: bytes | None = None  # yesterday's salt, for the visitor's id under it
    row: EventRow | None = None  # built by the row step, completed by the session step
    session_rows: list[SessionRow] = []
