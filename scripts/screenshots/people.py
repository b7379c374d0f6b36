"""Screenshots for the user guide's people, sharing, settings and import sections.

Starts ``liveinsight serve`` on loopback with a fresh data dir (demo data from ``liveinsight
demo`` plus teams, users and invitations made with the CLI), drives Debian's Chromium with
Playwright and writes PNGs to docs/images/. Run from the repository root:

    .venv/bin/python scripts/screenshots/people.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from tests.support import Server, launch_chromium  # noqa: E402

IMAGES = ROOT / "docs" / "images"
PASSWORD = "screenshots password"


def _login(page: Page, server: Server, email: str) -> None:
    page.context.clear_cookies()
    page.goto(server.url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/sites$"))


def _shot(page: Page, name: str, selector: str | None = None) -> None:
    target = IMAGES / name
    if selector:
        page.locator(selector).first.screenshot(path=str(target))
    else:
        page.screenshot(path=str(target), full_page=True)
    print("wrote", target.relative_to(ROOT))


def _set_up(server: Server) -> dict[str, Any]:
    for email, role in (("owner@example.com", "viewer"), ("editor@example.com", "viewer"),
                        ("root@example.com", "admin")):
        server.cli("create-user", email, "--password", PASSWORD, "--role", role)
    server.cli("teams", "create", "Acme", "--owner", "owner@example.com")
    server.cli("teams", "add-member", "Acme", "editor@example.com", "--role", "editor")
    server.cli("create-site", "shop.example", "--team", "Acme", "--timezone", "Europe/Berlin")
    server.cli("create-site", "blog.example", "--team", "Acme")
    ids = {s["domain"]: s["id"] for s in __import__("json").loads(
        server.cli("list-sites", "--json"))}
    return {"ids": ids}


def people(page: Page, server: Server, world: dict[str, Any]) -> None:
    shop = world["ids"]["shop.example"]
    _login(page, server, "owner@example.com")
    page.goto(f"{server.url}/sites/{shop}/settings")
    page.fill("#invite-email", "ann@example.com")
    page.select_option("#invite-role", "editor")
    page.click("form[aria-label='Invite someone'] button[type=submit]")
    page.wait_for_selector("[data-invite-link]")
    _shot(page, "invite.png", "section[aria-labelledby=people-title]")
    link = page.inner_text("[data-invite-link]")
    page.goto(f"{server.url}/teams/1")
    _shot(page, "team.png", "main")
    page.context.clear_cookies()
    page.goto(link)
    _shot(page, "invitation.png", "main")


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "data")
        world = _set_up(server)
        server.start()
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                people(page, server, world)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
