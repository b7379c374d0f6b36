"""The alerting pages in a real browser against ``liveinsight serve``: an admin creates a
webhook channel and sends it a test (a local HTTP receiver gets it, HMAC-signed), creates a
rule notifying it, sees the test in the alert history, and opens, assigns, acknowledges and
resolves an incident; a form without the CSRF token is refused and a viewer gets 403."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops.alerts.helpers import http_receiver
from tests.support import Server, launch_chromium, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN = ("admin@localhost", "e2e-chief-password")
VIEWER = ("viewer@localhost", "e2e-reader-password")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    tmp = tmp_path_factory.mktemp("alerting")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never",
                 alerts_allow_private_targets="true")
    srv.cli_many(
        ["create-user", ADMIN[0], "--password", ADMIN[1], "--role", "admin"],
        ["create-user", VIEWER[0], "--password", VIEWER[1], "--role", "viewer"],
    )
    srv.start()
    yield srv.url
    srv.stop()


def login(page: Any, server: str, who: tuple[str, str]) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("E-mail").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/sites")


def test_alerting_pages(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, http_receiver() as (received, receiver):
        browser = launch_chromium(p)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        login(page, server, ADMIN)

        # a webhook channel, its secret shown once
        page.goto(f"{server}/alerting/channels")
        page.get_by_label("Name", exact=True).fill("ops hook")
        page.get_by_label("Kind").select_option("webhook")
        page.get_by_label("URL (slack").fill(f"{receiver}/hook")
        page.get_by_role("button", name="Add channel").click()
        notice = page.get_by_role("status").inner_text()
        assert "Channel 'ops hook' added" in notice, notice
        secret = re.search(r"shown once\): (\S+)", notice)
        assert secret, notice
        # a bad one is refused with the reason, the form kept
        page.get_by_label("Name", exact=True).fill("broken")
        page.get_by_label("Kind").select_option("webhook")
        page.get_by_label("URL (slack").fill("ftp://example.com/x")
        page.get_by_role("button", name="Add channel").click()
        assert "url" in page.get_by_role("alert").inner_text()
        assert page.get_by_label("Name", exact=True).input_value() == "broken"

        # the test send reaches the receiver, signed with the channel's secret
        page.goto(f"{server}/alerting/channels")
        row = page.locator("tr", has_text="ops hook")
        row.get_by_role("button", name="Send a test").click()
        assert "Test message sent" in page.get_by_role("status").inner_text()
        [hook] = received
        assert hook.path == "/hook" and json.loads(hook.body)["event"] == "test"
        mac = hmac.new(secret.group(1).encode(),
                       hook.headers["x-liveinsight-timestamp"].encode() + b"." + hook.body,
                       hashlib.sha256).hexdigest()
        assert hook.headers["x-liveinsight-signature"] == f"sha256={mac}"

        # a rule notifying it
        page.goto(f"{server}/alerting/rules/new")
        page.get_by_label("Name", exact=True).fill("log backlog")
        page.get_by_label("Metric (a name").fill("liveinsight_wal_bytes")
        page.get_by_label("Comparison").select_option(">")
        page.get_by_label("Threshold").fill("500000000")
        page.get_by_label("For (how long").fill("5m")
        page.get_by_label("ops hook (webhook)").check()
        page.get_by_label("Other fields").fill('{"cooldown": "10m"}')
        page.get_by_role("button", name="Save rule").click()
        page.wait_for_url("**/alerting?done=*")
        row = page.locator("tr", has_text="log backlog")
        assert "liveinsight_wal_bytes" in row.inner_text() and "ops hook" in row.inner_text()
        # edit: the form shows what was saved, "cooldown" among the other fields
        row.get_by_role("link", name="log backlog").click()
        assert json.loads(page.get_by_label("Other fields").input_value())["cooldown"] == "10m"
        page.get_by_label("Threshold").fill("not a number")
        page.get_by_role("button", name="Save rule").click()
        assert "threshold" in page.get_by_role("alert").inner_text()
        page.get_by_label("Threshold").fill("600000000")
        page.get_by_role("button", name="Save rule").click()
        page.wait_for_url("**/alerting?done=*")
        assert "> 6e+08" in page.locator("tr", has_text="log backlog").inner_text()

        # the history shows the test send
        page.goto(f"{server}/alerting/history")
        assert "test message sent to ops hook" in page.locator("table").inner_text()

        # an incident: opened, assigned, acknowledged, resolved
        page.goto(f"{server}/alerting/incidents")
        page.get_by_label("Title").fill("checkout slow")
        page.get_by_label("Note").fill("reported by support")
        page.get_by_role("button", name="Open incident").click()
        assert page.locator("#incident-status").inner_text() == "open"
        page.get_by_label("Assignee").fill("alice")
        page.get_by_role("button", name="Save").click()
        assert page.locator("#incident-assignee").inner_text() == "alice"
        page.get_by_role("button", name="Acknowledge").click()
        assert page.locator("#incident-status").inner_text() == "acknowledged"
        page.get_by_role("button", name="Resolve").click()
        assert page.locator("#incident-status").inner_text() == "resolved"
        timeline = page.locator("table").inner_text()
        assert "assigned to alice" in timeline and "reported by support" in timeline

        # a form without its CSRF token is refused (with the session cookie)
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        forged = httpx.post(f"{server}/alerting/incidents", data={"title": "forged"},
                            cookies=cookies, follow_redirects=False)
        assert forged.status_code == 403, forged.text
        page.goto(f"{server}/alerting")
        page.locator("tr", has_text="log backlog").get_by_role("button", name="Delete").click()
        assert "No rules yet" in page.locator("table").inner_text()

        # a viewer does not get the pages
        viewer = browser.new_page()
        login(viewer, server, VIEWER)
        answer = viewer.goto(f"{server}/alerting")
        assert answer is not None and answer.status == 403
        assert errors == []
        browser.close()
