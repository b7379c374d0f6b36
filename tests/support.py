"""Helpers shared by the multi-process and browser tests: free ports, a tiny real disk, and
Debian's Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium says "HeadlessChrome", which the bot filter drops, as it should.
DESKTOP_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _skip_or_fail(message: str) -> None:
    """Skip on a user's machine; fail in CI, where everything a test needs is required."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: required)")
    pytest.skip(message)


def require_browser() -> None:
    """Return when Playwright and /usr/bin/chromium are there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("Playwright is not installed")
    if not CHROMIUM.exists():
        _skip_or_fail(f"Chromium is not installed at {CHROMIUM}")


def launch_chromium(playwright: Any, user_agent: str | None = None) -> Any:
    """Headless Debian Chromium; ``user_agent`` goes on the command line, because a context
    override does not reach the keepalive requests a closing page leaves to the browser."""
    args = [*CHROMIUM_ARGS, *([f"--user-agent={user_agent}"] if user_agent else [])]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``: a disk that really fills up."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        _skip_or_fail(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
