"""fp8 (e4m3) matrix products for the UNet's linear layers: Hopper's fp8 tensor cores do twice
the fp16 work per clock, and the linear layers are about half of a UNet call's arithmetic.

Scaling: each weight row (output feature) gets its own scale, fixed once when the model is
prepared; each input row (token) gets its own scale, taken from its largest value at run time
(the quantisation is elementwise work that torch.compile fuses into the LayerNorm before it).
Products accumulate in fp32 (`torch._scaled_mm`, cuBLAS) and the scales are applied to the
fp32 sums, so the only new error is the rounding of each operand to 3 mantissa bits.

This is not half-precision rounding any more, so it is checked, not assumed:
`fp8_deviation` measures one UNet call in fp8 against fp16 on the weights actually loaded, and
`accelerate` keeps fp8 only while that stays under `FP8_TOLERANCE` (bench/RESULTS.md has the
numbers). Convolutions, attention itself, norms and the small embedding layers stay fp16.

The weights' state_dict keys do not change: the fp8 copies are plain attributes, not parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

E4M3_MAX = 448.0          # largest finite float8_e4m3fn
FP8_TOLERANCE = 1e-2      # relative L2 of a UNet call, fp8 vs fp16 (the renderer's limit vs fp32 is 2e-2)


@dataclass
class Fp8Weight:
    """A (N, K) weight as fp8 rows with one fp32 scale per row: weight ~= data * scale."""

    data: torch.Tensor     # (N, K) float8_e4m3fn, row-major (its transpose is the column-major B cuBLAS wants)
    scale: torch.Tensor    # (1, N) float32

    @classmethod
    def from_weight(cls, weight: torch.Tensor) -> Fp8Weight:
        data, scale = quantize_rows(weight.detach())
        return cls(data, scale.reshape(1, -1))


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (..., K) -> (fp8 values (..., K), fp32 scales (..., 1)) with x ~= values * scales, per row."""
    amax = x.abs().amax(dim=-1, keepdim=True).float()
    scale = torch.clamp(amax, min=1e-12) / E4M3_MAX
    return (x.float() / scale).to(torch.float8_e4m3fn), scale


def fp8_supported(device: torch.device | str) -> bool:
    """fp8 tensor cores: compute capability 8.9 (Ada) or newer."""
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


def scaled_matmul(rows: torch.Tensor, row_scale: torch.Tensor, weight: Fp8Weight) -> torch.Tensor:
    """(rows * row_scale) @ (weight.data * weight.scale).T from fp8 rows (M, K): (M, N), fp32 sums."""
    if rows.is_cuda:
        # row-wise scaling in cuBLAS writes bf16; the cast that follows fuses into the next op
        return torch._scaled_mm(rows, weight.data.t(), scale_a=row_scale, scale_b=weight.scale.reshape(1, -1),
                                out_dtype=torch.bfloat16)
    # the same function on the CPU (tests): fp32 products of the fp8 values, then the scales
    return (rows.float() @ weight.data.float().t()) * row_scale * weight.scale.reshape(1, -1)


def fp8_matmul(x: torch.Tensor, weight: Fp8Weight, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear(x, weight, bias)` with both operands rounded to fp8 (input scaled per row), in x's dtype."""
    rows, row_scale = quantize_rows(x.reshape(-1, x.shape[-1]))
    out = scaled_matmul(rows, row_scale, weight).to(x.dtype)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], out.shape[-1])


class Fp8Linear(nn.Linear):
    """An nn.Linear whose product runs in fp8 (`fp8_matmul`); made by `use_fp8`, undone by it too."""

    fp8: Fp8Weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fp8_matmul(x, self.fp8, self.bias)


def _fp8_layers(unet: nn.Module) -> list[nn.Linear]:
    """The transformers' big linear layers: attention projections, feed-forwards, proj_in/out.
    Not those applied to a few context tokens (CLIP and audio keys/values), the time embeddings
    or the convolutions: fp8 would add error there and save nothing."""
    from sonic.gpu.unet import SonicTransformer

    layers = []
    for transformer in unet.modules():
        if not isinstance(transformer, SonicTransformer):
            continue
        for name, module in transformer.named_modules():
            small = "processor" in name or "time_pos_embed" in name or name.endswith(("attn2.to_k", "attn2.to_v"))
            if isinstance(module, nn.Linear) and not small:
                layers.append(module)
    return layers


def use_fp8(unet: nn.Module, enabled: bool = True) -> int:
    """Switch the UNet's transformer linear layers (and fused q/k/v projections) to fp8, or back;
    returns how many layers changed. The fp16 weights stay (for switching back and for the check)."""
    count = 0
    for layer in _fp8_layers(unet):
        if enabled:
            layer.fp8 = Fp8Weight.from_weight(layer.weight)
            layer.__class__ = Fp8Linear
        elif isinstance(layer, Fp8Linear):
            layer.__class__ = nn.Linear
            del layer.fp8
        else:
            continue
        count += 1
    for name, module in unet.named_modules():
        fused = getattr(module, "fused_qkv", None)
        if name.endswith("attn1") and fused is not None:
            module.fused_qkv_fp8 = Fp8Weight.from_weight(fused) if enabled else None
    return count


def fp8_active(unet: nn.Module) -> bool:
    """Whether `use_fp8` is on for this UNet."""
    return any(isinstance(m, Fp8Linear) for m in unet.modules())


def linear(x: torch.Tensor, weight: torch.Tensor, fp8: Fp8Weight | None) -> torch.Tensor:
    """A bias-free projection by `weight`, in fp8 when its fp8 copy is given."""
    return fp8_matmul(x, fp8) if fp8 is not None else F.linear(x, weight)


@torch.no_grad()
def fp8_deviation(unet: nn.Module, size: int = 256, frames: int = 25, seed: int = 0) -> float:
    """Relative L2 distance of one UNet call in fp8 from the same call in fp16/bf16, on random
    inputs of the renderer's shape (3 guidance branches x `frames` frames, `size` px, a face mask).
    Run on the loaded weights before compiling: it is what decides whether fp8 is kept."""
    param = next(unet.parameters())
    device, dtype = param.device, param.dtype
    g = torch.Generator(device).manual_seed(seed)
    side = size // 8
    x = torch.randn(3, frames, 8, side, side, device=device, generator=g).to(dtype)
    clip = torch.randn(3 * frames, 1, unet.config.cross_attention_dim, device=device, generator=g).to(dtype)
    audio = torch.randn(3 * frames, 32, unet.config.cross_attention_dim, device=device, generator=g).to(dtype)
    ids = torch.tensor([[12.5, 30.0, 20.0]] * 3, device=device, dtype=dtype)
    t = torch.tensor(1.0, device=device, dtype=dtype)
    mask = torch.zeros(1, 1, size, size, device=device, dtype=dtype)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1

    def call() -> torch.Tensor:
        return unet(x, t, clip, audio, ids, mask).float()

    was_fp8 = fp8_active(unet)
    use_fp8(unet, False)
    reference = call()
    use_fp8(unet, True)
    got = call()
    if not was_fp8:
        use_fp8(unet, False)
    return ((got - reference).norm() / reference.norm()).item()
