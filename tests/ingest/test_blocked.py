from __future__ import annotations

import pytest

from liveinsight.ingest.blocked import drop_blocked, ip_blocked, path_blocked
from liveinsight.ingest.urls import parse_url
from liveinsight.types import DropReason

from .enrich_factories import context, raw


@pytest.mark.parametrize(
    ("ip", "blocked", "expected"),
    [
        ("203.0.113.7", ("203.0.113.7",), True),
        ("203.0.113.7", ("203.0.113.0/24",), True),
        ("203.0.114.1", ("203.0.113.0/24",), False),
        ("::ffff:203.0.113.9", ("203.0.113.0/24",), True),
        ("2001:db8::5", ("2001:db8::/32",), True),
        ("2001:db9::5", ("2001:db8::/32",), False),
        ("203.0.113.7", ("garbage", "203.0.113.7"), True),
        ("not-an-ip", ("0.0.0.0/0",), False),
    ],
)
def test_ip_blocked(ip: str, blocked: tuple[str, ...], expected: bool) -> None:
    assert ip_blocked(ip, blocked) is expected


@pytest.mark.parametrize(
    ("path", "globs", "expected"),
    [
        ("/admin/users/1", ("/admin/*",), True),
        ("/admin", ("/admin/*",), False),
        ("/admin", ("/admin", "/admin/*"), True),
        ("/blog/draft-1", ("/blog/draft-*",), True),
        ("/blog/post", ("/blog/draft-*",), False),
        ("/x", ("",), False),
    ],
)
def test_path_blocked(path: str, globs: tuple[str, ...], expected: bool) -> None:
    assert path_blocked(path, globs) is expected


def run(event_url: str = "https://example.com/", ip: str = "81.2.69.160", **site: object):  # type: ignore[no-untyped-def]
    ctx = context(raw(url=event_url, ip=ip), **site)
    parse_url(ctx, None)  # type: ignore[arg-type]
    return drop_blocked(ctx, None)  # type: ignore[arg-type]


def test_step_reasons() -> None:
    assert run(ip="198.51.100.3", blocked_ips=("198.51.100.0/24",)) is DropReason.BLOCKED_IP
    assert run("https://example.com/admin/x", blocked_paths=("/admin/*",)) \
        is DropReason.BLOCKED_PATH
    assert run("https://www.staging.example.com/", blocked_hosts=("staging.example.com",)) \
        is DropReason.BLOCKED_HOST
    assert run("https://example.com/ok", blocked_ips=("198.51.100.0/24",),
               blocked_paths=("/admin/*",), blocked_hosts=("staging.example.com",)) is None
