"""Speed settings for the Sonic GPU renderer, applied once per worker process.

Each switch here computes the same function (checked by the benchmark: one UNet call stays within
relative L2 2e-2 of an fp32 forward) and was kept only where it measured faster; bench/RESULTS.md
has the numbers, with the card and date of each.

- fused q/k/v projection of every self-attention (one GEMM instead of three);
- channels-last convolution weights: cuDNN's fp16 convolutions run NHWC, so NCHW tensors cost a
  transpose before and after every convolution;
- the memory-efficient SDPA kernel for the frame-axis attention (25-token sequences, where it beats
  flash and cuDNN);
- a fused Triton GEGLU (sonic/gpu/kernels.py) in the first level's feed-forwards only (320
  features): memory-bound there, so fusing the activation saves a round trip through memory; on
  wider ones cuBLAS + the compiled GELU is faster;
- GroupNorm from per-channel statistics (sonic/gpu/group_norm.py) wherever a channel has at least
  1,024 positions: inductor's own GroupNorm walks channels-last tensors with a stride and returns
  them NCHW; this one reads them along the contiguous axis and keeps the layout;
- the audio attention (32 audio tokens per frame) with its face mask, scale and CLIP sum in one
  Triton kernel (sonic/gpu/kernels.py) that reads the queries in the model's layout (no head
  split / merge transposes); the step is bound by memory traffic, not arithmetic;
- the same channels-last and GroupNorm rewrites for the VAE decoder, where the GroupNorm makes most
  of the difference;
- CUDA-graph replay of the diffusion loop's UNet calls (`CudaGraphCall`): removes the launch gaps
  between a call's kernels; a small gain at 512 px, about even at 1024 px, where the GPU is busy
  throughout;
- cuDNN attention before flash (faster for the UNet's spatial self-attention);
- regional `torch.compile` of the UNet and the VAE decoder's blocks: each SonicTransformer and
  each spatio-temporal ResNet block is compiled on its own. Blocks of the same shape reuse one
  compiled graph, so a worker compiles ~20 small graphs instead of one 1,500-layer graph (a
  cold compile shorter than a whole-model compile's), while the fusions that pay (GroupNorm + SiLU,
  GEGLU, the residual adds and the temporal transposes) happen inside blocks. Compiling is
  optional (setting `sonic_compile`: `auto` = on for CUDA, off on the CPU; `off`; or an inductor
  mode); the first render at each new image size pays the compile (much less in a later process
  that finds inductor's cache on disk).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Acceleration:
    """What `accelerate` does to the models; the defaults are the fastest combination measured
    (bench/RESULTS.md)."""

    fuse_qkv: bool = True
    compile_mode: str | None = "default"        # None: eager; else a torch.compile mode
    compile_vae: bool = True                    # also compile the VAE decoder (when compile_mode is set)
    attention: str = "cudnn"                    # "cudnn", "flash", or "auto" (PyTorch's own order)
    # CUDA only (no gain, or no kernel, on the CPU):
    channels_last: bool = True                  # NHWC convolutions, no cuDNN layout transposes
    efficient_temporal_attention: bool = True   # memory-efficient SDPA for the 25-frame attention
    fused_geglu: bool = True                    # Triton GEGLU feed-forward (sonic/gpu/kernels.py) ...
    fused_geglu_max_width: int | None = 320     # ... at the first level only: cuBLAS + compiled GELU win on wider ones
    group_norm_by_channel: bool = True          # GroupNorm from per-channel statistics (sonic/gpu/group_norm.py)
    fused_audio_attention: bool = True          # Triton audio attention + mask + CLIP (sonic/gpu/kernels.py)
    vae_decoder_rewrites: bool = True           # compiled VAE decoder: channels-last + GroupNorm by channel statistics
    cuda_graphs: bool = True                    # CUDA only: replay the UNet calls of a render from one CUDA graph

    @classmethod
    def from_settings(cls, settings: Any, device: torch.device | str) -> Acceleration:
        """From the ``sonic_compile``, ``sonic_attention`` and ``sonic_cuda_graphs`` settings
        (``factory.settings``)."""
        raw = str(settings.sonic_compile).strip().lower()
        if raw == "auto":
            raw = "default" if torch.device(device).type == "cuda" else "off"
        mode = None if raw in ("0", "off", "false", "no", "") else ("default" if raw in ("1", "on", "true", "yes") else raw)
        return cls(compile_mode=mode, attention=str(settings.sonic_attention).strip().lower(),
                   cuda_graphs=settings.sonic_cuda_graphs)


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
    its input and output. A convolution whose weight is channels-last returns channels-last, so
    the layout then carries through the network."""
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

    # one compiled variant per (block kind, feature-map size, width, branches); the ResNet block's
    # forward is shared with the VAE decoder's: 512 and 1024 px need ~50, so room for more sizes
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 128)
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

    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 128)
    count = 0
    for module in vae.decoder.modules():
        if isinstance(module, SpatioTemporalResBlock):
            module.compile(mode=mode, backend=backend, dynamic=False)
            count += 1
    return count


