"""Sonic's denoising UNet: the SVD-xt spatio-temporal UNet plus audio cross-attention.

Why diffusers: the base network (resnets, up/down sampling, 16 spatio-temporal transformers) is
exactly diffusers' `UNetSpatioTemporalConditionModel`, whose parameter names the official
`unet.pth` uses. Taking the layers from diffusers gives correct numerics for free; we own only
what Sonic changes and what costs time:

- each `attn2` gains an audio adapter (`attn2.processor.to_k_ip.0` / `to_v_ip.0`): attention
  from the image features to 32 audio tokens, added to the CLIP cross-attention output; in the
  spatial blocks it is multiplied by a face mask (the audio only moves the face);
- the temporal blocks read the frame-averaged CLIP and audio context (not the first frame's);
- our attention code: the CLIP context is ONE token, and softmax over one key is exactly 1, so
  that attention is just `to_v(clip)` (no Q/K products over 4096 positions); the temporal audio
  context is the same for every pixel of a video, so its keys/values are computed once per video
  instead of once per pixel (the official code repeats them H*W times). Both are exact rewrites;
- the diffusion loop's "image + silence" and "image + audio" branches are equal until the first
  audio attention, so with `last_branch_differs_only_in_audio` those first layers run once for
  both (exact; it saves their cost for one of the three branches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sonic.gpu.kernels import audio_attention, audio_attention_reference, feed_forward, merge_heads, split_heads
from sonic.gpu.spec import unet_config

try:  # diffusers is a runtime dependency of the GPU renderer only (imported lazily by callers)
    from diffusers import UNetSpatioTemporalConditionModel
    from diffusers.models.transformers.transformer_temporal import TransformerSpatioTemporalModel
except ImportError as exc:  # pragma: no cover - reported by doctor / loader
    raise ImportError("the Sonic GPU renderer needs `diffusers` (pip install diffusers)") from exc


AUDIO_TOKENS = 32


class AudioAdapter(nn.Module):
    """Holds the audio key/value projections of one attn2 (names match the official file)."""

    def __init__(self, hidden_size: int, context_dim: int):
        super().__init__()
        self.to_k_ip = nn.ModuleList([nn.Linear(context_dim, hidden_size, bias=False)])
        self.to_v_ip = nn.ModuleList([nn.Linear(context_dim, hidden_size, bias=False)])

    def __call__(self, *args, **kwargs):  # the attention math lives in SonicTransformer below
        raise RuntimeError("AudioAdapter is called through SonicTransformer, not as a processor")


@dataclass
class SonicContext:
    """Conditioning for one UNet call, passed through diffusers' blocks untouched."""

    clip_spatial: torch.Tensor        # (B*F, 1, 1024) CLIP image embedding per frame
    audio_spatial: torch.Tensor       # (B*F, 32, 1024) audio tokens per frame
    clip_temporal: torch.Tensor       # (B, 1, 1024) frame mean
    audio_temporal: torch.Tensor      # (B, 32, 1024) frame mean
    face_masks: dict[int, torch.Tensor] | None   # feature-map positions -> (1, L, 1) mask, see face_mask_pyramid
    ip_scale: float = 1.0

    def mask_for(self, num_queries: int) -> torch.Tensor | None:
        """The face mask resized to a feature map of `num_queries` positions: (1, L, 1)."""
        return None if self.face_masks is None else self.face_masks[num_queries]


def face_mask_pyramid(face_mask: torch.Tensor, latent_height: int, latent_width: int, levels: int,
                      dtype: torch.dtype) -> dict[int, torch.Tensor]:
    """The face mask (1, 1, H, W) resized once per render to every UNet level (the official resize:
    bicubic to the feature map, as diffusers' IP-adapter mask processor does). Done before the
    denoising loop, so the UNet call itself holds no resizes and no Python-side shape logic."""
    from diffusers.image_processor import IPAdapterMaskProcessor

    masks = {}
    for level in range(levels):
        queries = (latent_height >> level) * (latent_width >> level)
        masks[queries] = IPAdapterMaskProcessor.downsample(face_mask[:, 0], 1, queries, 1).to(dtype)
    return masks


