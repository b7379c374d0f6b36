"""Collector parsing: every body shape, every bad input with its status and field, and a
fuzz proving the parsers only ever return events or raise Problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveinsight.api.errors import status_of
from liveinsight.errors import Problem
from liveinsight.ingest.parse import (
    Client,
    clean_props,
    parse_native,
    parse_plausible,
    parse_revenue,
    parse_umami,
    parse_umami_batch,
)
from liveinsight.types import RawEvent

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CLIENT = Client("203.0.113.7", "Mozilla/5.0 Test", NOW)
SITE_UUID = "6f1c2a4e-8b1d-4c3e-9f20-1a2b3c4d5e6f"


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


def plausible(value: Any, content_type: str = "text/plain") -> list[RawEvent]:
    return parse_plausible(_body(value), content_type, CLIENT)


def umami(value: Any) -> list[RawEvent]:
    return parse_umami(_body(value), "application/json", CLIENT)


def native(value: Any, trusted: bool = False, max_events: int = 10) -> list[RawEvent]:
    return parse_native(_body(value), "application/json", CLIENT, max_events=max_events,
                        trusted=trusted)


def refused(fn: Any, *args: Any, **kwargs: Any) -> Problem:
    with pytest.raises(Problem) as info:
        fn(*args, **kwargs)
    return info.value


PV = {"n": "pageview", "u": "https://example.com/a?utm_source=x", "d": "example.com",
      "r": "https://news.ycombinator.com/"}


# --- Plausible ---------------------------------------------------------------------------


def test_plausible_short_names() -> None:
    [event] = plausible(PV)
    assert (event.name, event.url, event.domain, event.referrer) == (
        "pageview", PV["u"], "example.com", "https://news.ycombinator.com/")
    assert (event.ip, event.user_agent, event.timestamp) == (CLIENT.ip, CLIENT.user_agent, NOW)
    assert event.interactive and not event.hash_mode and event.props == {}


def test_plausible_long_names_and_json_content_type() -> None:
    body = {"name": "Signup", "url": "https://www.example.com/#/x", "domain": "www.Example.com",
            "referrer": "https://t.co/", "props": {"plan": "pro"}, "hashMode": 1}
    [event] = plausible(body, "application/json; charset=utf-8")
    assert (event.name, event.domain, event.props, event.hash_mode) == (
        "Signup", "example.com", {"plan": "pro"}, True)


def test_plausible_props_as_json_string_under_every_name() -> None:
    for key in ("p", "m", "meta", "props"):
        [event] = plausible({**PV, key: json.dumps({"a": 1})})
        assert event.props == {"a": "1"}


def test_props_are_cast_filtered_and_capped() -> None:
    raw: dict[str, Any] = {"n": 1, "f": 1.5, "t": True, "no": False, "s": "x", "null": None,
                           "obj": {"a": 1}, "arr": [1], "blank": "  ", "k" * 301: "v",
                           "long": "v" * 2001, "ok300": "v" * 2000}
    assert clean_props(raw) == {"n": "1", "f": "1.5", "t": "true", "no": "false", "s": "x",
                                "ok300": "v" * 2000}
    many = clean_props({f"k{i}": i for i in range(50)})
    assert list(many) == [f"k{i}" for i in range(30)]
    assert clean_props("not json") == {} and clean_props([1, 2]) == {}


def test_plausible_several_domains_make_one_event_each() -> None:
    events = plausible({**PV, "d": "example.com, www.other.org,,example.com"})
    assert [e.domain for e in events] == ["example.com", "other.org"]
    assert {e.url for e in events} == {PV["u"]}


def test_plausible_revenue_interactive_and_integer_name() -> None:
    [event] = plausible({**PV, "n": 404, "revenue": {"amount": "12.50", "currency": "eur"},
                         "i": False})
    assert (event.name, event.revenue_amount, event.revenue_currency, event.interactive) == (
        "404", "12.5", "EUR", False)
    [event] = plausible({**PV, "$": json.dumps({"amount": 3, "currency": "USD"})})
    assert (event.revenue_amount, event.revenue_currency) == ("3", "USD")
    [event] = plausible({**PV, "revenue": {"amount": "lots", "currency": "EUR"}})
    assert event.revenue_amount is None  # bad revenue is ignored, as Plausible does


@pytest.mark.parametrize("raw", [
    {"amount": "1", "currency": "EURO"}, {"amount": True, "currency": "EUR"},
    {"amount": "NaN", "currency": "EUR"}, {"amount": "1e30", "currency": "EUR"},
    {"currency": "EUR"}, "[]", 5,
])
def test_bad_revenue_is_none(raw: Any) -> None:
    assert parse_revenue(raw) is None


def test_plausible_engagement_fields() -> None:
    [event] = plausible({**PV, "n": "engagement", "e": 5400, "sd": 150})
    assert (event.engagement_ms, event.scroll_depth) == (5400, 100)
    [event] = plausible({**PV, "n": "engagement", "sd": "40"})
    assert (event.engagement_ms, event.scroll_depth) == (0, 40)
    err = refused(plausible, {**PV, "n": "engagement", "e": -1, "sd": "x"})
    assert (status_of(err), err.field) == (400, "e")
    [event] = plausible({**PV, "e": 99, "sd": 10})  # only engagement events carry them
    assert (event.engagement_ms, event.scroll_depth) == (0, 0)


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"d": "example.com", "n": "pageview"}, "url", "invalid"),
    ({"u": "https://example.com/", "n": "pageview"}, "domain", "invalid"),
    ({"u": "https://example.com/", "n": "pageview", "d": " , "}, "domain", "invalid"),
    ({"u": "https://example.com/", "d": "example.com"}, "name", "invalid"),
    ({**PV, "n": "   "}, "name", "invalid"),
    ({**PV, "n": "x" * 121}, "name", "invalid"),
    ({**PV, "u": 5}, "url", "invalid"),
    ({**PV, "u": "data:text/html,hi"}, "url", "invalid_scheme"),
    ({**PV, "u": "javascript:alert(1)"}, "url", "invalid_scheme"),
    ({**PV, "u": "ftp://example.com/x"}, "url", "invalid_scheme"),
    ({**PV, "u": "/relative/path"}, "url", "invalid_scheme"),
    ({**PV, "u": "https:///nohost"}, "url", "invalid"),
    ({**PV, "u": "https://example.com:99999/"}, "url", "invalid"),
    ({**PV, "u": "https://[::1/"}, "url", "invalid"),
    ({**PV, "u": "https://example.com/a b"}, "url", "invalid"),
    ({**PV, "u": "https://example.com/" + "a" * 2000}, "url", "invalid"),
    ([PV], "body", "invalid"),
])
def test_plausible_bad_bodies(body: Any, field: str, code: str) -> None:
    err = refused(plausible, body)
    assert (status_of(err), err.field, err.code) == (400, field, code)


@pytest.mark.parametrize("raw", [b"", b"   ", b"not json", b'{"n": ', b"\xff\xfe", b"[" * 5000])
def test_plausible_empty_or_non_json_is_400(raw: bytes) -> None:
    err = refused(parse_plausible, raw, "text/plain", CLIENT)
    assert (status_of(err), err.field) == (400, "body")


def test_unsupported_content_type_is_415() -> None:
    err = refused(parse_plausible, _body(PV), "multipart/form-data; boundary=x", CLIENT)
    assert (status_of(err), err.code, err.field) == (415, "unsupported_media_type", "content-type")
    for ok in ("", "application/x-www-form-urlencoded", "application/vnd.api+json"):
        assert parse_plausible(_body(PV), ok, CLIENT)


def test_referrer_is_truncated_not_refused() -> None:
    [event] = plausible({**PV, "r": "https://r.example/" + "x" * 3000})
    assert len(event.referrer) == 2000


# --- Umami -------------------------------------------------------------------------------

SEND = {"type": "event", "payload": {
    "website": SITE_UUID, "hostname": "example.com", "url": "/pricing?utm_source=newsletter",
    "referrer": "https://www.google.com/", "title": "Pricing", "screen": "1920x1080",
    "language": "en-GB"}}


def test_umami_pageview_with_path_url() -> None:
    [event] = umami(SEND)
    assert event.name == "pageview"
    assert event.url == "https://example.com/pricing?utm_source=newsletter"
    assert (event.site_uuid, event.domain, event.referrer) == (
        SITE_UUID, None, "https://www.google.com/")
    assert (event.title, event.screen, event.language) == ("Pricing", "1920x1080", "en-GB")


def test_umami_custom_event_absolute_url_and_data() -> None:
    body = {"type": "event", "payload": {**SEND["payload"], "url": "https://example.com/x",
                                         "name": "signup", "data": {"plan": "pro", "seats": 3},
                                         "referrer": "/pricing"}}
    [event] = umami(body)
    assert (event.name, event.url, event.props) == (
        "signup", "https://example.com/x", {"plan": "pro", "seats": "3"})
    assert event.referrer == "https://example.com/pricing"


def test_umami_identify_is_accepted_without_an_event() -> None:
    assert umami({"type": "identify", "payload": {"website": SITE_UUID, "data": {"a": 1}}}) == []


def test_umami_timestamp() -> None:
    ts = int((NOW - timedelta(hours=1)).timestamp())
    [event] = umami({"type": "event", "payload": {**SEND["payload"], "timestamp": ts}})
    assert event.timestamp == NOW - timedelta(hours=1)
    err = refused(umami, {"type": "event", "payload": {**SEND["payload"], "timestamp": 5}})
    assert err.field == "payload.timestamp"


@pytest.mark.parametrize(("body", "field"), [
    ({"payload": SEND["payload"]}, "type"),
    ({"type": "performance", "payload": SEND["payload"]}, "type"),
    ({"type": "event"}, "payload"),
    ({"type": "event", "payload": {**SEND["payload"], "website": "nope"}}, "payload.website"),
    ({"type": "event", "payload": {**SEND["payload"], "website": None}}, "payload.website"),
    ({"type": "event", "payload": {**SEND["payload"], "url": None}}, "payload.url"),
    ({"type": "event", "payload": {**SEND["payload"], "hostname": None}}, "payload.hostname"),
    ({"type": "event", "payload": {**SEND["payload"], "url": "javascript:x()"}}, "payload.url"),
    ({"type": "event", "payload": {**SEND["payload"], "name": ""}}, "payload.name"),
    ([SEND], "body"),
])
def test_umami_bad_bodies(body: Any, field: str) -> None:
    err = refused(umami, body)
    assert (status_of(err), err.field) == (400, field)


def test_umami_batch_keeps_valid_items_and_reports_the_rest() -> None:
    bad = {"type": "event", "payload": {**SEND["payload"], "website": "x"}}
    batch = parse_umami_batch(_body([SEND, bad, SEND]), "application/json", CLIENT, 5)
    assert (batch.size, len(batch.events)) == (3, 2)
    assert [(e.index, e.error.field) for e in batch.errors] == [(1, "[1].payload.website")]
    err = refused(parse_umami_batch, _body([SEND] * 6), "application/json", CLIENT, 5)
    assert (status_of(err), err.field) == (413, "body")
    assert refused(parse_umami_batch, _body(SEND), "", CLIENT, 5).field == "body"
    assert status_of(refused(parse_umami_batch, b"[]", "", CLIENT, 5)) == 400


# --- native ------------------------------------------------------------------------------

NATIVE = {"event_type": "purchase", "page_url": "https://example.com/checkout",
          "domain": "Example.com", "referrer": "https://duckduckgo.com/",
          "props": {"sku": "A1", "qty": 2}, "revenue": {"amount": 9.99, "currency": "USD"}}


def test_native_single_event() -> None:
    [event] = native(NATIVE)
    assert (event.name, event.url, event.domain, event.site_id) == (
        "purchase", NATIVE["page_url"], "example.com", None)
    assert (event.props, event.revenue_amount, event.revenue_currency) == (
        {"sku": "A1", "qty": "2"}, "9.99", "USD")
    assert event.timestamp == NOW


def test_native_batch_defaults_and_site_id() -> None:
    events = native([{"page_url": "https://example.com/", "site_id": 3},
                     {"page_url": "https://example.com/b", "domain": "example.com",
                      "timestamp": "2026-11-20T10:30:00Z"}])
    assert [e.name for e in events] == ["pageview", "pageview"]
    assert events[0].site_id == 3
    assert events[1].timestamp == datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def test_native_domain_is_normalized() -> None:
    [event] = native({**NATIVE, "domain": "https://www.Example.com/shop"})
    assert event.domain == "example.com"
    assert refused(native, {**NATIVE, "domain": "a b"}).field == "domain"


def test_native_naive_timestamp_is_utc() -> None:
    [event] = native({**NATIVE, "timestamp": "2026-11-20T13:00:00+02:00"})
    assert event.timestamp == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    [event] = native({**NATIVE, "timestamp": "2026-11-20T11:00:00"})
    assert event.timestamp == datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


def test_native_overrides_need_an_api_key() -> None:
    body = {**NATIVE, "ip": "198.51.100.4", "user_agent": "curl/8"}
    [event] = native(body, trusted=True)
    assert (event.ip, event.user_agent) == ("198.51.100.4", "curl/8")
    err = refused(native, body)
    assert (status_of(err), err.field) == (403, "ip")
    err = refused(native, [NATIVE, {**NATIVE, "user_agent": "x"}])
    assert (status_of(err), err.field) == (403, "[1].user_agent")
    assert refused(native, {**NATIVE, "ip": "999.1.1.1"}, trusted=True).field == "ip"


@pytest.mark.parametrize(("body", "status", "field"), [
    ({**NATIVE, "page_url": None}, 400, "page_url"),
    ({**NATIVE, "page_url": "data:x"}, 400, "page_url"),
    ({"page_url": "https://example.com/"}, 400, "domain"),
    ({**NATIVE, "site_id": 0}, 400, "site_id"),
    ({**NATIVE, "site_id": "3"}, 400, "site_id"),
    ({**NATIVE, "event_type": 3.5}, 400, "event_type"),
    ({**NATIVE, "props": [1]}, 400, "props"),
    ({**NATIVE, "revenue": {"amount": "x", "currency": "USD"}}, 400, "revenue"),
    ({**NATIVE, "timestamp": "yesterday"}, 400, "timestamp"),
    ({**NATIVE, "timestamp": "0001-01-01T00:00:00+01:00"}, 400, "timestamp"),
    ({**NATIVE, "timestamp": "2026-11-20T12:06:00Z"}, 400, "timestamp"),
    ({**NATIVE, "timestamp": "2026-11-19T11:59:59Z"}, 400, "timestamp"),
    ([NATIVE, {**NATIVE, "page_url": "x"}], 400, "[1].page_url"),
    ([NATIVE, 5], 400, "[1]"),
    ([], 400, "body"),
    ([NATIVE] * 11, 413, "body"),
    ("text", 400, "body"),
])
def test_native_bad_bodies(body: Any, status: int, field: str) -> None:
    err = refused(native, body)
    assert (status_of(err), err.field) == (status, field)


def test_native_timestamp_window_edges_are_accepted() -> None:
    for moment in (NOW - timedelta(hours=24), NOW + timedelta(minutes=5)):
        [event] = native({**NATIVE, "timestamp": moment.isoformat()})
        assert event.timestamp == moment


# --- fuzz --------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(["n", "u", "d", "r", "p", "h", "i", "e", "sd", "revenue", "$", "type",
                         "payload", "website", "hostname", "url", "name", "data", "timestamp",
                         "event_type", "page_url", "domain", "site_id", "props", "ip",
                         "user_agent", "referrer"])
_shaped = st.recursive(
    _json, lambda inner: st.dictionaries(_keys, inner, max_size=8) | st.lists(inner, max_size=3),
    max_leaves=20,
)
_types = st.sampled_from(["", "text/plain", "application/json", "text/html", "x/y; a=b"])


def _parse_all(body: bytes, content_type: str) -> None:
    for call in (
        lambda: parse_plausible(body, content_type, CLIENT),
        lambda: parse_umami(body, content_type, CLIENT),
        lambda: parse_umami_batch(body, content_type, CLIENT, 5),
        lambda: parse_native(body, content_type, CLIENT, max_events=5, trusted=True),
        lambda: parse_native(body, content_type, CLIENT, max_events=5, trusted=False),
    ):
        try:
            out = call()
        except Problem as exc:
            assert status_of(exc) in (400, 403, 413, 415) and exc.field
            continue
        events = out if isinstance(out, list) else out.events
        assert all(isinstance(e, RawEvent) for e in events)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), _types)
def test_fuzz_random_bytes(body: bytes, content_type: str) -> None:
    _parse_all(body, content_type)


@settings(max_examples=400, deadline=None)
@given(_shaped, _types)
def test_fuzz_random_json(value: Any, content_type: str) -> None:
    _parse_all(json.dumps(value).encode(), content_type)
