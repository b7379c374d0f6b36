"""Imports through the API: upload, job status until completed, list, get, delete; bad
files named; limits; who may."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import make_client, make_site, svc_of
from tests.imports.exports import plausible_files, zipped
from tests.support import wait_until

URL = "/api/v1/sites/example.com/imports"


def _keys(client: TestClient) -> dict[str, dict[str, str]]:
    svc = svc_of(client)
    site = make_site(client, "example.com")
    other = make_site(client, "other.org")
    made = {"admin": svc.meta.create_api_key("a", ["admin"], [site.id])[0],
            "stats": svc.meta.create_api_key("s", ["stats"], [site.id])[0],
            "other": svc.meta.create_api_key("o", ["admin", "stats"], [other.id])[0]}
    return {name: {"authorization": f"Bearer {key}"} for name, key in made.items()}


def _upload(client: TestClient, headers: dict[str, str], data: bytes,
            name: str = "plausible.zip", source: str = "plausible") -> Any:
    return client.post(URL, headers=headers, data={"source": source},
                       files={"file": (name, data, "application/zip")})


def test_upload_follow_list_and_delete(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        keys = _keys(client)
        answer = _upload(client, keys["admin"], zipped(plausible_files()))
        assert answer.status_code == 202, answer.text
        doc = answer.json()
        assert doc["status"] in ("importing", "completed")
        assert (doc["start_date"], doc["end_date"]) == ("2024-01-01", "2024-01-03")

        def done() -> dict[str, Any] | None:
            got = client.get(f"{URL}/{doc['id']}", headers=keys["admin"]).json()
            return got if got["status"] != "importing" else None

        final = wait_until(done, 60, "the import to finish")
        assert final["status"] == "completed" and final["rows"] == 54
        assert final["progress"]["progress"] == 1.0
        listed = client.get(URL, headers=keys["admin"]).json()
        assert [i["id"] for i in listed] == [doc["id"]]
        # the same days again: every day is taken
        again = _upload(client, keys["admin"], zipped(plausible_files()))
        assert again.status_code == 409 and "earlier import" in again.json()["error"]["message"]
        assert client.delete(f"{URL}/{doc['id']}", headers=keys["admin"]).status_code == 204
        assert client.get(URL, headers=keys["admin"]).json() == []
        assert client.get(f"{URL}/{doc['id']}", headers=keys["admin"]).status_code == 404
        db = svc_of(client).store.database
        left = svc_of(client).store.query(f"SELECT count() FROM `{db}`.imported_pages").scalar()
        assert left == 0


def test_bad_files_and_limits(tmp_path: Path) -> None:
    with make_client(tmp_path, import_max_upload_bytes=200_000) as client:
        keys = _keys(client)
        files = plausible_files()
        files["imported_pages_20240101_20240103.csv"] = "date,page,visitors\n2024-01-01,/,x\n"
        bad = _upload(client, keys["admin"], zipped(files))
        assert bad.status_code == 400
        error = bad.json()["error"]
        assert error["field"] == "file"
        assert "imported_pages_20240101_20240103.csv, line 2, column 'visitors'" in \
            error["message"]
        assert _upload(client, keys["admin"], b"x" * 300_000).status_code == 413
        bomb = tmp_path / "bomb.zip"
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("imported_visitors.csv", "date,visitors\n" + "0" * (30 << 20))
        refused = _upload(client, keys["admin"], bomb.read_bytes())
        assert refused.status_code == 413 and "zip bomb" in refused.json()["error"]["message"]
        wrong = _upload(client, keys["admin"], zipped(plausible_files()), source="matomo")
        assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "source"
        missing = client.post(URL, headers=keys["admin"], data={"source": "ga4"})
        assert missing.status_code == 400 and missing.json()["error"]["field"] == "file"
        # nothing was recorded, nothing kept on disk
        assert client.get(URL, headers=keys["admin"]).json() == []
        assert not list((svc_of(client).settings.data_dir / "imports").glob("*.upload"))


def test_only_the_sites_admins(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        keys = _keys(client)
        data = zipped(plausible_files())
        assert _upload(client, {}, data).status_code == 401
        assert _upload(client, keys["stats"], data).status_code == 403
        assert _upload(client, keys["other"], data).status_code == 403
        assert client.get(URL, headers=keys["other"]).status_code == 403
        assert client.delete(f"{URL}/1", headers=keys["stats"]).status_code == 403
