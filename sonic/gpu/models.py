"""Build or load every network the Sonic renderer needs.

`load_models` reads the official checkpoints (strict key matching against the spec, with a clear
error; RIFE's flownet.pkl when present); `random_models` builds the same architecture with random
weights, full size for benchmarks or tiny for CPU tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sonic.gpu.spec import (
    CheckpointError, CheckpointPaths, check_state_dict, clip_config, doctor, expected_shapes,
    scheduler_config, vae_config, whisper_config,
)
from sonic.gpu.pipeline import SonicModels


def _scheduler(config: dict[str, Any] | None = None):
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler.from_config(config or scheduler_config())


def _processors():
    from transformers import CLIPImageProcessor, WhisperFeatureExtractor

    # official: CLIPImageProcessor() defaults; whisper-tiny's 80-mel feature extractor
    return WhisperFeatureExtractor(feature_size=80), CLIPImageProcessor()


def _finish(models: SonicModels) -> SonicModels:
    for m in (models.unet, models.vae, models.image_encoder, models.interpolator):
        if m is not None:   # the interpolator is optional
            m.to(models.device, models.dtype).eval().requires_grad_(False)
    for m in (models.whisper_encoder, models.audio_to_tokens, models.audio_to_bucket):
        m.to(models.device, torch.float32).eval().requires_grad_(False)   # fp32 as the official
    return models


def random_vae(tiny: bool = False):
    """The SVD-xt temporal VAE with random weights (tiny: 32 channels per level), on the CPU in fp32."""
    from diffusers import AutoencoderKLTemporalDecoder

    config = vae_config()
    config.pop("force_upcast", None)
    if tiny:
        config.update(block_out_channels=[32, 32, 32, 32])
    return AutoencoderKLTemporalDecoder(**config)


def random_models(tiny: bool = False, device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float16, seed: int = 0, interpolator: bool = True) -> SonicModels:
    """The Sonic architecture with random weights (tiny: same structure, small widths; RIFE is
    always full size: it is small)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, WhisperConfig, WhisperModel

    from sonic.gpu.audio_models import AudioToBucket, AudioToBucketConfig, AudioToTokens, AudioToTokensConfig
    from sonic.gpu.rife import FrameInterpolator
    from sonic.gpu.unet import build_unet, tiny_unet_config

    torch.manual_seed(seed)
    clip_cfg, whisper_cfg = clip_config(), whisper_config()
    unet_cfg = None
    token_dim = 1024
    if tiny:
        unet_cfg = tiny_unet_config()
        token_dim = unet_cfg["cross_attention_dim"]
        clip_cfg.update(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=2,
                        projection_dim=token_dim)
    feature_extractor, clip_processor = _processors()
    whisper_cfg = {k: v for k, v in whisper_cfg.items()}
    whisper = WhisperModel(WhisperConfig(**whisper_cfg)).encoder   # whisper-tiny is small already
    models = SonicModels(
        unet=build_unet(unet_cfg),
        vae=random_vae(tiny),
        image_encoder=CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_cfg)),
        whisper_encoder=whisper,
        feature_extractor=feature_extractor,
        clip_processor=clip_processor,
        audio_to_tokens=AudioToTokens(AudioToTokensConfig(hidden=64 if tiny else 1024, token_dim=token_dim)),
        audio_to_bucket=AudioToBucket(AudioToBucketConfig(hidden=64 if tiny else 1024, clip_dim=token_dim)),
        scheduler=_scheduler(),
        device=torch.device(device),
        dtype=dtype,
        interpolator=FrameInterpolator() if interpolator else None,
    )
    return _finish(models)


def _load_sonic_file(path: Path, module: torch.nn.Module) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a plain dict of tensors (official torch.save format)")
    check_state_dict(state, path.name, expected_shapes(path.name))
    module.load_state_dict(state, strict=True, assign=True)


def load_models(model_dir: str | Path | CheckpointPaths, device: str | torch.device = "cuda",
                dtype: torch.dtype = torch.float16, interpolate: bool = True) -> SonicModels:
    """Load the official checkpoints. Raises CheckpointError listing every missing file or key.

    RIFE (`RIFE/flownet.pkl`) is optional: loaded when present and `interpolate` is true."""
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionModelWithProjection, WhisperFeatureExtractor, WhisperModel

    from sonic.gpu.audio_models import AudioToBucket, AudioToTokens
    from sonic.gpu.rife import load_interpolator
    from sonic.gpu.unet import build_unet

    paths = model_dir if isinstance(model_dir, CheckpointPaths) else CheckpointPaths.from_dir(model_dir)
    report = doctor(paths)
    if not report.ok:
        raise CheckpointError(report.message())

    with torch.device("meta"):
        unet, tokens, bucket = build_unet(), AudioToTokens(), AudioToBucket()
    _load_sonic_file(paths.sonic_dir / "unet.pth", unet)
    _load_sonic_file(paths.sonic_dir / "audio2token.pth", tokens)
    _load_sonic_file(paths.sonic_dir / "audio2bucket.pth", bucket)

    def variant(folder: Path) -> str | None:
        return "fp16" if any(p.name.split(".")[-2:-1] == ["fp16"] for p in folder.iterdir()) else None

    vae_dir, enc_dir = paths.svd_dir / "vae", paths.svd_dir / "image_encoder"
    vae = AutoencoderKLTemporalDecoder.from_pretrained(vae_dir, variant=variant(vae_dir))
    image_encoder = CLIPVisionModelWithProjection.from_pretrained(enc_dir, variant=variant(enc_dir))
    from diffusers import EulerDiscreteScheduler

    models = SonicModels(
        unet=unet, vae=vae, image_encoder=image_encoder,
        whisper_encoder=WhisperModel.from_pretrained(paths.whisper_dir).encoder,
        feature_extractor=WhisperFeatureExtractor.from_pretrained(paths.whisper_dir),
        clip_processor=_processors()[1],
        audio_to_tokens=tokens, audio_to_bucket=bucket,
        scheduler=EulerDiscreteScheduler.from_pretrained(paths.svd_dir, subfolder="scheduler"),
        device=torch.device(device), dtype=dtype,
    )
    rife = paths.rife_file()
    if interpolate and rife is not None and rife.is_file():
        models.interpolator = load_interpolator(rife)
    return _finish(models)


def save_official(module: torch.nn.Module, path: str | Path) -> None:
    """Write weights as the official files are: torch.save of a plain {key: tensor} dict."""
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, path)
