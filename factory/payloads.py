"""The small JSON values stages hand each other on a job's blackboard (``StageContext.values``).

The blackboard stays plain JSON: the job row, the stage cache and the queue workers carry it as
is. These dataclasses are how code writes and reads it:

    speech = SpeechFacts.from_value(ctx.values["speech"])        # reading
    return StageResult(values={"speech": speech.to_value()})     # writing

``to_value()`` gives exactly the keys the stages store (an optional field that is None is left
out, as the stages always did), so values already in a database or in the stage cache read back
unchanged. ``from_value()`` accepts a value with optional keys missing and ignores keys it does
not know; ``WriterRequest`` is the exception: it comes from editors and API callers, so an
unknown key there is a typo to report, not something to drop.

    value             class           written by
    writer_request    WriterRequest   submit (CLI, API, console, batch); the ONE place it is built
    narration         Narration       write (``prompts``)
    speech            SpeechFacts     speak (``tts``)
    render            RenderFacts     render (``sonic``)
    qa                QASummary       check (``qa``)
    published         Published       publish (``published_url`` holds the video's URL alone)

Other values are plain: ``script`` (the narration text, a string), ``published_url`` (a string),
``approved`` (True once an editor approved the job), ``file_names`` (artifact name -> the
editor's file name).

Standard library only: the light parts of the factory (CLI, console, API) import it too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping, NamedTuple, Self

USE_CASE_FIELDS: dict[str, tuple[str, ...]] = {
    "topic": ("topic", "summary"),
    "policy": ("source",),
    "product": ("product",),
}
"""The writer request's fields each use case needs (always stored, even when empty)."""

NARRATION_LANGUAGES = ("en", "zh")
"""The languages the writer writes in."""

PRODUCT_FIELDS = ("name", "features", "price", "promotion", "currency")
"""The fields of a product row the pitch template knows (a row may carry others)."""


@dataclass
class WriterRequest:
    """What the write stage is asked for (``values["writer_request"]``).

    Build it with ``for_topic``, ``for_policy`` or ``for_product``; ``prompts.request.
    NarrationRequest`` is this request with the writer's own rules (``validate``)."""

    use_case: str
    """"policy" (explain a document), "topic" (brief on a headline) or "product" (pitch a row)."""
    language: str = "en"
    """"en" or "zh" (the narration's language; the source may be in either)."""
    target_seconds: float | None = None
    """Spoken length wanted; None takes the template's default_target_seconds (policy 75, topic 40, product 30 s)."""
    source: str = ""
    """policy: the document text."""
    topic: str = ""
    """topic: the headline."""
    summary: str = ""
    """topic: an optional summary."""
    product: dict[str, Any] | None = None
    """product: the row, e.g. {"name": ..., "features": [...], "price": ..., "promotion": ...}."""
    speaking_rate: float | None = None
    """Measured TTS rate (words/s for en, characters/s for zh) for the voice; None: defaults.
    ``JobService.submit`` fills it in from the voice's last published job."""

    # --- the builders: every caller (CLI, batch, console) makes its request here ----------------
    @classmethod
    def for_topic(cls, topic: str, summary: str | None = "", language: str = "en",
                  target_seconds: float | None = None) -> Self:
        """A short neutral narration about a headline (and an optional summary)."""
        return cls(use_case="topic", topic=str(topic).strip(), summary=str(summary or "").strip(),
                   language=language, target_seconds=_seconds(target_seconds))

    @classmethod
    def for_policy(cls, source_text: str, language: str = "en", target_seconds: float | None = None) -> Self:
        """An explanation of a policy document; the text is kept exactly as given."""
        return cls(use_case="policy", source=source_text, language=language, target_seconds=_seconds(target_seconds))

    @classmethod
    def for_product(cls, row: Mapping[str, Any], language: str = "en", target_seconds: float | None = None) -> Self:
        """A pitch for one product row. Every field of the row is kept (the template lists them
        all); text is stripped, empty values are left out, and ``features`` given as one string
        is split on ";" (the CSV convention). A row without a name is kept too: the writer
        refuses it with its own message, on the job."""
        product: dict[str, Any] = {}
        for key, item in row.items():
            if key == "features" and isinstance(item, str):
                item = item.split(";")
            item = _clean(item)
            if item not in (None, "", []):
                product[str(key)] = item
        return cls(use_case="product", product=product, language=language, target_seconds=_seconds(target_seconds))

    # --- the blackboard -------------------------------------------------------------------------
    def to_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {"use_case": self.use_case, "language": self.language,
                                 "target_seconds": self.target_seconds}
        needed = USE_CASE_FIELDS.get(self.use_case, ())
        for name in ("topic", "summary", "source", "product"):
            item = getattr(self, name)
            if name in needed or item not in ("", None):  # another use case's field only when given
                value[name] = item
        if self.speaking_rate is not None:
            value["speaking_rate"] = self.speaking_rate
        return value

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Self:
        """Raises ValueError, with a sentence for the editor, for an unknown key or no use_case."""
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"Unknown field(s) in the writing request: {', '.join(sorted(unknown))}.")
        if "use_case" not in value:
            raise ValueError("The writing request has no use_case (policy, topic or product).")
        return cls(**value)


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)


