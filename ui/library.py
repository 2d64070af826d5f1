"""The voice and avatar libraries as the "New video" pickers need them (no Streamlit).

* voices: ``tts.voices`` — the installed voices that speak a language, and a short sample;
* avatars: ``factory.avatars`` — the stored portraits, the face found in each, and adding one.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

FACE_MARGIN = 0.25
"""How much room the face crop shows around the face box, per side (a fraction of the box)."""


def voices_for(language: str) -> list[Any]:
    """The voices installed here that speak ``language`` (``tts.voices.Voice``), bundled first."""
    from tts.voices import is_installed, list_voices

    return [voice for voice in list_voices() if voice.language == language and is_installed(voice)]


def voice_sample(name: str, language: str, cache_dir: Path) -> bytes:
    """A few seconds of the voice ``name`` saying the library's sample sentence, as WAV bytes.
    Loads the voice's engine (once per process). Raises ``TTSError`` with a sentence."""
    from factory.media import write_wav
    from tts.cli import SAMPLE_TEXT
    from tts.engine import load_engine

    engine = load_engine(name, language, cache_dir=cache_dir)
    speech = engine.synthesize(SAMPLE_TEXT.get(language, SAMPLE_TEXT["en"]), language)
    with tempfile.TemporaryDirectory(prefix="factory-ui-") as tmp:
        return write_wav(Path(tmp) / "sample.wav", speech.samples, speech.sample_rate).read_bytes()


def face_crop(image: bytes | Path, face: dict[str, Any]) -> Image.Image | None:
    """The part of the photo around the face the check found (``face["box"]``: x0, y0, x1, y1 in
    pixels), so the editor sees what will be animated. None when there is no box."""
    box = face.get("box") if isinstance(face, dict) else None
    if not box or len(box) != 4:
        return None
    with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as photo:
        x0, y0, x1, y1 = (float(v) for v in box)
        dx, dy = (x1 - x0) * FACE_MARGIN, (y1 - y0) * FACE_MARGIN
        area = (max(0, x0 - dx), max(0, y0 - dy), min(photo.width, x1 + dx), min(photo.height, y1 + dy))
        return photo.convert("RGB").crop(tuple(round(v) for v in area))


def add_to_library(service: Any, name: str, upload_name: str, data: bytes, voice: str | None,
                   created_by: str | None) -> Any:
    """Check the uploaded photo (one clear face) and add it to the avatar library; returns the
    ``factory.avatars.Avatar``. Raises ``AvatarError`` with a sentence."""
    from factory.avatars import add_avatar

    suffix = Path(upload_name).suffix.lower() or ".png"
    with tempfile.TemporaryDirectory(prefix="factory-ui-") as tmp:
        path = Path(tmp) / f"avatar{suffix}"  # never a path from the browser
        path.write_bytes(data)
        return add_avatar(service.jobs, service.artifacts, name, path, max_pixels=service.settings.max_image_pixels,
                          voice=voice, created_by=created_by)
