"""API fuzzing for minutes: ``tests/api/test_fuzz_openapi.py``'s checks (no 5xx, every answer
as the OpenAPI document declares it) with many more generated requests, on demand.

    .venv/bin/python bench/fuzz.py [--minutes 10] [--examples 200] [--seed N] [--only TEXT]
                                   [--negative]

One app in process (a fresh data dir), a site and an every-scope API key, as in the test.
Rounds over every operation, ``--examples`` requests per operation per round, each round
with its own seed (``--seed`` + round number, so a run is reproducible), until ``--minutes``
have passed (at least one round; a round started is finished). Prints, per round, the
requests sent, and each failing operation's report (with the request to reproduce it);
exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.api.fuzzing import fuzz, open_world, operations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="", help="operations whose label contains this")
    parser.add_argument("--negative", action="store_true",
                        help="requests that break the schemas (bad input), not valid ones")
    parser.add_argument("--verbose", action="store_true", help="print each operation's time")
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.minutes * 60
    failed: dict[str, str] = {}
    sent = rounds = 0
    with tempfile.TemporaryDirectory() as root, open_world(Path(root)) as world:
        ops = [op for op in operations(world) if args.only in op.label]
        while rounds == 0 or time.monotonic() < deadline:
            for op in ops:
                began = time.monotonic()
                count, report = fuzz(world, op, args.examples, seed=args.seed + rounds,
                                     negative=args.negative)
                sent += count
                if args.verbose:
                    print(f"  {op.label}: {count} in {time.monotonic() - began:.1f}s"
                          + (" FAILED" if report else ""), flush=True)
                if report and op.label not in failed:
                    failed[op.label] = report
                    print(report, flush=True)
            rounds += 1
            print(f"round {rounds}: {sent} requests in {time.monotonic() - started:.0f}s, "
                  f"{len(failed)} of {len(ops)} operations failing", flush=True)
    print(f"{len(ops)} operations, {rounds} rounds, {sent} requests, "
          f"{time.monotonic() - started:.0f}s; failing: {sorted(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
