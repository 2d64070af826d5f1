"""From what the editor filled in on "New video" to ``JobService.submit(...)``.

Plain Python (no Streamlit), so the rules are easy to read and to test: which sources exist,
which of them need the writer stage, and the form mistakes caught before a job is created
(an empty script; for the writer's sources, whatever its ``NarrationRequest.validate`` refuses,
such as a product without a name). Problems with the files themselves (not an
image, a silent recording) are the service's and the stages' to find: they fail the job with
a reason, which the console shows.

The writer's sources go through a draft first (``write_draft``, ``check_draft``): the editor
reads the narration with its estimated length and the facts not found in the source, edits it,
and the job speaks the edited text.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.doctor import Check
from factory.payloads import WriterRequest
from factory.stages import STAGE_MODULES, StageError

# What is spoken: the radio button's choices, in the order shown (labels: ui.i18n "source.<key>").
SOURCES = ("script", "recording", "topic", "policy", "product")
WRITER_SOURCES = ("topic", "policy", "product")
LANGUAGES = ("en", "zh")  # factory.payloads.NARRATION_LANGUAGES; labels: ui.i18n "lang.<code>"
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp"]
AUDIO_TYPES = ["wav", "mp3", "m4a", "aac", "flac", "ogg", "opus", "webm", "mp4"]


def language_index(page_language: str) -> int:
    """The narration language a form starts with, as an index into ``LANGUAGES``: the editor's
    own (a Chinese console offers Chinese narration first)."""
    return LANGUAGES.index(page_language) if page_language in LANGUAGES else 0


class FormError(ValueError):
    """Something the editor must fix in the form before a job can be created: ``key`` and
    ``values`` name the sentence in ``ui.i18n`` (``str(error)`` is the English one);
    ``in_language`` gives it in the page's language."""

    def __init__(self, key: str, **values: Any):
        from ui.i18n import translate

        super().__init__(translate(key, "en", **values))
        self.key, self.values = key, values
        self.sentences: tuple[str, str] | None = None

    @classmethod
    def said(cls, english: str, chinese: str) -> FormError:
        """A refusal whose sentence comes from the core, already in English and Chinese."""
        error = cls("form.problem", problem=english)
        error.sentences = (english, chinese)
        return error

    def in_language(self, language: str) -> str:
        from ui.i18n import translate

        if self.sentences is not None:
            return self.sentences[1] if language == "zh" else self.sentences[0]
        return translate(self.key, language, **self.values)


@dataclass
class Upload:
    """A file the browser sent: its name as the editor's computer called it, and its bytes."""

    name: str
    data: bytes
    face_checked: bool = False
    """A library avatar's photo: its one clear face was checked when it was saved."""


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
    """A voice library name (``tts.voices``); empty: the factory's default for the language."""
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
        raise FormError("form.problem", problem=str(exc)) from None
    return request.to_value()


def job_params(form: NewVideoForm) -> dict[str, Any]:
    """The job's params: render parameters, renderer, voice and language (``factory.job_params``,
    the one builder the CLI, batches and the API use too). Raises ValueError with a sentence."""
    from factory.job_params import build_job_params

    try:
        return build_job_params(form.render, language=form.language, voice=form.voice, renderer=form.renderer)
    except ValueError as exc:
        raise FormError("form.problem", problem=str(exc)) from None


def check_form(form: NewVideoForm, writer_ready: bool = True) -> None:
    """Raise FormError for what must be fixed before submitting."""
    if form.image is None:
        raise FormError("form.no_image")
    if form.source not in SOURCES:
        raise FormError("form.unknown_source", source=form.source)
    if form.source == "script" and not form.script.strip():
        raise FormError("form.empty_script")
    if form.source == "recording" and form.recording is None:
        raise FormError("form.no_recording")
    if form.source in WRITER_SOURCES and not writer_ready:
        raise FormError("form.no_writer")
    if form.language not in LANGUAGES:
        raise FormError("form.bad_language", language=form.language)
    if form.voice.strip():
        from tts.voices import voice_problem

        problem = voice_problem(form.voice, form.language)  # unknown, missing, or another language's voice
        if problem:
            raise FormError("form.problem", problem=problem)


def check_script(script: str, language: str, max_chars: int) -> None:
    """Raise FormError for a script the speak stage would refuse: too long, or written in
    another language than the narration's (``factory.text.language_mismatch``)."""
    from factory.text import language_mismatch

    if len(script) > max_chars:
        raise FormError("form.script_too_long", chars=len(script), limit=max_chars)
    mismatch = language_mismatch(script, language)
    if mismatch:
        raise FormError.said(*mismatch)


def check_photo(image: Path, max_pixels: int) -> None:
    """Raise FormError for a photo the render would fail on, as the avatar library refuses it
    (``factory.avatars.check_portrait``: not an image, no face, several faces, a tiny face)."""
    from factory.avatars import AvatarError, check_portrait

    try:
        check_portrait(image, max_pixels)
    except AvatarError as exc:
        raise FormError.said(str(exc), exc.in_language("zh")) from None


