"""Fixtures for the distributed mode: RabbitMQ, an S3 server and settings/env that use them.

The lead's ``tests/conftest.py`` provides ``postgres_url`` (a fresh database per session).
Import these into conftest.py (``from conftest_services import *``) or into a test module.
Under CI=true a missing RabbitMQ is a failure, never a skip.

* ``amqp_url``      — RabbitMQ at 127.0.0.1:5672 (``FACTORY_TEST_AMQP_URL`` to change it);
* ``queue_prefix``  — a unique queue-name prefix per test; its queues are deleted afterwards;
* ``s3_endpoint``   — a real S3-compatible server on loopback (moto's server mode) for the session;
* ``distributed``   — a ``Distributed`` bundle: Settings for this process, the environment
  for worker subprocesses, and helpers to start/stop ``factory worker`` processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import service_missing

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # test stages are registered as "tests.<module>:<attr>"
    sys.path.insert(0, str(REPO))
AMQP_URL = os.environ.get("FACTORY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def amqp_url() -> str:
    import pika
    import pika.exceptions

    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
    except pika.exceptions.AMQPError as exc:
        service_missing(f"RabbitMQ is not reachable at {AMQP_URL}: {exc!r}")
    return AMQP_URL


@pytest.fixture
def queue_prefix(amqp_url):
    """Unique queue names for one test; every queue under the prefix is deleted afterwards."""
    import pika

    from factory import stages
    from queues.topology import QueueConfig, all_queue_names

    prefix = f"ftest_{uuid.uuid4().hex[:8]}"
    yield prefix
    names = all_queue_names(QueueConfig(prefix=prefix, retry_delays=_test_delays()), [*stages.STAGE_MODULES, *_extra_names()])
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    for name in names:
        channel.queue_delete(queue=name)
    connection.close()


def _test_delays() -> tuple[float, ...]:
    return (0.3, 0.6)


def _extra_names() -> list[str]:
    from test_queues_stages import EXTRA_STAGES

    return list(EXTRA_STAGES)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """moto's S3 server on a free loopback port, for the whole session."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"moto server exited: {log.read_text()[-2000:]}")
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto server did not start within 30 s")
    yield url
    proc.terminate()
    proc.wait(10)


@dataclass
class Distributed:
    settings: object
    env: dict[str, str]
    workers: list[subprocess.Popen] = field(default_factory=list)
    log_dir: Path = Path(".")

    def start_worker(self, *stages: str, concurrency: int = 1, grace: float = 5, extra_env: dict[str, str] | None = None, name: str = "", gpu: str | None = None) -> subprocess.Popen:
        """``factory worker --stage ...`` as a subprocess in its own process group."""
        args = [sys.executable, "-c", "from factory.cli import main; main()", "worker", "--grace", str(grace)]
        if gpu is not None:
            args += ["--gpu", gpu]
        for stage in stages:
            args += ["--stage", stage]
        args += ["--concurrency", str(concurrency)]
        name = name or f"worker{len(self.workers)}"
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(args, cwd=REPO, env={**self.env, **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = self.log_dir / f"{name}.log"  # type: ignore[attr-defined]
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its stage process (the whole group): a machine dying."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill(proc)


@pytest.fixture
def distributed(tmp_path, postgres_url, amqp_url, s3_endpoint, queue_prefix):
    """Settings and worker environment for the full distributed mode on this machine."""
    import boto3

    from factory import stages
    from factory.settings import Settings
    from test_queues_stages import EXTRA_STAGES, extra_stages_env

    bucket = f"factory-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1").create_bucket(Bucket=bucket)
    env_settings = {
        "FACTORY_DATABASE_URL": postgres_url,
        "FACTORY_AMQP_URL": amqp_url,
        "FACTORY_STORE_URL": f"s3://{bucket}/artifacts",
        "FACTORY_S3_ENDPOINT_URL": s3_endpoint,
        "FACTORY_S3_ACCESS_KEY": "test",
        "FACTORY_S3_SECRET_KEY": "test",
        "FACTORY_S3_REGION": "us-east-1",
        "FACTORY_DATA_DIR": str(tmp_path / "worker-data"),
        "FACTORY_PUBLISH_DIR": str(tmp_path / "published"),
    }
    queue_env = {
        "FACTORY_QUEUE_PREFIX": queue_prefix,
        "FACTORY_RETRY_DELAYS": ",".join(str(d) for d in _test_delays()),
        "FACTORY_EXTRA_STAGES": extra_stages_env(),
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    env = {**base, **env_settings, **queue_env, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    # This process uses the same queue names and stages as its workers.
    old = {k: os.environ.get(k) for k in queue_env}
    os.environ.update(queue_env)
    stages.STAGE_MODULES.update(EXTRA_STAGES)
    settings = Settings.load(
        data_dir=tmp_path / "client-data",
        **{k[len("FACTORY_") :].lower(): v for k, v in env_settings.items() if k not in ("FACTORY_DATA_DIR", "FACTORY_PUBLISH_DIR")},
        publish_dir=tmp_path / "published",
    )
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    bundle = Distributed(settings=settings, env=env, log_dir=log_dir)
    yield bundle
    bundle.stop_all()
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for name in EXTRA_STAGES:
        stages.STAGE_MODULES.pop(name, None)
