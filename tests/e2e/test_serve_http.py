"""``liveinsight serve``'s HTTP settings, against the real server: HTTP/2 spoken to a client
that starts with it (h2c prior knowledge, as a proxy's HTTP/2 upstream), HTTP/1.1 connections
kept alive between requests, and ``LIVEINSIGHT_HTTP=1`` refusing HTTP/2."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import Server


def _curl(*argv: str) -> subprocess.CompletedProcess[str]:
    """curl with each URL's body dropped; stdout: "<http version> <status>" per URL."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    args: list[str] = []
    for arg in argv:
        args += ["-o", "/dev/null", arg] if arg.startswith("http://") else [arg]
    return subprocess.run([curl, "-sS", "-w", "%{http_version} %{http_code}\n", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_http2_prior_knowledge_and_keep_alive(tmp_path: Path) -> None:
    server = Server(tmp_path / "data").start()
    try:
        h2 = _curl("--http2-prior-knowledge", server.url + "/health")
        assert h2.stdout.split() == ["2", "200"], h2.stderr
        both = _curl("-v", "--http1.1", server.url + "/health", server.url + "/health")
        assert both.stdout.split() == ["1.1", "200", "1.1", "200"]
        assert "Re-using existing connection" in both.stderr  # kept alive
    finally:
        server.stop()


def test_http1_only_refuses_http2(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", http="1", http1_keep_alive="false").start()
    try:
        h2 = _curl("--http2-prior-knowledge", server.url + "/health")
        assert h2.returncode != 0 or h2.stdout.split()[0] != "2"
        both = _curl("-v", "--http1.1", server.url + "/health", server.url + "/health")
        assert both.stdout.split() == ["1.1", "200", "1.1", "200"]
        assert "Re-using existing connection" not in both.stderr  # closed after each
    finally:
        server.stop()
