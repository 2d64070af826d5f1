"""Render parameters, and the small contract every renderer (CPU or GPU) implements.

The parameters are the ones of the product brief (see DESIGN.md). Their names are stable: the
CLI, the job's ``params`` and the cache key all use them. ``HELP`` gives each a one-line help
text and ``RANGES`` its allowed range, so the CLI and error messages say the same thing.

A renderer turns one square face crop plus one audio file into video frames at 25 fps:

    class MyRenderer:
        name = "my-renderer"
        version = "1"             # bump when the same inputs would give other frames
        def render(self, image_rgb, audio_path, speech, params, progress=None):
            yield frame           # RGB uint8, same size as image_rgb, exactly
                                  # factory.media.frame_count(audio seconds) of them

``sonic.stage`` crops the photo, calls ``render`` and streams the frames into the MP4, so a
renderer never deals with files, pasting back or encoding.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Protocol

from factory.payloads import SpeechFacts
from factory.stages import ParamSpec, ProgressFn, StageError  # noqa: F401  (ProgressFn is part of the renderer contract)

if TYPE_CHECKING:  # the CLI imports this module for its options: keep it free of numpy
    import numpy as np

# Short side of the face crop by renderer: the CPU warp looks best near the photo's own
# resolution, Sonic was trained at 1024.
DEFAULT_MIN_RESOLUTION = {"cpu": 512, "sonic": 1024}


class RenderParamError(StageError, ValueError):
    """A render parameter outside its range (both a StageError for the job and a ValueError)."""


def _param(default: Any, help_text: str, low: float | None = None, high: float | None = None):
    return field(default=default, metadata={"help": help_text, "range": (low, high)})


@dataclass
class RenderParams:
    min_resolution: int = _param(512, "Short side of the output face crop in pixels (default 512 on CPU, 1024 on Sonic).", 384, 2048)
    expand_ratio: float = _param(0.15, "How far the crop extends around the detected face box, per side.", 0.1, 0.3)
    inference_steps: int = _param(25, "Diffusion steps (Sonic only; the CPU renderer ignores it).", 10, 50)
    dynamic_scale: float = _param(1.1, "Strength of mouth and expression motion.", 1.0, 1.5)
    motion_scale: float = _param(1.05, "Strength of head motion.", 0.8, 1.3)
    seed: int = _param(0, "Random seed for blinks, head motion and diffusion noise (not given: taken from the audio, so each narration moves its own way).")
    keep_crop: bool = _param(False, "Output the square face crop instead of pasting it back into the whole photo.")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], renderer: str = "cpu") -> RenderParams:
        """Build from a job's params (other keys such as ``voice`` are ignored); ``None`` means
        "use the default". Raises RenderParamError for a wrong type or a value out of range."""
        defaults = cls(min_resolution=DEFAULT_MIN_RESOLUTION.get(renderer, 512))
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = values.get(f.name)
            if value is None:
                continue
            kwargs[f.name] = _convert(f.name, type(getattr(defaults, f.name)), value)
        params = dataclasses.replace(defaults, **kwargs)
        params.validate()
        return params

    def validate(self) -> RenderParams:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):  # NaN fails no comparison: check first
                raise RenderParamError(_wanted(f.name, type(getattr(_DEFAULTS, f.name)), value))
            low, high = RANGES[f.name]
            if low is not None and not (low <= value <= high):
                raise RenderParamError(f"{f.name} must be between {low} and {high}; got {value}.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _convert(name: str, kind: type, value: Any) -> Any:
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(value)  # bool(nan) would be True
            return bool(value)
        number = _number(value)
    except (TypeError, ValueError):
        raise RenderParamError(f"{name} must be a {kind.__name__}; got {value!r}.") from None
    # NaN, inf, -inf, "nan", "-Infinity", "1e999": refused like any other value out of range.
    if isinstance(number, float) and not math.isfinite(number):
        raise RenderParamError(_wanted(name, kind, value))
    if kind is int:
        if isinstance(number, float) and not number.is_integer():
            raise RenderParamError(_wanted(name, kind, value))
        return int(number)
    try:
        return float(number)
    except OverflowError:  # an int too large for a float, e.g. 10**400
        raise RenderParamError(_wanted(name, kind, value)) from None


def _number(value: Any) -> int | float:
    """An int or a float from a JSON/CLI/form value: 7, 7.0, "7", " 1.3 ", "nan", numpy scalars."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)  # ValueError if not a number at all
    if isinstance(value, int):
        return value
    if hasattr(value, "__index__"):  # numpy integers
        return int(value.__index__())
    return float(value)  # TypeError / ValueError if not a number


def _wanted(name: str, kind: type, value: Any) -> str:
    """The sentence for a number the parameter cannot take (not finite, or not whole for an int):
    what it takes, and what came."""
    low, high = RANGES[name]
    what = "a whole number" if kind is int else "a number"
    if low is not None:
        what += f" between {low} and {high}"
    shown = repr(value) if isinstance(value, str) else str(value)
    return f"{name} must be {what}; got {shown}."


HELP: dict[str, str] = {f.name: f.metadata["help"] for f in dataclasses.fields(RenderParams)}
RANGES: dict[str, tuple[float | None, float | None]] = {f.name: f.metadata["range"] for f in dataclasses.fields(RenderParams)}
_DEFAULTS = RenderParams()  # the declared type of each field (int, float, bool), as from_dict uses it


class Renderer(Protocol):
    """What ``sonic.stage`` needs from a renderer (see the module docstring).

    ``speech`` is the speak stage's ``factory.payloads.SpeechFacts`` (its phoneme timings are
    empty for an editor's own recording), or None when the job has none.

    The stage creates one renderer per render (``sonic.stage.load_renderer``), so a renderer may
    keep facts about its last render. Optional, read with getattr by the stage:

    - ``work_before_frames``: share of the time spent before the first frame, reported through
      ``progress`` (default 0);
    - ``last_report``: a dict stored with the job after each render (e.g. seconds, peak GPU memory);
    - ``last_mouth_source``: what drove the mouth ("phonemes" or "energy"), stored with the job;
    - ``head_outside_crop``: set to True by the stage before ``render`` when it pastes the frames
      back into the photo; the renderer then leaves the head at rest in its frames and gives the
      head's motion as ``last_head`` ((frames, 4) poses) about ``last_pivot`` (a point of the
      crop), which the paste applies to the whole picture, hair and shoulders included.
    """

    name: str
    version: str

    def render(
        self,
        image_rgb: np.ndarray,
        audio_path: Path,
        speech: SpeechFacts | None,
        params: RenderParams,
        progress: ProgressFn | None = None,
    ) -> Iterator[np.ndarray]: ...


def param_specs(renderers: tuple[str, ...]) -> tuple[ParamSpec, ...]:
    """The render parameters as the render stage declares them (``Stage.params``): the CLI's
    options, the API's and the console's fields. ``renderers``: the renderer names offered."""
    defaults = RenderParams()
    specs = [
        ParamSpec(f.name, type(getattr(defaults, f.name)), f.metadata["help"], getattr(defaults, f.name),
                  *f.metadata["range"])
        for f in dataclasses.fields(RenderParams)
    ]
    specs.append(ParamSpec("renderer", str, "cpu (built in) or sonic (GPU, official weights).", None, choices=renderers))
    return tuple(specs)