def rewrite_unet(models: Any, options: Acceleration) -> None:
    """The exact rewrites of `options` (everything but compiling), applied in place."""
    from sonic.gpu.group_norm import use_channel_stats_group_norm
    from sonic.gpu.kernels import use_fused_geglu
    from sonic.gpu.unet import fuse_self_attention, use_efficient_temporal_attention, use_fused_audio_attention

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
    if options.group_norm_by_channel:
        use_channel_stats_group_norm(models.unet)
    if options.fused_audio_attention:
        use_fused_audio_attention(models.unet)


def rewrite_vae_decoder(models: Any, options: Acceleration) -> None:
    """The exact rewrites of `options` for the VAE decoder, applied in place: CUDA only, and only
    when the decoder is compiled (the GroupNorm rewrite only pays inside compiled code, and the
    rewrites were benchmarked only that way)."""
    from sonic.gpu.group_norm import use_channel_stats_group_norm

    if (models.device.type == "cuda" and options.vae_decoder_rewrites
            and options.compile_mode and options.compile_vae):
        to_channels_last(models.vae.decoder)
        use_channel_stats_group_norm(models.vae.decoder)


def accelerate(models: Any, options: Acceleration | None = None) -> Acceleration:
    """Apply `options` (default: from the settings) to loaded SonicModels, once per process."""
    from factory.settings import Settings

    options = options or Acceleration.from_settings(Settings.load(), models.device)
    rewrite_unet(models, options)
    rewrite_vae_decoder(models, options)
    if options.compile_mode:
        compile_unet_regions(models.unet, options.compile_mode)
        if options.compile_vae:
            compile_vae_decoder_regions(models.vae, options.compile_mode)
    models.unet_graph = CudaGraphCall(models.unet) if options.cuda_graphs and models.device.type == "cuda" else None
    return options


class CudaGraphCall:
    """Calls `fn` by replaying a CUDA graph of it, captured on the first call after each `clear()`.

    Why: a compiled UNet call launches a few thousand kernels one by one; a graph replays them
    with one launch, so the GPU does not wait for Python between them (a small gain at 512 px,
    none at 1024 px, where the GPU is busy throughout; bench/RESULTS.md). The first call runs
    `fn` itself (compiling and autotuning, outside any capture) and returns that result; it then
    captures the call (the CPU records it while the GPU waits). Later calls with the same
    signature (tensor shapes and dtypes, the other arguments' values) copy their inputs into the
    captured ones and replay; any other signature calls `fn` directly. The graph holds one call's
    activations until `clear()`: the diffusion loop clears it after each render, before the VAE
    decode needs the memory. If a capture fails, a warning is logged and every later call goes to
    `fn` directly (only speed is lost).

    A replayed result is the graph's own output buffer, overwritten by the next replay: use or
    copy it first (the diffusion loop converts it to fp32 at once)."""

    def __init__(self, fn: Callable[..., torch.Tensor]):
        self.fn = fn
        self.failed = False            # a capture failed: call `fn` directly from then on
        self._signature: Any = None
        self._captured: tuple[Any, list[Any], torch.Tensor] | None = None   # graph, its inputs, its output

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.failed:
            return self.fn(*args, **kwargs)
        # keyword arguments in name order: the same call spelt in another order replays too
        leaves, spec = tree_flatten((args, dict(sorted(kwargs.items()))))
        signature = (str(spec), tuple((tuple(a.shape), a.dtype, a.device) if isinstance(a, torch.Tensor) else a
                                      for a in leaves))
        if self._captured is None:
            # the captured call reads these copies; the first call runs on them too, so anything
            # compiled for their memory layout is compiled now, not during the capture
            static_leaves = [a.clone() if isinstance(a, torch.Tensor) else a for a in leaves]
            static_args, static_kwargs = tree_unflatten(static_leaves, spec)
            output = self.fn(*static_args, **static_kwargs)
            self._capture(signature, static_leaves, spec)
            return output
        if signature != self._signature:
            return self.fn(*args, **kwargs)
        graph, static_leaves, static_output = self._captured
        for static, value in zip(static_leaves, leaves):
            if isinstance(static, torch.Tensor):
                static.copy_(value)
        graph.replay()
        return static_output

    def _capture(self, signature: Any, static_leaves: list[Any], spec: Any) -> None:
        graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.Stream()       # captures need a stream of their own
        stream.wait_stream(torch.cuda.current_stream())
        torch.cuda.synchronize()
        try:
            with torch.cuda.stream(stream):      # the caller's stream is current again afterwards, even on errors
                # thread-local: CUDA work from other threads (none expected) does not spoil this capture
                graph.capture_begin(capture_error_mode="thread_local")
                try:
                    static_args, static_kwargs = tree_unflatten(static_leaves, spec)
                    static_output = self.fn(*static_args, **static_kwargs)
                except BaseException:
                    with contextlib.suppress(RuntimeError):    # keep the first error, not the spoilt capture's
                        graph.capture_end()
                    raise
                graph.capture_end()
        except Exception as error:          # e.g. an operation a graph cannot hold: only slower
            log.warning("CUDA graph capture failed; the UNet is called directly instead: %s", error)
            self.failed = True
            return
        torch.cuda.current_stream().wait_stream(stream)
        self._signature, self._captured = signature, (graph, static_leaves, static_output)

    def clear(self) -> None:
        """Drop the captured graph and the memory it holds; the next call captures again."""
        self._signature = self._captured = None
