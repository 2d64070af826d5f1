"""The writer's knobs: the deployment's ones come from ``factory.settings.Settings`` (and so
from TOML or ``FACTORY_*`` variables); the rest are the writer's own defaults below."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.settings import Settings


_DEFAULTS = Settings()  # the deployment knobs and their documentation live in factory/settings.py


@dataclass
class WriterConfig:
    blocked_terms: list[str] = field(default_factory=list)
    blocked_terms_file: Path | None = None
    hold_on_grounding_issues: bool = _DEFAULTS.hold_on_grounding_issues
    max_source_chars: int = _DEFAULTS.max_source_chars
    llm_timeout_seconds: float = _DEFAULTS.llm_timeout_seconds
    llm_max_attempts: int = _DEFAULTS.llm_max_attempts
    llm_backoff_seconds: float = _DEFAULTS.llm_backoff_seconds
    max_invalid_outputs: int = _DEFAULTS.max_invalid_outputs
    # The writer's own knobs (not deployment settings):
    temperature: float = 0.3
    length_tolerance: float = 1.15
    """A narration up to this factor over its budget is accepted as is."""

    @classmethod
    def from_settings(cls, settings: Any) -> WriterConfig:
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls) if hasattr(settings, f.name)})
