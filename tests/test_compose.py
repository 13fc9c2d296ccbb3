"""The compose file is validated by a real compose implementation (no engine needed)."""

from __future__ import annotations

import os
import shutil
import subprocess

import yaml

from tests.conftest import ROOT


def _compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed; the test command installs it"
    return subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd="/", env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


# The secret compose refuses to start without (the ingest key is deprecated and optional).
SECRETS = {"NEWSROOM_SECRET_KEY": "s" * 32}


def test_compose_file_is_valid() -> None:
    result = _compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert {"elasticsearch", "redis", "ingest", "worker", "worker-bulk", "web"} <= set(services)
    assert services["elasticsearch"]["image"].startswith(
        "docker.elastic.co/elasticsearch/elasticsearch:9."
    )
    for name in ("ingest", "worker", "worker-bulk", "web"):
        assert services[name]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    # Workers scale with --scale worker=N: no fixed name, no published port.
    for name in ("worker", "worker-bulk"):
        assert "ports" not in services[name]
        assert "container_name" not in services[name]
    queues = {name: services[name]["command"] for name in ("worker", "worker-bulk")}
    assert queues["worker"][queues["worker"].index("--queues") + 1] == "live"
    assert "bulk" in queues["worker-bulk"][queues["worker-bulk"].index("--queues") + 1]
    assert "--appendonly" in services["redis"]["command"]
    # Flower: the app's image running `celery flower`, after Redis, on the host's loopback.
    flower = services["flower"]
    assert flower["command"][:4] == ["celery", "-A", "worker.celery_app", "flower"]
    assert flower["depends_on"]["redis"]["condition"] == "service_healthy"
    (port,) = flower["ports"]
    if isinstance(port, dict):  # Compose v2 prints the long form, docker-compose 1.x the short
        port = f"{port['host_ip']}:{port['published']}:{port['target']}/{port['protocol']}"
    assert port == "127.0.0.1:5555:5555/tcp"


def test_compose_refuses_to_run_without_a_secret_key() -> None:
    result = _compose_config({"NEWSROOM_INGEST_API_KEY": "example"})
    assert result.returncode != 0
    assert "NEWSROOM_SECRET_KEY" in result.stderr


def test_compose_runs_without_the_deprecated_ingest_key() -> None:
    """Ingest takes API tokens; the shared key, when .env leaves it out, reaches the services
    blank, which Settings reads as no key (tests/test_accounts.py)."""
    result = _compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("ingest", "worker", "worker-bulk", "web"):
        assert services[name]["environment"]["NEWSROOM_INGEST_API_KEY"] == ""
    keyed = _compose_config({**SECRETS, "NEWSROOM_INGEST_API_KEY": "example"})
    assert keyed.returncode == 0, keyed.stderr
    environment = yaml.safe_load(keyed.stdout)["services"]["ingest"]["environment"]
    assert environment["NEWSROOM_INGEST_API_KEY"] == "example"


def test_compose_lets_no_stranger_read_and_makes_the_first_admin_from_the_environment() -> None:
    result = _compose_config({**SECRETS, "NEWSROOM_ADMIN_PASSWORD": "chosen by the operator"})
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("ingest", "worker", "worker-bulk", "web"):
        environment = services[name]["environment"]
        assert environment["NEWSROOM_ANONYMOUS_READING"] == "false"
        assert environment["NEWSROOM_TRUSTED_HOSTS"] == "localhost,127.0.0.1"
        assert environment["NEWSROOM_SECRET_KEY"] == "s" * 32
        # The admin's password reaches the one-shot command only.
        assert "NEWSROOM_ADMIN_PASSWORD" not in environment
    init = services["accounts-init"]
    assert init["command"] == ["newsroom", "users", "first-admin", "--no-generate"]
    assert init["environment"]["NEWSROOM_ADMIN_PASSWORD"] == "chosen by the operator"
    assert init["restart"] == "no"
    assert "ports" not in init
    web_needs = services["web"]["depends_on"]
    assert web_needs["accounts-init"]["condition"] == "service_completed_successfully"


def test_local_elasticsearch_is_the_compose_version() -> None:
    version = subprocess.run(
        [str(ROOT / "scripts" / "services.sh"), "es-version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert f"elasticsearch:{version}" in (ROOT / "docker-compose.yml").read_text()


def test_the_cluster_file_runs_three_nodes_with_replicas() -> None:
    binary = shutil.which("docker-compose")
    assert binary
    result = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "docker-compose.cluster.yml"), "config"],
        cwd="/", env={"PATH": os.environ["PATH"], **SECRETS},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    nodes = {"elasticsearch", "es02", "es03"}
    assert nodes <= set(services)
    images = {services[node]["image"] for node in nodes}
    assert images == {services["elasticsearch"]["image"]}  # one pin, in docker-compose.yml
    for node in nodes:
        environment = services[node]["environment"]
        assert environment["discovery.type"] == "multi-node"
        assert set(environment["cluster.initial_master_nodes"].split(",")) == nodes
        assert environment["node.name"] == node
    assert len({services[node]["volumes"][0].split(":")[0] for node in nodes}) == 3
    for app in ("ingest", "worker", "worker-bulk", "web"):
        environment = services[app]["environment"]
        assert environment["NEWSROOM_INDEX_REPLICAS"] == "1"
        assert len(environment["NEWSROOM_ELASTICSEARCH_URL"].split(",")) == 3
