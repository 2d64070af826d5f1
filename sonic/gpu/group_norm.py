"""GroupNorm computed from per-channel statistics: the same function, fast on channels-last tensors.

Why: the UNet's activations are channels-last on CUDA (NHWC, NDHWC in the temporal ResNet
blocks; see `acceleration.to_channels_last`). GroupNorm reduces over each group of channels and
every position, which in that layout is a strided walk (ten contiguous channels, then a jump of a
whole row), and inductor's GroupNorm runs there at a fraction of the memory bandwidth and hands
back an NCHW tensor, which the next convolution transposes again (bench/RESULTS.md has the
timings). Reducing per channel first is a reduction along the contiguous axis for every position
(what GPUs do well); the groups then combine 32 x C/32 numbers:

    group mean     = mean of its channels' means                 (all channels count the same)
    group variance = mean of its channels' variances + variance of its channels' means

(the law of total variance: exact, and as stable as the per-channel Welford variances it starts
from). The normalisation is then one multiply-add per element, `x * scale[c] + shift[c]`, which
`torch.compile` fuses with the SiLU that follows. Only inside compiled code: run eagerly, each of
those steps would write a full fp32 tensor (several times the memory traffic of PyTorch's
kernel), so uncompiled calls (no `sonic_compile`, the UNet's last GroupNorm outside the compiled
blocks) keep PyTorch's kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_norm_by_channel(x: torch.Tensor, num_groups: int, weight: torch.Tensor | None,
                          bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """`F.group_norm(x, num_groups, weight, bias, eps)` through per-channel statistics (at least fp32
    inside; output in x's dtype and memory format). x: (N, C, *spatial)."""
    n, channels = x.shape[:2]
    per_group = channels // num_groups
    compute = torch.promote_types(x.dtype, torch.float32)    # fp32 for half precision, as PyTorch's kernel
    xf = x.to(compute)
    var_c, mean_c = torch.var_mean(xf, dim=tuple(range(2, x.ndim)), correction=0)    # (N, C)
    mean_c = mean_c.view(n, num_groups, per_group)
    mean_g = mean_c.mean(-1, keepdim=True)
    var_g = var_c.view(n, num_groups, per_group).mean(-1, keepdim=True) + (mean_c - mean_g).square().mean(-1, keepdim=True)
    scale = torch.rsqrt(var_g + eps).expand(n, num_groups, per_group)
    if weight is not None:
        scale = scale * weight.to(compute).view(num_groups, per_group)
    shift = -mean_g * scale
    if bias is not None:
        shift = shift + bias.to(compute).view(num_groups, per_group)
    broadcast = (n, channels) + (1,) * (x.ndim - 2)
    return (xf * scale.reshape(broadcast) + shift.reshape(broadcast)).to(x.dtype)


# Below this many positions per channel (H x W, or frames x H x W) PyTorch's own kernel is faster:
# a per-channel reduction over few elements leaves most of the GPU idle. In the benchmark the
# 16 x 16 spatial maps were slower this way, the 32 x 32 ones about even, and the larger spatial
# maps and all temporal ones of levels 0-2 faster (bench/RESULTS.md).
MIN_POSITIONS = 1024


class ChannelStatsGroupNorm(nn.GroupNorm):
    """nn.GroupNorm with the same parameters and output, computed by `group_norm_by_channel` where
    that is faster: inside compiled code, with at least `min_positions` positions per channel."""

    min_positions: int = MIN_POSITIONS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (torch.compiler.is_compiling() and x.ndim >= 3 and x.shape[0] > 0
                and x.shape[2:].numel() >= self.min_positions):
            return group_norm_by_channel(x, self.num_groups, self.weight, self.bias, self.eps)
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


def use_channel_stats_group_norm(model: nn.Module, min_positions: int = MIN_POSITIONS) -> int:
    """Switch every nn.GroupNorm of `model` to `ChannelStatsGroupNorm` in place (same parameters,
    same state dict); returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.GroupNorm):
            module.__class__ = ChannelStatsGroupNorm
            module.min_positions = min_positions
            count += 1
    return count
