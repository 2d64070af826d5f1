"""The render parameters as the console's sliders need them: name, range, default, help.

The source of truth is ``sonic.params`` (the renderer's own parameter dataclass). When that
module is not installed, the ranges come from the CLI's options (``factory.cli.RENDER_OPTIONS``)
so the console and ``factory make`` never disagree about what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Used only when sonic.params is missing: the CLI has ranges and help but no defaults.
FALLBACK_DEFAULTS: dict[str, Any] = {
    "min_resolution": 512,
    "expand_ratio": 0.15,
    "inference_steps": 25,
    "dynamic_scale": 1.1,
    "motion_scale": 1.05,
    "seed": 0,
    "keep_crop": False,
}
FALLBACK_MIN_RESOLUTION = {"cpu": 512, "sonic": 1024}


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
    try:
        from sonic.params import DEFAULT_MIN_RESOLUTION, HELP, RANGES, RenderParams
    except ImportError:
        return _specs_from_cli(renderer)
    defaults = RenderParams(min_resolution=DEFAULT_MIN_RESOLUTION.get(renderer, 512))
    specs = []
    for f in dataclasses.fields(RenderParams):
        value = getattr(defaults, f.name)
        low, high = RANGES.get(f.name, (None, None))
        specs.append(ParamSpec(f.name, type(value), value, low, high, HELP.get(f.name, "")))
    return specs


def _specs_from_cli(renderer: str) -> list[ParamSpec]:
    """Read the ranges off the click options of ``factory make`` (IntRange / FloatRange)."""
    import click

    from factory.cli import RENDER_OPTIONS

    def holder() -> None:
        pass

    for option in RENDER_OPTIONS:
        option(holder)
    specs = []
    for param in holder.__click_params__:  # in the order applied, i.e. the CLI's order
        name = param.name
        if name not in FALLBACK_DEFAULTS:
            continue  # e.g. --renderer: chosen separately in the console
        default = FALLBACK_DEFAULTS[name]
        if name == "min_resolution":
            default = FALLBACK_MIN_RESOLUTION.get(renderer, 512)
        low = high = None
        if isinstance(param.type, (click.IntRange, click.FloatRange)):
            low, high = param.type.min, param.type.max
        specs.append(ParamSpec(name, type(default), default, low, high, param.help or ""))
    return specs
