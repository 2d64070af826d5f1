"""Publishing targets: where a published video goes besides the factory's own publish folder.

A target is a small JSON object, given per schedule, per batch or per job (job param
``publish_targets``):

    {"kind": "folder", "path": "/srv/site/videos"}                       # + a generated index.html
    {"kind": "s3", "bucket": "videos", "key": "{date}/{job_id}.mp4",      # key template
     "public_url": "https://cdn.example.com",                             # optional URL base
     "acl": "public-read"}                                                # optional canned ACL
    {"kind": "cms", "url": "https://cms.example.com/hooks/video"}        # signed JSON
    (each may have a "name"; default: its kind. Names are unique per job.)

Exactly once per job and target: when a job is published, ``on_job_event`` (a listener of
``factory.outbox.JOB_EVENT_LISTENERS``) queues one outbox message per target with the dedupe
key ``publish:<job id>:<target name>`` in the transaction that publishes the job. The outbox
retries a failed delivery and hands a message whose drainer died to another; the deliverers
below are idempotent (the same file names and object keys, a publication row UNIQUE per job and
target), and CMS receivers deduplicate on ``X-Factory-Event-Id``.

Each delivery is recorded in ``publications`` (job, target, URL) and in the job's
``values["published_to"]`` (target name -> URL).
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, select

from factory.store import utcnow

KINDS = {"folder": "publish_folder", "s3": "publish_s3", "cms": "cms_webhook"}
"""Target kind -> outbox message kind (its deliverer is below)."""

DEFAULT_S3_KEY = "{date}/{job_id}.mp4"
KEY_FIELDS = ("job_id", "date", "batch", "language")
"""What a key template may use: ``{job_id}``, ``{date}`` (YYYY-MM-DD published), ``{batch}``, ``{language}``."""


class Publication(SQLModel, table=True):
    """One job delivered to one target (UNIQUE): the URL it can be seen at."""

    __tablename__ = "publications"
    __table_args__ = (UniqueConstraint("job_id", "target", name="uq_publications_job_target"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(index=True, max_length=32)
    target: str = Field(max_length=64)
    url: str = Field(sa_column=Column(Text, nullable=False))
    delivered_at: datetime = Field(default_factory=utcnow)


# --- configuration -----------------------------------------------------------------------------

def check_targets(targets: list[dict[str, Any]]) -> None:
    """Raises ValueError with a sentence for a target that could never be delivered."""
    if not isinstance(targets, list):
        raise ValueError("Publish targets must be a list of targets.")
    names = set()
    for target in targets:
        if not isinstance(target, dict) or target.get("kind") not in KINDS:
            raise ValueError(f"Unknown publish target {target!r}: each needs a kind, one of {', '.join(KINDS)}.")
        kind, name = target["kind"], target_name(target)
        needed = {"folder": "path", "s3": "bucket", "cms": "url"}[kind]
        if not str(target.get(needed) or "").strip():
            raise ValueError(f"The {kind} publish target needs a {needed}.")
        if kind == "cms" and not str(target["url"]).startswith(("http://", "https://")):
            raise ValueError(f"The CMS webhook URL must start with http:// or https://; got {target['url']!r}.")
        if kind == "s3":
            try:
                target.get("key", DEFAULT_S3_KEY).format(**dict.fromkeys(KEY_FIELDS, "x"))
            except (KeyError, IndexError, ValueError):
                raise ValueError(f"The S3 key template {target.get('key')!r} may only use "
                                 + ", ".join("{" + f + "}" for f in KEY_FIELDS) + ".") from None
        if name in names:
            raise ValueError(f"Two publish targets are named {name!r}; give each a different name.")
        names.add(name)


def target_name(target: dict[str, Any]) -> str:
    return str(target.get("name") or target["kind"])[:64]


def job_publish_params(targets: list[dict[str, Any]]) -> dict[str, Any]:
    """The job params that carry the targets (nothing when there are none)."""
    return {"publish_targets": [dict(t) for t in targets]} if targets else {}


# --- queueing (inside the transaction that publishes the job) ------------------------------------

def on_job_event(session: Any, job: Any, event: str) -> None:
    """Job-event listener: a published job gets one outbox message per publish target."""
    from factory.outbox import enqueue

    if event != "published":
        return
    for target in job.params.get("publish_targets") or []:
        name = target_name(target)
        destination = {"folder": "path", "s3": "bucket", "cms": "url"}[target["kind"]]
        enqueue(session, KINDS[target["kind"]], str(target[destination]), {"job_id": job.id, "target": target},
                job_id=job.id, dedupe_key=f"publish:{job.id}:{name}",
                secret_ref="setting:cms_webhook_secret" if target["kind"] == "cms" else None)


# --- delivering ----------------------------------------------------------------------------------

def publish_folder(message: Any, context: Any) -> str:
    """Copy the video and subtitles into the folder as ``<job id>.mp4/.srt/.vtt``, keep a
    ``<job id>.json`` card beside them, and rebuild ``index.html`` from all cards."""
    from factory.artifacts import atomic_copy, atomic_write

    job, target = _job_and_target(message, context)
    folder = Path(target["path"]).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for artifact, suffix in (("video", ".mp4"), ("subtitles_vtt", ".vtt"), ("subtitles_srt", ".srt")):
        if artifact in job.files:
            atomic_copy(context.artifacts.fetch(job.files[artifact]), folder / f"{job.id}{suffix}")
            names[artifact] = f"{job.id}{suffix}"
    card = {**_metadata(job), "files": names}
    with _folder_lock(folder):  # two deliveries at once must not each write an index without the other
        atomic_write(folder / f"{job.id}.json", lambda tmp: Path(tmp).write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8"))
        write_index(folder)
    url = (folder / names["video"]).resolve().as_uri()
    _record(context.store, job.id, target_name(target), url)
    return f"copied to {folder}"


def write_index(folder: Path) -> Path:
    """``index.html``: every video in the folder (newest first) with a player and its subtitles."""
    from factory.artifacts import atomic_write

    cards = []
    for path in folder.glob("*.json"):
        try:
            cards.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # not one of ours
    cards = [c for c in cards if isinstance(c, dict) and (c.get("files") or {}).get("video")]
    cards.sort(key=lambda c: c.get("published_at") or "", reverse=True)
    items = []
    for card in cards:
        files = card["files"]
        track = (f'<track kind="subtitles" src="{html.escape(files["subtitles_vtt"])}" srclang="{html.escape(card.get("language") or "en")}" default>'
                 if files.get("subtitles_vtt") else "")
        srt = f' · <a href="{html.escape(files["subtitles_srt"])}">subtitles (SRT)</a>' if files.get("subtitles_srt") else ""
        items.append(
            f'<article id="{html.escape(card["job_id"])}"><h2>{html.escape(card.get("title") or card["job_id"])}</h2>\n'
            f'<video controls preload="metadata" src="{html.escape(files["video"])}">{track}</video>\n'
            f'<p><a href="{html.escape(files["video"])}">{html.escape(files["video"])}</a>{srt} · '
            f'{html.escape(str(card.get("duration_seconds") or ""))} s · {html.escape(card.get("published_at") or "")}</p></article>')
    page = ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Videos</title>\n"
            "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}video{max-width:100%}</style></head>\n"
            f"<body><h1>Videos</h1>\n{chr(10).join(items) or '<p>No videos yet.</p>'}\n</body></html>\n")
    return atomic_write(folder / "index.html", lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))


def publish_s3(message: Any, context: Any) -> str:
    """Upload the video (and its subtitles, same key with .srt/.vtt) to the bucket under the
    target's key template. The same key every time: a repeated delivery overwrites the object
    with the same bytes."""
    from factory.outbox import DeliveryFailed

    job, target = _job_and_target(message, context)
    settings = context.settings
    endpoint = target.get("endpoint_url") or settings.s3_endpoint_url or None
    client = _s3_client(settings, endpoint, target.get("region") or settings.s3_region)
    meta = _metadata(job)
    key = str(target.get("key") or DEFAULT_S3_KEY).format(
        job_id=job.id, date=(meta["published_at"] or "")[:10], batch=job.batch or "single", language=meta["language"])
    stem = key[:-4] if key.endswith(".mp4") else key
    acl = {"ACL": target["acl"]} if target.get("acl") else {}  # buckets with ACLs switched off refuse any
    try:
        client.upload_file(str(context.artifacts.fetch(job.files["video"])), target["bucket"], key,
                           ExtraArgs={"ContentType": "video/mp4", **acl})
        for artifact, suffix, mime in (("subtitles_srt", ".srt", "application/x-subrip"), ("subtitles_vtt", ".vtt", "text/vtt")):
            if artifact in job.files:
                client.upload_file(str(context.artifacts.fetch(job.files[artifact])), target["bucket"], stem + suffix,
                                   ExtraArgs={"ContentType": mime, **acl})
    except Exception as exc:  # botocore's many error classes; the message names the bucket
        if _is_access_problem(exc):
            raise DeliveryFailed(f"the bucket {target['bucket']} refused the upload ({_error_code(exc)}): check the target and keys", retry=False) from None
        raise DeliveryFailed(f"upload to {target['bucket']} failed: {_error_code(exc) or exc}") from None
    if target.get("public_url"):
        url = str(target["public_url"]).rstrip("/") + "/" + key
    elif endpoint:
        url = f"{endpoint.rstrip('/')}/{target['bucket']}/{key}"
    else:
        url = f"https://{target['bucket']}.s3.amazonaws.com/{key}"
    _record(context.store, job.id, target_name(target), url)
    return f"uploaded s3://{target['bucket']}/{key}"


def cms_webhook(message: Any, context: Any) -> str:
    """POST the video's URL and metadata as JSON, signed like every factory webhook
    (``X-Factory-Signature``, ``factory.outbox.sign``). The URL is the job's S3 URL when it has
    an S3 target (this delivery waits until that upload is recorded), else its published URL."""
    from factory.outbox import DeliveryFailed, post_signed, signing_secret

    job, target = _job_and_target(message, context)
    delivered = publications(context.store, job.id)
    s3_names = [target_name(t) for t in job.params.get("publish_targets") or [] if t.get("kind") == "s3"]
    missing = [name for name in s3_names if name not in delivered]
    if missing:
        raise DeliveryFailed(f"waiting for the upload to {missing[0]} first")
    video_url = delivered[s3_names[0]] if s3_names else job.values.get("published_url")
    payload = {"event_id": message.id, "event": "published", **_metadata(job), "video_url": video_url,
               "published_to": delivered}
    note = post_signed(target["url"], payload, signing_secret(message, context), message.id)
    _record(context.store, job.id, target_name(target), target["url"])
    return note


def publications(store: Any, job_id: str) -> dict[str, str]:
    """Target name -> URL of every target the job was delivered to."""
    with store.session() as session:
        return {p.target: p.url for p in session.exec(select(Publication).where(Publication.job_id == job_id))}


# --- helpers -------------------------------------------------------------------------------------

def _job_and_target(message: Any, context: Any) -> tuple[Any, dict[str, Any]]:
    from factory.outbox import DeliveryFailed

    job = context.store.get(message.payload["job_id"])
    if job is None:
        raise DeliveryFailed(f"job {message.payload['job_id']} no longer exists", retry=False)
    if "video" not in job.files:
        raise DeliveryFailed(f"job {job.id} has no video to publish", retry=False)
    return job, message.payload["target"]


def _metadata(job: Any) -> dict[str, Any]:
    narration = job.values.get("narration") or {}
    render = job.values.get("render") or {}
    qa = job.values.get("qa")
    return {
        "job_id": job.id,
        "title": narration.get("title") or (job.values.get("file_names") or {}).get("image") or job.id,
        "language": job.params.get("language", "en"),
        "duration_seconds": render.get("seconds"),
        "published_at": job.published_at.isoformat() if job.published_at else None,
        "batch": job.batch,
        "created_by": getattr(job, "created_by", None),
        "qa_passed": qa.get("passed") if qa else None,
        "captions": narration.get("captions") or [],
    }


def _record(store: Any, job_id: str, target: str, url: str) -> None:
    """The publication row (once: a repeated delivery finds it there) and the job's
    ``values["published_to"]`` (through the lifecycle, like every change of a job)."""
    with store.session() as session:
        session.add(Publication(job_id=job_id, target=target, url=url))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
    from factory.lifecycle import published_to

    published_to(store, job_id, target, url)


def _s3_client(settings: Any, endpoint: str | None, region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=region or None,
        aws_access_key_id=settings.s3_access_key or None, aws_secret_access_key=settings.s3_secret_key or None,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}))


def _error_code(exc: Exception) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code", ""))


def _is_access_problem(exc: Exception) -> bool:
    return _error_code(exc) in ("AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch")


class _folder_lock:
    """An exclusive lock file in the folder (``fcntl.flock``), for processes on one host."""

    def __init__(self, folder: Path):
        self.path = folder / ".index.lock"

    def __enter__(self) -> None:
        import fcntl

        self.file = open(self.path, "a")
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
