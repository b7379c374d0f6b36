from __future__ import annotations

from types import SimpleNamespace

import pytest

from liveinsight.ingest.geo import country_of, put_geo

from .enrich_factories import context, raw


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("81.2.69.160", "GB"),
        (" 81.2.69.160 ", "GB"),
        ("::ffff:81.2.69.160", "GB"),
        ("2a03:2880::1", "IE"),
        ("8.8.8.8", "US"),
        ("127.0.0.1", ""),
        ("10.1.2.3", ""),
        ("192.168.0.10", ""),
        ("100.64.0.1", ""),
        ("::1", ""),
        ("fe80::1", ""),
        ("2001:db8::1", ""),
        ("not-an-ip", ""),
        ("", ""),
    ],
)
def test_country_of(ip: str, country: str) -> None:
    assert country_of(ip) == country


def test_step_sets_country_and_leaves_region_city_empty() -> None:
    ctx = context(raw(ip="81.2.69.160"))
    assert put_geo(ctx, SimpleNamespace(cities=None)) is None  # type: ignore[arg-type]
    assert (ctx.country_code, ctx.region, ctx.city) == ("GB", "", "")
