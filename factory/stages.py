"""What a stage is, and the registry that finds them.

A stage is a plain function ``run(ctx) -> StageResult``. It reads files (artifacts, already
fetched to local paths) and small JSON values from the context and returns new ones. It never
talks to the broker, the database or the console: the runner (``factory.runner``) does that,
in process or inside a queue worker, so the same stage code serves both modes.

Names used between stages (the job's "blackboard"):

    files:  image, audio_upload (an editor's own recording), audio (narration WAV),
            video (the rendered MP4 with sound), qa_report, qa_plot, subtitles_srt, subtitles_vtt
    values: script (narration text), writer_request, narration, speech, render, qa,
            published, published_url, approved, file_names

Values are plain JSON. ``factory.payloads`` defines the structured ones, one dataclass each with
its fields documented (WriterRequest, Narration, SpeechFacts, RenderFacts, QASummary,
Published): a stage reads ``SpeechFacts.from_value(ctx.values["speech"])`` and stores
``facts.to_value()``.

A stage also describes itself: the job parameters it reads (``params``, from which the CLI's
options and the console's fields are built), its ``factory doctor`` checks and its warm-up.
Each stage lives in its own package and is found through ``STAGE_MODULES``: swapping an
implementation is one line here.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from factory.settings import Settings


class StageError(Exception):
    """A problem an editor can act on (no face in the photo, empty script, ...).

    The message is stored on the job and shown as is, so write it for a person, not a developer.
    Any other exception is a bug or an outage: the runner records it as an internal error and
    the queue retries it.
    """


class ReviewRequired(Exception):
    """Stop the pipeline and hold the job for an editor (grounding or blocked-term hits, QA
    failures after the last re-render). ``details`` is stored on the job; ``result`` (the
    stage's outputs, e.g. the narration that needs checking) is recorded like a normal result,
    so an approved job goes on from there."""

    def __init__(self, reason: str, details: dict[str, Any] | None = None, result: StageResult | None = None):
        super().__init__(reason)
        self.details = details or {}
        self.result = result


class Rerun(Exception):
    """Ask the runner to go back to ``stage`` with changed job parameters (e.g. QA asks for a
    re-render with a new seed). ``result`` (e.g. the failed attempt's QA report) is recorded."""

    def __init__(self, stage: str, reason: str, params: dict[str, Any], result: StageResult | None = None):
        super().__init__(reason)
        self.stage = stage
        self.params = params
        self.result = result


@dataclass(frozen=True)
class ParamSpec:
    """One job parameter a stage reads, as the CLI, the API and the console offer it."""

    name: str
    kind: type
    """int, float, bool or str."""
    help: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> Any:
        """``value`` as this parameter's type; ValueError with a sentence when it is refused
        (wrong type, not a finite number, out of range, not one of the choices)."""
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}.")
            return value
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                return str(value).lower() in ("true", "1", "yes", "on")
            raise ValueError(f"{self.name} must be true or false; got {value!r}.")
        if self.kind in (int, float):
            span = f" between {self.low:g} and {self.high:g}" if self.low is not None else ""
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name} must be a number{span}; got {value!r}.") from None
            if isinstance(value, bool) or not math.isfinite(number):
                raise ValueError(f"{self.name} must be a number{span}; got {value!r}.")
            if self.kind is int:
                if number != int(number):
                    raise ValueError(f"{self.name} must be a whole number{span}; got {value!r}.")
                number = int(number)
            if self.low is not None and not (self.low <= number <= self.high):
                raise ValueError(f"{self.name} must be between {self.low:g} and {self.high:g}; got {value!r}.")
            return number
        return str(value)


ProgressFn = Callable[[float, str], None]


def no_progress(fraction: float, note: str = "") -> None:
    pass


@dataclass
class StageContext:
    job_id: str
    params: dict[str, Any]
    """The job's parameters: render parameters, voice, language, seed, ..."""
    files: dict[str, Path]
    """Artifacts produced so far, by name, as local (read-only) files."""
    values: dict[str, Any]
    """Small JSON values produced so far, by name."""
    workdir: Path
    """Scratch folder for this run; files returned in the result may live here."""
    settings: Settings
    attempt: int = 1
    progress: ProgressFn = no_progress
    """Call with (fraction done 0..1, short note) on long work; shown to the user."""


@dataclass
class StageResult:
    files: dict[str, Path] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[StageContext], StageResult]
    version: str
    """Bump when the same inputs would give a different output: it is part of the cache key."""
    reads_files: tuple[str, ...] = ()
    reads_values: tuple[str, ...] = ()
    reads_params: tuple[str, ...] = ()
    """Together these are the stage's inputs: the cache key hashes exactly these."""
    cacheable: bool = True
    engine_version: Callable[[StageContext], str] | None = None
    """Optional: extra version text that depends on the settings (e.g. which model file). It is
    called before the input files are fetched (``ctx.files`` is empty): read settings and params."""
    check_params: Callable[[dict[str, Any]], Any] | None = None
    """Optional: raise ValueError for job parameters this stage cannot accept. Called when a job
    is submitted, so a bad value fails at once (CLI, API, console, batch alike), not mid-job."""
    params: tuple[ParamSpec, ...] = ()
    """The job parameters an editor may set for this stage (the CLI's options, the console's
    fields, the API's schema are built from these)."""
    doctor: Callable[[Settings], list[Any]] | None = None
    """Optional: ``factory doctor``'s checks for this stage (``factory.doctor.Check`` each):
    cheap look-ups of what the stage needs (packages, model files), never a model load."""
    warm_up: Callable[[Settings], Any] | None = None
    """Optional: prepare what this process's first job would otherwise pay for (load models,
    compile kernels). Each stage process a worker starts (at boot, and again after a killed or
    crashed one) calls it before it takes a message, outside any job's time limit; a failure is
    logged and the jobs then fail (or succeed) as they would have."""


# Where each stage lives: "module:attribute". Swap an implementation by changing one line.
STAGE_MODULES: dict[str, str] = {
    "write": "prompts.stage:STAGE",
    "speak": "tts.stage:STAGE",
    "render": "sonic.stage:STAGE",
    "check": "qa.stage:STAGE",
    "publish": "factory.publish:STAGE",
}
BUILT_IN_STAGES = tuple(STAGE_MODULES)
"""The pipeline's own stages (others may be registered as plug-ins)."""


def extra_stage_modules() -> dict[str, str]:
    """Stages registered through ``FACTORY_EXTRA_STAGES="name=module:attr,..."`` (plug-in or
    test stages), for every process: the CLI, workers and their stage processes."""
    raw = os.environ.get("FACTORY_EXTRA_STAGES", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): target.strip() for name, target in pairs}


STAGE_MODULES.update(extra_stage_modules())


def get_stage(name: str) -> Stage:
    try:
        target = STAGE_MODULES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(STAGE_MODULES)}") from None
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)
