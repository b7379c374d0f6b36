"""``liveinsight demo`` from the command line: generates once, then skips."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from liveinsight.cli import app


def test_demo_generates_then_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIVEINSIGHT_WAL_FSYNC", "never")
    monkeypatch.chdir(tmp_path)  # no stray .env
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--days", "2", "--scale", "0.02"])
    assert first.exit_code == 0, first.output
    text = " ".join(first.output.split())
    assert "demo data:" in text and "events/s" in text
    assert "demo.liveinsight.dev, shop.example, blog.example" in text
    assert "regions and cities are generated" in text  # not looked up, and it says so
    again = runner.invoke(app, ["demo", "--days", "2", "--scale", "0.02"])
    assert again.exit_code == 0 and "already stored" in " ".join(again.output.split())
    quiet = runner.invoke(app, ["demo", "--quiet-if-stored"])
    assert quiet.exit_code == 0 and "already stored" not in quiet.output
    sites = runner.invoke(app, ["list-sites", "--json"])
    assert '"domain": "shop.example"' in sites.output


def test_live_alone_needs_a_running_server(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from liveinsight.demo import live

    monkeypatch.setenv("LIVEINSIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(live, "wait_for_server", lambda *_a, **_k: False)
    result = CliRunner().invoke(app, ["demo", "--live", "--port", "9"])
    assert result.exit_code == 1 and "no server answered at http://127.0.0.1:9" in result.output
    assert not (tmp_path / "data" / "chdb").exists()  # nothing generated
