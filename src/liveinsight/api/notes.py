"""What a request learns for its audit entry (``api/audit.py``): a :class:`Note` the front
door puts in the request's scope, filled in by the access checks (who is asking, which
site) and handlers (details), read back once the answer has gone out
(:func:`request_entry`). Requests that did not pass the front door (none in the served app)
carry no note and note nothing. Security events that are no request of their own
(sign-ins, rate-limit trips) are queued by :func:`record_event`; an API key's use from a
network it was not used from before, by :func:`note_key_network`."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from liveinsight.api.deps import services
from liveinsight.meta.repo import ApiKeyInfo
from liveinsight.security.audit import AuditEntry, client_key, outcome_of
from liveinsight.security.networks import network_key, network_of
from liveinsight.services import Services

log = logging.getLogger("liveinsight.audit")

AUDIT_NOTE = "liveinsight.audit"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


@dataclass(slots=True)
class Note:
    """What a request learned for its audit entry."""

    request_id: str
    actor: str = "anonymous"
    site_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def request_id(scope: Scope) -> str:
    """The request's id: a well-formed ``X-Request-ID`` it came with (a proxy's), else a
    new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return bytes(value).decode()
    return secrets.token_hex(8)


def note_of(request: Request) -> Note | None:
    found = request.scope.get(AUDIT_NOTE)
    return found if isinstance(found, Note) else None


def note_actor(request: Request, actor: str) -> None:
    note = note_of(request)
    if note is not None:
        note.actor = actor


def note_site(request: Request, site_id: int) -> None:
    note = note_of(request)
    if note is not None:
        note.site_id = site_id


def note_details(request: Request, **details: Any) -> None:
    note = note_of(request)
    if note is not None:
        note.details.update(details)


def _client(scope: Scope, svc: Services) -> str:
    client = scope.get("client")
    return client_key(svc.secret, svc.ips.resolve(client[0] if client else None,
                                                  scope["headers"]))


def request_entry(scope: Scope, svc: Services, note: Note, status: int) -> AuditEntry:
    """The entry of a finished request: the route's template is the action."""
    route = scope.get("route")
    template = getattr(route, "path", None) or scope["path"]
    site_id = note.site_id
    raw = scope.get("path_params", {}).get("site_id")
    if site_id is None and isinstance(raw, int):
        site_id = raw
    return AuditEntry(at=svc.clock(), actor=note.actor, action=f"{scope['method']} {template}",
                      target=scope["path"], outcome=outcome_of(status), status=status,
                      site_id=site_id, client=_client(scope, svc),
                      request_id=note.request_id, details=note.details)


def record_event(request: Request, action: str, outcome: str, *, actor: str | None = None,
                 target: str = "", site_id: int | None = None, **details: Any) -> None:
    """Queue a security event (``login.failed``...) of this request."""
    svc = services(request)
    note = note_of(request)
    svc.audit.record(AuditEntry(
        at=svc.clock(), actor=actor or (note.actor if note else "anonymous"), action=action,
        target=target, outcome=outcome, site_id=site_id, client=_client(request.scope, svc),
        request_id=note.request_id if note else "", details=details))


async def note_key_network(scope: Scope, svc: Services, key: ApiKeyInfo) -> None:
    """Record the key's use from a network it was not used from before: its first network
    as ``apikey.first_network``, any later new one as ``apikey.new_network`` (a flagged
    security event). The network is kept as a keyed hash only. Never fails the request."""
    client = scope.get("client")
    address = svc.ips.resolve(client[0] if client else None, scope["headers"])
    network = network_of(address)
    if network is None:
        return
    digest = network_key(svc.secret, key.id, network)
    if svc.key_networks.known(key.id, digest):
        return
    try:
        before = await run_in_threadpool(svc.key_networks.note, key.id, digest, svc.clock())
    except Exception as exc:  # the metadata database may be away; the request goes on
        log.warning("could not note an API key's network: %s", exc)
        return
    if before is None:
        return
    note = scope.get(AUDIT_NOTE)
    svc.audit.record(AuditEntry(
        at=svc.clock(), actor=f"key:{key.id} {key.name}",
        action="apikey.new_network" if before else "apikey.first_network",
        target=f"key:{key.id}", client=client_key(svc.secret, address),
        request_id=note.request_id if isinstance(note, Note) else "",
        details={"network": digest[:16], "networks_before": before}))
