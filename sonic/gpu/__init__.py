"""The Sonic GPU renderer: official Sonic checkpoints (CC BY-NC-SA 4.0) on one CUDA GPU.

Start at `renderer.py` (`SonicRenderer`, `get_renderer`), `spec.py` (`doctor`, checkpoint layout),
`pipeline.py` (the algorithm) and `unet.py` (the network). Nothing heavy is imported here.
"""


def create_renderer(settings):
    """The render stage's entry point (``sonic.stage.RENDERERS["sonic"]``)."""
    from sonic.gpu.renderer import create_renderer as create

    return create(settings)


VERSION = "7"
"""The renderer's output version, part of the render cache key: bump it whenever the same weights
and inputs would give other frames (a change of numerics, such as another fp16 rounding order,
audio decoding or face masking), so cached renders of the old code are not reused."""


def engine_version(settings) -> str:
    """Cache-key text for the render stage: code version, whether RIFE runs, and which weights
    (a fingerprint of the weight files' names, sizes and times; cheap, no hashing of GBs)."""
    import hashlib
    from pathlib import Path

    from sonic.gpu.spec import doctor

    report = doctor(settings.sonic_model_dir) if settings.sonic_model_dir else None
    files = sorted((report.present if report else {}).values())
    stats = [f"{f}:{Path(f).stat().st_size}:{int(Path(f).stat().st_mtime)}" for f in files if Path(f).is_file()]
    weights = hashlib.sha1("\n".join(stats).encode()).hexdigest()[:12]
    return f"{VERSION}-rife{int(bool(settings.sonic_interpolate))}-w{weights}"
