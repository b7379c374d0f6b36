"""L3 invalidation: asking a CDN in front of LiveInsight to drop what it keeps.

A :class:`Purger` purges given URLs or everything. Implementations, chosen by the
``cdn_purger`` setting:

- ``none``: no CDN; a purge is refused (nothing would happen, so saying "done" would lie);
- ``cloudflare``: Cloudflare's API, ``POST {api}/zones/{zone}/purge_cache`` with a bearer
  token (``{"files": [...]}`` in batches of :data:`CLOUDFLARE_BATCH`, or
  ``{"purge_everything": true}``);
- ``webhook``: a generic JSON ``POST`` to a URL of yours (``{"urls": [...]}`` or
  ``{"everything": true}``), signed with HMAC-SHA256 of the body in
  ``X-LiveInsight-Signature: sha256=<hex>`` when a secret is set, for a purge service or a
  Varnish/nginx helper.

A purge that the CDN refuses or cannot be reached raises ``Unavailable`` with what it said.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from liveinsight.errors import Unavailable

CLOUDFLARE_BATCH = 30  # Cloudflare's limit of files per purge call
TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Purged:
    purger: str
    urls: int
    everything: bool
    calls: int


class Purger(Protocol):
    name: str

    async def purge(self, urls: list[str], everything: bool) -> Purged: ...


class NoPurger:
    name = "none"

    async def purge(self, urls: list[str], everything: bool) -> Purged:
        raise Unavailable("no CDN purger is configured (set LIVEINSIGHT_CDN_PURGER to "
                          "cloudflare or webhook)", code="cdn_not_configured")


class CloudflarePurger:
    name = "cloudflare"

    def __init__(self, zone_id: str, token: str, api_url: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = f"{api_url.rstrip('/')}/zones/{zone_id}/purge_cache"
        self._headers = {"authorization": f"Bearer {token}"}
        self._transport = transport

    async def purge(self, urls: list[str], everything: bool) -> Purged:
        bodies: list[dict[str, Any]] = ([{"purge_everything": True}] if everything else
                                        [{"files": urls[i:i + CLOUDFLARE_BATCH]}
                                         for i in range(0, len(urls), CLOUDFLARE_BATCH)])
        async with httpx.AsyncClient(timeout=TIMEOUT_S, transport=self._transport) as client:
            for body in bodies:
                answer = await _post(client, self._url, orjson.dumps(body), self._headers)
                try:
                    ok = bool(orjson.loads(answer.content).get("success"))
                except (orjson.JSONDecodeError, AttributeError):
                    ok = False
                if answer.status_code >= 300 or not ok:
                    raise Unavailable(f"Cloudflare refused the purge ({answer.status_code}): "
                                      f"{answer.text[:300]}", code="cdn_purge_failed")
        return Purged(self.name, 0 if everything else len(urls), everything, len(bodies))


class WebhookPurger:
    name = "webhook"

    def __init__(self, url: str, secret: str | None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = url
        self._secret = secret.encode() if secret else None
        self._transport = transport

    async def purge(self, urls: list[str], everything: bool) -> Purged:
        body = orjson.dumps({"everything": True} if everything else {"urls": urls})
        headers = {}
        if self._secret is not None:
            headers["x-liveinsight-signature"] = "sha256=" + hmac.new(
                self._secret, body, hashlib.sha256).hexdigest()
        async with httpx.AsyncClient(timeout=TIMEOUT_S, transport=self._transport) as client:
            answer = await _post(client, self._url, body, headers)
        if answer.status_code >= 300:
            raise Unavailable(f"the purge webhook answered {answer.status_code}: "
                              f"{answer.text[:300]}", code="cdn_purge_failed")
        return Purged(self.name, 0 if everything else len(urls), everything, 1)


async def _post(client: httpx.AsyncClient, url: str, body: bytes,
                headers: dict[str, str]) -> httpx.Response:
    try:
        return await client.post(url, content=body,
                                  headers={**headers, "content-type": "application/json"})
    except httpx.HTTPError as exc:
        raise Unavailable(f"the CDN purge could not be sent: {exc}",
                          code="cdn_purge_failed") from exc


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` (``sha256=<hex>``) signs ``body`` with ``secret`` (for receivers)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)
