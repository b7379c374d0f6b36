"""A site admin chooses the salt rotation on the settings page; a bad value is refused."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import csrf_of, grant, login, make_client, make_site, svc_of

PASSWORD = "a long enough password"


def test_an_admin_sets_a_weekly_rotation(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        svc.meta.create_user("ad@example.com", PASSWORD)
        grant(client, site, "ad@example.com", "admin")
        login(client, "ad@example.com", PASSWORD)
        page = client.get(f"/sites/{site.id}/settings")
        assert '<option value="daily" selected>' in page.text
        form = {"csrf": csrf_of(page.text), "name": "Example", "domain": "example.com",
                "timezone": "UTC", "retention_days": "0", "currency": "USD",
                "enabled": "on", "salt_rotation": "weekly"}
        res = client.post(f"/sites/{site.id}/settings", data=form, follow_redirects=False)
        assert res.status_code == 303
        saved = svc.meta.site(site.id)
        assert saved is not None and saved.salt_rotation == "weekly"
        bad = client.post(f"/sites/{site.id}/settings", data={**form, "salt_rotation": "yearly"})
        assert bad.status_code == 400 and "salt rotation is one of" in bad.text
