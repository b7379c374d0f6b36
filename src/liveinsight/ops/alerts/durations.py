"""Durations as people write them (``30s``, ``5m``, ``2h``, ``1d`` or seconds) and wall-clock
times of day (``22:00``)."""

from __future__ import annotations

import math
from datetime import time

from liveinsight.errors import Invalid

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value: object, field: str, *, low: int = 0, high: int = 7 * 86400) -> int:
    """``value`` as whole seconds within [low, high]; 400 naming ``field`` otherwise."""
    if isinstance(value, bool):
        raise Invalid(f"{field} must be a duration such as '5m'", field=field)
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        total = int(value)  # not NaN or Infinity (Python's json reads both): no int for them
    elif isinstance(value, str) and _digits(value[:-1]) and value[-1:] in _UNITS \
            and len(value) <= 8:
        total = int(value[:-1]) * _UNITS[value[-1]]
    elif isinstance(value, str) and _digits(value) and len(value) <= 8:
        total = int(value)
    else:
        raise Invalid(f"{field} must be a duration such as '30s', '5m', '2h' or '1d'",
                      field=field)
    if not low <= total <= high:
        raise Invalid(f"{field} must be between {low} s and {high} s", field=field)
    return total


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts ones int() does not read ("²")."""
    return text.isascii() and text.isdigit()


def shown(total: int) -> str:
    """The shortest exact form: 300 → '5m'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total and total % size == 0:
            return f"{total // size}{unit}"
    return f"{total}s"


def clock_time(value: object, field: str) -> time:
    """``HH:MM`` (24-hour) as a time; 400 naming ``field`` otherwise."""
    if isinstance(value, str) and len(value) == 5 and value[2] == ":":
        hh, mm = value[:2], value[3:]
        if _digits(hh) and _digits(mm) and int(hh) < 24 and int(mm) < 60:
            return time(int(hh), int(mm))
    raise Invalid(f"{field} must be a time of day as HH:MM (24-hour)", field=field)
