"""Collector request parsing: body bytes in, :class:`RawEvent` values out.

Pure functions, one per wire format (Plausible ``/api/event``, Umami ``/api/send`` and
``/api/batch``, native ``/api/events``). Each takes the body, its content type and a
:class:`Client` (IP, User-Agent, the time of arrival) and returns the events, or raises
:class:`~liveinsight.errors.Problem` (``Invalid``, ``Forbidden``, ``TooLarge`` or
``UnsupportedMedia``) naming the offending field.
They never raise anything else, whatever the bytes.

What is checked here is the shape of the request; whether the site exists, the event is a
bot or a spam referrer is the pipeline's business (those events are dropped, not refused).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import msgspec

from liveinsight import names
from liveinsight.errors import Forbidden, Problem, TooLarge, UnsupportedMedia, bad_request
from liveinsight.ingest import revenue
from liveinsight.names import DOTTED_QUAD
from liveinsight.types import RawEvent

MAX_URL_CHARS = 2000
MAX_NAME_CHARS = 120
MAX_PROPS = 30
MAX_PROP_KEY_CHARS = 300
MAX_PROP_VALUE_CHARS = 2000
MAX_REVENUE_JSON_CHARS = 200  # revenue sent as a JSON-encoded string
MAX_ENGAGEMENT_MS = 30 * 24 * 3600 * 1000  # larger values come from an old Plausible tracker
MAX_PAST = timedelta(hours=24)  # native `timestamp`: oldest accepted
MAX_FUTURE = timedelta(minutes=5)  # native `timestamp`: clock skew tolerated
JSON_TYPES = frozenset(
    {"", "text/plain", "application/json", "application/x-www-form-urlencoded"}
)
_CURRENCY = re.compile(r"[A-Z]{3}")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]|\s")
_HOST = re.compile(r"[A-Za-z0-9.\-_:\[\]]{1,253}")
_decode = msgspec.json.decode
# URLs check_url accepted lately: the regex and urlsplit cost a few µs and a site's pages
# repeat. Thread-safe enough: a dict's get and set are atomic and a miss only rechecks.
_GOOD_URLS: dict[str, None] = {}
_MAX_GOOD_URLS = 8192


@dataclass(frozen=True, slots=True)
class Client:
    """Who sent the request and when it arrived (the clock is an argument)."""

    ip: str
    user_agent: str
    now: datetime


# --- shared helpers ----------------------------------------------------------------------


def decode_json(body: bytes, content_type: str) -> Any:
    """The JSON value carried by ``body``.

    ``text/plain`` (what ``navigator.sendBeacon`` and Plausible's tracker send),
    ``application/json`` (and ``+json`` types), form-encoded (curl's default for ``-d``) and
    a missing content type all carry JSON; anything else is 415. Empty or non-JSON → 400.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES and not media.endswith("+json"):
        raise UnsupportedMedia(f"content type {media!r} is not accepted; send JSON as "
                       "application/json or text/plain", field="content-type")
    if not body.strip():
        raise bad_request("the request body is empty; send a JSON object", "body")
    try:
        return _decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):
        raise bad_request("the request body is not valid JSON", "body") from None


def check_url(value: object, field: str) -> str:
    """An absolute http(s) URL of at most :data:`MAX_URL_CHARS`, else 400 naming ``field``."""
    if isinstance(value, str) and value in _GOOD_URLS:
        return value  # pages repeat: their verdict is remembered (only valid ones)
    if not isinstance(value, str) or not value:
        raise bad_request(f"{field} is required and must be a string", field)
    if len(value) > MAX_URL_CHARS:
        raise bad_request(f"{field} is longer than {MAX_URL_CHARS} characters", field)
    if _BAD_URL_CHARS.search(value):
        raise bad_request(f"{field} contains whitespace or control characters", field)
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise bad_request(f"{field} is not a valid URL", field) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad_request(f"{field} must be an http or https URL", field, code="invalid_scheme")
    if not host:
        raise bad_request(f"{field} has no host name", field)
    if len(_GOOD_URLS) >= _MAX_GOOD_URLS:
        _GOOD_URLS.clear()  # bounded; refilled by the next requests
    _GOOD_URLS[value] = None
    return value


def event_name(value: object, field: str, default: str | None = None) -> str:
    """A non-blank event name (strings, or integers as Plausible's 404 tracking sends)."""
    if value is None and default is not None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{field} is required and must be a non-empty string", field)
    if len(value) > MAX_NAME_CHARS:
        raise bad_request(f"{field} is longer than {MAX_NAME_CHARS} characters", field)
    return value.strip()


def _prop_value(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
        return text if text.strip() else None
    return None  # null, objects and arrays are dropped


def clean_props(raw: object) -> dict[str, str]:
    """Custom properties as strings: an object or a JSON-encoded object.

    Numbers and booleans become strings; nulls, objects, arrays, blank keys or values and
    keys over 300 / values over 2000 characters are dropped (the event is kept); at most the
    first 30 remaining properties are kept.
    """
    if isinstance(raw, str):
        try:
            raw = _decode(raw)
        except (msgspec.DecodeError, ValueError, RecursionError):
            return {}
    if not isinstance(raw, dict):
        return {}
    props: dict[str, str] = {}
    for key, value in raw.items():
        text = _prop_value(value)
        if text is None or not key.strip() or len(key) > MAX_PROP_KEY_CHARS:
            continue
        if len(text) > MAX_PROP_VALUE_CHARS:
            continue
        props[key] = text
        if len(props) == MAX_PROPS:
            break
    return props


def parse_revenue(raw: object) -> tuple[str, str] | None:
    """``(amount, currency)`` from ``{"amount": 12.5 | "12.50", "currency": "EUR"}`` (or the
    same as a JSON string); None when absent or not valid. The amount is the decimal text
    ``events.revenue`` stores (``ingest/revenue.py``: bounded, parsed in constant time)."""
    if isinstance(raw, str):
        if len(raw) > MAX_REVENUE_JSON_CHARS:
            return None
        try:
            raw = _decode(raw)
        except (msgspec.DecodeError, ValueError, RecursionError):
            return None
    if not isinstance(raw, dict):
        return None
    currency = raw.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency.strip().upper()):
        return None
    value = revenue.amount(raw.get("amount"))
    if value is None:
        return None
    return value, currency.strip().upper()


def _int_field(value: object) -> int | None:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{field} must be a JSON object", field)
    return value


# --- Plausible: POST /api/event ----------------------------------------------------------


def _first(body: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = body.get(name)
        if value is not None:
            return value
    return None


def _domains(raw: object) -> list[str]:
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request("domain (d) is required: the site domain(s), comma-separated",
                          "domain")
    domains: list[str] = []
    for part in raw.split(","):
        domain = part.strip().lower().removeprefix("www.")
        if domain and domain not in domains:
            domains.append(domain)
    if not domains:
        raise bad_request("domain (d) names no site", "domain")
    return domains


def _engagement(body: dict[str, Any]) -> tuple[int, int]:
    sd = _int_field(body.get("sd"))
    scroll = None if sd is None or sd < 0 else min(sd, 100)
    e = _int_field(body.get("e"))
    ms = e if e is not None and 0 <= e < MAX_ENGAGEMENT_MS else None
    if scroll is None and ms is None:
        raise bad_request("an engagement event needs an integer 'sd' (scroll depth 0-100) "
                          "or 'e' (engagement time in ms)", "e")
    return ms or 0, scroll or 0


def parse_plausible(body: bytes, content_type: str, client: Client) -> list[RawEvent]:
    """A Plausible tracker event: one :class:`RawEvent` per domain in ``d``."""
    data = _object(decode_json(body, content_type), "body")
    url = check_url(_first(data, "u", "url"), "url")
    name = event_name(_first(data, "n", "name"), "name")
    domains = _domains(_first(data, "d", "domain"))
    engagement_ms, scroll_depth = _engagement(data) if name == "engagement" else (0, 0)
    revenue = parse_revenue(_first(data, "revenue", "$"))
    hash_mode = _first(data, "h", "hashMode")
    interactive = _first(data, "i", "interactive")
    event = RawEvent(
        name=name,
        url=url,
        timestamp=client.now,
        ip=client.ip,
        user_agent=client.user_agent,
        domain=domains[0],
        referrer=_text(_first(data, "r", "referrer"), MAX_URL_CHARS),
        props=clean_props(_first(data, "p", "props", "m", "meta")),
        revenue_amount=revenue[0] if revenue else None,
        revenue_currency=revenue[1] if revenue else None,
        hash_mode=hash_mode is True or (_int_field(hash_mode) == 1),
        interactive=interactive if isinstance(interactive, bool) else True,
        engagement_ms=engagement_ms,
        scroll_depth=scroll_depth,
    )
    if len(domains) == 1:
        return [event]
    # Shared field values (props included) are never mutated after parsing.
    return [event, *(msgspec.structs.replace(event, domain=d) for d in domains[1:])]


# --- Umami: POST /api/send and /api/batch ------------------------------------------------


def _umami_url(payload: dict[str, Any], prefix: str) -> tuple[str, str]:
    """``(absolute url, referrer)``: a path-only url or referrer is resolved against
    ``https://<hostname>``, as Umami does."""
    raw, hostname = payload.get("url"), payload.get("hostname")
    if not isinstance(raw, str) or not raw:
        raise bad_request(f"{prefix}payload.url is required", f"{prefix}payload.url")
    base = ""
    if isinstance(hostname, str) and _HOST.fullmatch(hostname.strip()):
        base = f"https://{hostname.strip()}/"
    if not _has_scheme(raw):
        if not base:
            raise bad_request(f"{prefix}payload.hostname is required when payload.url is a "
                              "path", f"{prefix}payload.hostname")
        raw = _join(base, raw)
    url = check_url(raw, f"{prefix}payload.url")
    referrer = _text(payload.get("referrer"), MAX_URL_CHARS)
    if referrer and base and not _has_scheme(referrer):
        referrer = _join(base, referrer)[:MAX_URL_CHARS]
    return url, referrer


def _has_scheme(value: str) -> bool:
    try:
        return bool(urlsplit(value).scheme)
    except ValueError:
        return True  # unparseable: left for check_url to refuse


def _join(base: str, value: str) -> str:
    try:
        return urljoin(base, value)
    except ValueError:
        return value


def _umami_time(payload: dict[str, Any], client: Client, prefix: str) -> datetime:
    raw = payload.get("timestamp")
    if raw is None:
        return client.now
    seconds = _int_field(raw)
    if seconds is None or not 0 <= seconds < 1 << 35:
        raise bad_request(f"{prefix}payload.timestamp must be Unix seconds",
                          f"{prefix}payload.timestamp")
    return check_time(datetime.fromtimestamp(seconds, UTC), client.now,
                      f"{prefix}payload.timestamp")


def _umami_one(item: object, client: Client, prefix: str = "") -> list[RawEvent]:
    data = _object(item, prefix.rstrip(".") or "body")
    kind = data.get("type")
    if kind not in ("event", "identify"):
        raise bad_request(f'{prefix}type must be "event" or "identify"', f"{prefix}type")
    payload = _object(data.get("payload"), f"{prefix}payload")
    website = payload.get("website")
    try:
        site_uuid = str(uuid.UUID(website)) if isinstance(website, str) else None
    except ValueError:
        site_uuid = None
    if site_uuid is None:
        raise bad_request(f"{prefix}payload.website must be the site's UUID",
                          f"{prefix}payload.website")
    if kind == "identify":
        return []  # no user identities are kept: accepted, nothing stored
    url, referrer = _umami_url(payload, prefix)
    return [RawEvent(
        name=event_name(payload.get("name"), f"{prefix}payload.name", default="pageview"),
        url=url,
        timestamp=_umami_time(payload, client, prefix),
        ip=client.ip,
        user_agent=client.user_agent,
        site_uuid=site_uuid,
        referrer=referrer,
        props=clean_props(payload.get("data")),
        screen=_text(payload.get("screen"), 20),
        language=_text(payload.get("language"), 35),
        title=_text(payload.get("title"), 500),
    )]


def parse_umami(body: bytes, content_type: str, client: Client) -> list[RawEvent]:
    """An Umami ``{type, payload}`` object: one event, or none for ``identify``."""
    return _umami_one(decode_json(body, content_type), client)


@dataclass(frozen=True, slots=True)
class BatchItemError:
    index: int
    error: Problem


@dataclass(frozen=True, slots=True)
class UmamiBatch:
    size: int  # items in the batch
    events: list[RawEvent]
    errors: list[BatchItemError]


def parse_umami_batch(
    body: bytes, content_type: str, client: Client, max_events: int
) -> UmamiBatch:
    """An Umami v2 batch (a JSON array of ``/api/send`` bodies). As Umami does, valid items
    are kept and each invalid one is reported with its index instead of failing the batch."""
    items = decode_json(body, content_type)
    if not isinstance(items, list):
        raise bad_request("the body must be a JSON array of events", "body")
    _check_batch_size(len(items), max_events)
    events: list[RawEvent] = []
    errors: list[BatchItemError] = []
    for index, item in enumerate(items):
        try:
            events.extend(_umami_one(item, client, f"[{index}]."))
        except Problem as exc:
            errors.append(BatchItemError(index, exc))
    return UmamiBatch(len(items), events, errors)


def _check_batch_size(count: int, max_events: int) -> None:
    if count == 0:
        raise bad_request("the batch is empty", "body")
    if count > max_events:
        raise TooLarge(f"a batch holds at most {max_events} events", field="body")


# --- native: POST /api/events ------------------------------------------------------------


def check_time(value: datetime, now: datetime, field: str) -> datetime:
    """``value`` when within [now - 24 h, now + 5 min], else 400 naming ``field``."""
    if value > now + MAX_FUTURE:
        raise bad_request(f"{field} is in the future", field)
    if value < now - MAX_PAST:
        raise bad_request(f"{field} is more than 24 hours old", field)
    return value


def _iso_time(raw: object, now: datetime, field: str) -> datetime:
    if raw is None:
        return now
    try:
        if not isinstance(raw, str):
            raise ValueError
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad_request(f"{field} must be an ISO-8601 date and time", field) from None
    return check_time(value, now, field)


def _site(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    site_id, domain = data.get("site_id"), data.get("domain")
    if site_id is not None:
        if isinstance(site_id, bool) or not isinstance(site_id, int) or site_id <= 0:
            raise bad_request(f"{prefix}site_id must be a positive integer", f"{prefix}site_id")
        return {"site_id": site_id}
    if not isinstance(domain, str) or not domain.strip():
        raise bad_request(f"{prefix}domain or {prefix}site_id is required", f"{prefix}domain")
    try:
        return {"domain": names.domain(domain)}  # also takes "https://www.x.com/"
    except ValueError:
        raise bad_request(f"{prefix}domain is not a domain", f"{prefix}domain") from None


def _overrides(data: dict[str, Any], client: Client, trusted: bool, prefix: str) -> Client:
    ip, agent = data.get("ip"), data.get("user_agent")
    if ip is None and agent is None:
        return client
    field = f"{prefix}ip" if ip is not None else f"{prefix}user_agent"
    if not trusted:
        raise Forbidden(f"{field} may only be set by senders using an API "
                       "key", field=field)
    if ip is not None and not (isinstance(ip, str) and DOTTED_QUAD.fullmatch(ip)):
        try:  # a dotted quad is already in canonical form; the rest goes through ipaddress
            ip = str(ipaddress.ip_address(ip if isinstance(ip, str) else ""))
        except ValueError:
            raise bad_request(f"{prefix}ip must be an IP address", f"{prefix}ip") from None
    if agent is not None and not isinstance(agent, str):
        raise bad_request(f"{prefix}user_agent must be a string", f"{prefix}user_agent")
    return Client(ip or client.ip, (agent if agent is not None else client.user_agent)[:1000],
                  client.now)


def _native_one(item: object, client: Client, trusted: bool, prefix: str) -> RawEvent:
    data = _object(item, prefix.rstrip(".") or "body")
    sender = _overrides(data, client, trusted, prefix)
    revenue = None
    if data.get("revenue") is not None:
        revenue = parse_revenue(data["revenue"])
        if revenue is None:
            raise bad_request(f"{prefix}revenue must be {{amount, currency}} with a decimal "
                              "amount and an ISO-4217 currency code", f"{prefix}revenue")
    props = data.get("props")
    if props is not None and not isinstance(props, dict):
        raise bad_request(f"{prefix}props must be a JSON object", f"{prefix}props")
    return RawEvent(
        name=event_name(data.get("event_type"), f"{prefix}event_type", default="pageview"),
        url=check_url(data.get("page_url"), f"{prefix}page_url"),
        timestamp=_iso_time(data.get("timestamp"), client.now, f"{prefix}timestamp"),
        ip=sender.ip,
        user_agent=sender.user_agent,
        referrer=_text(data.get("referrer"), MAX_URL_CHARS),
        props=clean_props(props),
        revenue_amount=revenue[0] if revenue else None,
        revenue_currency=revenue[1] if revenue else None,
        **_site(data, prefix),
    )


def parse_native(
    body: bytes, content_type: str, client: Client, *, max_events: int, trusted: bool
) -> list[RawEvent]:
    """One native event object or a list of them (all or nothing: any bad item is 400
    naming ``[index].field``). ``trusted`` (an API-key sender) allows the ``ip`` and
    ``user_agent`` overrides; without it they are 403."""
    data = decode_json(body, content_type)
    if isinstance(data, list):
        _check_batch_size(len(data), max_events)
        return [_native_one(item, client, trusted, f"[{i}].") for i, item in enumerate(data)]
    return [_native_one(data, client, trusted, "")]

