"""From what the editor filled in on "New video" to ``JobService.submit(...)``.

Plain Python (no Streamlit), so the rules are easy to read and to test: which sources exist,
which of them need the writer stage, and the form mistakes caught before a job is created
(an empty script; for the writer's sources, whatever its ``NarrationRequest.validate`` refuses,
such as a product without a name). Problems with the files themselves (not an
image, a silent recording) are the service's and the stages' to find: they fail the job with
a reason, which the console shows.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.payloads import WriterRequest
from factory.stages import STAGE_MODULES, StageError

# What is spoken: the radio button's choices, in the order shown.
SOURCES: dict[str, str] = {
    "script": "Script text",
    "recording": "Own recording",
    "topic": "Topic (the writer drafts it)",
    "policy": "Policy document (the writer explains it)",
    "product": "Product row (the writer pitches it)",
}
WRITER_SOURCES = ("topic", "policy", "product")
LANGUAGES: dict[str, str] = {"en": "English", "zh": "Chinese"}  # the names of factory.payloads.NARRATION_LANGUAGES
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp"]
AUDIO_TYPES = ["wav", "mp3", "m4a", "aac", "flac", "ogg", "opus", "webm", "mp4"]


class FormError(ValueError):
    """Something the editor must fix in the form before a job can be created."""


@dataclass
class Upload:
    """A file the browser sent: its name as the editor's computer called it, and its bytes."""

    name: str
    data: bytes


@dataclass
class NewVideoForm:
    image: Upload | None
    source: str = "script"
    script: str = ""
    recording: Upload | None = None
    topic: str = ""
    summary: str = ""
    policy_text: str = ""
    product_name: str = ""
    product_features: str = ""
    """One feature per line."""
    product_price: str = ""
    product_promotion: str = ""
    target_seconds: float | None = None
    voice: str = ""
    """Empty: the settings' voice (the bundled English voice by default); else a .onnx path."""
    language: str = "en"
    renderer: str = "cpu"
    render: dict[str, Any] = field(default_factory=dict)
    check: bool = True
    batch: str = ""


def stage_installed(stage: str) -> bool:
    """Whether the package that implements ``stage`` exists here (the writer may not yet)."""
    module = STAGE_MODULES[stage].split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # the parent package itself is missing
        return False


def default_target_seconds(use_case: str) -> float:
    """The narration length the writer's template for ``use_case`` asks for by default (s)."""
    try:
        from prompts.templates import template_for_use_case
    except ImportError:  # the writer is not installed here: the form cannot submit this source anyway
        return 60.0
    return template_for_use_case(use_case).default_target_seconds


def writer_request(form: NewVideoForm) -> dict[str, Any] | None:
    """The writer stage's request for topic / policy / product, in the CLI's format.

    Raises FormError with the writer's own message when the writer would refuse the request
    (``prompts.request.NarrationRequest.validate``: an empty topic, policy or product name...)."""
    if form.source not in WRITER_SOURCES:
        return None
    seconds = float(form.target_seconds or default_target_seconds(form.source))
    if form.source == "topic":
        request = WriterRequest.for_topic(form.topic, form.summary, form.language, seconds)
    elif form.source == "policy":
        request = WriterRequest.for_policy(form.policy_text, form.language, seconds)
    else:
        features = [line.strip(" -•\t") for line in form.product_features.splitlines()]  # one per line, bullets off
        row = {"name": form.product_name, "features": features, "price": form.product_price,
               "promotion": form.product_promotion}
        request = WriterRequest.for_product(row, form.language, seconds)
    from prompts.request import NarrationRequest  # the writer's package: only for its sources

    try:
        NarrationRequest.from_value(request.to_value()).validate()
    except StageError as exc:
        raise FormError(str(exc)) from None
    return request.to_value()


def job_params(form: NewVideoForm) -> dict[str, Any]:
    """The job's params: render parameters, renderer, voice and language (``factory.job_params``,
    the one builder the CLI, batches and the API use too). Raises ValueError with a sentence."""
    from factory.job_params import build_job_params

    return build_job_params(form.render, language=form.language, voice=form.voice, renderer=form.renderer)


def check_form(form: NewVideoForm) -> None:
    """Raise FormError for what must be fixed before submitting."""
    if form.image is None:
        raise FormError("Upload a portrait photo first.")
    if form.source not in SOURCES:
        raise FormError(f"Unknown source {form.source!r}.")
    if form.source == "script" and not form.script.strip():
        raise FormError("The script is empty: write what the portrait should say.")
    if form.source == "recording" and form.recording is None:
        raise FormError("Upload the recording to use.")
    if form.source in WRITER_SOURCES and not stage_installed("write"):
        raise FormError(
            "The writer stage is not installed on this machine, so topics, policy documents and "
            "product rows cannot be turned into a script here. Paste a script or upload a recording."
        )
    voice = form.voice.strip()
    if voice and not (voice.endswith(".onnx") and Path(voice).expanduser().is_file()):
        raise FormError(
            f"The voice {voice!r} is not a Piper .onnx file on this machine. Leave it empty for the default voice."
        )
    if form.language not in LANGUAGES:
        raise FormError(f"Unsupported language {form.language!r}.")


def submit_form(service, form: NewVideoForm):
    """Create the job (returns ``factory.store.Job``). The uploads are written to a temporary
    folder just long enough for the service to copy them into the artifact store."""
    check_form(form)
    request = writer_request(form)
    with tempfile.TemporaryDirectory(prefix="factory-ui-") as tmp:
        image = _save(form.image, Path(tmp), "portrait")
        audio = _save(form.recording, Path(tmp), "recording") if form.source == "recording" else None
        return service.submit(
            image=image,
            script=form.script if form.source == "script" else None,
            audio=audio,
            writer_request=request,
            params=job_params(form),
            check=form.check,
            batch=form.batch.strip() or None,
        )


def _save(upload: Upload | None, folder: Path, fallback: str) -> Path:
    # Keep the editor's file name (error messages quote it) but never a path from the browser.
    name = Path(upload.name).name if upload and upload.name else fallback
    path = folder / name
    path.write_bytes(upload.data if upload else b"")
    return path
