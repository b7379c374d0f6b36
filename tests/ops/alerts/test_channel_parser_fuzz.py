"""Property tests of the alert channel parser: any JSON body parses or raises ``Problem`` with
a 4xx naming the field, never anything else."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from liveinsight.api.errors import status_of
from liveinsight.errors import Problem
from liveinsight.ops.alerts.channels.config import parse_channel

_words = st.sampled_from([
    "email", "slack", "webhook", "sms", "ops@example.com", "+15551234567",
    "https://hooks.example.com/x", "http://[::1", "http://u:p@example.com/", "ftp://x",
    "12:00", "22:00", "²²:00", "UTC", "Europe/Berlin", "America", "Etc", "", "../etc",
    "A" * 300, "x" * 20,
])
_scalars = (st.none() | st.booleans() | st.integers(-(2**40), 2**40)
            | st.floats(allow_nan=True, allow_infinity=True) | _words | st.text(max_size=10))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_words | st.text(max_size=6), inner, max_size=3),
                     max_leaves=10)
_quiet = st.fixed_dictionaries({}, optional={"start": _scalars, "end": _scalars,
                                             "timezone": _scalars,
                                             "critical_passes": _scalars})
_bodies = st.fixed_dictionaries({}, optional={
    name: _json for name in ("kind", "name", "max_per_hour", "to", "url", "secret",
                             "account_sid", "auth_token", "from")}
    ) | st.fixed_dictionaries({"kind": _words, "name": _words, "quiet_hours": _quiet | _json})


@settings(max_examples=500, deadline=None)
@given(body=_bodies)
@example(body={"kind": "email", "name": "x", "to": ["ops@example.com"],  # IsADirectoryError
               "quiet_hours": {"start": "22:00", "end": "06:00", "timezone": "America"}})
@example(body={"kind": "email", "name": "x", "to": ["ops@example.com"],  # name too long
               "quiet_hours": {"start": "22:00", "end": "06:00", "timezone": "A" * 300}})
def test_channels_parse_or_name_the_field(body: dict[str, Any]) -> None:
    try:
        parse_channel(body)
    except Problem as problem:
        assert 400 <= status_of(problem) < 500, problem
        assert problem.field, f"no field named: {problem}"
