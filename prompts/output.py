"""Parsing and validating what the model answers.

The model is asked for ``{"title": ..., "narration": ..., "captions": [...]}``. Models wrap JSON
in code fences, add a sentence before it, or stop half way; ``parse_draft`` finds the object,
and ``DraftNarration`` checks it. The error text of a rejected answer is written so it can be
sent back to the model as feedback.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator, model_validator

from prompts.length import count_units
from factory.text import CJK_CHAR

_LATIN = re.compile(r"[A-Za-z]")

MAX_TITLE_CHARS = 120
MAX_CAPTIONS = 8
MAX_CAPTION_CHARS = 90
MIN_NARRATION_UNITS = {"en": 5, "zh": 8}


def draft_schema(language: str) -> dict[str, Any]:
    """The JSON schema sent to models that accept one (the local model turns it into a grammar,
    so its answer is well-formed JSON). Caption and title lengths are bounded there because a tiny
    model otherwise repeats caption lines until it runs out of tokens; the narration is not (a
    long string bound makes llama.cpp's grammar sampling several times slower) - length control
    handles it."""
    caption_chars = 20 if language == "zh" else 60
    return {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 40 if language == "zh" else 80},
            "narration": {"type": "string"},
            "captions": {"type": "array", "minItems": 1, "maxItems": 6,
                         "items": {"type": "string", "maxLength": caption_chars}},
        },
        "required": ["title", "narration", "captions"],
    }


class InvalidOutput(ValueError):
    """The model's answer cannot be used; ``str(error)`` is feedback for the model."""


class DraftNarration(BaseModel):
    title: str
    narration: str
    captions: list[str]

    @field_validator("title", "narration", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("captions", mode="before")
    @classmethod
    def _caption_lines(cls, value: Any) -> Any:
        # One string with line breaks is a common near miss; accept it as lines.
        if isinstance(value, str):
            value = value.splitlines()
        if isinstance(value, list):
            value = [c.strip() for c in value if isinstance(c, str) and c.strip()]
        return value

    @model_validator(mode="after")
    def _check(self, info: Any) -> DraftNarration:
        language = (info.context or {}).get("language", "en")
        if not self.title:
            raise ValueError('"title" is empty')
        if len(self.title) > MAX_TITLE_CHARS:
            raise ValueError(f'"title" is {len(self.title)} characters; keep it under {MAX_TITLE_CHARS}')
        if count_units(self.narration, language) < MIN_NARRATION_UNITS[language]:
            raise ValueError('"narration" is empty or too short to be spoken')
        if not self.captions:
            raise ValueError('"captions" must be a list of 1 to 8 short lines')
        if len(self.captions) > MAX_CAPTIONS:
            self.captions = self.captions[:MAX_CAPTIONS]
        too_long = [c for c in self.captions if len(c) > MAX_CAPTION_CHARS]
        if too_long:
            raise ValueError(f"caption {too_long[0][:40]!r}... is too long; keep captions under {MAX_CAPTION_CHARS} characters")
        if self.narration.lower() in ("the full spoken narration", "完整的口播正文"):
            raise ValueError('"narration" repeats the example instead of a narration')
        check_language(self.narration, language)
        return self


def check_language(text: str, language: str) -> None:
    """Raise ``ValueError`` when the text is visibly not in ``language``."""
    cjk = len(CJK_CHAR.findall(text))
    latin = len(_LATIN.findall(text))
    letters = max(1, cjk + latin)
    if language == "zh" and cjk / letters < 0.5:
        raise ValueError("the narration must be written in Simplified Chinese")
    if language == "en" and cjk / letters > 0.1:
        raise ValueError("the narration must be written in English")


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (code fences and chatter around it are ignored)."""
    cleaned = re.sub(r"```(?:json)?", "", text or "").strip()
    start = cleaned.find("{")
    if start < 0:
        raise InvalidOutput("the answer contains no JSON object")
    try:
        obj, _ = json.JSONDecoder().raw_decode(cleaned[start:])
    except json.JSONDecodeError as exc:
        raise InvalidOutput(f"the JSON is not valid ({exc.msg} at character {exc.pos})") from None
    if not isinstance(obj, dict):
        raise InvalidOutput("the answer is JSON but not an object")
    return obj


def parse_draft(text: str, language: str) -> DraftNarration:
    """Parse and validate one answer; raises ``InvalidOutput`` with feedback for the model."""
    data = extract_json_object(text)
    try:
        return DraftNarration.model_validate(data, context={"language": language})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise InvalidOutput("; ".join(problems)) from None


def clean_plain_text(text: str) -> str:
    """Tidy a plain-text answer: drop fences, labels ("Narration:"), list marks and quotes."""
    text = re.sub(r"```\w*", "", text or "")
    lines = []
    for line in text.splitlines():
        line = line.strip()
        line = re.sub(r"^(?:#+\s*|[-*•]\s+|\d+[.)]\s+)", "", line)
        line = re.sub(r"^(?:narration|script|title|旁白|正文|标题)\s*[:：]\s*", "", line, flags=re.I)
        if line:
            lines.append(line)
    out = " ".join(lines).strip().strip('"“”')
    return re.sub(r"\s{2,}", " ", out)
