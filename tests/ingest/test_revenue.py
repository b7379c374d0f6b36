"""Revenue amounts: bounded by what ``events.revenue`` holds, parsed without expanding them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveinsight.ingest import revenue


@pytest.mark.parametrize(("value", "expected"), [
    ("12.50", "12.5"), (12.5, "12.5"), (3, "3"), ("-3", "-3"), ("1e3", "1000"),
    (" 0.00004 ", "0"), ("0.00005", "0"), ("0.00015", "0.0002"), ("-0", "0"), (".5", "0.5"),
    ("99999999999999.9999", "99999999999999.9999"), (99999999999999, "99999999999999"),
    ("1e-9999", "0"), ("123.456789", "123.4568"),
])
def test_accepted_amounts_are_the_stored_text(value: object, expected: str) -> None:
    assert revenue.amount(value) == expected


@pytest.mark.parametrize("value", [
    # the hostile probe's amounts: each expanded on the event loop, or raised a 500
    "1e-400000000", "1e999999999", "1e-1000000000000", "-1e-400000000",
    "99999999999999.99995", "100000000000000", 1e14, 10**15, 2**63, "1e14", float("inf"),
    float("nan"), "NaN", "Infinity", "0x10", "1_000", "12,50", "", " ", "1" * 41, True, None,
    [], {}, "1e", "e5", "--1", "+-1",
])
def test_anything_else_is_not_an_amount(value: object) -> None:
    assert revenue.amount(value) is None


@given(st.text(alphabet="0123456789.eE+-", max_size=60))
def test_any_text_is_an_amount_within_the_column_or_none(text: str) -> None:
    value = revenue.amount(text)
    if value is not None:
        assert len(value) <= 20
        assert abs(float(value)) <= float(revenue.MAX_AMOUNT)
