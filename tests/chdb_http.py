"""ClickHouse's HTTP interface emulated over chDB, for the tests: the product's engine owner
(``liveinsight.storage.owner``, which ``serve --workers N`` runs) started on its own data dir,
so ``storage/http.py`` and clickhouse-connect run against a real engine in CI where no
ClickHouse server is installed. It is NOT a ClickHouse server: the owner's module docstring
lists what it implements and what it does not.

Run it in its own process (chDB allows one engine per process)::

    python tests/chdb_http.py --port 8123 --data /tmp/chdb-http [--user U --password P]

The server's timezone (``timezone()``, ``X-ClickHouse-Timezone``) is the process's, as on a
server: ``TZ=America/New_York python tests/chdb_http.py ...`` emulates a server not in UTC.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from liveinsight.storage.owner import PASSWORD_ENV, split_request, with_data, without_defaults
from liveinsight.storage.owner import main as owner_main

__all__ = ["split_request", "with_data", "without_defaults"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", help="require this user and password")
    args = parser.parse_args(argv)
    if args.password is not None:
        os.environ[PASSWORD_ENV] = args.password
    owner_main(["--chdb", str(args.data / "chdb"), "--scratch", str(args.data / "inserts"),
                "--port", str(args.port), "--user", args.user])


if __name__ == "__main__":
    main()
