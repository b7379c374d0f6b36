"""The import itself, on the real engine: a Plausible zip checked and stored, its rows
exact; the overlap rule; deleting an import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from liveinsight.errors import Conflict
from liveinsight.imports import runner
from liveinsight.imports.reader import Limits, Upload
from liveinsight.storage.protocol import Store
from tests.conftest import make_client, make_site, svc_of
from tests.imports.exports import TOTALS, plausible_zip
from tests.support import STORE_KINDS, open_test_store


def _sums(svc, site_id: int, table: str, cols: str) -> list:  # type: ignore[no-untyped-def]
    db = svc.store.database
    return svc.store.query(f"SELECT {cols} FROM `{db}`.{table} WHERE site_id = {{s:UInt32}}",
                           {"s": site_id}).rows[0]


def test_a_plausible_zip_is_stored_exactly(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        seen: list[tuple[str, int, int]] = []
        info = svc.imports.run(site, "plausible", plausible_zip(tmp_path / "e.zip"), "e.zip",
                               progress=lambda *a: seen.append(a))
        assert info.status == "completed" and info.rows == 3 * 18 and info.skipped_rows == 0
        assert (info.start_date, info.end_date) == (date(2024, 1, 1), date(2024, 1, 3))
        row = _sums(svc, site.id, "imported_visitors",
                    "sum(visitors), sum(visits), sum(pageviews), sum(bounces),"
                    " sum(visit_duration)")
        assert list(row) == [TOTALS[k] for k in ("visitors", "visits", "pageviews", "bounces",
                                                  "visit_duration")]
        assert list(_sums(svc, site.id, "imported_locations",
                          "arraySort(groupUniqArray(country)), max(city)")) == [["DE", "US"],
                                                                                2950159]
        assert seen[-1] == ("insert", 54, 54)
        assert svc.imports.completed_ids(site.id) == (info.id,)
        svc.imports.delete(site.id, info.id)
        assert _sums(svc, site.id, "imported_visitors", "count()")[0] == 0
        assert svc.imports.completed_ids(site.id) == ()


def test_overlapping_imports_keep_the_longest_free_run(tmp_path: Path) -> None:
    with make_client(tmp_path) as client:
        svc = svc_of(client)
        site = make_site(client, "example.com")
        first = svc.imports.run(site, "plausible", plausible_zip(tmp_path / "a.zip"), "a.zip")
        # 30 Dec to 4 Jan: 1 to 3 Jan are taken; 30-31 Dec (2 days) beats 4 Jan (1 day)
        second = svc.imports.run(site, "plausible",
                                 plausible_zip(tmp_path / "b.zip", date(2023, 12, 30), 6),
                                 "b.zip")
        assert (second.start_date, second.end_date) == (date(2023, 12, 30), date(2023, 12, 31))
        assert second.rows == 2 * 18 and second.skipped_rows == 4 * 18
        with pytest.raises(Conflict):
            svc.imports.run(site, "plausible", plausible_zip(tmp_path / "c.zip"), "c.zip")
        assert first.id != second.id


def test_kept_range_rules() -> None:
    d = date
    assert runner.kept_range(d(2024, 1, 1), d(2024, 1, 31), d(2024, 1, 10), []) == \
        (d(2024, 1, 1), d(2024, 1, 9))
    with pytest.raises(Conflict):
        runner.kept_range(d(2024, 1, 1), d(2024, 1, 31), d(2024, 1, 1), [])
    assert runner.kept_range(d(2024, 1, 1), d(2024, 1, 31), None,
                             [(d(2024, 1, 5), d(2024, 1, 10))]) == (d(2024, 1, 11),
                                                                     d(2024, 1, 31))


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with open_test_store(request, tmp_path / "chdb") as opened:
        yield opened


def test_rows_reach_either_transport_in_batches(store: Store, tmp_path: Path) -> None:
    """Embedded (file()) and over HTTP (input()): small batches, every row once."""
    upload = Upload(plausible_zip(tmp_path / "e.zip"), "e.zip", Limits())
    done = runner.insert(store, upload, "plausible", 7, 42, (date(2024, 1, 2), date(2024, 1, 3)),
                         54, batch_rows=5, scratch=tmp_path)
    assert (done.rows, done.skipped) == (36, 18)
    db = store.database
    got = store.query(f"SELECT sum(visitors), count() FROM `{db}`.imported_visitors"
                      " WHERE site_id = 7 AND import_id = 42").rows[0]
    assert [int(v) for v in got] == [11 + 12, 2]
    runner.delete_rows(store, 7, 42)
    assert int(store.query(f"SELECT count() FROM `{db}`.imported_sources").scalar()) == 0
    assert not list(tmp_path.glob("*.jsonl"))
