"""The compose file is validated by a real compose implementation (no engine needed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT


def _compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed; the test command installs it"
    return subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd="/", env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


# The secrets compose refuses to start without (the ingest key is deprecated and optional).
SECRETS = {
    "NEWSROOM_SECRET_KEY": "s" * 32,
    "ELASTIC_PASSWORD": "elastic-password",
    "REDIS_PASSWORD": "redis-password",
    "FLOWER_BASIC_AUTH": "operator:flower-password",
}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """The services as compose reads them with every secret given (one run for the module)."""
    result = _compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    return parsed


APPS = ("ingest", "worker", "worker-bulk", "worker-webhooks", "web", "accounts-init", "flower")


def test_compose_file_is_valid(services: dict[str, Any]) -> None:
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
    # Flower: the app's image running `celery flower`, after Redis, behind a login and
    # published nowhere (tests below).
    flower = services["flower"]
    assert flower["command"][:4] == ["celery", "-A", "worker.celery_app", "flower"]
    assert flower["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "ports" not in flower


def _published(service: dict[str, Any]) -> list[str]:
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # Compose v2 prints the long form, docker-compose 1.x the short
            port = f"{port.get('host_ip', '')}:{port['published']}:{port['target']}"
        ports.append(str(port))
    return ports


def test_compose_publishes_only_the_web_and_ingest_ports(services: dict[str, Any]) -> None:
    published = {name: _published(service) for name, service in services.items()}
    assert {name for name, ports in published.items() if ports} == {"web", "ingest"}
    assert [port.rsplit(":", 1)[1] for port in published["web"]] == ["8000"]
    assert [port.rsplit(":", 1)[1] for port in published["ingest"]] == ["8001"]
    for service in services.values():
        assert service.get("network_mode") != "host"


def test_compose_runs_elasticsearch_with_its_security_on(services: dict[str, Any]) -> None:
    node = services["elasticsearch"]
    environment = node["environment"]
    for switch in (
        "xpack.security.enabled",
        "xpack.security.http.ssl.enabled",
        "xpack.security.transport.ssl.enabled",
    ):
        assert environment[switch] == "true", switch
    assert environment["ELASTIC_PASSWORD"] == "elastic-password"
    assert environment["xpack.security.transport.ssl.verification_mode"] in ("certificate", "full")
    for setting in ("key", "certificate", "certificate_authorities"):
        assert environment[f"xpack.security.http.ssl.{setting}"].startswith("certs/")
        assert environment[f"xpack.security.transport.ssl.{setting}"].startswith("certs/")
    # The certificates: made by the same image's certutil, once, into a volume of their own.
    certs = services["es-certs"]
    assert certs["image"] == node["image"]
    assert certs["restart"] == "no"
    script = " ".join(certs["entrypoint"])
    assert "bin/elasticsearch-certutil ca" in script
    assert "bin/elasticsearch-certutil cert" in script
    cert_volume = "escerts:/usr/share/elasticsearch/config/certs"
    assert any(volume.startswith(cert_volume) for volume in node["volumes"])
    assert any(volume.startswith(cert_volume) for volume in certs["volumes"])
    # It starts once es-certs is done, through the image's own entry point.
    start = " ".join(node["entrypoint"])
    assert "config/certs/ready" in start
    assert "exec /usr/local/bin/docker-entrypoint.sh eswrapper" in start
    assert re.search(r'touch "\$+certs/ready"', script)  # the marker it waits for, written last
    # The healthcheck asks over https with the CA and the password.
    check = " ".join(node["healthcheck"]["test"])
    assert "https://localhost:9200" in check
    assert "--cacert" in check
    # The services: https, the CA's certificate (only: not the volume with the keys), a login.
    for name in APPS:
        service = services[name]
        app = service["environment"]
        assert app["NEWSROOM_ELASTICSEARCH_URL"] == "https://elasticsearch:9200", name
        assert app["NEWSROOM_ELASTICSEARCH_CA_CERTS"] == "/certs/ca.crt"
        assert app["NEWSROOM_ELASTICSEARCH_USERNAME"] == "elastic"
        assert app["NEWSROOM_ELASTICSEARCH_PASSWORD"] == "elastic-password"
        assert [volume.split(":")[:2] for volume in service["volumes"]] == [["esca", "/certs"]]
    for name in ("ingest", "worker", "worker-bulk", "worker-webhooks"):
        needs = services[name]["depends_on"]
        assert needs["es-certs"]["condition"] == "service_completed_successfully"


def test_compose_runs_redis_with_a_password_every_client_uses(services: dict[str, Any]) -> None:
    redis = services["redis"]
    command = redis["command"]
    assert command[command.index("--requirepass") + 1] == "redis-password"
    assert redis["environment"]["REDISCLI_AUTH"] == "redis-password"  # its healthcheck's ping
    for name in APPS:
        environment = services[name]["environment"]
        assert environment["NEWSROOM_REDIS_URL"] == "redis://:redis-password@redis:6379/0"
        # The broker and the rate limits read the same URL (shared/settings.py).
        assert "NEWSROOM_BROKER_URL" not in environment


def test_flower_wants_a_login(services: dict[str, Any]) -> None:
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "operator:flower-password"
    for name in APPS:
        if name != "flower":
            assert "FLOWER_BASIC_AUTH" not in services[name]["environment"]


def test_compose_refuses_to_start_without_each_secret() -> None:
    """No secret has a working default: each left out stops compose, naming it (blank too:
    `:?`, checked for every one below; NEWSROOM_SECRET_KEY by the test after this one)."""
    others = [secret for secret in SECRETS if secret != "NEWSROOM_SECRET_KEY"]
    with ThreadPoolExecutor(len(others)) as pool:
        results = pool.map(
            lambda secret: (
                secret,
                _compose_config({n: v for n, v in SECRETS.items() if n != secret}),
            ),
            others,
        )
        for secret, result in results:
            assert result.returncode != 0, secret
            assert secret in result.stderr


def test_no_secret_in_the_compose_files_has_a_default() -> None:
    """Every variable named like a secret is required (`:?`) or defaults to blank, which
    means none (the deprecated ingest key, the first admin's one-shot password)."""
    for name in ("docker-compose.yml", "docker-compose.cluster.yml"):
        text = (ROOT / name).read_text()
        # ($${NAME} is the container's own variable, read when a command runs, not compose's.)
        for variable, operator, default in re.findall(r"(?<!\$)\$\{(\w+)(:?[-?]?)([^}]*)\}", text):
            if not re.search(r"PASSWORD|SECRET|KEY|AUTH|TOKEN", variable):
                continue
            if variable in SECRETS:
                assert operator == ":?", f"{name}: {variable} must be required"
            if operator == ":?":
                continue
            assert (operator, default) == (":-", ""), f"{name}: ${{{variable}{operator}{default}}}"


def test_compose_refuses_to_run_without_a_secret_key() -> None:
    others = {name: value for name, value in SECRETS.items() if name != "NEWSROOM_SECRET_KEY"}
    result = _compose_config({**others, "NEWSROOM_INGEST_API_KEY": "example"})
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
    data = "/usr/share/elasticsearch/data"
    data_volumes = {
        volume.split(":")[0]
        for node in nodes
        for volume in services[node]["volumes"]
        if volume.split(":")[1] == data
    }
    assert len(data_volumes) == 3
    for node in nodes:  # security on every node, with the one set of certificates
        environment = services[node]["environment"]
        assert environment["xpack.security.enabled"] == "true"
        assert environment["xpack.security.transport.ssl.enabled"] == "true"
        assert environment["ELASTIC_PASSWORD"] == SECRETS["ELASTIC_PASSWORD"]
        assert "escerts:/usr/share/elasticsearch/config/certs:rw" in services[node]["volumes"]
        assert "ports" not in services[node]
    for app in ("ingest", "worker", "worker-bulk", "web"):
        environment = services[app]["environment"]
        assert environment["NEWSROOM_INDEX_REPLICAS"] == "1"
        urls = environment["NEWSROOM_ELASTICSEARCH_URL"].split(",")
        assert len(urls) == 3
        assert all(url.startswith("https://") for url in urls)
