"""Deleting one site's rows from every ClickHouse table that holds them (reset, delete).

The tables: :data:`schema.SITE_DATA_TABLES` (events, sessions and their rollups: the rollups
are fed by inserts only, so a delete on ``events`` does not reach them; the imported data's
tables) plus any other table of the database whose name starts with ``imported_``. The
service's own records (logs, spans, the audit copies) are not site data and stay: the
audit log must outlive what it records.

How: a lightweight ``DELETE FROM … WHERE site_id = …``, not a mutation (``ALTER TABLE …
DELETE``). Measured with ``bench/site_delete.py`` on chDB (docs/performance.md, "Deleting a
site's data"), one site of five among 10 M events: the mutation took 18.6 s, the lightweight
delete 3.2 s, and reads afterwards were no slower. A lightweight delete returns once the rows
are invisible to every query (on every replica: ``lightweight_deletes_sync`` defaults to 2);
their bytes leave the disk when ClickHouse next merges those parts (they are masked until
then). On a cluster the statement runs on every server's ``*_local`` table (``ON
CLUSTER``), as the cluster DDL does; a Distributed table takes no delete.
"""

from __future__ import annotations

from liveinsight.storage import schema
from liveinsight.storage.protocol import Store

IMPORTED_PREFIX = "imported_"


def site_tables(store: Store) -> list[str]:
    """Every table holding site data: :data:`schema.SITE_DATA_TABLES`, then any other
    ``imported_*`` table."""
    found = store.query(
        "SELECT name FROM system.tables WHERE database = {db:String}"
        " AND startsWith(name, {prefix:String}) AND NOT endsWith(name, '_local')"
        " AND engine NOT LIKE '%View' ORDER BY name",
        {"db": store.database, "prefix": IMPORTED_PREFIX}).rows
    known = list(schema.SITE_DATA_TABLES)
    return known + [str(r[0]) for r in found if str(r[0]) not in known]


def delete_statement(database: str, table: str, cluster: schema.Cluster | None) -> str:
    """The statement deleting the rows of site ``{site:UInt32}`` from ``table`` (its local
    tables on every server of ``cluster``)."""
    target = f"`{database}`.{table}" if cluster is None else (
        f"`{database}`.{table}_local {cluster.on()}")
    return f"DELETE FROM {target} WHERE site_id = {{site:UInt32}}"


def delete_site_rows(store: Store, site_id: int, cluster: schema.Cluster | None = None
                     ) -> dict[str, int]:
    """Delete every row of ``site_id`` from each site table; return the rows each held
    (counted just before). Blocking (one delete per table, waited for): call it off the
    event loop. Raises ``StoreError``/``StoreUnavailable`` as the store does; a table done
    stays done, and running it again finishes the rest."""
    counts: dict[str, int] = {}
    for table in site_tables(store):
        counts[table] = count_rows(store, table, site_id)
        if counts[table]:
            store.command(delete_statement(store.database, table, cluster), {"site": site_id})
    return counts


def count_rows(store: Store, table: str, site_id: int) -> int:
    return int(store.query(
        f"SELECT count() FROM `{store.database}`.{table} WHERE site_id = {{site:UInt32}}",
        {"site": site_id}).scalar() or 0)
