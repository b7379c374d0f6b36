"""Client IP resolution: forwarding headers are believed only from trusted proxies."""

from __future__ import annotations

import pytest

from liveinsight.security.client_ip import UNKNOWN, ClientIpResolver, forwarded_for, parse_ip

PROXIES = ClientIpResolver(["10.0.0.0/8", "2001:db8::/32"])


def _headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in pairs]


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    headers = _headers(("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2"),
                       ("cf-connecting-ip", "3.3.3.3"))
    assert ClientIpResolver([]).resolve("10.0.0.1", headers) == "10.0.0.1"


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    headers = _headers(("x-forwarded-for", "1.1.1.1"), ("cf-connecting-ip", "3.3.3.3"))
    assert PROXIES.resolve("198.51.100.9", headers) == "198.51.100.9"


def test_x_forwarded_for_right_most_untrusted() -> None:
    spoofed = _headers(("x-forwarded-for", "6.6.6.6, 203.0.113.5, 10.1.1.1, 10.2.2.2"))
    assert PROXIES.resolve("10.0.0.1", spoofed) == "203.0.113.5"


def test_x_forwarded_for_over_several_lines_and_with_ports() -> None:
    headers = _headers(("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "203.0.113.5:4711"))
    assert PROXIES.resolve("10.0.0.1", headers) == "203.0.113.5"


def test_all_hops_trusted_gives_the_left_most() -> None:
    headers = _headers(("x-forwarded-for", "10.9.9.9, 10.1.1.1"))
    assert PROXIES.resolve("10.0.0.1", headers) == "10.9.9.9"


def test_garbage_hop_stops_the_walk_at_the_last_good_address() -> None:
    headers = _headers(("x-forwarded-for", "203.0.113.5, unknown, 10.1.1.1"))
    assert PROXIES.resolve("10.0.0.1", headers) == "10.1.1.1"
    assert PROXIES.resolve("10.0.0.1", _headers(("x-forwarded-for", "junk"))) == "10.0.0.1"


def test_forwarded_header_takes_precedence() -> None:
    headers = _headers(
        ("forwarded", 'for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, '
                      'For="[2001:db9::1]";by=10.0.0.1'),
        ("x-forwarded-for", "7.7.7.7"),
    )
    assert PROXIES.resolve("10.0.0.1", headers) == "2001:db9::1"


def test_cf_connecting_ip_only_when_nothing_else() -> None:
    assert PROXIES.resolve("10.0.0.1", _headers(("cf-connecting-ip", "203.0.113.8"))) == (
        "203.0.113.8")
    assert PROXIES.resolve("10.0.0.1", _headers(("cf-connecting-ip", "nope"))) == "10.0.0.1"


def test_ipv4_mapped_peer_and_missing_peer() -> None:
    assert PROXIES.resolve("::ffff:198.51.100.1", _headers()) == "198.51.100.1"
    assert PROXIES.resolve(None, _headers()) == UNKNOWN
    assert PROXIES.resolve("testclient", _headers()) == UNKNOWN


@pytest.mark.parametrize(("text", "expected"), [
    ("1.2.3.4", "1.2.3.4"), (" 1.2.3.4:80 ", "1.2.3.4"), ('"[::1]:80"', "::1"), ("::1", "::1"),
    ("[2001:db8::1]", "2001:db8::1"), ("unknown", None), ("_hidden", None), ("", None),
])
def test_parse_ip(text: str, expected: str | None) -> None:
    address = parse_ip(text)
    assert (str(address) if address else None) == expected


def test_forwarded_for_values() -> None:
    assert forwarded_for('for=1.1.1.1;proto=http, by=x;for="[::1]"') == ["1.1.1.1", '"[::1]"']
