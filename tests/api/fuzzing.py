"""What API fuzzing runs on, shared by ``tests/api/test_fuzz_openapi.py`` (bounded, in CI)
and ``bench/fuzz.py`` (long, on demand).

A world is one app started in process by schemathesis's ASGI transport (its lifespan run
once), with a site that exists, an API key holding every scope, and the servers its optional
features call started locally (an SMTP server for reports and invitations, an HTTP receiver
as the CDN purge webhook), so those operations answer rather than refuse with a 503. Every
generated request is sent with that key; its site identifiers (path, query and JSON body
``site_id``) name the site, so the requests reach the handlers instead of stopping at "no
such site".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from liveinsight.app import create_app
from liveinsight.meta.repo import SCOPES
from tests.conftest import make_settings
from tests.ops.alerts.helpers import smtp_server
from tests.support import http_receiver

# No 5xx, and every answer as the document declares it: its status code, its content type,
# its body's schema, its declared headers.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]

DOMAIN = "example.com"
# Server-sent event streams are cut after this many events (they never end by themselves),
# or after this many seconds: the KPI board's stream sends a board only when events arrive,
# and without the cut each request waited out the client's read timeout (~7 s; 100 of the
# module's 155 s in CI). By then the status, the headers and the stream's opening comment
# have come (the realtime stream's first event comes at once; with 1 s the KPI stream's 15
# requests were a fifth of the module's time).
STREAM_EVENTS = 1
STREAM_SECONDS = 0.25


@dataclass(frozen=True)
class FuzzWorld:
    schema: Any
    headers: dict[str, str]
    site_id: int


@contextmanager
def open_world(root: Path, **settings: Any) -> Iterator[FuzzWorld]:
    """The app over ``root`` with a site and an every-scope key; its lifespan is ended on
    leaving."""
    with ExitStack() as stack:
        _, smtp_port = stack.enter_context(smtp_server())
        _, cdn_url = stack.enter_context(http_receiver())
        servers = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_security": "none",
                   "cdn_purger": "webhook", "cdn_purge_webhook_url": cdn_url}
        with _world(make_settings(root, **{**servers, **settings})) as world:
            yield world


@contextmanager
def _world(settings: Any) -> Iterator[FuzzWorld]:
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
    schema.config.max_stream_events = STREAM_EVENTS
    try:
        svc = app.state.services
        site = svc.meta.create_site(DOMAIN)
        key, _ = svc.meta.create_api_key("fuzz", list(SCOPES))
        yield FuzzWorld(schema, {"Authorization": f"Bearer {key}"}, site.id)
    finally:
        asgi.shutdown_lifespans()


def aim(world: FuzzWorld, case: Any) -> None:
    """Point the case's site identifiers at the world's site."""
    if case.path_parameters and "site_id" in case.path_parameters:
        case.path_parameters["site_id"] = str(world.site_id)
    if case.query and "site_id" in case.query:
        case.query["site_id"] = DOMAIN
    if isinstance(case.body, dict) and "site_id" in case.body:
        case.body["site_id"] = DOMAIN


def send(world: FuzzWorld, case: Any) -> None:
    """Send the case with the world's key; raises (schemathesis's failure) on a 5xx or an
    answer the document does not declare."""
    aim(world, case)
    extra = {"timeout": STREAM_SECONDS} if _streams(case.operation) else {}
    case.call_and_validate(headers=world.headers, checks=CHECKS, **extra)


def _streams(operation: Any) -> bool:
    """Whether the operation answers with a server-sent event stream."""
    responses = operation.definition.raw.get("responses", {})
    return any("text/event-stream" in (answer.get("content") or {})
               for answer in responses.values())


def operations(world: FuzzWorld) -> list[Any]:
    """Every operation of the document (an unparsable one fails here)."""
    return [result.ok() for result in world.schema.get_all_operations()]


def breakable(operation: Any) -> bool:
    """Whether a request can break the operation's schemas. Not when it has no body and no
    parameters but free-form strings in its path (any text is a valid ``site_id``): hypothesis
    then draws ~460 requests that schemathesis has to reject before it gives up (~0.4 s
    each such operation, 14 of them)."""
    raw = operation.definition.raw
    if "requestBody" in raw:
        return True
    return any(param.get("in") != "path" or not _free_string(param.get("schema") or {})
               for param in raw.get("parameters", []))


def _free_string(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and set(schema) <= {"type", "title", "description"}


def fuzz(world: FuzzWorld, operation: Any, examples: int, seed: int | None = None,
         negative: bool = False) -> tuple[int, str | None]:
    """Send ``examples`` generated requests for ``operation`` (derandomized: the same ones on
    every run, unless ``seed`` is given); the number sent and the first failure's report.
    ``negative``: requests that break the document's schemas (bad input: a 4xx, never a
    5xx) instead of ones that follow them."""
    if negative and not breakable(operation):
        return 0, None
    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    sent = 0

    @settings(max_examples=examples, derandomize=seed is None, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        send(world, case)

    test = run if seed is None else seeded(seed)(run)
    try:
        test()
    except Unsatisfiable:  # no request breaks the schemas (an operation without parameters)
        return sent, None
    except (Exception, BaseExceptionGroup) as failure:  # schemathesis's failure(s), reported
        return sent, f"{operation.label}: {failure}"
    return sent, None
