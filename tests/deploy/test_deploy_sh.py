"""``deploy/deploy.sh`` for real: two ``liveinsight serve`` slots on loopback sharing a
ClickHouse (the ``clickhouse_url`` fixture) and a SQLite metadata file, behind nginx running
``deploy/nginx.conf``; collector load goes through nginx during a blue-green deploy (no request
may fail, every acknowledged event is stored) and during a deploy of a version that never
becomes healthy (rolled back automatically, the old slot keeps serving)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import LIVEINSIGHT, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def nginx_dir(tmp_path: Path, http_port: int, https_port: int) -> Path:
    conf = tmp_path / "nginx"
    conf.mkdir()
    for name in ("nginx.conf", "liveinsight-proxy.conf"):
        shutil.copy(DEPLOY / name, conf / name)
    shutil.copy("/etc/nginx/mime.types", conf / "mime.types")
    text = (conf / "nginx.conf").read_text()
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = "\n".join(line for line in text.splitlines() if "listen [::]" not in line)
    (conf / "nginx.conf").write_text(text)
    (conf / "tls").mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(conf / "tls/privkey.pem"),
                    "-out", str(conf / "tls/fullchain.pem")], check=True, capture_output=True)
    return conf


def nginx_args(conf: Path) -> list[str]:
    return ["nginx", "-p", str(conf), "-c", str(conf / "nginx.conf"), "-g",
            f"pid {conf}/nginx.pid; error_log {conf}/error.log; user root;"]


@pytest.fixture
def stack(tmp_path: Path, clickhouse_url: str) -> Iterator[dict[str, str]]:
    if shutil.which("nginx") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is required in CI (apt-get install nginx-light)")
        pytest.skip("nginx is not installed")
    http_port, https_port = free_port(), free_port()
    conf = nginx_dir(tmp_path, http_port, https_port)
    database = f"deploy_{os.getpid()}_{time.monotonic_ns()}"
    env = {
        **os.environ,
        "LI_BIN": str(LIVEINSIGHT), "LI_STATE": str(tmp_path / "state"),
        "LI_DATA_ROOT": str(tmp_path / "slots"),
        "LI_BLUE_PORT": str(free_port()), "LI_GREEN_PORT": str(free_port()),
        "LI_UPSTREAM_FILE": str(conf / "liveinsight-upstream.conf"),
        "LI_NGINX_RELOAD": " ".join(f"'{a}'" for a in nginx_args(conf)) + " -s reload",
        "LI_HEALTH_TIMEOUT": "60", "LI_VERIFY_SECONDS": "2",
        "LIVEINSIGHT_CLICKHOUSE_URL": clickhouse_url,
        "LIVEINSIGHT_CLICKHOUSE_DATABASE": database,
        "LIVEINSIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'meta.db'}",
        "LIVEINSIGHT_SECRET_KEY": "deploy-test-secret-key-with-enough-entropy-0123",
        "LIVEINSIGHT_TRUSTED_PROXIES": "127.0.0.1",
        "LIVEINSIGHT_RATE_LIMIT_PER_MINUTE": "0",
        "LIVEINSIGHT_LOG_LEVEL": "warning",
        "HTTPS": f"https://127.0.0.1:{https_port}",
    }
    (conf / "liveinsight-upstream.conf").write_text(
        f"upstream liveinsight {{ server 127.0.0.1:{env['LI_BLUE_PORT']}; }}\n")
    subprocess.run([str(LIVEINSIGHT), "create-site", "example.com"], env=env, check=True,
                   capture_output=True, timeout=120)
    nginx = subprocess.Popen([*nginx_args(conf)[:-1], nginx_args(conf)[-1] + " daemon off;"],
                             env=env)
    try:
        yield env
    finally:
        subprocess.run([str(DEPLOY / "deploy.sh"), "stop"], env=env, capture_output=True,
                       timeout=120, check=False)
        for slot in ("blue", "green"):
            pid = tmp_path / "state" / f"{slot}.pid"
            if pid.exists():
                with_pid = int(pid.read_text())
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(with_pid, signal.SIGKILL)
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=30)


def deploy_sh(env: dict[str, str], *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DEPLOY / "deploy.sh"), *argv], env={**env, **extra},
                          capture_output=True, text=True, timeout=240, check=False)


class Load:
    """Pageviews posted through nginx (HTTPS) from one thread until stopped.

    A request that meets a kept-alive connection nginx closes as a reload retires its old
    workers (``start`` and every switch reload it) fails before any answer; browsers send it
    again on a new connection, and so does this load, once (counted in ``retried``).
    """

    def __init__(self, url: str) -> None:
        self.url, self.acked, self.failed = url, [], []  # type: ignore[var-annotated]
        self.retried: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(verify=False, timeout=10) as client:
            seq = 0
            while not self._stop.is_set():
                seq += 1
                marker = f"/d/{seq}"
                try:
                    try:
                        resp = self._post(client, seq, marker)
                    except httpx.RemoteProtocolError:  # closed unanswered by a retiring worker
                        self.retried.append(marker)
                        resp = self._post(client, seq, marker)
                except httpx.TransportError as exc:  # the first failure, or the retry's
                    self.failed.append((marker, repr(exc)))
                    continue
                if resp.status_code == 202:
                    self.acked.append(marker)
                else:
                    self.failed.append((marker, resp.status_code))

    def _post(self, client: httpx.Client, seq: int, marker: str) -> httpx.Response:
        return client.post(self.url + "/api/event", headers={
            "Content-Type": "text/plain", "User-Agent": UA,
            "X-Forwarded-For": f"10.1.{seq // 250 % 250}.{seq % 250 + 1}"},
            json={"n": "pageview", "u": f"https://example.com{marker}", "d": "example.com"})

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_blue_green_deploy_under_load_and_automatic_rollback(stack: dict[str, str],
                                                             tmp_path: Path) -> None:
    env = stack
    started = deploy_sh(env, "start")
    assert started.returncode == 0, started.stderr
    load = Load(env["HTTPS"])
    try:
        wait_until(lambda: len(load.acked) >= 50, 60, "events through nginx")
        done = deploy_sh(env, "deploy")
        assert done.returncode == 0, done.stderr
        assert "deployed: green serves" in done.stderr
        assert (tmp_path / "state/active").read_text().strip() == "green"
        assert f":{env['LI_GREEN_PORT']};" in Path(env["LI_UPSTREAM_FILE"]).read_text()
        at_switch = len(load.acked)
        wait_until(lambda: len(load.acked) >= at_switch + 50, 60, "events after the switch")

        broken = tmp_path / "broken-liveinsight"
        broken.write_text("#!/bin/sh\n[ \"$1\" = migrate ] && exit 0\nexec sleep 600\n")
        broken.chmod(0o755)
        failed = deploy_sh(env, "deploy", str(broken), LI_HEALTH_TIMEOUT="5")
        assert failed.returncode == 1
        assert "rolled back, green keeps serving" in failed.stderr
        assert (tmp_path / "state/active").read_text().strip() == "green"
        assert not (tmp_path / "state/blue.pid").exists()
        after = len(load.acked)
        wait_until(lambda: len(load.acked) >= after + 50, 60, "events after the rollback")
    finally:
        load.stop()
    assert load.failed == [], load.failed[:5]
    assert len(load.retried) <= 3, load.retried  # at most one per reload
    status = deploy_sh(env, "status")
    assert status.returncode == 0 and "green [active]: running" in status.stdout
    assert deploy_sh(env, "stop").returncode == 0  # green drains its log into the store

    from liveinsight.storage.http import HttpStore

    store = HttpStore(env["LIVEINSIGHT_CLICKHOUSE_URL"], env["LIVEINSIGHT_CLICKHOUSE_DATABASE"])
    try:
        stored = {row[0] for row in store.query(
            f"SELECT DISTINCT pathname FROM `{store.database}`.events").rows}
    finally:
        store.close()
    lost = [m for m in load.acked if m not in stored]
    assert not lost, f"{len(lost)} acknowledged events not stored, e.g. {lost[:3]}"
