"""API fuzzing: schemathesis generates requests for every operation in the app's own OpenAPI
document and sends them to one app started in process, with an API key holding every scope
and a site that exists (``tests/api/fuzzing.py``). Every answer must be a non-5xx that the
document declares: its status code, its content type, its body's schema, its headers.

Bounded for CI: ``EXAMPLES`` valid and ``BAD_EXAMPLES`` schema-breaking requests per
operation, derandomized (the same requests on every run). ``bench/fuzz.py`` runs the same
checks with many more examples, on demand. All operations run in one test over one app (an
app per operation would cost more than the requests); the failures of every operation are
reported together.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.fuzzing import FuzzWorld, fuzz, open_world, operations

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

EXAMPLES = 10
BAD_EXAMPLES = 5


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    with open_world(tmp_path_factory.mktemp("fuzz")) as opened:
        yield opened


def test_every_operation_answers_as_documented(world: FuzzWorld) -> None:
    ops = operations(world)
    assert len(ops) > 90
    failures = [report for op in ops if (report := fuzz(world, op, EXAMPLES)[1]) is not None]
    assert not failures, "\n\n".join(failures)


def test_bad_input_is_answered_as_documented(world: FuzzWorld) -> None:
    """Requests that break the document's schemas: a documented 4xx, never a 5xx."""
    failures = [report for op in operations(world)
                if (report := fuzz(world, op, BAD_EXAMPLES, negative=True)[1]) is not None]
    assert not failures, "\n\n".join(failures)
