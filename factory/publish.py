"""The publish stage: put the finished video (and its subtitles) where editors pick it up.

With ``review_required`` set, or the job's param ``review = "always"`` (a schedule's review
policy), every job stops here until an editor approves it (whatever stages it ran), then this
stage runs again and publishes. Publishing is idempotent: the target name is the job id, so a redelivered message rewrites the
same file, and the runner marks the job ``published`` exactly once (in the same transaction
that finishes this stage).

Writes values["published"] (``factory.payloads.Published``: the file URL of the video and of each
subtitle file) and values["published_url"] (the video's URL alone).
"""

from __future__ import annotations

from factory.artifacts import atomic_copy
from factory.payloads import Published
from factory.stages import ReviewRequired, Stage, StageContext, StageResult

PUBLISHED_FILES = {"video": ".mp4", "subtitles_srt": ".srt", "subtitles_vtt": ".vtt"}


def publish(ctx: StageContext) -> StageResult:
    review = ctx.settings.review_required or ctx.params.get("review") == "always"
    if review and not ctx.values.get("approved"):
        raise ReviewRequired("approval required: an editor must approve this video before it is published")
    target_dir = ctx.settings.resolved_publish_dir
    urls = {}
    for name, suffix in PUBLISHED_FILES.items():
        if name not in ctx.files:
            continue
        target = atomic_copy(ctx.files[name], target_dir / f"{ctx.job_id}{suffix}")  # never half-copied
        urls[name] = target.resolve().as_uri()
    published = Published(**urls)
    return StageResult(values={"published_url": published.video, "published": published.to_value()})


STAGE = Stage(
    name="publish",
    run=publish,
    version="1",
    reads_files=tuple(PUBLISHED_FILES),
    cacheable=False,
)
