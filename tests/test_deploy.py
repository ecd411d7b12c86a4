"""The container and compose files: validated without a Docker engine."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT


def test_compose_file_is_valid_for_docker_compose() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    out = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_compose_services() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert services["app"]["environment"]["CAREERBOT_QDRANT_URL"] == "http://qdrant:6333"
    assert services["app"]["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert "healthcheck" in services["qdrant"] and "healthcheck" in services["app"]
    assert services["qdrant"]["volumes"] and spec["volumes"]
    assert services["ollama"]["profiles"] == ["llm"]


def test_dockerfile_runs_as_non_root_with_cpu_torch_and_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER careerbot" in text and "HEALTHCHECK" in text
    assert "whl/cpu" in text and "torch==$TORCH_VERSION" in text
    assert 'CMD ["careerbot", "serve"]' in text
