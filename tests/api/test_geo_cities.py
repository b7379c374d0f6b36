"""Region and city through the real collector: a small city database built by the test,
events from IPv4, IPv6 and IPv4-mapped IPv6 clients stored with their place, the file
replaced under the running app, and what ``/health/detailed`` says about it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from liveinsight.app import create_app
from liveinsight.settings import ConfigError
from tests.conftest import login, make_client, make_settings, make_site, stored_events, svc_of
from tests.ingest.citydb_factory import city, write_city_db

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")


def _send(app: Any, ip: str, path: str) -> None:
    body = {"n": "pageview", "u": f"https://example.com{path}", "d": "example.com"}
    client = TestClient(app, client=(ip, 40000))  # the app already started (no lifespan)
    r = client.post("/api/event", content=json.dumps(body),
                    headers={"user-agent": UA, "content-type": "text/plain"})
    assert r.status_code == 202


def _places(client: TestClient) -> dict[str, tuple[str, str, str]]:
    return {e["pathname"]: (e["country_code"], e["region"], e["city"])
            for e in stored_events(client)}


def _geo_health(client: TestClient) -> Any:
    key, _ = svc_of(client).meta.create_api_key("ops", ["admin"])
    r = client.get("/health/detailed", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200
    return r.json()["checks"]["geo_database"]


def test_events_get_country_region_and_city(tmp_path: Path) -> None:
    db = write_city_db(tmp_path / "city.mmdb")
    with make_client(tmp_path, geo_city_database=db) as client:
        make_site(client, "example.com")
        app = client.app
        _send(app, "81.2.69.142", "/v4")
        _send(app, "2001:480::1", "/v6")
        _send(app, "::ffff:89.160.20.1", "/mapped")
        _send(app, "8.8.8.8", "/not-in-file")  # the country from iptocc, no city
        _send(app, "10.1.2.3", "/private")
        assert _places(client) == {
            "/v4": ("GB", "England", "London"),
            "/v6": ("US", "California", "San Diego"),
            "/mapped": ("DE", "Berlin", "Berlin"),
            "/not-in-file": ("US", "", ""),
            "/private": ("", "", ""),
        }
        svc = svc_of(client)
        sessions = svc.store.query(
            f"SELECT entry_page, country_code, region, city FROM `{svc.store.database}`"
            ".sessions WHERE sign = 1").rows
        assert ("/v6", "US", "California", "San Diego") in [tuple(r) for r in sessions]
        health = _geo_health(client)
        assert health["type"] == "GeoLite2-City" and health["path"] == str(db)
        assert health["build_date"][:2] == "20"

        # replaced under the running app (renamed over, as geoipupdate does)
        write_city_db(db, {"81.2.69.0/24": city("GB", "Scotland", "Edinburgh")},
                      database_type="DBIP-City-Lite")
        svc.cities.check_now()  # type: ignore[union-attr]  (else: within a minute)
        _send(app, "81.2.69.142", "/after")
        assert _places(client)["/after"] == ("GB", "Scotland", "Edinburgh")
        assert _geo_health(client)["type"] == "DBIP-City-Lite"

        # a broken replacement: logged, the open one kept, ingestion goes on
        part = tmp_path / "download.part"
        part.write_bytes(b"<html>503</html>")  # renamed over it, as any update should be
        part.replace(db)
        svc.cities.check_now()  # type: ignore[union-attr]
        _send(app, "81.2.69.142", "/broken")
        assert _places(client)["/broken"] == ("GB", "Scotland", "Edinburgh")
        assert "keeping the database already open" in _geo_health(client)["reload_error"]


def test_without_a_city_database_country_only(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        make_site(client, "example.com")
        _send(client.app, "81.2.69.142", "/v4")
        assert _places(client) == {"/v4": ("GB", "", "")}
        assert _geo_health(client) == "country only"


def test_a_file_gone_before_the_start_fails_it_naming_the_setting(tmp_path: Path) -> None:
    db = write_city_db(tmp_path / "city.mmdb")
    settings = make_settings(tmp_path, geo_city_database=db)
    db.unlink()
    with pytest.raises(ConfigError, match="LIVEINSIGHT_GEO_CITY_DATABASE: no file"), \
            TestClient(create_app(settings)):
        pass


ADMIN = ("admin@example.com", "geo-test-password-42")


def _page_geo(client: TestClient, domain: str) -> Any:
    """The places the dashboard page of ``domain`` hands its script (``#geo``)."""
    site = svc_of(client).sites.by_domain(domain)
    html = client.get(f"/sites/{site.id}").text  # type: ignore[union-attr]
    found = re.search(r'<script type="application/json" id="geo">(.*?)</script>', html)
    assert found, "no #geo data in the dashboard page"
    return json.loads(found.group(1))


def test_the_dashboard_knows_whether_cities_are_looked_up(tmp_path: Path) -> None:
    with make_client(tmp_path / "without") as client:
        svc_of(client).meta.create_user(*ADMIN, role="admin")
        make_site(client, "example.com")
        make_site(client, "demo.liveinsight.dev")
        assert login(client, *ADMIN).status_code == 303
        assert _page_geo(client, "example.com") == {"cities": False, "credit": None,
                                                    "demo": False}
        assert _page_geo(client, "demo.liveinsight.dev")["demo"] is True
    db = write_city_db(tmp_path / "city.mmdb", database_type="DBIP-City-Lite")
    with make_client(tmp_path / "with", geo_city_database=db) as client:
        svc_of(client).meta.create_user(*ADMIN, role="admin")
        make_site(client, "example.com")
        assert login(client, *ADMIN).status_code == 303
        assert _page_geo(client, "example.com") == {
            "cities": True, "credit": ["IP geolocation by DB-IP", "https://db-ip.com"],
            "demo": False}
