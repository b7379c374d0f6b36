"""What the HTTP layer reads from a request's app: its services."""

from __future__ import annotations

from starlette.requests import Request

from liveinsight.services import Services


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
