"""The CLI commands against a real data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liveinsight.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def test_create_and_list_sites(env: Path) -> None:
    result = runner.invoke(app, ["create-site", "www.example.com", "--timezone", "Europe/Berlin"])
    assert result.exit_code == 0, result.output
    assert "example.com" in result.output
    again = runner.invoke(app, ["create-site", "example.com"])
    assert again.exit_code == 1 and "already exists" in again.output
    bad_tz = runner.invoke(app, ["create-site", "other.com", "--timezone", "Mars/Olympus"])
    assert bad_tz.exit_code == 1 and "time zone" in bad_tz.output
    folder = runner.invoke(app, ["create-site", "other.com", "--timezone", "America"])
    assert folder.exit_code == 1 and "time zone" in folder.output  # was IsADirectoryError
    listed = runner.invoke(app, ["list-sites", "--json"])
    assert [s["domain"] for s in json.loads(listed.stdout)] == ["example.com"]


def test_create_user_and_api_key(env: Path) -> None:
    ok = runner.invoke(app, ["create-user", "a@example.com", "--password", "long-enough",
                             "--role", "admin"])
    assert ok.exit_code == 0 and "admin" in ok.output
    short = runner.invoke(app, ["create-user", "b@example.com", "--password", "short"])
    assert short.exit_code == 1
    key = runner.invoke(app, ["create-api-key", "server", "--scope", "ingest"])
    assert key.exit_code == 0
    assert key.stdout.strip().splitlines()[-1].startswith("li_")
    bad = runner.invoke(app, ["create-api-key", "x", "--scope", "root"])
    assert bad.exit_code == 1 and "unknown scope" in bad.output


def test_migrate_creates_the_clickhouse_schema(env: Path) -> None:
    first = runner.invoke(app, ["migrate"])
    assert first.exit_code == 0, first.output
    from liveinsight.storage.schema import MIGRATIONS

    assert str([m.version for m in MIGRATIONS]) in first.output
    second = runner.invoke(app, ["migrate"])
    assert "nothing new" in second.output


def test_bad_configuration_exits_with_a_message(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEINSIGHT_WAL_FSYNC", "sometimes")
    result = runner.invoke(app, ["list-sites"])
    assert result.exit_code == 2
    assert "LIVEINSIGHT_WAL_FSYNC" in result.output


def test_goals_from_the_command_line(env: Path) -> None:
    assert runner.invoke(app, ["create-site", "example.com"]).exit_code == 0
    added = runner.invoke(app, ["goals", "add", "example.com", "--event", "Signup"])
    assert added.exit_code == 0 and "added goal Signup id=1" in added.output
    page = runner.invoke(app, ["goals", "add", "1", "--page", "/thanks/**", "--name",
                               "Thank-you pages", "--currency", "EUR"])
    assert page.exit_code == 0, page.output
    bad = runner.invoke(app, ["goals", "add", "example.com", "--page", "thanks"])
    assert bad.exit_code == 1 and "starts with /" in bad.output
    listed = runner.invoke(app, ["goals", "list", "example.com"])
    assert "Signup" in listed.output and "Thank-you pages" in listed.output
    assert "EUR" in listed.output
    assert runner.invoke(app, ["goals", "delete", "example.com", "1"]).exit_code == 0
    gone = runner.invoke(app, ["goals", "delete", "example.com", "1"])
    assert gone.exit_code == 1 and "no goal" in gone.output
    assert runner.invoke(app, ["goals", "list", "nope.example"]).exit_code == 1


def test_bad_domains_and_keys_for_unknown_sites_are_refused(env: Path) -> None:
    bad = runner.invoke(app, ["create-site", "bad..domain"])
    assert bad.exit_code == 1 and "is not a domain" in bad.output
    key = runner.invoke(app, ["create-api-key", "x", "--site", "999"])
    assert key.exit_code == 1 and "no site with id 999" in key.output


def test_teams_members_and_transfer(env: Path) -> None:
    for email in ("ann@example.com", "bob@example.com"):
        assert runner.invoke(app, ["create-user", email, "--password", "long-enough"]
                             ).exit_code == 0
    made = runner.invoke(app, ["teams", "create", "Acme", "--owner", "ann@example.com"])
    assert made.exit_code == 0 and "Acme" in made.output
    assert runner.invoke(app, ["teams", "create", "Other"]).exit_code == 0
    site = runner.invoke(app, ["create-site", "a.example", "--team", "Acme"])
    assert site.exit_code == 0 and "team='Acme'" in site.output
    assert runner.invoke(app, ["create-site", "b.example", "--team", "Nope"]).exit_code == 1
    added = runner.invoke(app, ["teams", "add-member", "Acme", "bob@example.com", "--role",
                                "editor"])
    assert added.exit_code == 0 and "editor" in added.output
    guest = runner.invoke(app, ["members", "add", "a.example", "bob@example.com", "--role",
                                "owner"])
    assert guest.exit_code == 1 and "role must be one of" in guest.output
    assert runner.invoke(app, ["members", "add", "a.example", "bob@example.com", "--role",
                               "admin"]).exit_code == 0
    listed = runner.invoke(app, ["members", "list", "a.example"], env={"COLUMNS": "200"})
    assert "ann@example.com" in listed.output and "guest" in listed.output
    assert runner.invoke(app, ["members", "remove", "a.example", "bob@example.com"]
                         ).exit_code == 0
    last = runner.invoke(app, ["teams", "remove-member", "Acme", "ann@example.com"])
    assert last.exit_code == 1 and "at least one owner" in last.output
    moved = runner.invoke(app, ["transfer-site", "a.example", "Other"])
    assert moved.exit_code == 0
    teams = runner.invoke(app, ["teams", "list"], env={"COLUMNS": "200"})
    assert teams.exit_code == 0 and "a.example" in teams.output.split("Other")[1]


def test_an_api_keys_usage_plan(env: Path) -> None:
    made = runner.invoke(app, ["create-api-key", "reports", "--scope", "stats", "--rate", "5",
                               "--burst", "10"])
    assert made.exit_code == 0, made.output
    key_id = made.output.split("id=")[1].split()[0]
    changed = runner.invoke(app, ["key-plan", key_id, "--rate", "50"])
    assert changed.exit_code == 0, changed.output
    assert "50 a second, bursts of 2000" in changed.output  # burst back to the default
    bad = runner.invoke(app, ["key-plan", key_id, "--burst", "0"])
    assert bad.exit_code == 1 and "burst" in bad.output
    missing = runner.invoke(app, ["key-plan", "999", "--rate", "1"])
    assert missing.exit_code == 1 and "no API key" in missing.output
    quota = runner.invoke(app, ["key-plan", key_id, "--rate", "50", "--daily-quota", "10000"])
    assert quota.exit_code == 0, quota.output
    assert "50 a second, bursts of 2000, 10000 a UTC day" in quota.output
    back = runner.invoke(app, ["key-plan", key_id])
    assert back.exit_code == 0 and "no daily quota" in back.output
    bad = runner.invoke(app, ["key-plan", key_id, "--daily-quota", "0"])
    assert bad.exit_code == 1 and "daily quota" in bad.output
    made = runner.invoke(app, ["create-api-key", "metered", "--daily-quota", "500"])
    assert made.exit_code == 0, made.output


def test_restore_until_checks_its_time_and_needs_the_archive(env: Path) -> None:
    bad = runner.invoke(app, ["restore", str(env), "--until", "yesterday-ish"])
    assert bad.exit_code == 1 and "not an ISO-8601 time" in bad.output
    no_archive = runner.invoke(app, ["restore", str(env), "--until", "2026-12-05T10:00:00Z"])
    assert no_archive.exit_code == 1 and "LIVEINSIGHT_WAL_ARCHIVE_DIR" in no_archive.output


def test_site_settings_show_change_and_refuse_bad_values(env: Path) -> None:
    assert runner.invoke(app, ["create-site", "example.com"]).exit_code == 0
    shown = runner.invoke(app, ["site-settings", "example.com"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["blocked_ips"] == []
    changed = runner.invoke(app, [
        "site-settings", "example.com", "--timezone", "Europe/Paris", "--currency", "eur",
        "--block-ip", "203.0.113.0/24", "--block-ip", "2001:db8::/32",
        "--block-path", "/admin/**", "--block-host", "Staging.Example.com", "--public",
        "--retention-days", "400", "--signed-ingest"])
    assert changed.exit_code == 0, changed.output
    doc = json.loads(changed.stdout)
    assert doc["timezone"] == "Europe/Paris" and doc["currency"] == "EUR"
    assert doc["blocked_ips"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert doc["blocked_hosts"] == ["staging.example.com"] and doc["public"]
    assert doc["retention_days"] == 400 and doc["require_signed_ingest"]
    cleared = runner.invoke(app, ["site-settings", "example.com", "--clear", "blocked_ips",
                                  "--private"])
    assert json.loads(cleared.stdout)["blocked_ips"] == []
    assert not json.loads(cleared.stdout)["public"]
    for argv, says in ((["--block-ip", "10.0.0.0/33"], "--block-ip"),
                       (["--block-path", "nope"], "--block-path"),
                       (["--currency", "EURO"], "--currency"),
                       (["--timezone", "America"], "--timezone"),
                       (["--domain", "bad..domain"], "--domain"),
                       (["--clear", "goals"], "--clear")):
        bad = runner.invoke(app, ["site-settings", "example.com", *argv])
        assert bad.exit_code == 1 and says in bad.output, (argv, bad.output)
    unknown = runner.invoke(app, ["site-settings", "nowhere.example"])
    assert unknown.exit_code == 1 and "no site" in unknown.output
    assert json.loads(runner.invoke(app, ["site-settings", "example.com"]).stdout)[
        "blocked_paths"] == ["/admin/**"]  # the refused calls changed nothing
