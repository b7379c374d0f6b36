"""Every setting is documented in docs/settings.md (STYLE: a setting not documented is not done)."""

from pathlib import Path

import pytest

from liveinsight.settings import ConfigError, Settings, load_settings, settings_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [n for n in Settings.model_fields if f"LIVEINSIGHT_{n.upper()}" not in text]
    assert not missing, f"add these to docs/settings.md: {missing}"
    assert settings_table() in text, "docs/settings.md is stale: run scripts/settings_doc.py"


def test_bad_config_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEINSIGHT_WAL_FSYNC", "sometimes")
    with pytest.raises(ConfigError, match="LIVEINSIGHT_WAL_FSYNC"):
        load_settings()


def test_trusted_proxies_accepts_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEINSIGHT_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    assert load_settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    monkeypatch.setenv("LIVEINSIGHT_TRUSTED_PROXIES", "not-an-ip")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_settings()
