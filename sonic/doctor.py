"""``factory doctor``'s checks for the render stage: cheap look-ups, no model load."""

from __future__ import annotations


from factory.doctor import Check, installed_version, package_file
from factory.settings import Settings


def check_face_models(settings: Settings) -> Check:
    mesh = package_file("mediapipe", "modules", "face_landmark", "face_landmark_with_attention.tflite")
    version = installed_version("mediapipe")
    ok = bool(mesh)
    return Check("face landmarks (MediaPipe)", ok, f"mediapipe {version}" if ok else f"mediapipe {version}: face-mesh model not in the wheel",
                 "pip install 'mediapipe>=0.10.14,<=0.10.21' 'protobuf<5' (newer releases no longer ship the model)")


def check_torch(settings: Settings) -> Check:
    version = installed_version("torch")
    return Check("torch", version is not None, version or "not installed (only the Sonic GPU renderer needs it)",
                 "pip install torch (a CUDA build on GPU machines)", optional=True)


def check_sonic(settings: Settings) -> Check:
    from sonic.gpu.spec import doctor as sonic_doctor  # file checks only: no torch import

    fix = ("download Sonic's official checkpoints (CC BY-NC-SA 4.0: non-commercial use only) and set "
           "FACTORY_SONIC_MODEL_DIR to the checkpoints/ folder; install the GPU extras: pip install -e '.[gpu]'")
    if not settings.sonic_model_dir:
        return Check("Sonic GPU renderer", False, "no weights configured (the CPU renderer is used)", fix, optional=True)
    report = sonic_doctor(settings.sonic_model_dir)
    torch_ok = installed_version("torch") is not None and installed_version("diffusers") is not None
    detail = report.message().replace("\n", "\n    ")
    if not torch_ok:
        detail += "\n    torch and diffusers are not installed"
    return Check("Sonic GPU renderer", report.ok and torch_ok, detail, fix, optional=settings.renderer != "sonic")


def checks(settings: Settings) -> list[Check]:
    return [check_face_models(settings), check_torch(settings), check_sonic(settings)]
