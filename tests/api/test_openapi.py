"""The OpenAPI document: generated without warnings, and every public endpoint is in it."""

from fastapi.testclient import TestClient

PUBLIC = {
    "/api/event": "post", "/api/send": "post", "/api/batch": "post", "/api/events": "post",
    "/api/csrf-token": "post", "/api/v2/query": "post", "/api/stats/aggregate": "get",
    "/api/stats": "get", "/api/stats/timeseries": "get", "/api/stats/breakdown": "get",
    "/api/realtime": "get",
    "/api/realtime/stream": "get", "/js/script.js": "get", "/js/script.{variant}.js": "get",
    "/health": "get", "/health/detailed": "get", "/metrics": "get",
}


def test_openapi_lists_every_public_endpoint_with_a_summary(client: TestClient) -> None:
    response = client.get("/openapi.json")  # warnings are errors here (pyproject)
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, method in PUBLIC.items():
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not in OpenAPI"
        assert paths[path][method].get("summary"), f"{path} has no summary"
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_head_of_the_tracker_still_works(client: TestClient) -> None:
    response = client.head("/js/script.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")


ERRORS = {
    "/api/event": {400, 403, 408, 413, 415, 503}, "/api/send": {400, 403, 408, 413, 415, 503},
    "/api/batch": {400, 403, 408, 413, 415, 503},
    "/api/events": {400, 401, 403, 408, 413, 415, 429, 503}, "/api/csrf-token": {400},
    "/api/v2/query": {400, 401, 403, 408, 413, 503},
    "/api/stats/aggregate": {400, 401, 403, 503}, "/api/stats/timeseries": {400, 401, 403, 503},
    "/api/stats/breakdown": {400, 401, 403, 503}, "/api/realtime": {400, 401, 403, 503},
    "/api/realtime/stream": {400, 401, 403, 503}, "/health/detailed": {401, 403},
    "/metrics": {401, 403},
}


def test_error_answers_and_tracker_content_types_are_declared(client: TestClient) -> None:
    """So API fuzzing can check every answer against the document."""
    spec = client.get("/openapi.json").json()
    assert "ErrorBody" in spec["components"]["schemas"]
    for path, statuses in ERRORS.items():
        op = spec["paths"][path][PUBLIC[path]]
        declared = {int(s) for s in op["responses"] if s.isdigit()}
        assert statuses <= declared, (path, statuses - declared)
        for status in statuses:
            schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    for path in ("/api/event", "/api/send", "/api/batch"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert {"text/plain", "application/json"} <= set(content), path


def test_the_api_docs_work_offline(client: TestClient) -> None:
    """FastAPI's page loaded Swagger UI from a CDN (blank offline); every asset is ours."""
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", page.text)
    assets = [a or b for a, b in urls]
    assert assets and all(u.startswith(("/", "data:")) for u in assets), assets
    for url in assets:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url
    assert "\"validatorUrl\":null" in page.text.replace(" ", "")
    assert client.get("/redoc").status_code == 404


RATE_HEADERS = {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
                "RateLimit-Policy"}
UNLIMITED = {"/health", "/metrics", "/js/script.js", "/js/script.{variant}.js",
             "/api/event", "/api/send", "/api/batch", "/api/events", "/api/csrf-token"}


def test_every_rate_limited_route_declares_its_429_with_the_headers(
        client: TestClient) -> None:
    """The request limits (``api/limits.py``) answer 429 on every route but the collector's,
    the tracker, files and the monitoring probes: the document says so on each."""
    paths = client.get("/openapi.json").json()["paths"]
    limited = 0
    for path, item in paths.items():
        for method, op in item.items():
            declared = op["responses"].get("429")
            if path in UNLIMITED or path.startswith("/api/v1/assets/optimized/"):
                if path != "/api/events":  # its own per-key event rate: Retry-After only
                    assert declared is None, (method, path)
                continue
            limited += 1
            assert declared is not None, f"{method.upper()} {path} does not declare 429"
            assert set(declared["headers"]) == RATE_HEADERS, (method, path)
            schema = declared["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
    assert limited > 40  # the stats, realtime, behaviour, management and admin APIs
    events = paths["/api/events"]["post"]["responses"]["429"]
    assert set(events["headers"]) == {"Retry-After"}
    assert "Retry-After" in paths["/api/stats/aggregate"]["get"]["responses"]["503"]["headers"]


def test_success_content_types_are_the_ones_sent(client: TestClient) -> None:
    """Plausible's `ok` is text/plain, the tracker text/javascript: the document says so (API
    fuzzing found both declared as application/json), and error bodies stay JSON."""
    paths = client.get("/openapi.json").json()["paths"]
    event = paths["/api/event"]["post"]["responses"]
    assert set(event["202"]["content"]) == {"text/plain"}
    assert set(event["400"]["content"]) == {"application/json"}
    assert client.post("/api/event", content=b"{}").headers["content-type"].startswith(
        "application/json")
    for path in ("/js/script.js", "/js/script.{variant}.js"):
        assert set(paths[path]["get"]["responses"]["200"]["content"]) == {"text/javascript"}
    assert client.get("/js/script.js").headers["content-type"].startswith("text/javascript")
