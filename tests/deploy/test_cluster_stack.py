"""What can be checked of the cluster stack (deploy/cluster/) and the Kubernetes manifests
(deploy/k8s/) without a Docker daemon, a ClickHouse cluster or a Kubernetes API server:
the files parse, every reference between them holds (cluster name, shards and replicas,
macros, Keeper ensemble, users, upstreams, selectors, probes), nginx accepts the cluster's
upstream (``nginx -t``), kustomize builds the manifests, and every ``LIVEINSIGHT_*``
variable anywhere in deploy/ is a real setting."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from liveinsight.api.frontdoor import PROBES
from liveinsight.settings import Settings
from tests.deploy.test_deploy_sh import nginx_args, nginx_dir
from tests.support import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CLUSTER = DEPLOY / "cluster"
K8S = DEPLOY / "k8s"
CH_SERVERS = ["ch-s1r1", "ch-s1r2", "ch-s2r1", "ch-s2r2"]
KEEPERS = ["keeper1", "keeper2", "keeper3"]
NODES = ["node1", "node2"]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((CLUSTER / "docker-compose.yml").read_text()))


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host path (relative to deploy/cluster) of a service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[target] = source
    return out


def _xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_the_stack_has_every_piece_and_every_mounted_file() -> None:
    services = compose()["services"]
    assert set(services) == {*CH_SERVERS, *KEEPERS, *NODES, "postgres", "redis", "migrate",
                             "nginx"}
    for name, service in services.items():
        if name != "migrate":
            assert service["healthcheck"]["test"], name
        for source in _mounts(service).values():
            assert (CLUSTER / source).exists(), f"{name}: {source}"
    declared = set(compose()["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                assert source in declared, f"{name}: {source}"


def test_remote_servers_macros_and_keepers_agree() -> None:
    services = compose()["services"]
    config = _xml(CLUSTER / "clickhouse" / "cluster.xml")
    cluster_name = services["node1"]["environment"]["LIVEINSIGHT_CLICKHOUSE_CLUSTER"]
    cluster = config.find(f"remote_servers/{cluster_name}")
    assert cluster is not None, cluster_name
    shards = [[r.findtext("host") for r in shard.findall("replica")]
              for shard in cluster.findall("shard")]
    assert shards == [["ch-s1r1", "ch-s1r2"], ["ch-s2r1", "ch-s2r2"]]
    assert all(s.findtext("internal_replication") == "true" for s in cluster.findall("shard"))
    for number, replicas in enumerate(shards, 1):
        for host in replicas:
            mounts = _mounts(services[host])
            assert mounts["/etc/clickhouse-server/config.d/cluster.xml"].endswith("cluster.xml")
            macros = _xml(CLUSTER / mounts["/etc/clickhouse-server/config.d/macros.xml"])
            assert macros.findtext("macros/shard") == str(number), host
            assert macros.findtext("macros/replica") == host
    # the Keeper ensemble: what the servers connect to is what the Keepers are
    keeper_port = {int(_xml(CLUSTER / "keeper" / f"{k}.xml").findtext("keeper_server/tcp_port")
                       or 0) for k in KEEPERS}
    assert [(n.findtext("host"), int(n.findtext("port") or 0))
            for n in config.findall("zookeeper/node")] == [(k, *keeper_port) for k in KEEPERS]
    for number, keeper in enumerate(KEEPERS, 1):
        mount = _mounts(services[keeper])["/etc/clickhouse-keeper/keeper_config.xml"]
        server = _xml(CLUSTER / mount).find("keeper_server")
        assert server is not None and server.findtext("server_id") == str(number)
        raft = [(s.findtext("id"), s.findtext("hostname"))
                for s in server.findall("raft_configuration/server")]
        assert raft == [(str(i), k) for i, k in enumerate(KEEPERS, 1)]


def test_nodes_reach_the_servers_as_the_user_the_servers_declare() -> None:
    services = compose()["services"]
    users = _xml(CLUSTER / "clickhouse" / "users.xml")
    password = users.find("users/liveinsight/password")
    assert password is not None and password.get("from_env") == "CLICKHOUSE_PASSWORD"
    profile = users.findtext("users/liveinsight/profile")
    assert users.findtext(f"profiles/{profile}/distributed_foreground_insert") == "1"
    for host in CH_SERVERS:
        assert "CLICKHOUSE_PASSWORD" in services[host]["environment"]
        assert _mounts(services[host])["/etc/clickhouse-server/users.d/liveinsight.xml"]
    for name in [*NODES, "migrate"]:
        env = services[name]["environment"]
        url = urlsplit(env["LIVEINSIGHT_CLICKHOUSE_URL"])
        assert url.hostname in CH_SERVERS and url.username == "liveinsight" and url.port == 8123
        assert url.password == "${CLICKHOUSE_PASSWORD}"
        assert urlsplit(env["LIVEINSIGHT_DATABASE_URL"]).hostname == "postgres"
        assert urlsplit(env["LIVEINSIGHT_REDIS_URL"]).hostname == "redis"
        assert env["LIVEINSIGHT_SECRET_KEY"].startswith("${LIVEINSIGHT_SECRET_KEY")
    # the two nodes talk to servers of different shards (one server down takes one node's
    # store away, not both)
    hosts = {urlsplit(services[n]["environment"]["LIVEINSIGHT_CLICKHOUSE_URL"]).hostname
             for n in NODES}
    assert len({h[:5] for h in hosts if h}) == 2


def test_the_schema_is_migrated_once_before_the_nodes_start() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["liveinsight", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert set(services["migrate"]["depends_on"]) == {*CH_SERVERS, "postgres"}
    for node in NODES:
        assert services[node]["command"] == ["liveinsight", "serve"]
        assert services[node]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"}
        assert "/health/ready" in " ".join(services[node]["healthcheck"]["test"])


def test_nginx_balances_both_nodes_and_is_trusted_by_them(tmp_path: Path) -> None:
    doc = compose()
    services = doc["services"]
    upstream = (CLUSTER / "liveinsight-upstream.conf").read_text()
    assert re.findall(r"server (\w+):8000", upstream) == NODES
    nginx_ip = ipaddress.ip_address(
        services["nginx"]["networks"]["liveinsight"]["ipv4_address"])
    subnet = ipaddress.ip_network(doc["networks"]["liveinsight"]["ipam"]["config"][0]["subnet"])
    for node in NODES:
        trusted = ipaddress.ip_network(
            services[node]["environment"]["LIVEINSIGHT_TRUSTED_PROXIES"])
        assert nginx_ip in trusted and trusted == subnet
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    conf = nginx_dir(tmp_path, free_port(), free_port())
    (conf / "liveinsight-upstream.conf").write_text(
        re.sub(r"node\d:8000", f"127.0.0.1:{free_port()}", upstream))
    done = subprocess.run([*nginx_args(conf), "-t"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def _manifests() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def test_kubernetes_manifests_hold_together() -> None:
    docs = _manifests()
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml")
                                    if p.name != "kustomization.yaml")
    sts = docs["StatefulSet/liveinsight"]["spec"]
    pod = sts["template"]
    assert sts["podManagementPolicy"] == "OrderedReady"  # one node migrates at a time
    assert sts["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    config = docs["ConfigMap/liveinsight"]["data"]
    secret = docs["Secret/liveinsight"]["stringData"]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["liveinsight", "serve"]
    assert {r.get("configMapRef", r.get("secretRef"))["name"] for r in container["envFrom"]} == {
        "liveinsight"}
    assert container["ports"][0]["containerPort"] == int(config["LIVEINSIGHT_PORT"])
    probes = {container[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe",
                                                         "startupProbe")}
    assert probes <= PROBES and container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    # the write-ahead log lives on a persistent volume per node
    (claim,) = sts["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == config["LIVEINSIGHT_DATA_DIR"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    uid = re.search(r"--uid (\d+)", dockerfile)
    assert uid and pod["spec"]["securityContext"]["runAsUser"] == int(uid.group(1))
    for name in ("Service/liveinsight", "Service/liveinsight-nodes",
                 "PodDisruptionBudget/liveinsight"):
        selector = docs[name]["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= pod["metadata"]["labels"].items(), name
    backend = docs["Ingress/liveinsight"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    service = docs[f"Service/{backend['service']['name']}"]
    assert backend["service"]["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert sts["serviceName"] == "liveinsight-nodes"
    assert {"LIVEINSIGHT_SECRET_KEY", "LIVEINSIGHT_CLICKHOUSE_URL", "LIVEINSIGHT_DATABASE_URL",
            "LIVEINSIGHT_REDIS_URL"} <= set(secret)


def test_kustomize_builds_the_manifests() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout) if d]
    assert sorted(kinds) == sorted(d.split("/")[0] for d in _manifests())
    assert all(d["metadata"].get("namespace") in (None, "liveinsight")
               for d in yaml.safe_load_all(done.stdout) if d)


# What clients of a running server read (the docs' examples, the backup unit's curl): the
# server's URL and a key, not settings of the server.
CLIENT_VARIABLES = {"LIVEINSIGHT_URL", "LIVEINSIGHT_API_KEY", "LIVEINSIGHT_SITE"}


def test_every_liveinsight_variable_in_deploy_is_a_setting() -> None:
    known = {f"LIVEINSIGHT_{name.upper()}" for name in Settings.model_fields} | CLIENT_VARIABLES
    found: dict[str, Path] = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix not in {".pem", ".key"}:
            for name in re.findall(r"\bLIVEINSIGHT_[A-Z0-9_]+\b", path.read_text()):
                found.setdefault(name, path)
    unknown = {name: str(path.relative_to(DEPLOY)) for name, path in found.items()
               if name not in known}
    assert not unknown, unknown
