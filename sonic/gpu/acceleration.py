"""Speed settings for the Sonic GPU renderer, applied once per worker process.

Each switch here computes the same function (checked by the benchmark: one UNet call stays within
relative L2 2e-2 of an fp32 forward) and was kept only where it measured faster on an H100;
bench/RESULTS.md has the numbers.

- fused q/k/v projection of every self-attention (one GEMM instead of three);
- channels-last convolution weights (cuDNN's NCHW<->NHWC transposes were 4 % of a compiled call),
  the memory-efficient SDPA kernel for the frame-axis attention (25-token sequences) and a fused
  Triton GEGLU (sonic/gpu/kernels.py) in the first level's feed-forwards only (320 features; on
  wider ones cuBLAS + the compiled GELU is faster): together a compiled 512-px call 270.5 ->
  259.3 ms on an H200 (284 -> 275 ms on an H100 with the GEGLU kernel everywhere);
- cuDNN attention before flash (H100, 512 px: eager UNet call 406 vs 420 ms; the level-0 spatial
  attention 3.3 vs 5.2 ms);
- regional `torch.compile` (UNet call 406 -> 288 ms at 512 px, 1813 -> 1385 ms at 1024 px; cold
  compile 138 s per image size, 15 s in a later process with inductor's cache on disk; the VAE
  decoder's blocks too: 125 frames decode in 1.7 s instead of 4.2 s, 114-161 s cold compile):
  each SonicTransformer and each spatio-temporal ResNet block is compiled on its own. Blocks of
  the same shape reuse one compiled graph, so a worker compiles ~20 small graphs instead of one
  1,500-layer graph (138 s cold, against 238 s measured for a whole-model compile of the official
  UNet), while the fusions that pay (GroupNorm + SiLU, GEGLU, the residual adds and the temporal
  transposes) happen inside blocks. Compiling is optional (setting `sonic_compile`: `auto` = on
  for CUDA, off on the CPU; `off`; or an inductor mode); the first render at each new image size
  pays the compile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Acceleration:
    """What `accelerate` does to the models; the defaults are the measured best on an H100 / H200."""

    fuse_qkv: bool = True
    compile_mode: str | None = "default"        # None: eager; else a torch.compile mode
    compile_vae: bool = True                    # also compile the VAE decoder (when compile_mode is set)
    attention: str = "cudnn"                    # "cudnn", "flash", or "auto" (PyTorch's own order)
    # CUDA only (no gain, or no kernel, on the CPU):
    channels_last: bool = True                  # NHWC convolutions, no cuDNN layout transposes
    efficient_temporal_attention: bool = True   # memory-efficient SDPA for the 25-frame attention
    fused_geglu: bool = True                    # Triton GEGLU feed-forward (sonic/gpu/kernels.py) ...
    fused_geglu_max_width: int | None = 320     # ... at the first level only: cuBLAS + compiled GELU win on wider ones

    @classmethod
    def from_settings(cls, settings: Any, device: torch.device | str) -> Acceleration:
        """From the ``sonic_compile`` and ``sonic_attention`` settings (``factory.settings``)."""
        raw = str(settings.sonic_compile).strip().lower()
        if raw == "auto":
            raw = "default" if torch.device(device).type == "cuda" else "off"
        mode = None if raw in ("0", "off", "false", "no", "") else ("default" if raw in ("1", "on", "true", "yes") else raw)
        return cls(compile_mode=mode, attention=str(settings.sonic_attention).strip().lower())


def set_attention_backend(name: str) -> None:
    """Which fused attention kernel SDPA prefers for fp16 on CUDA (process-wide)."""
    if name == "auto":
        return
    if name not in ("flash", "cudnn"):
        raise ValueError(f"unknown attention backend {name!r}: use flash, cudnn or auto")
    # the preferred kernel is the only one of the two left on; memory-efficient attention stays on
    # as the fallback for shapes the preferred kernel refuses
    torch.backends.cuda.enable_flash_sdp(name == "flash")
    torch.backends.cuda.enable_cudnn_sdp(name == "cudnn")
    torch.backends.cuda.enable_mem_efficient_sdp(True)


def to_channels_last(model: torch.nn.Module) -> int:
    """Store convolution weights channels-last (NDHWC for the temporal 3-D convolutions); returns
    how many. cuDNN's fp16 convolutions run NHWC: with NCHW tensors every convolution transposes
    its input and output (4 % of a compiled UNet call at 512 px). A convolution whose weight is
    channels-last returns channels-last, so the layout then carries through the network."""
    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
        elif isinstance(module, torch.nn.Conv3d):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last_3d)
        else:
            continue
        count += 1
    return count


def compile_unet_regions(unet: torch.nn.Module, mode: str | None = "default", backend: str = "inductor",
                         fullgraph: bool = False) -> int:
    """Compile every SonicTransformer and spatio-temporal ResNet block in place; returns how many.

    Same-shaped blocks share compiled code; each block is a separate graph, so a graph break in
    one would only split that block (our forward has none: see tests/test_sonic_gpu.py).
    """
    import torch._dynamo
    from diffusers.models.unets.unet_3d_blocks import SpatioTemporalResBlock

    from sonic.gpu.unet import SonicTransformer

    # one compiled variant per (block kind, feature-map size, width): 512 and 1024 px need ~30
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    count = 0
    for module in unet.modules():
        if isinstance(module, (SonicTransformer, SpatioTemporalResBlock)):
            module.compile(mode=mode, backend=backend, dynamic=False, fullgraph=fullgraph)
            count += 1
    return count


def compile_vae_decoder_regions(vae: torch.nn.Module, mode: str | None = "default", backend: str = "inductor") -> int:
    """Compile the temporal VAE decoder's 14 spatio-temporal ResNet blocks in place (GroupNorm +
    SiLU + the temporal mix fused); returns how many."""
    import torch._dynamo
    from diffusers.models.unets.unet_3d_blocks import SpatioTemporalResBlock

    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    count = 0
    for module in vae.decoder.modules():
        if isinstance(module, SpatioTemporalResBlock):
            module.compile(mode=mode, backend=backend, dynamic=False)
            count += 1
    return count


def rewrite_unet(models: Any, options: Acceleration) -> None:
    """The exact rewrites of `options` (everything but compiling), applied in place."""
    from sonic.gpu.kernels import use_fused_geglu
    from sonic.gpu.unet import fuse_self_attention, use_efficient_temporal_attention

    if options.fuse_qkv:
        fuse_self_attention(models.unet)
    if models.device.type != "cuda":
        return
    set_attention_backend(options.attention)
    if options.channels_last:
        to_channels_last(models.unet)
    if options.efficient_temporal_attention:
        use_efficient_temporal_attention(models.unet)
    if options.fused_geglu:
        use_fused_geglu(models.unet, max_width=options.fused_geglu_max_width)


def accelerate(models: Any, options: Acceleration | None = None) -> Acceleration:
    """Apply `options` (default: from the settings) to loaded SonicModels, once per process."""
    from factory.settings import Settings

    options = options or Acceleration.from_settings(Settings.load(), models.device)
    rewrite_unet(models, options)
    if options.compile_mode:
        compile_unet_regions(models.unet, options.compile_mode)
        if options.compile_vae:
            compile_vae_decoder_regions(models.vae, options.compile_mode)
    return options
