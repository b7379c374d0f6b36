"""Exporting a whole site over the API, from the settings page and with the CLI: a zip of
Plausible's CSVs holding what the stats API says, the range checks, who may."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from liveinsight.cli import app as cli
from liveinsight.query import site_export
from tests.conftest import csrf_of, login, make_client, make_site, svc_of

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/130.0 Safari/537.36")
PASSWORD = "a long enough password"


def _send(client: TestClient, domain: str, paths: list[str]) -> None:
    for path in paths:
        r = client.post("/api/event", json={"n": "pageview", "u": f"https://{domain}{path}",
                                            "d": domain}, headers={"user-agent": UA})
        assert r.status_code == 202, r.text
    assert svc_of(client).writer.flush(timeout=30)


def _files(data: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n.rsplit("_", 2)[0]: list(csv.DictReader(io.StringIO(zf.read(n).decode())))
                for n in zf.namelist()}


def test_the_api_streams_the_sites_zip_matching_its_stats(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        make_site(client, "a.example")
        make_site(client, "b.example")
        key, _ = svc.meta.create_api_key("adm", ["admin", "stats"], [1])
        auth = {"authorization": f"Bearer {key}"}
        _send(client, "a.example", ["/", "/pricing", "/"])
        _send(client, "b.example", ["/other"])

        r = client.get("/api/v1/sites/a.example/export", headers=auth)

        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        today = svc.clock().date()
        assert r.headers["content-disposition"] == (
            f'attachment; filename="a_example_{today:%Y%m%d}.zip"')
        assert r.headers["x-export-range"] == f"{today}/{today}"
        files = _files(r.content)
        assert sorted(files) == sorted(site_export.TABLES)
        stats = client.get("/api/stats/aggregate", headers=auth, params={
            "site_id": "a.example", "period": "day",
            "metrics": "visitors,visits,pageviews,bounce_rate"}).json()["results"]
        day = files["imported_visitors"][0]
        assert int(day["visitors"]) == stats["visitors"]["value"] == 1
        assert int(day["pageviews"]) == stats["pageviews"]["value"] == 3
        assert int(day["visits"]) == stats["visits"]["value"]
        assert {r["page"]: r["pageviews"] for r in files["imported_pages"]} == {
            "/": "2", "/pricing": "1"}

        for params, field in (({"from": "2026-13-01"}, "from"), ({"to": "soon"}, "to"),
                              ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
                              ({"from": "2000-01-01", "to": "2026-03-01"}, "from")):
            bad = client.get("/api/v1/sites/a.example/export", params=params, headers=auth)
            assert bad.status_code == 400 and bad.json()["error"]["field"] == field, bad.text
        assert client.get("/api/v1/sites/b.example/export", headers=auth).status_code == 403
        assert client.get("/api/v1/sites/a.example/export").status_code == 401
        stats_only, _ = svc.meta.create_api_key("s", ["stats"], [1])
        assert client.get("/api/v1/sites/a.example/export", headers={
            "authorization": f"Bearer {stats_only}"}).status_code == 403


def test_the_settings_page_button_is_for_admins_and_owners(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        site = make_site(client, "a.example")
        for who in ("viewer", "editor", "admin"):
            user = svc.meta.create_user(f"{who}@example.com", PASSWORD)
            svc.people.set_guest_role(site.id, user.id, who)
        _send(client, "a.example", ["/"])
        url = f"/sites/{site.id}/export"
        assert client.get(url).status_code == 401
        for who in ("viewer", "editor"):
            client.cookies.clear()
            assert login(client, f"{who}@example.com", PASSWORD).status_code == 303
            assert "Export data" not in client.get(f"/sites/{site.id}/settings").text
            assert client.get(url).status_code == 403
        client.cookies.clear()
        assert login(client, "admin@example.com", PASSWORD).status_code == 303
        page = client.get(f"/sites/{site.id}/settings").text
        assert "Export data" in page and f'action="/sites/{site.id}/export"' in page
        csrf_of(page)
        r = client.get(url, params={"from": "", "to": ""})  # the form's empty dates
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert _files(r.content)["imported_visitors"][0]["pageviews"] == "1"


def test_the_cli_writes_the_zip_with_progress_on_stderr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    with make_client(tmp_path, data_dir=tmp_path / "data") as client:
        make_site(client, "a.example")
        _send(client, "a.example", ["/", "/x"])
    runner = CliRunner()
    out = tmp_path / "site.zip"
    result = runner.invoke(cli, ["export-site", "--site", "a.example", str(out)])
    assert result.exit_code == 0, result.output
    assert "imported_pages" in result.stderr and "10/10" in result.stderr
    assert {r["page"] for r in _files(out.read_bytes())["imported_pages"]} == {"/", "/x"}
    missing = runner.invoke(cli, ["export-site", "--site", "nope.example", str(out)])
    assert missing.exit_code == 1 and "no site" in missing.output
    bad = runner.invoke(cli, ["export-site", "--site", "a.example", "--from", "2026-03-02",
                              "--to", "2026-03-01", str(out)])
    assert bad.exit_code == 1 and "from" in bad.output
