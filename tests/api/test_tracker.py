"""Serving the tracker, its size budget and the freshness of its committed build.

The browser behaviour is tested in ``tests/e2e/test_tracker.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import re
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from liveinsight.api import routes, tracker

TRACKER_DIR = Path(tracker.__file__).parent.parent / "dashboard" / "tracker"
REPO = Path(__file__).resolve().parents[2]


def _client() -> TestClient:
    app = FastAPI()
    app.include_router(tracker.router)
    return TestClient(app, base_url="http://stats.test")


def test_served_script_is_at_most_1536_bytes_gzipped() -> None:
    body = (TRACKER_DIR / "script.js").read_bytes()
    assert len(gzip.compress(body, 9)) <= 1536
    assert len(tracker.tracker_asset().gzipped) <= 1536


def test_plausible_variant_files_stay_within_the_budget() -> None:
    for n in range(1, len(tracker.VARIANT_ATTRIBUTES) + 1):
        for flags in itertools.combinations(tracker.VARIANT_ATTRIBUTES, n):
            assert len(tracker.variant_asset(frozenset(flags)).gzipped) <= 1536, flags


def test_committed_build_matches_its_source() -> None:
    manifest = json.loads((TRACKER_DIR / "build.json").read_text())
    source = hashlib.sha256((TRACKER_DIR / "script.src.js").read_bytes()).hexdigest()
    built = hashlib.sha256((TRACKER_DIR / "script.js").read_bytes()).hexdigest()
    assert manifest["source_sha256"] == source, (
        "script.src.js changed since the last build: run scripts/build-tracker.sh")
    assert manifest["output_sha256"] == built, (
        "script.js was edited by hand: edit script.src.js and run scripts/build-tracker.sh")


def test_built_script_keeps_the_wire_names_the_collector_reads() -> None:
    body = (TRACKER_DIR / "script.js").read_text()
    for needle in ('"engagement"', '"Outbound Link: Click"', '"File Download"', "keepalive",
                   "liveinsight_ignore", '"/api/event"', "revenue:", "sd:"):
        assert needle in body


def test_script_is_cached_for_an_hour_with_an_etag() -> None:
    with _client() as client:
        r = client.get("/js/script.js", headers={"accept-encoding": "identity"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers["cache-control"] == "public, max-age=3600"
        assert r.headers["cross-origin-resource-policy"] == "cross-origin"
        assert "content-encoding" not in r.headers
        assert r.content == (TRACKER_DIR / "script.js").read_bytes()
        etag = r.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{16}"', etag)

        again = client.get("/js/script.js", headers={"if-none-match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["cache-control"] == "public, max-age=3600"

        other = client.get("/js/script.js", headers={"if-none-match": '"0000000000000000"'})
        assert other.status_code == 200


def test_gzip_is_served_to_clients_that_accept_it() -> None:
    with _client() as client:
        raw = client.get("/js/script.js", headers={"accept-encoding": "gzip, br"},
                         follow_redirects=False)
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.headers["vary"] == "Accept-Encoding"
        assert raw.content == (TRACKER_DIR / "script.js").read_bytes()  # httpx decoded it
        assert raw.headers["etag"].endswith('-gz"')
        # The client holding either coding is current.
        plain = client.get("/js/script.js", headers={"accept-encoding": "identity"})
        for etag in (raw.headers["etag"], plain.headers["etag"]):
            assert client.get("/js/script.js", headers={"if-none-match": etag}).status_code == 304
        refused = client.get("/js/script.js", headers={"accept-encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers


def test_versioned_script_is_immutable_for_a_year() -> None:
    path = tracker.tracker_path()
    assert re.fullmatch(r"/js/script\.[0-9a-f]{16}\.js", path)
    with _client() as client:
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.content == (TRACKER_DIR / "script.js").read_bytes()
        assert client.head(path).status_code == 200


def test_an_earlier_release_hash_gets_the_current_script_briefly_cached() -> None:
    with _client() as client:
        r = client.get("/js/script.0123456789abcdef.js")
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=3600"
        assert r.content == (TRACKER_DIR / "script.js").read_bytes()


@pytest.mark.parametrize(("path", "attributes"), [
    ("/js/plausible.js", []),
    ("/js/script.outbound-links.file-downloads.js", []),
    ("/js/script.hash.js", ["data-hash"]),
    ("/js/plausible.hash.local.manual.js", ["data-hash", "data-allow-local", "data-manual"]),
])
def test_plausible_script_names_keep_working(path: str, attributes: list[str]) -> None:
    script = (TRACKER_DIR / "script.js").read_bytes()
    with _client() as client:
        r = client.get(path)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=3600"
    prefix = r.content.removesuffix(script).decode()
    assert r.content.endswith(script)
    assert re.findall(r'setAttribute\("([a-z-]+)",""\);', prefix) == attributes


def test_tracker_url_uses_the_public_url_or_the_request() -> None:
    path = tracker.tracker_path()
    assert tracker.tracker_url("https://stats.example.com/") == "https://stats.example.com" + path
    assert tracker.tracker_url("https://example.com/stats") == "https://example.com/stats" + path

    app = FastAPI()

    @app.get("/snippet")
    def snippet(request: Request) -> str:
        return tracker.tracker_url(request)

    with TestClient(app, base_url="http://stats.test:8123") as client:
        assert client.get("/snippet").json() == "http://stats.test:8123" + path


def test_tracker_url_prefers_the_public_url_setting(tmp_path: Path) -> None:
    from tests.conftest import make_client

    with make_client(tmp_path, public_url="https://stats.example.com") as client:
        request = Request({"type": "http", "app": client.app, "headers": []})
        assert tracker.tracker_url(request) == "https://stats.example.com" + tracker.tracker_path()
        assert client.get(tracker.tracker_path()).status_code == 200  # registered in the app


def test_router_is_registered() -> None:
    assert tracker.router in routes.ROUTERS


def test_tracker_files_ship_in_the_wheel() -> None:
    """Hatch packages src/liveinsight minus what .gitignore ignores: the tracker must be
    neither ignored nor excluded."""
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'packages = ["src/liveinsight"]' in pyproject
    assert "exclude" not in pyproject.split("[tool.hatch.build")[1].split("\n[tool.pytest")[0]
    for name in ("script.js", "script.src.js", "build.json"):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(TRACKER_DIR / name)], cwd=REPO, check=False)
        assert ignored.returncode == 1, f"{name} is git-ignored, so hatch would leave it out"