def _clean(item: Any) -> Any:
    """Strip text, and the items of a list (dropping the empty ones); other values as they are."""
    if isinstance(item, str):
        return item.strip()
    if isinstance(item, (list, tuple)):
        return [x for x in (_clean(x) for x in item) if x not in (None, "")]
    return item


@dataclass
class Narration:
    """What the write stage wrote (``values["narration"]``; its text is also ``values["script"]``).

    Checked when made: a narration with an empty title, text or caption, an unknown language or
    negative counts raises ValueError."""

    title: str
    narration: str
    """The text to be spoken."""
    captions: list[str]
    """Short on-screen lines."""
    language: str
    """"en" or "zh"."""
    estimated_seconds: float
    """Spoken length estimated from the text and the speaking rate."""
    target_seconds: float
    """The length asked for."""
    # --- how it was made ---------------------------------------------------------------
    model: str = ""
    """The litellm model string that wrote it."""
    template_version: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 0
    """LLM calls for the narration itself (retries included; source notes not counted)."""
    notes_calls: int = 0
    """LLM calls spent summarising a long source first (0 when it fitted)."""
    # --- what needs an editor's eye -----------------------------------------------------
    grounding_issues: list[dict[str, str]] = field(default_factory=list)
    """Facts (numbers, dates, names) not found in the source: {"text": ..., ...} each."""
    blocked_terms: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plain_text_fallback: bool = False
    """True when the model could not keep to JSON and the structure was built from plain text."""
    cut_to_length: bool = False
    """True when an over-long answer was cut at a sentence boundary."""
    speaking_rate: float = 0.0
    """Units per second used for the estimate (words/s en, characters/s zh)."""

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("narration title is empty")
        if not self.narration.strip():
            raise ValueError("narration text is empty")
        if not self.captions or not all(isinstance(c, str) and c.strip() for c in self.captions):
            raise ValueError("captions must be a non-empty list of non-empty lines")
        if self.language not in NARRATION_LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}")
        if self.estimated_seconds <= 0:
            raise ValueError("estimated_seconds must be positive")
        if self.prompt_tokens < 0 or self.completion_tokens < 0 or self.cost_usd < 0:
            raise ValueError("token counts and cost cannot be negative")

    def to_value(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Self:
        return cls(**_known(cls, value))


class Timing(NamedTuple):
    """A phoneme or a word and when it is spoken (seconds from the start of the audio)."""

    label: str
    """The espeak IPA symbol(s) of a phoneme, or the word as written."""
    start: float
    end: float


@dataclass
class SpeechFacts:
    """What the speak stage tells later stages about ``files["audio"]`` (``values["speech"]``)."""

    seconds: float
    """Length of the audio."""
    sample_rate: int | None = None
    """Samples per second of the WAV file."""
    phonemes: list[Timing] = field(default_factory=list)
    """Phoneme timings: they drive the CPU renderer's mouth. From the voice for TTS; for an
    editor's recording, Whisper's words phonemised (empty when no words were heard).
    Piper voices give espeak IPA symbols; the Mandarin voice gives Baker pinyin initials and
    toned finals ("zh", "ong1")."""
    words: list[Timing] = field(default_factory=list)
    """Word timings (from the voice, or Whisper's for a recording)."""
    source: str | None = None
    """"tts" (spoken from the script) or "upload" (an editor's own recording)."""
    engine: str | None = None
    """TTS only: the engine and voice that spoke, e.g. "piper:en_US-joe-medium"."""
    voice: str | None = None
    """TTS only: the voice's name in the library (``factory voices``), or the path of the user's file."""
    text: str | None = None
    """TTS only: the normalised text actually spoken (numbers, dates... written out)."""
    units_per_second: float | None = None
    """TTS only: the voice's measured speaking rate on this script (words/s, characters/s for
    Chinese); the writer sizes the next narrations for this voice with it."""

    def to_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "seconds": self.seconds,
            "sample_rate": self.sample_rate,
            "phonemes": [list(t) for t in self.phonemes],
            "words": [list(t) for t in self.words],
            "source": self.source,
            "engine": self.engine,
            "voice": self.voice,
            "text": self.text,
            "units_per_second": self.units_per_second,
        }
        return _without_none(value, optional=("sample_rate", "source", "engine", "voice", "text", "units_per_second"))

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Self:
        known = _known(cls, value)
        for name in ("phonemes", "words"):
            known[name] = [Timing(str(label), float(start), float(end)) for label, start, end in known.get(name) or []]
        return cls(**known)


