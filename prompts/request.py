"""What the writer is asked for: ``NarrationRequest``, the job's writer request with the writer's rules.

The request's fields, builders and stored form are ``factory.payloads.WriterRequest``; what the
writer returns is ``factory.payloads.Narration``. Here: what the writer refuses, and what the
narration may take facts from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from factory.payloads import NARRATION_LANGUAGES, WriterRequest
from factory.stages import StageError

USE_CASES = ("policy", "topic", "product")
LANGUAGES = NARRATION_LANGUAGES
MIN_TARGET_SECONDS = 5.0
MAX_TARGET_SECONDS = 600.0


@dataclass
class NarrationRequest(WriterRequest):
    """The writer request (``factory.payloads.WriterRequest``: the fields, the builders and the
    stored form) with the writer's rules: what it refuses, and what it may take facts from."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NarrationRequest:
        """Read the job's ``writer_request`` value; an unknown key or no use case is an editor error."""
        try:
            return cls.from_value(data)
        except ValueError as exc:
            raise StageError(str(exc)) from None

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
