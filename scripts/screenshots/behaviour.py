"""Screenshots of the behaviour analytics for docs/user-guide.md: the funnel builder with its
live preview and result, the journeys' Sankey diagram, the retention triangle, the visitors
(user analysis) tab, the KPI board.

Fills a temporary data dir with demo data, starts ``liveinsight serve`` on a free loopback
port, logs in with headless Chromium (Playwright, /usr/bin/chromium) and writes PNGs to
docs/images/ (or the directory given as the first argument):

    .venv/bin/python scripts/screenshots/behaviour.py [out-dir]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_stats import ADMIN, LIVEINSIGHT, ROOT, _free_port, _login, _run


def shoot(page: Page, url: str, out: Path) -> None:
    """Every screenshot of this script, in order (each names what it shows)."""
    href = page.locator("a.site-link").first.get_attribute("href")
    assert href is not None
    site = href.rsplit("/", 1)[1]
    page.goto(f"{url}/sites/{site}/behaviour?tab=funnel&period=30d&window=1h"
              "&steps=page+/%0Apage+/pricing%0Apage+/signup")
    page.locator("[data-funnel-result]").wait_for()
    page.get_by_label("Steps, one per line").fill("page /\npage /pricing\npage /signup\n"
                                                  "event Signup")
    expect(page.locator("[data-funnel-preview][data-state=ready] [data-preview-count]")
           ).to_have_count(4, timeout=60_000)
    page.locator("#funnel-title").locator("..").screenshot(path=str(out / "funnel.png"))

    page.goto(f"{url}/sites/{site}/behaviour?tab=journey&kind=sankey&steps=4&k=4&period=30d")
    page.locator("[data-sankey]").wait_for()
    page.locator("#journey-title").locator("..").screenshot(path=str(out / "journeys.png"))

    page.goto(f"{url}/sites/{site}/behaviour?tab=retention&cohort=day&period=7d")
    page.locator("[data-retention]").wait_for()
    page.locator("#retention-title").locator("..").screenshot(path=str(out / "retention.png"))

    page.goto(f"{url}/sites/{site}/behaviour?tab=users&period=7d")
    page.locator("[data-heatmap]").wait_for()
    page.locator("#users-title").locator("..").screenshot(path=str(out / "visitors.png"))

    page.goto(f"{url}/analytics/kpi?period=30d")
    page.locator("[data-kpi-site]").first.wait_for()
    page.screenshot(path=str(out / "kpi.png"))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {**os.environ, "LIVEINSIGHT_DATA_DIR": str(Path(tmp) / "data"),
               "LIVEINSIGHT_SECRET_KEY": "screenshots-secret-key-0123456789abcdef",
               "LIVEINSIGHT_LOG_LEVEL": "warning", "LIVEINSIGHT_WAL_FSYNC": "never"}
        _run(env, "demo", "--days", "30", "--scale", "0.2")
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
