"""The storage seam: "a ClickHouse that executes SQL and ingests log segments"."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Code(enum.IntEnum):
    """ClickHouse error codes the product tells apart (``src/Common/ErrorCodes.cpp``)."""

    UNKNOWN_TABLE = 60
    TOO_MANY_ROWS = 158
    TIMEOUT_EXCEEDED = 159
    MEMORY_LIMIT_EXCEEDED = 241
    TOO_MANY_BYTES = 307
    CANNOT_COMPILE_REGEXP = 427


LIMIT_CODES = frozenset({Code.TOO_MANY_ROWS, Code.TIMEOUT_EXCEEDED, Code.MEMORY_LIMIT_EXCEEDED,
                         Code.TOO_MANY_BYTES})
_CODE = re.compile(r"\bCode:\s*(\d+)")


def code_in(text: str) -> int | None:
    """The error code ClickHouse writes at the start of its messages (``Code: 159. ...``)."""
    found = _CODE.search(text)
    return int(found.group(1)) if found else None


class StoreError(Exception):
    """A query or insert the store refused (bad SQL, bad data, time limit); ``code`` is
    ClickHouse's error code when the store said one (both transports set it)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StoreUnavailable(StoreError):
    """The store cannot be reached or is not working; retrying later may succeed."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[list[Any]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Store(Protocol):
    """A ClickHouse, embedded or remote. Every method is blocking and thread-safe.

    Values are always bound as typed query parameters (``{name:Type}`` in the SQL, the value
    in ``params``), never formatted into the SQL text.
    """

    database: str

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> QueryResult:
        """Run a SELECT. Raises ``StoreError`` (bad query, time limit) or ``StoreUnavailable``."""

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run DDL or another statement without a result."""

    def stream(self, sql: str, params: Mapping[str, Any] | None = None,
               fmt: str = "CSVWithNames") -> Iterator[bytes]:
        """Run a SELECT and yield its answer in ``fmt`` as it comes, a block at a time (the
        whole answer is never held). Raises as :meth:`query` does, before the first chunk or
        while iterating; closing the iterator early ends the query's read."""

    def ingest_segment(self, path: Path, token: str,
                       targets: list[tuple[str, str, list[tuple[str, str]]]] | None = None
                       ) -> None:
        """Insert a write-ahead-log segment (JSON lines, see ``ingest/wal.py``) into the
        ``events`` and ``sessions`` tables (or ``targets``: ``(table, kind, columns)``, e.g.
        ``schema.LOG_TARGETS``); ClickHouse reads the file itself.

        Each insert carries the deduplication token ``f"{token}:{table}"``, so ingesting the
        same segment twice stores its rows once. Raises ``StoreUnavailable`` when the store
        cannot take it now (the caller keeps the segment and retries) and ``StoreError`` when
        the segment itself is refused.
        """

    def ping(self) -> bool:
        """True when the store answers a trivial query."""

    def close(self) -> None: ...
