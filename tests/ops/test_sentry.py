"""Errors reach Sentry (a local HTTP receiver standing in for its ingest endpoint) without
IPs, tokens or personal data; nothing is sent without a DSN."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest
import sentry_sdk

from liveinsight.ops.sentry import scrub_event
from tests.conftest import make_client
from tests.support import http_receiver, wait_until


@pytest.fixture
def no_sentry_after() -> Iterator[None]:
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: off again for the other tests of this process


def _bodies(got: list) -> str:  # type: ignore[type-arg]
    out = []
    for req in got:
        body = req.body
        encoding = req.headers.get("content-encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            body = brotli.decompress(body)
        out.append(body.decode("utf-8", "replace"))
    return "\n".join(out)


def test_an_error_reaches_sentry_scrubbed(tmp_path: Path, no_sentry_after: None) -> None:
    with http_receiver() as (got, url):
        dsn = url.replace("http://", "http://publickey@") + "/42"
        with make_client(tmp_path, sentry_dsn=dsn, sentry_environment="test"):
            try:
                raise ConnectionError("store at 192.0.2.10 refused Bearer abc.def")
            except ConnectionError:
                logging.getLogger("liveinsight.test").exception(
                    "visitor 198.51.100.7 failed with key li_ab12_s3cr3t",
                    extra={"password": "hunter" + str(2)})  # not in the source context
            sentry_sdk.flush(10)
            wait_until(lambda: got, 10, "Sentry got the event")
    sent = _bodies(got)
    assert got[0].path == "/api/42/envelope/"
    assert "ConnectionError" in sent and '"environment":"test"' in sent.replace(" ", "")
    for secret in ("192.0.2.10", "198.51.100.7", "abc.def", "s3cr3t", "hunter2"):
        assert secret not in sent, sent[max(0, sent.find(secret) - 300):sent.find(secret) + 50]
    assert "[ip]" in sent


def test_scrub_event_drops_the_user_and_the_request_headers() -> None:
    event = {"user": {"ip_address": "203.0.113.5"},
             "request": {"url": "https://a.example/x?token=t0k", "headers": {"X-Forwarded-For":
                         "203.0.113.5"}, "cookies": {"s": "v"}, "data": "a=b"},
             "extra": {"api_key": "k", "note": "from 203.0.113.5"},
             "exception": {"values": [{"value": "at ::1 with secret=zz"}]}}
    clean = scrub_event(event, None)
    assert "user" not in clean and set(clean["request"]) == {"url"}
    assert clean["request"]["url"] == "https://a.example/x?token=[redacted]"
    assert clean["extra"] == {"api_key": "[redacted]", "note": "from [ip]"}
    assert clean["exception"]["values"][0]["value"] == "at [ip] with secret=[redacted]"