def self_attention(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Plain multi-head self-attention with diffusers' Attention weights (SDPA: flash kernels)."""
    if getattr(attn, "fused_qkv", None) is not None:
        q, k, v = F.linear(x, attn.fused_qkv).chunk(3, dim=-1)
    else:
        q, k, v = attn.to_q(x), attn.to_k(x), attn.to_v(x)
    q, k, v = split_heads(q, attn.heads), split_heads(k, attn.heads), split_heads(v, attn.heads)
    if getattr(attn, "efficient_kernel", False) and q.shape[0] <= 65535:   # its CUDA grid: batch <= 65535
        # set by `use_efficient_temporal_attention`: for 25-frame sequences the memory-efficient
        # kernel beats flash and cuDNN (bench/RESULTS.md); called directly, SDPA would pick cuDNN
        out = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, False)[0]
    else:
        out = F.scaled_dot_product_attention(q, k, v)
    return attn.to_out[0](merge_heads(out))


def audio_cross_attention(
    attn: nn.Module, x: torch.Tensor, clip: torch.Tensor, audio: torch.Tensor,
    mask: torch.Tensor | None, scale: float,
) -> torch.Tensor:
    """CLIP cross-attention + audio adapter attention, as the official IP-adapter processor.

    x: (N, L, C) queries. clip: (G, 1, D), audio: (G, T, D) with N = G * r: every group of r
    consecutive rows of x shares one context (r = 1 spatially, r = H*W temporally). mask: (1, L, 1)
    face mask, spatially only (r = 1).
    """
    n, length, c = x.shape
    groups = clip.shape[0]
    if mask is not None and groups != n:
        raise ValueError(f"a face mask needs one context per row of x (spatial attention): {groups} contexts, {n} rows")
    # one key: softmax == 1, the attention output is the value itself
    clip_out = attn.to_v(clip)                                     # (G, 1, C)
    adapter = attn.processor
    q = attn.to_q(x).reshape(groups, (n // groups) * length, c)    # rows sharing a context side by side
    k = adapter.to_k_ip[0](audio)
    v = adapter.to_v_ip[0](audio)
    # set by `use_fused_audio_attention`: one Triton kernel on CUDA (same math)
    attend = audio_attention if getattr(attn, "fused_audio_attention", False) else audio_attention_reference
    mixed = attend(q, k, v, clip_out, mask, float(scale), attn.heads)   # audio * mask * scale + CLIP
    return attn.to_out[0](mixed.reshape(n, length, c))


def repeat_last_branch(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Rows = branches x frames: append a copy of the last branch's `frames` rows."""
    return torch.cat([x, x[-frames:]])


class SonicTransformer(TransformerSpatioTemporalModel):
    """diffusers' spatio-temporal transformer with Sonic's forward (same parameters)."""

    def forward(self, hidden_states, encoder_hidden_states=None, image_only_indicator=None, return_dict=True):
        """Input rows = branches x frames. With one branch fewer than `image_only_indicator` has,
        the missing last branch is taken to equal the one before up to the first audio attention
        (see SonicUNet.forward): it is copied after the first spatial self-attention."""
        ctx: SonicContext = encoder_hidden_states
        batch, num_frames = image_only_indicator.shape
        batch_frames = batch * num_frames
        height, width = hidden_states.shape[-2:]
        copy_last_branch = hidden_states.shape[0] < batch_frames

        residual = hidden_states
        h = self.norm(hidden_states)
        inner = h.shape[1]
        h = h.permute(0, 2, 3, 1).reshape(hidden_states.shape[0], height * width, inner)
        h = self.proj_in(h)

        frame_index = torch.arange(num_frames, device=h.device).repeat(batch)
        frame_emb = self.time_pos_embed(self.time_proj(frame_index).to(h.dtype))[:, None, :]
        mask = ctx.mask_for(height * width)

        for block, temporal in zip(self.transformer_blocks, self.temporal_transformer_blocks):
            # spatial block (BasicTransformerBlock, layer_norm variant)
            h = self_attention(block.attn1, block.norm1(h)) + h
            if copy_last_branch:        # the branches part at the audio attention below
                h, residual = repeat_last_branch(h, num_frames), repeat_last_branch(residual, num_frames)
                copy_last_branch = False
            h = audio_cross_attention(block.attn2, block.norm2(h), ctx.clip_spatial, ctx.audio_spatial, mask, ctx.ip_scale) + h
            h = feed_forward(block.ff, block.norm3(h)) + h

            # temporal block (TemporalBasicTransformerBlock): attention across frames per pixel
            t = h + frame_emb
            t = t.reshape(batch, num_frames, height * width, inner).permute(0, 2, 1, 3)
            t = t.reshape(batch * height * width, num_frames, inner)
            t = feed_forward(temporal.ff_in, temporal.norm_in(t)) + t       # is_res: dim == inner
            t = self_attention(temporal.attn1, temporal.norm1(t)) + t
            t = audio_cross_attention(temporal.attn2, temporal.norm2(t), ctx.clip_temporal, ctx.audio_temporal, None, ctx.ip_scale) + t
            t = feed_forward(temporal.ff, temporal.norm3(t)) + t
            t = t.reshape(batch, height * width, num_frames, inner).permute(0, 2, 1, 3)
            t = t.reshape(batch_frames, height * width, inner)

            h = self.time_mixer(x_spatial=h, x_temporal=t, image_only_indicator=image_only_indicator)

        h = self.proj_out(h)
        h = h.reshape(batch_frames, height, width, inner).permute(0, 3, 1, 2)   # NHWC-ordered NCHW view
        if not residual.is_contiguous(memory_format=torch.channels_last):
            h = h.contiguous()          # an NCHW network (see acceleration.to_channels_last)
        return (h + residual,)


class SonicUNet(UNetSpatioTemporalConditionModel):
    """The official Sonic UNet. Call `install_audio_adapters` once after construction."""

    def forward(  # type: ignore[override]
        self,
        sample: torch.Tensor,             # (B, F, 8, h, w): noisy latents + image latents
        timestep: torch.Tensor,           # scalar tensor (continuous EDM timestep)
        clip_embeds: torch.Tensor,        # (B*F, 1, 1024)
        audio_tokens: torch.Tensor,       # (B*F, 32, 1024)
        added_time_ids: torch.Tensor,     # (B, 3): fps, motion bucket, expression value
        face_mask: torch.Tensor | dict[int, torch.Tensor] | None = None,   # (1,1,H,W) or face_mask_pyramid(...)
        ip_scale: float = 1.0,
        last_branch_differs_only_in_audio: bool = False,
    ) -> torch.Tensor:
        """The noise prediction (B, F, 4, h, w) of B guidance branches.

        `last_branch_differs_only_in_audio`: the caller promises that the last branch's sample,
        CLIP embeddings and time ids equal the branch's before it (only its audio tokens differ, as
        in the pipeline's "image + silence" / "image + audio" pair). The layers before the first
        audio attention (input convolution, first ResNet, first spatial self-attention) then run
        for one branch fewer; the result is the same."""
        batch, frames = sample.shape[:2]
        if last_branch_differs_only_in_audio and (batch < 2 or not getattr(self.down_blocks[0], "attentions", None)):
            raise ValueError("last_branch_differs_only_in_audio needs at least 2 branches and a first "
                             "down block with attention (where the last branch is completed)")
        if isinstance(face_mask, torch.Tensor):
            face_mask = face_mask_pyramid(face_mask, sample.shape[-2], sample.shape[-1],
                                          len(self.config.block_out_channels), sample.dtype)
        t_emb = self.time_proj(timestep.reshape(-1).expand(batch)).to(sample.dtype)
        emb = self.time_embedding(t_emb)
        time_embeds = self.add_time_proj(added_time_ids.flatten()).reshape(batch, -1).to(emb.dtype)
        emb = emb + self.add_embedding(time_embeds)
        emb = emb.repeat_interleave(frames, dim=0)

        ctx = SonicContext(
            clip_spatial=clip_embeds,
            audio_spatial=audio_tokens,
            clip_temporal=clip_embeds.reshape(batch, frames, *clip_embeds.shape[1:]).mean(1),
            audio_temporal=audio_tokens.reshape(batch, frames, *audio_tokens.shape[1:]).mean(1),
            face_masks=face_mask,
            ip_scale=ip_scale,
        )
        indicator = torch.zeros(batch, frames, dtype=sample.dtype, device=sample.device)

        shared = batch - 1 if last_branch_differs_only_in_audio else batch   # branches computed at first
        x = self.conv_in(sample[:shared].flatten(0, 1))
        skips: tuple[torch.Tensor, ...] = (x,)
        for block in self.down_blocks:
            x, res = self._down_block(block, x, emb, ctx, indicator)
            skips += res
        if shared < batch:      # the first transformer completed the batch; the input skip is still short
            skips = (repeat_last_branch(skips[0], frames),) + skips[1:]
        x = self.mid_block(hidden_states=x, temb=emb, encoder_hidden_states=ctx, image_only_indicator=indicator)
        for block in self.up_blocks:
            res = skips[-len(block.resnets):]
            skips = skips[: -len(block.resnets)]
            if getattr(block, "has_cross_attention", False):
                x = block(hidden_states=x, temb=emb, res_hidden_states_tuple=res,
                          encoder_hidden_states=ctx, image_only_indicator=indicator)
            else:
                x = block(hidden_states=x, temb=emb, res_hidden_states_tuple=res, image_only_indicator=indicator)
        x = self.conv_out(self.conv_act(self.conv_norm_out(x)))
        return x.reshape(batch, frames, *x.shape[1:])

    @staticmethod
    def _down_block(block: nn.Module, x: torch.Tensor, emb: torch.Tensor, ctx: SonicContext,
                    indicator: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """diffusers' down-block forward (both kinds), except that x may be one branch short until
        the first transformer (see `last_branch_differs_only_in_audio`): each ResNet is given the
        time embeddings and indicator rows of the branches x holds."""
        frames = indicator.shape[-1]
        attentions = getattr(block, "attentions", None) or [None] * len(block.resnets)
        skips: tuple[torch.Tensor, ...] = ()
        for resnet, attention in zip(block.resnets, attentions):
            x = resnet(x, emb[: x.shape[0]], image_only_indicator=indicator[: x.shape[0] // frames])
            if attention is not None:
                x = attention(x, encoder_hidden_states=ctx, image_only_indicator=indicator, return_dict=False)[0]
            skips += (x,)
        if block.downsamplers is not None:
            for downsampler in block.downsamplers:
                x = downsampler(x)
            skips += (x,)
        return x, skips


def install_audio_adapters(unet: SonicUNet) -> SonicUNet:
    """Give every cross-attention an audio adapter and switch the transformers to Sonic's forward."""
    channels = list(unet.config.block_out_channels)
    for name, module in unet.named_modules():
        if isinstance(module, TransformerSpatioTemporalModel):
            module.__class__ = SonicTransformer
        if name.endswith("attn2"):
            if name.startswith("mid_block"):
                width = channels[-1]
            elif name.startswith("up_blocks"):
                width = list(reversed(channels))[int(name.split(".")[1])]
            else:
                width = channels[int(name.split(".")[1])]
            adapter = AudioAdapter(width, unet.config.cross_attention_dim)
            module.set_processor(adapter.to(device=module.to_q.weight.device, dtype=module.to_q.weight.dtype))
    return unet


def build_unet(config: dict[str, Any] | None = None) -> SonicUNet:
    """The Sonic UNet with random weights (full size unless a smaller config is given).

    Build under `with torch.device("meta"):` to get the structure without allocating memory.
    """
    return install_audio_adapters(SonicUNet(**(config or unet_config())))


def fuse_self_attention(unet: nn.Module) -> None:
    """Concatenate q/k/v weights of every self-attention into one matrix (one GEMM instead of 3).

    Stored as a plain attribute (not a parameter) so state_dict keys stay official.
    """
    for name, module in unet.named_modules():
        if name.endswith("attn1") and module.to_q.bias is None:
            module.fused_qkv = torch.cat([module.to_q.weight, module.to_k.weight, module.to_v.weight], 0).detach()


def use_efficient_temporal_attention(unet: nn.Module, enabled: bool = True) -> int:
    """Run the frame-axis self-attention with the memory-efficient SDPA kernel (CUDA only)."""
    count = 0
    for name, module in unet.named_modules():
        if ".temporal_transformer_blocks." in name and name.endswith("attn1"):
            module.efficient_kernel = enabled
            count += 1
    return count


def use_fused_audio_attention(unet: nn.Module, enabled: bool = True) -> int:
    """Run every audio cross-attention (an attn2 with an audio adapter) through the
    `sonic::audio_attention` op (sonic/gpu/kernels.py); returns how many."""
    count = 0
    for module in unet.modules():
        if isinstance(getattr(module, "processor", None), AudioAdapter):
            module.fused_audio_attention = enabled
            count += 1
    return count


def tiny_unet_config() -> dict[str, Any]:
    """Same structure as the official UNet (4 levels, adapters everywhere), tiny widths."""
    cfg = unet_config()
    cfg.update(
        block_out_channels=[32, 32, 64, 64],
        num_attention_heads=[2, 2, 4, 4],
        cross_attention_dim=64,
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=24,
        sample_size=8,
    )
    return cfg
