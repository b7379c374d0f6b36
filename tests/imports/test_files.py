"""Checking an upload: Plausible and GA4 layouts, every fault named by file, line and
column, and the limits (sizes, zip bombs, files, rows, field lengths)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from liveinsight.errors import Invalid, Problem, TooLarge
from liveinsight.imports import runner
from liveinsight.imports.reader import Limits, Upload
from tests.imports.exports import plausible_files, zipped

V = "imported_visitors_20240101_20240103.csv"


def _check(tmp_path: Path, files: dict[str, str] | bytes, source: str = "plausible",
           name: str = "export.zip", limits: Limits | None = None) -> runner.Checked:
    path = tmp_path / name
    path.write_bytes(files if isinstance(files, bytes) else zipped(files))
    return runner.check(Upload(path, name, limits or Limits()), source)  # type: ignore[arg-type]


def _fault(tmp_path: Path, files: dict[str, str] | bytes, **kw: object) -> Problem:
    with pytest.raises(Problem) as caught:
        _check(tmp_path, files, **kw)  # type: ignore[arg-type]
    assert caught.value.field == "file"
    return caught.value


def test_a_whole_plausible_export_checks(tmp_path: Path) -> None:
    files = plausible_files()
    files["__MACOSX/._imported_visitors.csv"] = "\x00\x05junk"  # what macOS zips add
    checked = _check(tmp_path, files)
    assert checked.rows == 54 and len(checked.tables) == 10
    assert (str(checked.first), str(checked.last)) == ("2024-01-01", "2024-01-03")
    # one CSV alone, without the imported_ prefix or the dates
    one = tmp_path / "visitors.csv"
    one.write_text(plausible_files()[V])
    assert runner.check(Upload(one, "visitors.csv", Limits()), "plausible").rows == 3


@pytest.mark.parametrize(("text", "words"), [
    ("date,visitors,colour\n2024-01-01,1,red\n", ["line 1", "'colour'", "unknown column"]),
    ("date,pageviews\n2024-01-01,1\n", ["lacks visitors"]),
    ("date,visitors\n2024-13-01,1\n", ["line 2", "'date'", "not a date"]),
    ("date,visitors\n2024-01-01,-1\n", ["line 2", "'visitors'", "whole number"]),
    ("date,visitors\n2024-01-01,1e3\n", ["line 2", "'visitors'"]),
    ("date,visitors\n2024-01-01,1\n2024-01-02\n", ["line 3", "1 values for 2 columns"]),
    ("date,visitors,visitors\n2024-01-01,1,1\n", ["named twice"]),
    ("date,visitors\n", ["no rows"]),
])
def test_bad_plausible_files_are_named(tmp_path: Path, text: str, words: list[str]) -> None:
    fault = _fault(tmp_path, {V: text})
    assert isinstance(fault, Invalid)
    for word in words:
        assert word in str(fault), str(fault)


def test_other_faults(tmp_path: Path) -> None:
    long_page = "x" * 3000
    assert "longer than 2048" in str(_fault(tmp_path, {
        "imported_pages.csv": f"date,page,visitors\n2024-01-01,/{long_page},1\n"}))
    assert "not a file of Plausible" in str(_fault(tmp_path, {"notes.txt": "hello"}))
    bad_utf8 = tmp_path / "v.csv"
    bad_utf8.write_bytes(b"date,visitors\n2024-01-01,\xff\n")
    with pytest.raises(Invalid, match="not UTF-8"):
        runner.check(Upload(bad_utf8, V, Limits()), "plausible")
    assert "not a readable zip" in str(_fault(tmp_path, b"PK\x03\x04 broken", name="b.zip"))
    assert "empty" in str(_fault(tmp_path, b"", name="e.csv"))


def test_limits(tmp_path: Path) -> None:
    files = plausible_files()
    # upload size
    assert isinstance(_fault(tmp_path, files, limits=Limits(upload_bytes=1024)), TooLarge)
    # uncompressed size, as declared
    assert "uncompressed" in str(_fault(tmp_path, files, limits=Limits(uncompressed_bytes=2000)))
    # files
    assert "at most 3" in str(_fault(tmp_path, files, limits=Limits(files=3)))
    # rows
    assert "more than 10 rows" in str(_fault(tmp_path, files, limits=Limits(rows=10)))
    # a zip bomb: 50 MB of zeros compress ~1000 to 1
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(V, "date,visitors\n" + "0" * (50 << 20))
    with pytest.raises(TooLarge, match="zip bomb"):
        runner.check(Upload(bomb, "bomb.zip", Limits()), "plausible")


GA4_SOURCES = """# ----------------------------------------
# Traffic acquisition: Session source / medium
# Start date: 20240101
# End date: 20240102
# ----------------------------------------
date,sessionSource,sessionMedium,totalUsers,sessions,engagedSessions,screenPageViews,userEngagementDuration
20240101,google,organic,6,12,9,20,300
20240101,(direct),(none),4,8,6,20,300
20240102,news.ycombinator.com,referral,3,3,1,5,60
"""


def test_ga4_reports_map_onto_the_tables(tmp_path: Path) -> None:
    from liveinsight.imports import ga4
    from liveinsight.imports.layout import Where

    files = {
        "sources.csv": GA4_SOURCES,
        "countries.csv": "date,country,totalUsers,sessions\n20240101,Germany,5,6\n"
                         "20240101,United States,2,2\n20240101,(not set),1,1\n",
        "devices.csv": "date,deviceCategory,totalUsers,sessions,bounces\n"
                       "2024-01-01,desktop,5,6,2\n",
        "events.csv": "date,eventName,totalUsers,eventCount\n20240101,page_view,9,30\n"
                      "20240101,sign_up,2,3\n",
        "totals.csv": "date,totalUsers,sessions,screenPageViews,engagedSessions,"
                      "userEngagementDuration\n20240101,10,20,40,15,600\n",
    }
    path = tmp_path / "ga4.zip"
    path.write_bytes(zipped(files))
    upload = Upload(path, "ga4.zip", Limits())
    got: dict[str, list[dict[str, object]]] = {}
    for member in upload.members:
        for table, row in ga4.rows(upload, member, Where(member.name)):
            got.setdefault(table, []).append(row)
    sources = got["imported_sources"]
    assert [(r["source"], r["utm_medium"], r["visitors"], r["visits"], r["bounces"])
            for r in sources] == [("Google", "organic", 6, 12, 3), ("", "", 4, 8, 2),
                                  ("Hacker News", "referral", 3, 3, 2)]
    assert sources[0]["date"] == "2024-01-01" and sources[0]["visit_duration"] == 300
    assert [r["country"] for r in got["imported_locations"]] == ["DE", "US", ""]
    assert got["imported_devices"][0]["device"] == "Desktop"
    assert got["imported_devices"][0]["bounces"] == 2
    assert [r["name"] for r in got["imported_custom_events"]] == ["sign_up"]
    totals = got["imported_visitors"][0]
    assert (totals["visitors"], totals["visits"], totals["pageviews"], totals["bounces"],
            totals["visit_duration"]) == (10, 20, 40, 5, 600)


@pytest.mark.parametrize(("text", "words"), [
    ("date,country,browser,totalUsers\n20240101,DE,Chrome,1\n", ["one dimension per file"]),
    ("date,country,totalUsers\n20240101,Atlantis,1\n", ["line 2", "'country'", "Atlantis"]),
    ("date,pagePath,users\n20240101,/,1\n", ["lacks totalUsers"]),
    ("date,pagePath,totalUsers,bogus\n20240101,/,1,2\n", ["'bogus'", "unknown column"]),
])
def test_bad_ga4_files_are_named(tmp_path: Path, text: str, words: list[str]) -> None:
    fault = _fault(tmp_path, {"report.csv": text}, source="ga4")
    for word in words:
        assert word in str(fault), str(fault)


def test_the_cli_imports_with_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from liveinsight.cli import app
    from tests.imports.exports import plausible_zip

    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    cli = CliRunner()
    assert cli.invoke(app, ["create-site", "example.com"]).exit_code == 0
    export = plausible_zip(tmp_path / "export.zip")
    done = cli.invoke(app, ["import", "plausible", str(export), "--site", "example.com"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert (doc["status"], doc["rows"], doc["start_date"]) == ("completed", 54, "2024-01-01")
    again = cli.invoke(app, ["import", "plausible", str(export), "--site", "example.com"])
    assert again.exit_code == 1 and "covered by an" in again.output
    bad = tmp_path / "imported_visitors.csv"
    bad.write_text("date,visitors\n2024-02-30,1\n")
    refused = cli.invoke(app, ["import", "plausible", str(bad), "--site", "example.com"])
    assert refused.exit_code == 1 and "line 2" in refused.output
    assert "no site" in cli.invoke(app, ["import", "ga4", str(bad), "--site", "x.org"]).output
