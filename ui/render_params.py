"""The render parameters as the console's sliders need them: name, range, default, help.

The source of truth is ``sonic.params`` (the renderer's own parameter dataclass); the CLI's
options are built from it too, so the console and ``factory make`` never disagree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: type
    """int, float or bool."""
    default: Any
    low: float | None = None
    high: float | None = None
    help: str = ""

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def step(self) -> float | int:
        """Slider step: whole numbers for ints, hundredths for the scales and ratios."""
        return 1 if self.kind is int else 0.01


def render_param_specs(renderer: str = "cpu") -> list[ParamSpec]:
    """One spec per render parameter, defaults for ``renderer`` ("cpu" or "sonic")."""
    from sonic.params import DEFAULT_MIN_RESOLUTION, HELP, RANGES, RenderParams

    defaults = RenderParams(min_resolution=DEFAULT_MIN_RESOLUTION.get(renderer, 512))
    specs = []
    for f in dataclasses.fields(RenderParams):
        value = getattr(defaults, f.name)
        low, high = RANGES.get(f.name, (None, None))
        specs.append(ParamSpec(f.name, type(value), value, low, high, HELP.get(f.name, "")))
    return specs
