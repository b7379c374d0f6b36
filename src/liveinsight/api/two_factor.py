"""Two-factor sign-in on the account page: set up (a new secret shown with its
``otpauth://`` link), turn on (a code from the app confirms; ten recovery codes shown once)
and turn off (with the password). The sign-in's second step is ``POST /login/code``
(``api/dashboard.py``). Every form is the person's own (``member_form``: a session and its
CSRF token); each change is audited (the front door records the request, with details).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from liveinsight.api import session as auth
from liveinsight.api.dashboard import page
from liveinsight.api.deps import services
from liveinsight.api.forms import member_form
from liveinsight.api.notes import note_details
from liveinsight.meta.repo import MetaError
from liveinsight.security import totp

router = APIRouter(include_in_schema=False)


@router.post("/account/two-factor/setup")
async def setup(request: Request) -> Response:
    viewer, _ = await member_form(request)
    svc = services(request)
    try:
        secret = await run_in_threadpool(svc.two_factor.begin, viewer.user.id)
    except MetaError as exc:
        return page(request, "two_factor.html", {"viewer": viewer, "error": str(exc)}, 409)
    return page(request, "two_factor.html", {
        "viewer": viewer, "secret": secret, "error": None,
        "uri": totp.provisioning_uri(secret, viewer.user.email)})


@router.post("/account/two-factor/enable")
async def enable(request: Request) -> Response:
    viewer, form = await member_form(request)
    svc = services(request)
    code = str(form.get("code", ""))[:40]
    try:
        codes = await run_in_threadpool(svc.two_factor.enable, viewer.user.id, code,
                                        svc.clock())
    except MetaError as exc:
        status = await run_in_threadpool(svc.two_factor.status, viewer.user.id)
        secret = status.pending_secret or ""
        return page(request, "two_factor.html", {
            "viewer": viewer, "secret": secret, "error": str(exc),
            "uri": totp.provisioning_uri(secret, viewer.user.email) if secret else ""}, 400)
    note_details(request, two_factor="on")
    return page(request, "two_factor.html", {"viewer": viewer, "codes": codes,
                                             "error": None})


@router.post("/account/two-factor/disable")
async def disable(request: Request) -> Response:
    viewer, form = await member_form(request)
    svc = services(request)
    password = str(form.get("password", ""))[:1000]
    if await auth.authenticate(request, viewer.user.email, password) is None:
        return page(request, "two_factor.html", {
            "viewer": viewer, "error": "The password is wrong: two-factor sign-in stays on."},
            400)
    await run_in_threadpool(svc.two_factor.disable, viewer.user.id)
    note_details(request, two_factor="off")
    return RedirectResponse("/account?done=two-factor-off", status_code=303)
