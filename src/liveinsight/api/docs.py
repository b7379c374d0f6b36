"""``GET /docs``: the interactive API documentation (Swagger UI), served from the package.

FastAPI's own page loads Swagger UI from a third-party CDN, so it is blank offline or behind
a strict network; here its assets (swagger-ui-dist 5.35.0, Apache-2.0, vendored under
``dashboard/static/vendor/swagger-ui/``) come from this server's ``/static``. The page's one
inline script (Swagger UI's start) is allowed by its hash in the page's own
Content-Security-Policy; nothing else inline runs.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
_VENDOR = "/static/vendor/swagger-ui"


_INLINE = re.compile(rb"<script>(.*?)</script>", re.S)


def _page() -> tuple[bytes, str]:
    """The page and its Content-Security-Policy (the inline scripts' hashes)."""
    body = get_swagger_ui_html(openapi_url="/openapi.json", title="LiveInsight API",
                               swagger_js_url=f"{_VENDOR}/swagger-ui-bundle.js",
                               swagger_css_url=f"{_VENDOR}/swagger-ui.css",
                               swagger_favicon_url="data:,",
                               # no badge fetched from validator.swagger.io
                               swagger_ui_parameters={"validatorUrl": None}).body
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
                      for m in _INLINE.findall(body))
    csp = (f"default-src 'self'; script-src 'self' {hashes}; img-src 'self' data:; "
           "style-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; "
           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    return bytes(body), csp


_BODY, _CSP = _page()


@router.get("/docs")
async def docs() -> HTMLResponse:
    return HTMLResponse(_BODY, headers={"cache-control": "no-cache",
                                        "content-security-policy": _CSP})
