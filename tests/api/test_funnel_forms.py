"""Saved funnels from the site's settings page: an editor adds one (steps one per line)
and deletes it; a bad step is shown again with its reason; a viewer sees them, changes
nothing."""

from __future__ import annotations

from pathlib import Path

from liveinsight.api.funnel_forms import steps_from_lines
from tests.conftest import csrf_of, grant, login, make_client, make_site, svc_of

PASSWORD = "a long enough password"


def test_steps_from_lines() -> None:
    assert steps_from_lines("page /\n\n  event Signup plan=pro  \nclick x") == [
        {"type": "page", "path": "/"},
        {"type": "event", "name": "Signup", "props": {"plan": "pro"}},
        {"type": "click", "name": "x"}]


def test_an_editor_adds_and_deletes_a_funnel_a_viewer_cannot(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        for email, role in (("ed@example.com", "editor"), ("vi@example.com", "viewer")):
            svc.meta.create_user(email, PASSWORD)
            grant(client, site, email, role)
        login(client, "ed@example.com", PASSWORD)
        page = client.get(f"/sites/{site.id}/settings")
        assert "No funnels yet." in page.text
        form = {"csrf": csrf_of(page.text), "name": "Signup", "window": "2h",
                "order": "strict", "basis": "session",
                "steps": "page /pricing\nevent Signup plan=pro"}
        res = client.post(f"/sites/{site.id}/funnels", data=form, follow_redirects=False)
        assert res.status_code == 303
        [saved] = svc.funnels.of_site(site.id)
        assert saved.name == "Signup" and saved.definition == {
            "steps": [{"type": "page", "path": "/pricing"},
                      {"type": "event", "name": "Signup", "props": {"plan": "pro"}}],
            "window": 7200, "order": "strict", "modes": [], "basis": "session"}
        bad = client.post(f"/sites/{site.id}/funnels",
                          data={**form, "name": "Other", "steps": "click /x\npage /"})
        assert bad.status_code == 400 and "unknown step type" in bad.text
        again = client.post(f"/sites/{site.id}/funnels", data=form)
        assert again.status_code == 409 and "has a funnel named" in again.text
        client.cookies.clear()
        login(client, "vi@example.com", PASSWORD)
        page = client.get(f"/sites/{site.id}/settings")
        assert 'data-funnel="' in page.text and "Add funnel" not in page.text
        delete = client.post(f"/sites/{site.id}/funnels/{saved.id}/delete",
                             data={"csrf": csrf_of(page.text)})
        assert delete.status_code == 403
        client.cookies.clear()
        login(client, "ed@example.com", PASSWORD)
        page = client.get(f"/sites/{site.id}/settings")
        delete = client.post(f"/sites/{site.id}/funnels/{saved.id}/delete",
                             data={"csrf": csrf_of(page.text)}, follow_redirects=False)
        assert delete.status_code == 303 and svc.funnels.of_site(site.id) == []