def writer_status(settings: Any) -> Check:
    """Whether the narration writer can run here (its package, litellm and, for the offline
    model, llama-cpp-python and the weights): ``prompts.doctor``'s check, loading nothing."""
    try:
        from prompts.doctor import check_llm
    except ImportError as exc:
        return Check("narration LLM", False, f"the prompts package is missing ({exc})", "pip install -e .")
    return check_llm(settings)


def read_document(upload: Upload) -> str:
    """The text of an uploaded policy document (``factory.documents``: PDF, DOCX, HTML, TXT).
    Raises DocumentError with a sentence for the editor."""
    from factory.documents import read_document as read

    suffix = Path(upload.name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="factory-ui-") as tmp:
        path = Path(tmp) / f"document{suffix}"  # the editor's file name is never used as a path
        path.write_bytes(upload.data)
        return read(path)


def document_types() -> list[str]:
    """The policy document suffixes the uploader accepts (without the dot)."""
    from factory.documents import DOCUMENT_SUFFIXES

    return [suffix.lstrip(".") for suffix in DOCUMENT_SUFFIXES]


@dataclass
class Draft:
    """The writer's narration for the editor to read and edit before anything is rendered."""

    text: str
    request: dict[str, Any]
    """The writer request it was written from (its source is what facts are checked against)."""
    speaking_rate: float
    """Units per second the estimate uses (words for English, characters for Chinese)."""
    target_seconds: float
    warnings: list[str] = field(default_factory=list)
    blocked_terms: list[str] = field(default_factory=list)


@dataclass
class DraftCheck:
    """What the editor should know about the (possibly edited) draft text."""

    estimated_seconds: float
    unsupported_facts: list[str]
    """Numbers, dates and names not found in the source."""


def write_draft(service: Any, form: NewVideoForm) -> Draft:
    """Have the writer draft the narration for a topic, policy or product form, in this
    browser session's own thread (other editors' pages are not held up). Raises FormError for
    a request the writer refuses and ``StageError`` (a sentence) when the model fails."""
    request = writer_request(form)
    assert request is not None, "only the writer's sources have drafts"
    narration = service.draft_narration(request, job_params(form))
    return Draft(text=narration.narration, request=request, speaking_rate=narration.speaking_rate,
                 target_seconds=narration.target_seconds, warnings=list(narration.warnings),
                 blocked_terms=list(narration.blocked_terms))


def check_draft(draft: Draft, text: str) -> DraftCheck:
    """Estimate and fact check of ``text`` (the draft as the editor left it)."""
    from prompts import length
    from prompts.grounding import check_grounding
    from prompts.request import NarrationRequest

    request = NarrationRequest.from_value(draft.request)
    rate = length.speaking_rate(request.language, draft.speaking_rate or None)
    issues = check_grounding(text, request.grounding_source(), request.language) if text.strip() else []
    return DraftCheck(estimated_seconds=length.estimate_seconds(text, rate) if text.strip() else 0.0,
                      unsupported_facts=[issue.text for issue in issues])


def submit_form(service: Any, form: NewVideoForm, *, created_by: str | None = None,
                draft_text: str | None = None, writer_ready: bool = True):
    """Create the job (returns ``factory.store.Job``). For the writer's sources the editor's
    reviewed ``draft_text`` is what is spoken. The uploads are written to a temporary folder
    just long enough for the service to copy them into the artifact store."""
    from prompts.stage import writer_model_used  # the writer that drafted the script is recorded on the job

    check_form(form, writer_ready)
    if form.source in WRITER_SOURCES:
        if not (draft_text or "").strip():
            raise FormError("new.draft_first")
        script = draft_text
    else:
        script = form.script if form.source == "script" else None
    if script is not None:
        check_script(script, form.language, service.settings.max_script_chars)
    params = job_params(form)
    with tempfile.TemporaryDirectory(prefix="factory-ui-") as tmp:
        image = _save(form.image, Path(tmp), "portrait")
        if not form.image.face_checked:
            check_photo(image, service.settings.max_image_pixels)
        audio = _save(form.recording, Path(tmp), "recording") if form.source == "recording" else None
        try:
            return service.submit(
                image=image,
                script=script,
                audio=audio,
                params=params,
                check=form.check,
                batch=form.batch.strip() or None,
                created_by=created_by,
                models=[writer_model_used(params.get("llm_model") or service.settings.llm_model).to_value()]
                if form.source in WRITER_SOURCES else None,
            )
        except ValueError as exc:  # parameters a stage refuses: nothing was created
            raise FormError("form.problem", problem=str(exc)) from None


def _save(upload: Upload | None, folder: Path, fallback: str) -> Path:
    # Keep the editor's file name (error messages quote it) but never a path from the browser.
    name = Path(upload.name).name if upload and upload.name else fallback
    path = folder / name
    path.write_bytes(upload.data if upload else b"")
    return path
