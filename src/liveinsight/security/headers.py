"""The security headers every answer carries, and the HTTPS requirement: values in, values out.

:meth:`SecurityHeaders.add` takes an answer's headers and returns them with each header of
the policy the answer does not set itself: a route that sets its own (an uploaded image's
``Content-Security-Policy: default-src 'none'``, the API docs' script hash) keeps its own.
HTML answers get the dashboard's policy (scripts and styles from this server only, inline
styles allowed for the chart libraries, no framing); every other answer (JSON, scripts,
images, files) the strictest one (``default-src 'none'``), which a browser applies only
were the answer opened as a page. An answer whose own policy lets pages frame it (a
shared dashboard's ``?embed=true``: :func:`embed_csp`) gets no ``X-Frame-Options``, whose
``DENY`` would contradict it. ``Strict-Transport-Security`` goes only on answers to a
request that arrived over HTTPS (directly, or as a trusted proxy reports it: see
``security/client_ip.py``): a browser ignores it over HTTP, and sending it there would
promise what the server may not keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

Headers = list[tuple[bytes, bytes]]

DASHBOARD_CSP = ("default-src 'self'; script-src 'self'; img-src 'self' data:; "
                 "style-src 'self' 'unsafe-inline'; connect-src 'self'; object-src 'none'; "
                 "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
PERMISSIONS = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
               "microphone=(), payment=(), usb=(), browsing-topics=()")
_CSP = b"content-security-policy"
_CONTENT_TYPE = b"content-type"
_XFO = b"x-frame-options"


def _encode(pairs: Iterable[tuple[str, str]]) -> Headers:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class SecurityHeaders:
    """The policy, built once from the settings (``hsts_seconds`` 0: no HSTS)."""

    def __init__(self, hsts_seconds: int) -> None:
        common = _encode([
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "same-origin"),
            ("permissions-policy", PERMISSIONS),
            ("cross-origin-opener-policy", "same-origin"),
        ])
        self._hsts = _encode([("strict-transport-security",
                               f"max-age={hsts_seconds}; includeSubDomains")]
                             if hsts_seconds > 0 else [])
        self._html = common + _encode([("content-security-policy", DASHBOARD_CSP)])
        self._other = common + _encode([("content-security-policy", API_CSP)])

    def add(self, headers: Iterable[tuple[bytes, bytes]], https: bool) -> Headers:
        """``headers`` (raw ASGI pairs, lowercase names) plus each policy header they lack;
        a new list, the given one unchanged."""
        result = list(headers)
        present = {name.lower() for name, _ in result}
        html = any(name.lower() == _CONTENT_TYPE and value.startswith(b"text/html")
                   for name, value in result)
        if any(name.lower() == _CSP and _framed(value) for name, value in result):
            present.add(_XFO)  # an embeddable answer's own frame-ancestors decide alone
        wanted = (self._html if html else self._other) + (self._hsts if https else [])
        result.extend(pair for pair in wanted if pair[0] not in present)
        return result


def embed_csp(origins: Iterable[str]) -> str:
    """The dashboard's policy for an embeddable page: framed by ``origins`` only (none:
    by no page). ``origins`` are checked ones (``meta/shares.py``: scheme and host)."""
    allowed = " ".join(origins) or "'none'"
    return DASHBOARD_CSP.replace("frame-ancestors 'none'", f"frame-ancestors {allowed}")


def _framed(csp: bytes) -> bool:
    """Whether a policy lets some page frame the answer (``X-Frame-Options: DENY`` would
    then contradict it)."""
    for directive in csp.split(b";"):
        parts = directive.split()
        if parts and parts[0].lower() == b"frame-ancestors":
            return parts[1:] != [b"'none'"]
    return False


_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def https_url(host: str, path: str, query: str, public_url: str | None) -> str | None:
    """Where a plain-HTTP GET is sent under ``require_https``: to the origin of
    ``public_url`` when it is an ``https://`` one, else to the host the client asked for
    (its ``Host``, on the default port). None when that host is not a host name or address
    (nothing to send the client to)."""
    if public_url and public_url.startswith("https://"):
        parts = urlsplit(public_url)
        base = f"https://{parts.netloc}"
    elif _HOST.fullmatch(host):
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        base = "https://" + name
    else:
        return None
    return base + path + (f"?{query}" if query else "")
