import json
import logging
from pathlib import Path

import pytest

from liveinsight.ops.logging import configure
from tests.conftest import make_settings


def test_json_logs_are_one_object_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(make_settings(tmp_path, log_format="json", log_level="info"))
    logging.getLogger("liveinsight.test").info("writer: %d segments", 3)
    logging.getLogger("liveinsight.test").debug("hidden")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    record = json.loads(lines[-1])
    assert record["event"] == "writer: 3 segments"
    assert record["level"] == "info"
    assert record["logger"] == "liveinsight.test"
    assert "hidden" not in "".join(lines)
