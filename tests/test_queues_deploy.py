"""The deployment files: the compose file is valid and pins one render worker per GPU."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"


def _compose_config() -> dict:
    """`docker compose config` (v2 plugin) or `docker-compose config` (v1) when installed: it
    validates against the Compose schema and resolves anchors/merges, without a Docker engine.
    With neither installed, fall back to the YAML itself (the checks below still apply)."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True)
        if probe.returncode != 0:
            continue
        result = subprocess.run([*command, "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{' '.join(command)} config rejected the file:\n{result.stderr}"
        return yaml.safe_load(result.stdout)
    print("no docker compose tool here: checked the YAML structure only")
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_valid_and_has_every_service():
    config = _compose_config()
    services = config["services"]
    for name in ("rabbitmq", "postgres", "minio", "api", "console", "worker-cpu", "render-gpu0", "render-gpu1"):
        assert name in services, name
    for name in ("api", "console", "worker-cpu", "render-gpu0", "render-gpu1"):
        env = services[name]["environment"]
        assert env["FACTORY_DATABASE_URL"].startswith("postgresql://")
        assert env["FACTORY_AMQP_URL"].startswith("amqp://")
        assert env["FACTORY_STORE_URL"].startswith("s3://")


def test_each_render_worker_owns_exactly_one_gpu():
    services = _compose_config()["services"]
    cards = []
    for name in ("render-gpu0", "render-gpu1"):
        service = services[name]
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert len(devices) == 1 and len(devices[0]["device_ids"]) == 1
        cards.append(devices[0]["device_ids"][0])
        command = service["command"]
        assert command[command.index("--stage") + 1] == "render" and "--gpu" in command
        assert service["environment"]["CUDA_VISIBLE_DEVICES"] == "0"  # the one card it can see
    assert sorted(cards) == ["0", "1"]


def test_systemd_units_run_the_worker_with_a_grace_shorter_than_the_stop_timeout():
    for unit in ("factory-worker@.service", "factory-render@.service"):
        text = (DEPLOY / "systemd" / unit).read_text()
        exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
        grace = float(exec_start.split("--grace", 1)[1].split()[0])
        timeout = float(next(line for line in text.splitlines() if line.startswith("TimeoutStopSec=")).split("=", 1)[1])
        assert "factory worker --stage" in exec_start and grace < timeout