@dataclass
class RenderFacts:
    """What the render stage made (``values["render"]``)."""

    renderer: str
    """The renderer and its version, e.g. "cpu-2"."""
    fps: int
    frames: int
    width: int
    """Size of the video in pixels (the whole photo, or the face crop with keep_crop)."""
    height: int
    seconds: float
    """Length of the video: frames / fps."""
    face_box: tuple[float, float, float, float]
    """The face used, (x0, y0, x1, y1) in the photo's pixels."""
    warnings: list[str] = field(default_factory=list)
    """Things an editor should know (e.g. several faces found)."""
    params: dict[str, Any] = field(default_factory=dict)
    """The render parameters used (``sonic.params.RenderParams.to_dict()``)."""
    mouth: str | None = None
    """CPU renderer: what drove the mouth, "phonemes" or "energy"."""
    renderer_report: dict[str, Any] | None = None
    """Sonic: its own numbers (seconds, time to first frame, peak GPU memory)."""

    def to_value(self) -> dict[str, Any]:
        value = asdict(self)
        value["face_box"] = list(self.face_box)
        return _without_none(value, optional=("mouth", "renderer_report"))

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Self:
        known = _known(cls, value)
        known["face_box"] = tuple(float(x) for x in known["face_box"])
        return cls(**known)


@dataclass
class QASummary:
    """The check stage's verdict and numbers (``values["qa"]``; also kept on a job held for
    review, as ``review["qa"]``). The full report is the ``qa_report`` file."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    """Why it failed, one sentence per failed check, for the editor."""
    numbers: dict[str, Any] = field(default_factory=dict)
    """The measurements by name (offset_frames, sync_confidence, wer or cer, duration ...)."""
    checks: dict[str, bool] = field(default_factory=dict)
    """Each check's name and whether it passed."""
    seconds: float | None = None
    """How long QA took."""
    attempt: int = 0
    """How many re-renders came before this check (0: the first render)."""

    def failed_checks(self) -> set[str]:
        return {name for name, ok in self.checks.items() if not ok}

    def to_value(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Self:
        return cls(**_known(cls, value))


@dataclass
class Published:
    """Where the publish stage put the job's files (``values["published"]``): file URLs by
    artifact name. The video's URL is also stored alone, as ``values["published_url"]``."""

    video: str
    subtitles_srt: str | None = None
    """Present when the check stage made subtitles."""
    subtitles_vtt: str | None = None

    def to_value(self) -> dict[str, str]:
        return _without_none(asdict(self), optional=("subtitles_srt", "subtitles_vtt"))

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Self:
        return cls(**_known(cls, value))


@dataclass(frozen=True)
class ModelUsed:
    """Weights a stage used for a job, with their licence: what an editor must know before
    publishing. Stages return ``values["models"] = [model.to_value()]``; the lifecycle keeps one
    entry per role on the job."""

    role: str
    """"writer", "voice", "renderer" or "asr"."""
    name: str
    licence: str
    commercial_use: bool | None
    """False for a non-commercial licence; None when it depends on a provider's terms."""
    source: str = ""

    def to_value(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> ModelUsed:
        return cls(**_known(cls, value))


def _known(cls: type, value: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``value`` that are fields of ``cls`` (a newer stage may store more)."""
    names = {f.name for f in fields(cls)}
    return {key: item for key, item in value.items() if key in names}


def _without_none(value: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    """Leave out the optional keys whose value is None: the stages never stored them."""
    return {key: item for key, item in value.items() if not (key in optional and item is None)}
