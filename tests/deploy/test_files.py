"""What can be checked of deploy/ without a Docker daemon: the compose file's services,
volumes, healthchecks and paths; the Dockerfile's stages, user, volume and healthcheck;
nginx.conf through ``nginx -t`` and against the app's settings."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from liveinsight.settings import Settings
from tests.deploy.test_deploy_sh import nginx_args, nginx_dir
from tests.support import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "docker-compose.prod.yml").read_text()))


def test_compose_services_volumes_healthchecks_and_paths() -> None:
    doc = compose()
    services = doc["services"]
    assert set(services) == {"app", "nginx", "postgres", "redis"}
    assert "profiles" not in services["app"] and "profiles" not in services["nginx"]
    assert services["postgres"]["profiles"] == ["postgres"]
    assert services["redis"]["profiles"] == ["redis"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    app = services["app"]
    assert "liveinsight-data:/data" in app["volumes"] and "liveinsight-data" in doc["volumes"]
    assert app["read_only"] is True and "/tmp" in app["tmpfs"]
    assert "/health" in " ".join(app["healthcheck"]["test"])
    build = DEPLOY / app["build"]["context"]
    assert (build / app["build"]["dockerfile"]).is_file() and (build / "pyproject.toml").is_file()
    for volume in services["nginx"]["volumes"]:
        source = volume.split(":")[0]
        assert (DEPLOY / source).exists(), volume
    # the app believes nginx's forwarded headers: nginx's address is in the trusted network
    trusted = ipaddress.ip_network(app["environment"]["LIVEINSIGHT_TRUSTED_PROXIES"])
    nginx_ip = ipaddress.ip_address(
        services["nginx"]["networks"]["liveinsight"]["ipv4_address"])
    subnet = ipaddress.ip_network(doc["networks"]["liveinsight"]["ipam"]["config"][0]["subnet"])
    assert nginx_ip in trusted and trusted == subnet


def test_dockerfile_is_multi_stage_non_root_with_a_volume_and_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "COPY --from=build /opt/liveinsight /opt/liveinsight" in runtime
    user = re.search(r"^USER (\S+)$", runtime, re.MULTILINE)
    assert user is not None and not user.group(1).startswith(("root", "0"))
    assert 'VOLUME ["/data"]' in runtime and "LIVEINSIGHT_DATA_DIR=/data" in runtime
    assert re.search(r"^HEALTHCHECK .*\n.*/health", runtime, re.MULTILINE)


def test_nginx_rate_limit_matches_the_apps_defaults() -> None:
    text = (DEPLOY / "nginx.conf").read_text()
    defaults = Settings.model_fields
    rate = defaults["rate_limit_per_minute"].default
    burst = defaults["rate_limit_burst"].default
    assert f"rate={int(rate)}r/m" in text
    assert set(re.findall(r"burst=(\d+)", text)) == {str(burst)}
    stream = text.split("location = /api/realtime/stream", 1)[1].split("}", 1)[0]
    assert "proxy_buffering off" in stream and "proxy_read_timeout 1h" in stream


def test_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    conf = nginx_dir(tmp_path, free_port(), free_port())
    (conf / "liveinsight-upstream.conf").write_text(
        (DEPLOY / "liveinsight-upstream.conf").read_text().replace("app:8000", "127.0.0.1:8000"))
    done = subprocess.run([*nginx_args(conf), "-t"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
