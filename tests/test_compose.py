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


def test_compose_file_is_valid() -> None:
    result = _compose_config({"NEWSROOM_INGEST_API_KEY": "example"})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"elasticsearch", "redis", "ingest", "worker", "web"}
    assert services["elasticsearch"]["image"].startswith(
        "docker.elastic.co/elasticsearch/elasticsearch:9."
    )
    for name in ("ingest", "worker", "web"):
        assert services[name]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "--appendonly" in services["redis"]["command"]


def test_compose_refuses_to_run_without_an_api_key() -> None:
    result = _compose_config({})
    assert result.returncode != 0
    assert "NEWSROOM_INGEST_API_KEY" in result.stderr


def test_local_elasticsearch_is_the_compose_version() -> None:
    version = subprocess.run(
        [str(ROOT / "scripts" / "services.sh"), "es-version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert f"elasticsearch:{version}" in (ROOT / "docker-compose.yml").read_text()
