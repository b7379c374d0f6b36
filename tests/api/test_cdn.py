"""POST /admin/cdn/purge through each purger, against a local HTTP receiver standing in for
Cloudflare's API and for a purge webhook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from liveinsight.cache.cdn import signature_valid
from liveinsight.settings import ConfigError, load_settings
from tests.conftest import make_client, svc_of
from tests.support import http_receiver


def _admin(client: Any) -> dict[str, str]:
    key, _ = svc_of(client).meta.create_api_key("admin", ["admin"])
    return {"authorization": f"Bearer {key}"}


def test_cloudflare_purges_files_in_batches_of_thirty(tmp_path: Path) -> None:
    with http_receiver(body=b'{"success": true, "errors": []}') as (got, url), make_client(
            tmp_path, cdn_purger="cloudflare", cdn_cloudflare_zone_id="z1",
            cdn_cloudflare_api_token="tok", cdn_cloudflare_api_url=url + "/client/v4",
            public_url="https://stats.example.com") as client:
        urls = [f"/share/{i}" for i in range(31)]
        r = client.post("/admin/cdn/purge", json={"urls": urls}, headers=_admin(client))
        assert r.status_code == 200, r.text
        assert r.json() == {"purger": "cloudflare", "urls": 31, "everything": False,
                            "calls": 2}
        assert [g.path for g in got] == ["/client/v4/zones/z1/purge_cache"] * 2
        assert got[0].headers["authorization"] == "Bearer tok"
        files = [f for g in got for f in orjson.loads(g.body)["files"]]
        assert files == [f"https://stats.example.com/share/{i}" for i in range(31)]
        r = client.post("/admin/cdn/purge", json={"everything": True}, headers=_admin(client))
        assert r.json()["calls"] == 1 and orjson.loads(got[-1].body) == {
            "purge_everything": True}


def test_a_refused_cloudflare_purge_is_a_503_saying_why(tmp_path: Path) -> None:
    with http_receiver(403, b'{"success": false, "errors": [{"message": "bad token"}]}') as (
            _, url), make_client(tmp_path, cdn_purger="cloudflare", cdn_cloudflare_zone_id="z",
                                 cdn_cloudflare_api_token="t", cdn_cloudflare_api_url=url
                                 ) as client:
        r = client.post("/admin/cdn/purge", json={"urls": ["https://s.example/x"]},
                        headers=_admin(client))
        assert r.status_code == 503 and "bad token" in r.json()["error"]["message"]


def test_the_webhook_purge_is_signed(tmp_path: Path) -> None:
    with http_receiver() as (got, url), make_client(
            tmp_path, cdn_purger="webhook", cdn_purge_webhook_url=url + "/purge",
            cdn_purge_webhook_secret="s3cret") as client:
        r = client.post("/admin/cdn/purge", json={"urls": ["https://s.example/a"]},
                        headers=_admin(client))
        assert r.status_code == 200 and r.json()["purger"] == "webhook"
        assert orjson.loads(got[0].body) == {"urls": ["https://s.example/a"]}
        assert signature_valid("s3cret", got[0].body, got[0].headers["x-liveinsight-signature"])
        assert not signature_valid("other", got[0].body,
                                   got[0].headers["x-liveinsight-signature"])


@pytest.mark.parametrize(("body", "field"), [
    ({}, "body"), ({"urls": ["https://a.example/"], "everything": True}, "body"),
    ({"urls": ["ftp://a.example/x"]}, "urls"), ({"urls": ["/relative"]}, "urls"),
    ({"urls": ["https://a.example/"] * 501}, "urls")])
def test_bad_purges_are_refused_naming_the_field(tmp_path: Path, body: dict[str, Any],
                                                 field: str) -> None:
    with http_receiver() as (got, url), make_client(
            tmp_path, cdn_purger="webhook", cdn_purge_webhook_url=url) as client:
        r = client.post("/admin/cdn/purge", json=body, headers=_admin(client))
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
        assert got == []


def test_without_a_purger_a_purge_is_refused(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        r = client.post("/admin/cdn/purge", json={"everything": True}, headers=_admin(client))
        assert r.status_code == 503 and r.json()["error"]["code"] == "cdn_not_configured"


def test_a_purger_missing_its_settings_stops_the_start() -> None:
    with pytest.raises(ConfigError, match="CDN_CLOUDFLARE_ZONE_ID"):
        load_settings(cdn_purger="cloudflare", _env_file=None)
    with pytest.raises(ConfigError, match="CDN_PURGE_WEBHOOK_URL"):
        load_settings(cdn_purger="webhook", _env_file=None)
