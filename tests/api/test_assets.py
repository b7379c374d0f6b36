"""The image API: upload (admin key of the site, limits, sniffing), optimised variants
(public, immutable, never HTML), list and delete."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import make_client, make_site, svc_of
from tests.test_images import picture


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    with make_client(tmp_path, asset_max_bytes=200_000) as client:
        site = make_site(client, "a.example")
        other = make_site(client, "b.example")
        meta = svc_of(client).meta
        mine, _ = meta.create_api_key("a", ["admin"], [site.id])
        theirs, _ = meta.create_api_key("b", ["admin"], [other.id])
        yield client, {"authorization": f"Bearer {mine}"}, {"authorization": f"Bearer {theirs}"}


def _upload(client: TestClient, auth: dict[str, str], data: bytes, mime: str = "image/png",
            site: str = "a.example") -> Any:
    return client.post("/api/v1/assets/upload", headers=auth, data={"site_id": site},
                       files={"file": ("logo.png", data, mime)})


def test_an_uploaded_image_is_served_optimised_and_immutable(
        app: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, auth, _ = app
    data = picture("PNG", (600, 300))
    r = _upload(client, auth, data)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["id"] == hashlib.sha256(data).hexdigest()
    assert (doc["mime"], doc["width"], doc["height"], doc["size"]) == ("image/png", 600, 300,
                                                                       len(data))
    assert _upload(client, auth, data).status_code == 200  # the same image again: kept once
    got = client.get(doc["url"], params={"w": 128}, headers={"accept": "image/avif,*/*"})
    assert got.status_code == 200 and got.headers["content-type"] == "image/avif"
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert Image.open(io.BytesIO(got.content)).size == (128, 64)
    webp = client.get(doc["url"], params={"format": "webp", "w": 64, "h": 64})  # no credential
    assert webp.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(webp.content)).size == (64, 32)
    listed = client.get("/api/v1/sites/a.example/assets", headers=auth).json()
    assert [a["id"] for a in listed] == [doc["id"]]
    assert client.delete(f"/api/v1/sites/a.example/assets/{doc['id']}",
                         headers=auth).status_code == 204
    assert client.get(doc["url"], params={"format": "webp", "w": 64}).status_code == 404


@pytest.mark.parametrize(("data", "mime", "status", "field"), [
    (b"<svg onload=alert(1)></svg>", "image/svg+xml", 415, "file"),
    (b"<html><script>alert(1)</script></html>", "image/png", 415, "file"),
    (b"just text", "text/plain", 415, "file"),
    (b"", "image/png", 400, "file"),
    (b"x" * 200_001, "image/png", 413, "file"),
])
def test_bad_files_are_refused_with_the_reason(
        app: tuple[TestClient, dict[str, str], dict[str, str]], data: bytes, mime: str,
        status: int, field: str) -> None:
    client, auth, _ = app
    r = _upload(client, auth, data, mime)
    assert r.status_code == status and r.json()["error"]["field"] == field, r.text


def test_a_body_past_the_upload_limit_is_refused_before_it_is_read(
        app: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, auth, _ = app
    r = _upload(client, auth, b"x" * 400_000)
    assert r.status_code == 413


def test_another_sites_key_can_neither_upload_nor_list_nor_delete(
        app: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    client, auth, theirs = app
    doc = _upload(client, auth, picture()).json()
    assert _upload(client, theirs, picture("PNG", (10, 10))).status_code == 403
    assert client.get("/api/v1/sites/a.example/assets", headers=theirs).status_code == 403
    assert client.delete(f"/api/v1/sites/a.example/assets/{doc['id']}",
                         headers=theirs).status_code == 403
    assert _upload(client, {}, picture()).status_code == 401
    # the same image for site b: refused, it belongs to a
    assert _upload(client, theirs, picture(), site="b.example").status_code == 409


@pytest.mark.parametrize(("params", "status"), [({"w": 100}, 400), ({"h": 5000}, 400),
                                               ({"format": "svg"}, 400)])
def test_variant_parameters_are_bounded(
        app: tuple[TestClient, dict[str, str], dict[str, str]], params: dict[str, Any],
        status: int) -> None:
    client, auth, _ = app
    doc = _upload(client, auth, picture()).json()
    assert client.get(doc["url"], params=params).status_code == status
    assert client.get("/api/v1/assets/optimized/" + "0" * 64).status_code == 404
    assert client.get("/api/v1/assets/optimized/../../etc").status_code == 404
