"""The one builder of a job's parameters, used by the CLI, batches, the HTTP API and the console.

A job's ``params`` are what its stages read: the render parameters the render stage declares
(``Stage.params``), the renderer, the voice and the language. Values are checked here against
each stage's declaration (type, range, finite numbers), so every way in refuses the same values
with the same sentence before anything is created.
"""

from __future__ import annotations

from typing import Any, Mapping

from factory.payloads import NARRATION_LANGUAGES as LANGUAGES


def build_job_params(values: Mapping[str, Any], *, language: str = "en", voice: str | None = None,
                     renderer: str | None = None) -> dict[str, Any]:
    """The job's params from the editor's render values (``None`` or missing: the default).
    Raises ValueError with a sentence for an unknown language or a value a stage refuses."""
    from factory.stages import get_stage

    if language not in LANGUAGES:
        raise ValueError(f"Unsupported language {language!r}: choose one of {', '.join(LANGUAGES)}.")
    specs = {spec.name: spec for spec in get_stage("render").params}
    params: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        spec = specs.get(name)
        if spec is None:
            raise ValueError(f"Unknown render parameter {name!r}; known: {', '.join(specs)}.")
        params[name] = spec.check(value)
    if renderer:
        params["renderer"] = specs["renderer"].check(renderer) if "renderer" in specs else renderer
    params["language"] = language
    if voice and voice.strip():
        params["voice"] = voice.strip()
    return params

