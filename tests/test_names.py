"""Site domains in their canonical form (liveinsight/names.py)."""

from __future__ import annotations

import pytest

from liveinsight.names import domain


@pytest.mark.parametrize(("given", "expected"), [
    ("https://www.Example.com/path", "example.com"),
    ("  shop.example.co.uk ", "shop.example.co.uk"),
    ("bücher.example", "bücher.example"),
    (f"{'a' * 63}.example", f"{'a' * 63}.example"),
])
def test_domains_are_canonical(given: str, expected: str) -> None:
    assert domain(given) == expected


@pytest.mark.parametrize("given", [
    "", "bad..domain", "has space.example", f"{'a' * 64}.example",
    ".".join(["a" * 60] * 5), "http://", "ex ample.com",
])
def test_what_is_not_a_host_name_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="is not a domain"):
        domain(given)
