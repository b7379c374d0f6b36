"""Revenue amounts: what ``events.revenue`` (``Decimal64(4)``) can hold, parsed in constant time.

An amount comes from a tracker as a JSON number or a string. It is accepted when it is a
plain decimal (``12.5``, ``"-3"``, ``"1e3"``) of at most :data:`MAX_TEXT_CHARS` characters,
with an exponent of at most four digits, whose value rounded to four decimal places (half to
even, as the column stores it) lies within ``±99,999,999,999,999.9999``. Everything else is
not an amount. The text is bounded before ``Decimal`` sees it and the value is bounded before
it is rounded or formatted, so no amount costs more than a few microseconds (an exponent of
``-400000000`` once expanded to 400 MB of zeros on the event loop).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

SCALE = Decimal("0.0001")  # the column's four decimal places
MAX_AMOUNT = Decimal("99999999999999.9999")  # Decimal64(4): 18 digits, 4 after the point
MAX_TEXT_CHARS = 40
_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?")


def amount(value: object) -> str | None:
    """``value`` as the decimal text the column stores (``"12.5"``, ``"0"``), or None when it
    is not an amount that fits (wrong type, malformed, too long, out of range)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if abs(value) > MAX_AMOUNT:  # msgspec gives at most 64-bit integers
            return None
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_AMOUNT:
            return None
        text = repr(value)  # at most 24 characters
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT_CHARS or not _TEXT.fullmatch(text):
            return None
    else:
        return None
    try:
        number = Decimal(text)
        if abs(number) > MAX_AMOUNT:  # compares exponents: constant time
            return None
        rounded = number.quantize(SCALE, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        return None
    if abs(rounded) > MAX_AMOUNT:  # 99999999999999.99995 rounds up past the column
        return None
    return format(rounded.normalize(), "f") if rounded else "0"
