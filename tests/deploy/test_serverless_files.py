"""What can be checked of deploy/serverless/ here (no Docker daemon, no AWS): the image's
handler is the module's entry point, and its settings with the example environment are
valid LiveInsight settings in direct ingest mode."""

from __future__ import annotations

import re
from pathlib import Path

from liveinsight import serverless
from liveinsight.settings import Settings

SERVERLESS = Path(__file__).resolve().parents[2] / "deploy" / "serverless"


def _env(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(LIVEINSIGHT_[A-Z0-9_]+)=(\S+)", text, re.MULTILINE))


def test_the_image_runs_the_handler_with_valid_direct_mode_settings() -> None:
    dockerfile = (SERVERLESS / "Dockerfile.lambda").read_text()
    assert dockerfile.startswith("#") and "FROM public.ecr.aws/lambda/python:3.11" in dockerfile
    handler = re.search(r'^CMD \["([\w.]+)"\]$', dockerfile, re.MULTILINE)
    assert handler is not None
    module, _, name = handler.group(1).rpartition(".")
    assert module == serverless.__name__ and callable(getattr(serverless, name))
    assert '"/src[serverless]"' in dockerfile
    image_env = dict(re.findall(r"(LIVEINSIGHT_[A-Z0-9_]+)=(\S+)", dockerfile))
    env = {**_env((SERVERLESS / "env.example").read_text()), **image_env}
    fields = {f"LIVEINSIGHT_{name.upper()}": name for name in Settings.model_fields}
    assert set(env) <= set(fields), set(env) - set(fields)
    settings = Settings(_env_file=None, **{fields[k]: v for k, v in env.items()})  # type: ignore[call-arg]
    assert settings.ingest_mode == "direct" and settings.data_dir == Path("/tmp/liveinsight")
    assert not settings.alerts_enabled and not settings.log_store
