"""The collector's direct mode (``ingest_mode=direct``): events go straight to ClickHouse.

Where a node has no lasting disk (a serverless function, whose ``/tmp`` may vanish with the
instance), the write-ahead log cannot keep the ingest promise. In this mode the frame the
collector would have appended to the log is inserted into ClickHouse instead, and the
request is answered only once ClickHouse has confirmed it: ``async_insert=1`` lets the
server gather the many small inserts of many instances into few parts, and
``wait_for_async_insert=1`` holds the answer until the gathered block is written. A failed
insert fails the request (503 with ``Retry-After``), so nothing acknowledged is lost; the
cost is a ClickHouse round trip (and the server's async-insert wait, up to its
``async_insert_busy_timeout_ms``) in every answer, and no deduplication of a client's retry
after a timeout (the log's replay tokens do not exist here).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from liveinsight.ingest.wal import WalUnavailable
from liveinsight.storage import schema
from liveinsight.storage.http import HttpStore
from liveinsight.storage.protocol import StoreError

INSERT_SETTINGS: dict[str, int] = {
    "async_insert": 1,
    "wait_for_async_insert": 1,
    "input_format_skip_unknown_fields": 1,  # the lines' kind, "_k"
    "input_format_defaults_for_omitted_fields": 1,
}
RETRY_AFTER_S = 5

# A line leaves out default-valued fields; where the column's default is not its type's zero
# (schema.SEGMENT_DEFAULTS), the JSON value is put in the line.
_DEFAULTS = [(name, f'"{name}"'.encode(), f'"{name}":"{sql.strip(chr(39))}",'.encode())
             for name, sql in schema.SEGMENT_DEFAULTS.items()]


def table_lines(payload: bytes, kind: str) -> bytes:
    """The lines of ``kind`` in ``payload``, with the columns' non-zero defaults filled in."""
    prefix = b'{"_k":"' + kind.encode() + b'"'
    out = []
    for line in payload.splitlines():
        if not line.startswith(prefix):
            continue
        for name, quoted, field in _DEFAULTS:
            # the name may appear elsewhere (a property called "channel"): then read the line
            if quoted not in line or name not in orjson.loads(line):
                line = b"{" + field + line[1:]
        out.append(line)
    return b"\n".join(out) + b"\n" if out else b""


class DirectLog:
    """What the :class:`~liveinsight.ingest.service.Ingestor` appends to in direct mode:
    each frame inserted into the server's ``events`` and ``sessions`` tables, returning once
    both inserts are confirmed. ``on_stored(sites)`` then runs (the answers' freshness)."""

    def __init__(self, store: HttpStore, on_stored: Callable[[frozenset[int]], None]
                 = lambda _: None) -> None:
        self.store = store
        self.on_stored = on_stored

    def append(self, payload: bytes, rows: int,
               sites: frozenset[int] | set[int] = frozenset()) -> None:
        try:
            for table, kind, columns in schema.SEGMENT_TARGETS:
                data = table_lines(payload, kind)
                if data:
                    self.store.insert_lines(table, [name for name, _ in columns], data,
                                            INSERT_SETTINGS)
        except StoreError as exc:
            raise WalUnavailable(f"ClickHouse did not take the events: {exc}",
                                 retry_after=RETRY_AFTER_S) from exc
        self.on_stored(frozenset(sites))
