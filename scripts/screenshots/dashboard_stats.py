"""Screenshots of the dashboard's stats features for docs/user-guide.md.

Fills a temporary data dir with demo data, starts ``liveinsight serve`` on a free loopback
port, logs in with headless Chromium (Playwright, /usr/bin/chromium) and writes PNGs to
docs/images/ (or the directory given as the first argument):

    .venv/bin/python scripts/screenshots/dashboard_stats.py [out-dir]
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
LIVEINSIGHT = Path(sys.executable).parent / "liveinsight"
ADMIN = ("admin@localhost", "screenshots-password")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(env: dict[str, str], *argv: str) -> None:
    subprocess.run([str(LIVEINSIGHT), *argv], env=env, check=True, capture_output=True)


def _login(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("E-mail").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")


def shoot(page: Page, url: str, out: Path) -> None:
    """Every screenshot of this script, in order (each names what it shows)."""
    page.goto(f"{url}/sites/1?period=30d&tab_events=0")
    page.locator('[data-card="events"] .row').first.wait_for()
    page.wait_for_function("() => document.querySelector("
                           "'.tile[data-metric=total_revenue] [data-value]').dataset.raw")
    page.locator('[data-card="events"]').screenshot(path=str(out / "revenue.png"))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {**os.environ, "LIVEINSIGHT_DATA_DIR": str(Path(tmp) / "data"),
               "LIVEINSIGHT_SECRET_KEY": "screenshots-secret-key-0123456789abcdef",
               "LIVEINSIGHT_LOG_LEVEL": "warning", "LIVEINSIGHT_WAL_FSYNC": "never"}
        _run(env, "demo", "--days", "60", "--scale", "0.3")
        _run(env, "create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin")
        server = subprocess.Popen([str(LIVEINSIGHT), "serve", "--port", str(port)], env=env,
                                  start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                            args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                _login(page, url)
                shoot(page, url, out)
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
