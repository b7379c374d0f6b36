"""The SMTP settings answer to the names the specification gives them too."""

from __future__ import annotations

import pytest

from liveinsight.settings import Settings


def test_bare_smtp_names_are_read_and_the_prefixed_ones_win(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setenv("SMTP_HOST", "bare.example")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("SMTP_USERNAME", "alerts")
    monkeypatch.setenv("SMTP_PASSWORD", "pw")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.smtp_host, s.smtp_port, s.smtp_username, s.smtp_password) == (
        "bare.example", 2525, "alerts", "pw")
    monkeypatch.setenv("LIVEINSIGHT_SMTP_HOST", "prefixed.example")
    assert Settings(_env_file=None).smtp_host == "prefixed.example"  # type: ignore[call-arg]
