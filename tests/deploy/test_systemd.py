"""The systemd units in deploy/ pass ``systemd-analyze verify`` (skipped where it is absent)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import LIVEINSIGHT

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.mark.parametrize("unit", ["liveinsight.service", "liveinsight-backup.service",
                                  "liveinsight-backup.timer"])
def test_unit_verifies(unit: str, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    for name in ("liveinsight.service", "liveinsight-backup.service",
                 "liveinsight-backup.timer"):
        text = (DEPLOY / name).read_text()
        (tmp_path / name).write_text(text.replace("/opt/liveinsight/bin/liveinsight",
                                                  str(LIVEINSIGHT)))
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / unit)],
                          capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if unit.split(".")[0] in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr


def test_backup_timer_runs_the_backup_service_daily() -> None:
    timer = (DEPLOY / "liveinsight-backup.timer").read_text()
    assert "OnCalendar=*-*-* 03:15:00" in timer and "Persistent=true" in timer
    service = (DEPLOY / "liveinsight-backup.service").read_text()
    assert "/admin/backups" in service and "Type=oneshot" in service
