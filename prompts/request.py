"""What the writer is asked for (``NarrationRequest``) and what it returns (``Narration``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from factory.stages import StageError

USE_CASES = ("policy", "topic", "product")
LANGUAGES = ("en", "zh")
MIN_TARGET_SECONDS = 5.0
MAX_TARGET_SECONDS = 600.0


@dataclass
class NarrationRequest:
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
    """Measured TTS rate (words/s for en, characters/s for zh) for the voice; None: defaults."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NarrationRequest:
        """Build from the CLI's ``writer_request`` value; unknown keys are an editor error."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise StageError(f"Unknown field(s) in the writing request: {', '.join(sorted(unknown))}.")
        if "use_case" not in data:
            raise StageError("The writing request has no use_case (policy, topic or product).")
        return cls(**data)

    def validate(self) -> None:
        """Raise ``StageError`` with a message for the editor when the request cannot be written."""
        if self.use_case not in USE_CASES:
            raise StageError(f"Unknown use case {self.use_case!r}: choose policy, topic or product.")
        if self.language not in LANGUAGES:
            raise StageError(f"Unsupported language {self.language!r}: choose en or zh.")
        if self.target_seconds is not None:
            try:
                seconds = float(self.target_seconds)
            except (TypeError, ValueError):
                raise StageError(f"The target length {self.target_seconds!r} is not a number of seconds.") from None
            if not MIN_TARGET_SECONDS <= seconds <= MAX_TARGET_SECONDS:
                raise StageError(
                    f"The target length must be between {MIN_TARGET_SECONDS:g} and {MAX_TARGET_SECONDS:g} "
                    f"seconds; got {seconds:g}."
                )
        if self.use_case == "policy" and not (self.source or "").strip():
            raise StageError("The policy document is empty: paste the text to explain.")
        if self.use_case == "topic" and not (self.topic or "").strip():
            raise StageError("The topic is empty: give a headline to write about.")
        if self.use_case == "product":
            if not isinstance(self.product, dict) or not self.product:
                raise StageError("The product row is empty: give at least the product's name.")
            name = self.product.get("name")
            if not isinstance(name, str) or not name.strip():
                raise StageError("The product row has no name: add a 'name' field.")
        if self.speaking_rate is not None and not float(self.speaking_rate) > 0:
            raise StageError("The measured speaking rate must be a positive number.")

    def product_fields(self) -> list[tuple[str, str]]:
        """The product row as (field, text) pairs; lists become "a; b; c"."""
        pairs = []
        for key, value in (self.product or {}).items():
            if value is None or value == "" or value == []:
                continue
            if isinstance(value, (list, tuple)):
                value = "; ".join(str(v) for v in value)
            pairs.append((str(key), str(value)))
        return pairs

    def grounding_source(self) -> str:
        """Everything the narration may state facts from."""
        if self.use_case == "policy":
            return self.source
        if self.use_case == "topic":
            return f"{self.topic}\n{self.summary}"
        return "\n".join(f"{k}: {v}" for k, v in self.product_fields())

    def input_text(self) -> str:
        """All editor-given text, for the override-phrase check."""
        return self.grounding_source()


@dataclass
class Narration:
    """The writer's validated result, stored on the job as the ``narration`` value."""

    title: str
    narration: str
    captions: list[str]
    language: str
    estimated_seconds: float
    target_seconds: float
    # --- how it was made ---------------------------------------------------------------
    model: str = ""
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
    blocked_terms: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plain_text_fallback: bool = False
    """True when the model could not keep to JSON and the structure was built from plain text."""
    cut_to_length: bool = False
    speaking_rate: float = 0.0
    """Units per second used for the estimate (words/s en, characters/s zh)."""

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("narration title is empty")
        if not self.narration.strip():
            raise ValueError("narration text is empty")
        if not self.captions or not all(isinstance(c, str) and c.strip() for c in self.captions):
            raise ValueError("captions must be a non-empty list of non-empty lines")
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}")
        if self.estimated_seconds <= 0:
            raise ValueError("estimated_seconds must be positive")
        if self.prompt_tokens < 0 or self.completion_tokens < 0 or self.cost_usd < 0:
            raise ValueError("token counts and cost cannot be negative")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
