"""API fuzzing: schemathesis generates requests for every operation in the app's own OpenAPI
document and sends them to one app started in process, with an API key holding every scope
and a site that exists (``tests/api/fuzzing.py``). Every answer must be a non-5xx that the
document declares: its status code, its content type, its body's schema, its headers.

Bounded for CI: ``EXAMPLES`` generated requests per operation, derandomized (the same requests
on every run). ``bench/fuzz.py`` runs the same checks with many more examples, on demand.
All operations run in one test over one app (an app per operation would cost more than the
requests); the failures of every operation are reported together.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.fuzzing import fuzz, open_world, operations

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

EXAMPLES = 10


def test_every_operation_answers_as_documented(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        ops = operations(world)
        assert len(ops) > 90
        failures = [report for op in ops
                    if (report := fuzz(world, op, EXAMPLES)[1]) is not None]
    assert not failures, "\n\n".join(failures)
