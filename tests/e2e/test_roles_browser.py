"""Sign-in and per-site roles in a real browser against ``liveinsight serve`` (issue 17).

What the other browser tests do not walk through already (sign-in, a viewer's segments,
alerting's 403, shared links are theirs): a wrong password is refused on the page; a viewer
of one site sees that site only (another's dashboard and API answers refuse them), reads
its settings without the forms it may not use, and a forged goal form is refused; an editor
adds a goal through the form but may not change the site's settings; logging out ends the
session for the cookie too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import Server, session_cookies, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

VIEWER = ("viewer@localhost", "quiet onlooker from afar")
EDITOR = ("editor@localhost", "careful hands on the goals")
MINE, OTHER = "mine.example", "other.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("roles")
    srv = Server(tmp / "data", tmp / "server.log", wal_fsync="never")
    people = [[["create-user", email, "--password", password],
               ["members", "add", MINE, email, "--role", role]]
              for (email, password), role in ((VIEWER, "viewer"), (EDITOR, "editor"))]
    srv.cli_many(["create-site", MINE], ["create-site", OTHER], *people[0], *people[1])
    srv.start()
    yield srv
    srv.stop()


def _site_ids(page: Any) -> dict[str, int]:
    links = page.eval_on_selector_all(  # a link shows the site's name, then its domain
        "a.site-link", "ls => ls.map(l => [l.textContent.trim().split(/\\s+/)[0], "
        "l.getAttribute('href')])")
    return {text: int(href.rsplit("/", 1)[1]) for text, href in links}


def _csrf(page: Any) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.content())
    assert found, "no CSRF field in the page"
    return found.group(1)


def test_a_wrong_password_is_refused(server: Server, chromium: Any) -> None:
    page = chromium.new_page()
    page.goto(f"{server.url}/login")
    page.get_by_label("E-mail").fill(VIEWER[0])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").wait_for()
    assert "/login" in page.url
    answer = page.goto(f"{server.url}/sites")
    assert answer is not None and "/login" in page.url  # still signed out
    page.close()


def test_a_viewer_sees_their_site_only_and_cannot_change_it(
        server: Server, chromium: Any) -> None:
    page = chromium.new_page()
    sign_in(page, server.url, VIEWER)
    ids = _site_ids(page)
    assert list(ids) == [MINE]
    cookies = session_cookies(page)
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as http:
        ok = http.get("/api/stats/aggregate", params={"site_id": MINE})
        assert ok.status_code == 200, ok.text
        refused = http.get("/api/stats/aggregate", params={"site_id": OTHER})
        assert refused.status_code == 403 and refused.json()["error"]["field"] == "site_id"
        # the other site's dashboard is not there for them (its id is the next one)
        other = page.goto(f"{server.url}/sites/{ids[MINE] + 1}")
        assert other is not None and other.status in (403, 404)

        page.goto(f"{server.url}/sites/{ids[MINE]}/settings")
        assert page.locator("form[aria-label='Add a goal']").count() == 0
        assert page.get_by_role("heading", name="People").count() == 0
        forged = page.request.post(f"{server.url}/sites/{ids[MINE]}/goals", form={
            "csrf": _csrf(page), "kind": "event", "target": "Forged"}, max_redirects=0)
        assert forged.status == 403, forged.text()
    page.reload()
    assert page.locator("tr[data-goal]", has_text="Forged").count() == 0
    page.close()


def test_an_editor_adds_a_goal_but_cannot_change_the_site(
        server: Server, chromium: Any) -> None:
    page = chromium.new_page()
    sign_in(page, server.url, EDITOR)
    site = _site_ids(page)[MINE]
    page.goto(f"{server.url}/sites/{site}/settings")
    form = page.locator("form[aria-label='Add a goal']")
    form.get_by_label("Event name or page path").fill("Signup")
    form.get_by_role("button", name="Add goal").click()
    page.locator("tr[data-goal]", has_text="Signup").wait_for()
    refused = page.request.post(f"{server.url}/sites/{site}/settings", form={
        "csrf": _csrf(page), "name": "Renamed", "domain": MINE}, max_redirects=0)
    assert refused.status == 403, refused.text()
    page.goto(f"{server.url}/sites")
    assert "Renamed" not in page.content()
    page.close()


def test_logging_out_ends_the_session_for_its_cookie_too(
        server: Server, chromium: Any) -> None:
    page = chromium.new_page()
    sign_in(page, server.url, VIEWER)
    cookies = session_cookies(page)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login**")
    answer = httpx.get(f"{server.url}/api/stats/aggregate", params={"site_id": MINE},
                       cookies=cookies, timeout=30)
    assert answer.status_code == 401, answer.text
    dashboard = httpx.get(f"{server.url}/sites", cookies=cookies, timeout=30)
    assert dashboard.status_code in (302, 303) and "/login" in dashboard.headers["location"]
    page.close()
