"""The PostgreSQL connection pool as configured: its size and overflow bound the connections,
a request waits at most the pool timeout, and a connection the server dropped is replaced
before use (pre-ping), not handed out."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import exc, text

from liveinsight.meta.db import Pool, make_engine, pool_of
from tests.conftest import make_settings


def test_size_overflow_and_timeout(postgres_url: str) -> None:
    engine = make_engine(postgres_url, Pool(size=2, overflow=1, timeout=0.5, recycle=60))
    held = [engine.connect() for _ in range(3)]
    try:
        with pytest.raises(exc.TimeoutError):
            engine.connect()
    finally:
        for conn in held:
            conn.close()
        engine.dispose()


def test_a_connection_dropped_by_the_server_is_replaced(postgres_url: str) -> None:
    engine = make_engine(postgres_url, Pool(size=1, overflow=0, timeout=5, recycle=60))
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with make_engine(postgres_url).connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()
        with engine.connect() as conn:  # the pooled one is dead: pre-ping replaces it
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()


def test_settings_make_the_pool(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_pool_size=3, database_pool_overflow=4,
                             database_pool_timeout_seconds=2,
                             database_pool_recycle_seconds=300)
    assert pool_of(settings) == Pool(3, 4, 2, 300)
