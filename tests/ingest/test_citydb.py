"""The city database: places from a small MMDB built here, the start-up checks, and a file
replaced under a running reader (picked up once a minute; a broken one refused)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from liveinsight.ingest.citydb import CityDatabase, CityDatabaseError
from liveinsight.ingest.geo import plain_ip, put_geo
from liveinsight.settings import ConfigError, load_settings

from .citydb_factory import city, write_city_db
from .enrich_factories import context, raw


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return write_city_db(tmp_path / "city.mmdb")


@pytest.mark.parametrize(
    ("ip", "place"),
    [
        ("81.2.69.142", ("GB", "England", "London")),
        ("89.160.20.1", ("DE", "Berlin", "Berlin")),
        ("2001:480::1", ("US", "California", "San Diego")),
        ("202.196.224.5", ("PH", "", "")),  # a country-only record
        ("1.0.0.1", ("", "", "")),  # a record without a country
        ("10.0.0.1", None),  # not in the file
        ("::1", None),
        ("not-an-ip", None),
        ("", None),
    ],
)
def test_lookup(db_path: Path, ip: str, place: tuple[str, str, str] | None) -> None:
    assert CityDatabase(db_path).lookup(ip) == place


@pytest.mark.parametrize(
    ("ip", "place"),
    [
        ("81.2.69.142", ("GB", "England", "London")),
        ("::ffff:81.2.69.142", ("GB", "England", "London")),  # IPv4-mapped IPv6
        ("::FFFF:5102:458e", ("GB", "England", "London")),  # the same, in hex
        (" 2001:480::1 ", ("US", "California", "San Diego")),
        ("1.0.0.1", ("AU", "", "")),  # no country in the file: iptocc's
        ("202.196.224.5", ("PH", "", "")),
        ("8.8.8.8", ("US", "", "")),  # not in the file: iptocc's country, no city
        ("10.0.0.1", ("", "", "")),
        ("not-an-ip", ("", "", "")),
    ],
)
def test_step_with_a_city_database(db_path: Path, ip: str,
                                   place: tuple[str, str, str]) -> None:
    ctx = context(raw(ip=ip))
    env = SimpleNamespace(cities=CityDatabase(db_path))
    assert put_geo(ctx, env) is None  # type: ignore[arg-type]
    assert (ctx.country_code, ctx.region, ctx.city) == place


def test_plain_ip() -> None:
    assert plain_ip("::ffff:1.2.3.4") == "1.2.3.4"
    assert plain_ip("::ffff:102:304") == "1.2.3.4"
    assert plain_ip("::ffff:zz") == "::ffff:zz"
    assert plain_ip("2001:db8::1") == "2001:db8::1"


def test_info_names_type_build_date_and_path(db_path: Path) -> None:
    info = CityDatabase(db_path).info()
    assert info["type"] == "GeoLite2-City"
    assert info["path"] == str(db_path)
    assert len(info["build_date"]) == 10 and info["build_date"][:2] == "20"


def test_a_missing_or_broken_file_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(CityDatabaseError, match="no file"):
        CityDatabase(tmp_path / "absent.mmdb")
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database\n" * 1000)
    with pytest.raises(CityDatabaseError, match="not a readable MaxMind DB"):
        CityDatabase(junk)
    good = write_city_db(tmp_path / "city.mmdb").read_bytes()
    cut = tmp_path / "cut.mmdb"
    cut.write_bytes(good[: len(good) // 2])  # a download cut short: no metadata
    with pytest.raises(CityDatabaseError):
        CityDatabase(cut)


def test_settings_refuse_a_missing_or_non_mmdb_path(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEINSIGHT_GEO_CITY_DATABASE", str(tmp_path / "absent.mmdb"))
    with pytest.raises(ConfigError, match=r"LIVEINSIGHT_GEO_CITY_DATABASE: .*no file at"):
        load_settings(_env_file=None)
    gz = tmp_path / "dbip-city-lite.mmdb.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(4000))
    monkeypatch.setenv("LIVEINSIGHT_GEO_CITY_DATABASE", str(gz))
    with pytest.raises(ConfigError, match=r"LIVEINSIGHT_GEO_CITY_DATABASE: .*not a MaxMind"):
        load_settings(_env_file=None)
    monkeypatch.setenv("LIVEINSIGHT_GEO_CITY_DATABASE", str(write_city_db(tmp_path / "c.mmdb")))
    assert load_settings(_env_file=None).geo_city_database == tmp_path / "c.mmdb"
    monkeypatch.setenv("LIVEINSIGHT_GEO_CITY_DATABASE", "")
    assert load_settings(_env_file=None).geo_city_database is None


def test_a_replaced_file_is_picked_up_within_a_minute(db_path: Path) -> None:
    ticks = Ticks()
    db = CityDatabase(db_path, clock=ticks)
    assert db.lookup("81.2.69.142") == ("GB", "England", "London")
    write_city_db(db_path, {"81.2.69.0/24": city("GB", "Scotland", "Edinburgh")})
    ticks.now += 59
    assert db.lookup("81.2.69.142") == ("GB", "England", "London")  # not checked yet
    ticks.now += 2
    assert db.lookup("81.2.69.142") == ("GB", "Scotland", "Edinburgh")
    assert db.lookup("89.160.20.1") is None  # the new file has no such network
    assert db.reload_error is None


def test_a_broken_replacement_keeps_the_open_database(db_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    db = CityDatabase(db_path, clock=ticks)
    part = db_path.with_name("part")
    part.write_bytes(b"<html>503 Service Unavailable</html>")
    os.replace(part, db_path)
    ticks.now += 61
    with caplog.at_level(logging.ERROR, "liveinsight.ingest.citydb"):
        assert db.lookup("81.2.69.142") == ("GB", "England", "London")
        ticks.now += 61
        assert db.lookup("81.2.69.142") == ("GB", "England", "London")
    assert "not a readable MaxMind DB" in (db.reload_error or "")
    assert "keeping the database already open" in db.info()["reload_error"]
    assert len([r for r in caplog.records if "city database" in r.getMessage()]) == 1  # once
    db_path.unlink()  # removed: still the open one
    ticks.now += 61
    assert db.lookup("89.160.20.1") == ("DE", "Berlin", "Berlin")
    assert "cannot read" in (db.reload_error or "")
    write_city_db(db_path, {"89.160.20.0/24": city("DE", "Bavaria", "Munich")})
    ticks.now += 61
    assert db.lookup("89.160.20.1") == ("DE", "Bavaria", "Munich")  # a good one again
    assert db.reload_error is None and "reload_error" not in db.info()


def test_a_damaged_data_section_is_refused(db_path: Path) -> None:
    """A file that opens (its metadata is intact) but whose records cannot be read."""
    ticks = Ticks()
    db = CityDatabase(db_path, clock=ticks)
    data = bytearray(db_path.read_bytes())
    marker = data.rfind(b"\xab\xcd\xefMaxMind.com")
    data[marker - 400: marker - 16] = b"\xff" * 384  # the records before the metadata
    part = db_path.with_name("part")
    part.write_bytes(bytes(data))
    os.replace(part, db_path)
    ticks.now += 61
    assert db.lookup("81.2.69.142") == ("GB", "England", "London")
    assert "damaged" in (db.reload_error or "")
