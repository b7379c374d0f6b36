"""The OpenAPI document: generated without warnings, and every public endpoint is in it."""

from fastapi.testclient import TestClient

PUBLIC = {
    "/api/event": "post", "/api/send": "post", "/api/batch": "post", "/api/events": "post",
    "/api/csrf-token": "post", "/api/v2/query": "post", "/api/stats/aggregate": "get",
    "/api/stats/timeseries": "get", "/api/stats/breakdown": "get", "/api/realtime": "get",
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
