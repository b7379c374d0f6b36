"""``GET /docs``: the interactive API documentation (Swagger UI), served from the package.

FastAPI's own page loads Swagger UI from a third-party CDN, so it is blank offline or behind
a strict network; here its assets (swagger-ui-dist 5.35.0, Apache-2.0, vendored under
``dashboard/static/vendor/swagger-ui/``) come from this server's ``/static``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
_VENDOR = "/static/vendor/swagger-ui"


@router.get("/docs")
async def docs() -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="LiveInsight API",
                               swagger_js_url=f"{_VENDOR}/swagger-ui-bundle.js",
                               swagger_css_url=f"{_VENDOR}/swagger-ui.css",
                               swagger_favicon_url="data:,",
                               # no badge fetched from validator.swagger.io
                               swagger_ui_parameters={"validatorUrl": None})
    page.headers["cache-control"] = "no-cache"
    return page
