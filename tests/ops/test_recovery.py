"""Point-in-time recovery through a real app and engine: events in three waves, a backup
after the first, the log's segments archived; recovering to a moment between the second
and third waves gives the first two, to now all three."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from liveinsight.errors import Invalid, NotFound
from liveinsight.ops import backup as backups
from liveinsight.ops import recovery
from tests.conftest import make_client, make_settings, stored_events, svc_of

UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}


def _send(c: TestClient, wave: str, n: int) -> None:
    for i in range(n):
        answer = c.post("/api/event", headers={**UA, "x-forwarded-for": f"10.0.0.{i + 1}"},
                        json={"n": "pageview", "u": f"https://example.com/{wave}/{i}",
                              "d": "example.com"})
        assert answer.status_code == 202


def _paths(c: TestClient) -> list[str]:
    return sorted(str(e["pathname"]).split("/")[1] for e in stored_events(c))


def test_recovery_to_a_moment_between_backups(tmp_path: Path) -> None:
    archive, root = tmp_path / "archive", tmp_path / "backups"
    with make_client(tmp_path, wal_archive_dir=archive, backup_dir=root) as c:
        svc = svc_of(c)
        svc.meta.create_site("example.com")
        _send(c, "a", 30)
        assert len(stored_events(c)) == 30
        manifest = backups.create(svc.settings, svc.store, svc.wal, svc.writer.held)
        assert manifest["wal_after"]
        _send(c, "b", 20)
        assert len(stored_events(c)) == 50  # the second wave's segments are archived
        between = datetime.now(UTC)
        _send(c, "c", 10)
        assert len(stored_events(c)) == 60
        # the backup deleted the archived segments it holds (the first wave's): what is
        # left is what came after its cut-off
        assert all(p.name >= manifest["wal_after"] for p in archive.glob("*.wal"))
    assert list(archive.glob("*.wal"))  # confirmed segments were kept, not deleted

    elsewhere = make_settings(tmp_path / "elsewhere", wal_archive_dir=archive)
    with pytest.raises(NotFound, match="no backup"):
        recovery.recover(elsewhere, root, datetime(2000, 1, 1, tzinfo=UTC))
    outcome = recovery.recover(elsewhere, root, between)
    assert outcome["replayed_segments"] >= 1
    assert datetime.fromisoformat(outcome["recovered_to"]) <= between
    with make_client(tmp_path / "elsewhere", wal_archive_dir=tmp_path / "archive-2") as c:
        assert _paths(c) == ["a"] * 30 + ["b"] * 20

    later = make_settings(tmp_path / "later", wal_archive_dir=archive)
    recovery.recover(later, root, datetime.now(UTC))
    with make_client(tmp_path / "later", wal_archive_dir=tmp_path / "archive-3") as c:
        assert _paths(c) == ["a"] * 30 + ["b"] * 20 + ["c"] * 10


def test_recovery_needs_the_archive(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="LIVEINSIGHT_WAL_ARCHIVE_DIR"):
        recovery.recover(make_settings(tmp_path), tmp_path, datetime.now(UTC))
