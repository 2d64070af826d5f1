"""The render parameters as the console's sliders need them.

The source of truth is what the render stage declares (``Stage.params``, built from
``sonic.params.RenderParams``); the CLI's options are built from the same declaration, so the
console and ``factory make`` never disagree.
"""

from __future__ import annotations

import dataclasses

from factory.stages import ParamSpec


def render_param_specs(renderer: str = "cpu") -> list[ParamSpec]:
    """One spec per render parameter (the renderer itself is chosen apart), with the defaults of
    ``renderer`` ("cpu" or "sonic")."""
    from factory.stages import get_stage
    from sonic.params import DEFAULT_MIN_RESOLUTION

    specs = [spec for spec in get_stage("render").params if not spec.choices]
    return [dataclasses.replace(spec, default=DEFAULT_MIN_RESOLUTION.get(renderer, 512)) if spec.name == "min_resolution"
            else spec for spec in specs]


def slider_step(spec: ParamSpec) -> float | int:
    """Whole numbers for ints, hundredths for the scales and ratios."""
    return 1 if spec.kind is int else 0.01
