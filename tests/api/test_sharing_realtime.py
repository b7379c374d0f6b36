"""A shared link's realtime page: ``GET /share/{token}/realtime`` opens logged out with the
link's checks (revoked → gone, password → the form or the grant cookie, embeds framed by the
link's origins), reads the APIs with the link's ``auth`` and links back to the link's
dashboard; the shared dashboard offers it."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.test_sharing import (  # noqa: F401  (app: the fixture)
    LINK_PASSWORD,
    _admin_key,
    _auth_of,
    _make_link,
    _token,
    app,
)


def test_the_realtime_page_of_a_link_opens_logged_out(app: TestClient) -> None:  # noqa: F811
    token = _token(_make_link(app))
    page = app.get(f"/share/{token}/realtime")
    assert page.status_code == 200 and 'id="rt"' in page.text
    assert _auth_of(page.text) == token
    assert f'data-dashboard="/share/{token}"' in page.text
    assert f'href="/share/{token}">← Dashboard' in page.text
    assert "/settings" not in page.text and "/behaviour" not in page.text
    assert not re.search(r'href="/sites/\d', page.text)  # no way to the site's own pages
    assert page.headers["x-frame-options"] == "DENY"
    # what its script reads with that auth
    v2 = app.post("/api/v2/query", params={"auth": token}, json={
        "site_id": "example.com", "metrics": ["visitors"], "date_range": "7d"})
    assert v2.status_code == 200
    # the shared dashboard offers it (the Realtime choice and the r key)
    dashboard = app.get(f"/share/{token}").text
    assert f'data-realtime="/share/{token}/realtime"' in dashboard
    assert '<option value="realtime">Realtime</option>' in dashboard
    assert "<kbd>r</kbd> realtime" in dashboard


def test_a_revoked_or_unknown_link_has_no_realtime_page(app: TestClient) -> None:  # noqa: F811
    doc = _make_link(app)
    token = _token(doc)
    assert app.get(f"/share/{token}/realtime").status_code == 200
    gone = app.delete(f"/api/v1/sites/example.com/shared-links/{doc['id']}",
                      headers=_admin_key(app))
    assert gone.status_code == 204
    page = app.get(f"/share/{token}/realtime")
    assert page.status_code == 404 and "does not exist or was revoked" in page.text
    assert 'id="rt"' not in page.text
    assert app.get("/share/" + "x" * 43 + "/realtime").status_code == 404


def test_a_protected_link_asks_for_its_password_first(app: TestClient) -> None:  # noqa: F811
    token = _token(_make_link(app, password=LINK_PASSWORD,
                              allowed_origins=["https://blog.example.com"]))
    form = app.get(f"/share/{token}/realtime")
    assert form.status_code == 200 and 'type="password"' in form.text
    assert 'id="rt"' not in form.text and "data-auth" not in form.text
    opened = app.post(f"/share/{token}", data={"password": LINK_PASSWORD},
                      follow_redirects=False)
    assert opened.status_code == 303
    cookie = opened.headers["set-cookie"]
    assert f"Path=/share/{token}" in cookie  # so it covers /share/{token}/realtime too
    page = app.get(f"/share/{token}/realtime")
    assert page.status_code == 200 and 'id="rt"' in page.text
    value = _auth_of(page.text)
    assert "." in value  # the grant, not the token
    assert app.post("/api/v2/query", params={"auth": value}, json={
        "site_id": "example.com", "metrics": ["visitors"], "date_range": "7d"}
    ).status_code == 200
    # a grant for another link does not open this one
    app.cookies.clear()
    assert 'type="password"' in app.get(f"/share/{token}/realtime",
                                        params={"auth": "forged.value"}).text
    # embedded: framed by the link's origins; the grant travels in the links between pages
    embedded = app.post(f"/share/{token}", data={"password": LINK_PASSWORD, "embed": "true"})
    found = re.search(r'data-realtime="([^"]*)"', embedded.text)
    assert found and found.group(1).startswith(f"/share/{token}/realtime?embed=true&amp;auth=")
    url = found.group(1).replace("&amp;", "&")
    rt = app.get(url)
    assert rt.status_code == 200 and 'id="rt"' in rt.text
    assert "frame-ancestors https://blog.example.com;" in rt.headers["content-security-policy"]
    assert 'data-dashboard="/share/' in rt.text and "embed=true" in rt.text
    assert '<body class="embed">' in rt.text
