"""All configuration in one place.

Precedence, lowest to highest: the defaults below < a TOML file < environment variables.

* The TOML file is ``$FACTORY_CONFIG`` if set, else ``./factory.toml`` if it exists. Keys are
  the field names below (``database_url = "postgresql://..."``).
* Every field can be set from the environment as ``FACTORY_<FIELD NAME IN CAPITALS>``,
  e.g. ``FACTORY_DATA_DIR=/srv/factory`` or ``FACTORY_MAX_AUDIO_SECONDS=300``.

With nothing set, one machine runs everything: SQLite and an artifact folder under
``data_dir``, stages in process. Setting ``database_url`` (PostgreSQL), ``amqp_url``
(RabbitMQ) and ``store_url`` (s3://bucket/prefix) switches to the distributed mode.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "talking-factory"


@dataclass
class Settings:
    # --- where things live -------------------------------------------------------------
    data_dir: Path = field(default_factory=_default_data_dir)
    """Root for the embedded mode: SQLite database, artifact folder, model caches."""
    database_url: str = ""
    """SQLAlchemy URL of the job store. Empty: SQLite at ``data_dir/factory.db``."""
    store_url: str = ""
    """Artifact store. Empty: the folder ``data_dir/artifacts``. ``s3://bucket/prefix`` for S3."""
    s3_endpoint_url: str = ""
    """S3-compatible endpoint (MinIO, moto, ...). Empty: AWS's default endpoint."""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    amqp_url: str = ""
    """RabbitMQ URL. Empty: stages run in process; set: jobs are enqueued for workers."""
    queue_prefix: str = "factory"
    """Prefix of every queue name (``factory.render``, ``factory.dead``...): several deployments
    can share one RabbitMQ."""
    retry_delays: list[float] = field(default_factory=lambda: [2.0, 10.0, 60.0])
    """Seconds before the 2nd, 3rd, ... attempt of a stage that crashed (the last repeats)."""
    publish_dir: Path | None = None
    """Where the publish stage puts finished videos. Empty: ``data_dir/published``."""

    # --- input limits (bad input fails the job with a readable reason) ------------------
    max_audio_seconds: float = 600.0
    max_image_pixels: int = 40_000_000
    max_script_chars: int = 20_000

    # --- engines -------------------------------------------------------------------------
    renderer: str = "cpu"
    """``cpu`` (the built-in mesh-warp renderer) or ``sonic`` (GPU, official weights)."""
    sonic_model_dir: Path | None = None
    """Folder laid out like Sonic's official ``checkpoints/`` (only for ``renderer = "sonic"``)."""
    sonic_interpolate: bool = True
    """Run RIFE frame interpolation (12.5 → 25 fps) when RIFE/flownet.pkl is present."""
    sonic_compile: str = "auto"
    """torch.compile of the UNet/VAE blocks, once per worker: ``auto`` (on for CUDA), ``off``, or an
    inductor mode. The first render per image size compiles (~2.5 min cold, ~15 s with inductor's
    cache on disk: keep TORCHINDUCTOR_CACHE_DIR on a persistent volume)."""
    sonic_cuda_graphs: bool = True
    """Replay each render's UNet calls from one CUDA graph (CUDA only; a little faster at 512 px,
    even at 1024 px; ``false`` launches them one by one)."""
    sonic_attention: str = "cudnn"
    """Preferred fused attention kernel: ``cudnn`` (fastest measured on H100), ``flash`` or ``auto``."""
    sonic_warmup_sizes: str = "1024"
    """Image sizes (px, comma-separated) a Sonic render worker compiles for when it starts, before
    it takes a job; the default is Sonic's default crop (``min_resolution``). Empty: none, and the
    first job at each size pays the compile (~3 min cold) inside its time limit."""
    sonic_device: str = "cuda"
    """Torch device for the Sonic renderer; a worker started with ``--gpu N`` sees its GPU as cuda:0."""
    voice: str = ""
    """Piper voice: empty for the bundled en_US joe voice, or a path to a ``.onnx`` voice file."""
    tts_sampling_noise: bool = True
    """Piper voices vary their sound and timing a little on every run, as the voice was trained
    to; false: the same text always gives the same audio (the test suite runs so, so that no
    verdict depends on a lucky draw)."""
    llm_model: str = "local/smollm2-135m"
    """Any litellm model string; the default is the small offline model shipped on PyPI."""
    llm_timeout_seconds: float = 120.0
    llm_max_attempts: int = 3
    """Tries per LLM call when the provider times out or fails (back-off doubles each time)."""
    llm_backoff_seconds: float = 2.0
    max_invalid_outputs: int = 3
    """Tries with the validation error fed back before giving up on the LLM's structured answer."""
    max_source_chars: int = 100_000
    """Policy sources longer than this are refused with a clear message (shorter ones that do not
    fit the model's context are summarised in parts first)."""
    blocked_terms: list[str] = field(default_factory=list)
    """Terms that must never be published; a hit holds the job (FACTORY_BLOCKED_TERMS="a,b")."""
    blocked_terms_file: Path | None = None
    """Optional file with one blocked term per line."""
    hold_on_grounding_issues: bool = True
    """Hold the job for review when the narration states numbers, dates or names not in the source."""
    whisper_model: str = "base"
    """``base`` (bundled multilingual Whisper base) or a local CTranslate2 model folder."""

    # --- QA gate -----------------------------------------------------------------------
    qa_enabled: bool = True
    qa_max_rerenders: int = 2
    qa_max_wer: float = 0.15
    """Word error rate of Whisper's transcript against the spoken text (space-separated languages)."""
    qa_max_cer: float = 0.20
    """Character error rate, for Chinese."""
    qa_min_sync_z: float = 7.0
    """Lip-sync confidence must reach qa_min_sync_z / sqrt(frames); calibration in qa/lipsync.py."""
    qa_max_audio_early_frames: int = 1
    """Lip-sync offset limit when the sound leads the mouth, in frames (1 frame = 40 ms at 25 fps):
    viewers notice sound leading the picture by more than about 45 ms. Also how much earlier than
    the picture the sound may end (the duration check)."""
    qa_max_audio_late_frames: int = 3
    """Lip-sync offset limit when the sound lags the mouth, in frames: viewers notice a lag of
    more than about 125 ms. Also how much later than the picture the sound may end."""
    qa_min_face_fraction: float = 0.95
    qa_max_frozen_seconds: float = 1.0
    syncnet_model: str = ""
    """Path to SyncNet v2 weights (``syncnet_v2.model``). Set: every QA report adds LSE-D / LSE-C
    beside the model-free lip-sync score (informational, never pass/fail). Empty: off."""
    review_required: bool = False
    """Hold every passing job for an editor's approval instead of publishing it."""

    # --- one retry and time-limit policy for both modes (factory/policy.py) ----------------
    stage_time_limits: dict[str, float] = field(
        default_factory=lambda: {"render": 300.0, "check": 300.0, "write": 300.0, "speak": 300.0}
    )
    """Seconds a stage run may take before its process is stopped (other stages: 600)."""
    stage_max_attempts: int = 3
    """Crashes of a stage in a row (internal error, time limit, killed process) before the job is dead."""
    worker_silent_seconds: float = 60.0
    """A worker without a heartbeat for this long is known dead: its running stages end as interrupted."""
    worker_forget_seconds: float = 3600.0
    """A dead worker is no longer listed (``factory status``) after this long."""

    # --- the outbox: webhooks, e-mail, publishing targets (factory/outbox.py) --------------
    webhook_secret: str = ""
    """Signs webhooks of jobs submitted without an API token (API tokens carry their own)."""
    outbox_give_up_hours: float = 24.0
    """A delivery that keeps failing is retried with back-off for this long, then dropped."""

    # --- accounts and the HTTP API (factory/identity.py, factory/api.py) -------------------
    session_hours: float = 12.0
    """A console log-in lasts this long."""
    api_rate_limit_per_minute: int = 120
    """Requests one API token may make per minute (bursts up to this many); over it: 429 with Retry-After."""
    api_max_upload_mb: float = 200.0
    """Largest file one API request may upload (photo, recording, batch sheet)."""

    # --- schedules, batches, publishing targets, e-mail (factory/scheduler.py, notify.py) -----
    scheduler_interval_seconds: float = 30.0
    """How often ``factory scheduler`` looks for due schedules."""
    feed_timeout_seconds: float = 20.0
    """A feed that does not answer within this is a failed run (retried with back-off)."""
    cms_webhook_secret: str = ""
    """Signs the JSON posted to CMS webhook publish targets (X-Factory-Signature)."""
    smtp_host: str = ""
    """SMTP server for notification e-mail. Empty: no e-mail is sent."""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "factory@localhost"
    smtp_starttls: bool = True
    """Upgrade the connection with STARTTLS when the server offers it."""

    # ------------------------------------------------------------------------------------
    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Defaults, then the TOML file, then ``FACTORY_*`` variables, then ``overrides``."""
        values: dict[str, Any] = {}
        path = config_file or os.environ.get("FACTORY_CONFIG")
        if path is None and Path("factory.toml").exists():
            path = "factory.toml"
        if path:
            with open(path, "rb") as f:
                values.update(tomllib.load(f))
        for f in dataclasses.fields(cls):
            env = os.environ.get(f"FACTORY_{f.name.upper()}")
            if env is not None:
                values[f.name] = env
        values.update(overrides)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls()
        for f in dataclasses.fields(cls):
            if f.name in values:
                setattr(settings, f.name, _coerce(f.name, getattr(settings, f.name), values[f.name]))
        settings.data_dir = Path(settings.data_dir or _default_data_dir()).expanduser()
        return settings

    # Derived locations: computed, never stored, so they follow data_dir.
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'factory.db'}"

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"file://{self.data_dir / 'artifacts'}"

    @property
    def resolved_publish_dir(self) -> Path:
        return Path(self.publish_dir) if self.publish_dir else self.data_dir / "published"

    @property
    def cache_dir(self) -> Path:
        """Models unpacked once (e.g. the reassembled Whisper base) live here."""
        return self.data_dir / "models"

    @property
    def distributed(self) -> bool:
        return bool(self.amqp_url)



def _coerce(name: str, current: Any, value: Any) -> Any:
    """Turn a TOML or environment value into the type of the field's default."""
    if isinstance(current, dict) and isinstance(value, dict):
        return {**current, **value}  # override some stage limits, keep the others
    if not isinstance(value, str):
        return value
    if isinstance(current, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"setting {name}: expected true/false, got {value!r}")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, list):
        items = [item.strip() for item in value.split(",") if item.strip()]
        return [float(i) for i in items] if current and isinstance(current[0], float) else items
    if isinstance(current, dict):
        # FACTORY_STAGE_TIME_LIMITS="render=600,check=120": the stages named change, the rest keep theirs
        pairs = (item.split("=", 1) for item in value.split(",") if item.strip())
        return {**current, **{k.strip(): float(v) for k, v in pairs}}
    if isinstance(current, Path) or name.endswith("_dir"):
        return Path(value) if value else None
    return value
