"""``liveinsight import --server``: the command uploads to a running server (which holds
the embedded engine), follows the job, prints the import; the stats then include it; the
command without --server refuses to touch the data the server holds."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.imports.exports import TOTALS, plausible_zip
from tests.support import LIVEINSIGHT, Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    tmp = tmp_path_factory.mktemp("imports-cli")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    srv.cli("create-site", "example.com", "--timezone", "UTC")
    key = srv.cli("create-api-key", "imports", "--scope", "stats", "--scope",
                  "admin").strip().splitlines()[-1]
    srv.start()
    yield srv, key
    srv.stop()


def test_import_through_a_running_server(server: tuple[Server, str], tmp_path: Path) -> None:
    srv, key = server
    export = plausible_zip(tmp_path / "export.zip")
    held = subprocess.run([str(LIVEINSIGHT), "import", "plausible", str(export), "--site",
                           "example.com"], env=srv.env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert held.returncode == 1 and "--server" in _said(held)
    done = subprocess.run([str(LIVEINSIGHT), "import", "plausible", str(export), "--site",
                           "example.com", "--server", srv.url, "--api-key", key],
                          env=srv.env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert (doc["status"], doc["rows"], doc["skipped_rows"]) == ("completed", 54, 0)
    answer = httpx.post(f"{srv.url}/api/v2/query", timeout=30,
                        headers={"authorization": f"Bearer {key}"},
                        json={"site_id": "example.com", "metrics": ["visitors", "pageviews"],
                              "date_range": ["2024-01-01", "2024-01-03"],
                              "include": {"imports": True}}).json()
    assert answer["results"][0]["metrics"] == [TOTALS["visitors"], TOTALS["pageviews"]]
    bad = tmp_path / "imported_visitors.csv"
    bad.write_text("date,visitors\n2023-01-01,many\n")
    refused = subprocess.run([str(LIVEINSIGHT), "import", "plausible", str(bad), "--site",
                              "example.com", "--server", srv.url, "--api-key", key],
                             env=srv.env, capture_output=True, text=True, timeout=120,
                             check=False)
    assert refused.returncode == 1 and "line 2" in _said(refused)


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    return " ".join((proc.stdout + proc.stderr).split())
