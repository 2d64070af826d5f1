"""The writer's knobs: the deployment's ones come from ``factory.settings.Settings`` (and so
from TOML or ``FACTORY_*`` variables); the rest are the writer's own defaults below."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class WriterConfig:
    blocked_terms: list[str] = field(default_factory=list)
    """Terms that must never be published; a hit holds the job (FACTORY_BLOCKED_TERMS="a,b")."""
    blocked_terms_file: Path | None = None
    """Optional file with one blocked term a line."""
    hold_on_grounding_issues: bool = True
    """Hold the job for review when the narration states facts not in the source."""
    max_source_chars: int = 100_000
    """Longer sources are refused with a clear message; shorter ones that do not fit the model's
    context are summarised in parts first (map-reduce through the same model)."""
    llm_timeout_seconds: float = 120.0
    llm_max_attempts: int = 3
    """Tries per call when the provider times out or fails (back-off doubles each time)."""
    llm_backoff_seconds: float = 2.0
    max_invalid_outputs: int = 3
    """Tries with the validation error fed back before giving up (or falling back to plain text
    for the local model)."""
    temperature: float = 0.3
    length_tolerance: float = 1.15
    """A narration up to this factor over its budget is accepted as is."""

    @classmethod
    def from_settings(cls, settings: Any) -> WriterConfig:
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls) if hasattr(settings, f.name)})
