"""RIFE 2x frame interpolation: the IFNet (HDv3) that Sonic runs on its 12.5-fps output.

Sonic generates 12.5 frames per second and asks RIFE for the frame half-way between each pair of
neighbours, which gives 25 fps (2n - 1 frames from n). The network (from the RIFE paper, "HDv3"
release, `checkpoints/RIFE/flownet.pkl`) estimates, at three scales (1/4, 1/2, full), the optical
flow from the middle frame to both neighbours plus a blending mask; each scale refines the last
one's estimate from the two neighbours warped by it. The middle frame is the two warped
neighbours blended by the mask.

Parameter names match the official file after its "module." prefix (left by DataParallel
training) is removed, so `load_state_dict(strict=True)` checks every tensor. The file also holds a
fourth "teacher" block (`block_tea`), only used in training: we keep it so the file loads
strictly, and never run it.

What we do differently from the official loop, on purpose (same function up to half-precision
rounding):
- every frame pair of a chunk is one batch (the official code runs one pair per call);
- each block's two directions (frame 0 -> 1 and 1 -> 0, which share the weights) are one batch;
- the convolutions run in the renderer's half precision; flows, masks, warps and the final blend
  stay in float32, since flow is in pixels and fp16 would round it to 0.25-0.5 px at 512-1024 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from sonic.gpu.spec import CheckpointError, check_state_dict


@dataclass(frozen=True)
class RifeConfig:
    """IFNet HDv3 as Sonic ships it (`IFBlock(7 + 4, c=90)` three times, teacher `IFBlock(10 + 4, c=90)`)."""

    channels: int = 90                       # width inside each flow block
    scales: tuple[float, ...] = (4.0, 2.0, 1.0)   # each block works at 1/scale of the frame size
    student_inputs: int = 7 + 4              # two RGB frames + mask, + the current 4-channel flow
    teacher_inputs: int = 10 + 4             # training only (also sees the true middle frame)


def _conv_prelu(inputs: int, outputs: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, 1, bias=True), nn.PReLU(outputs))


def _resample(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by `factor`, exactly as the official blocks call it."""
    if factor == 1.0:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False,
                         recompute_scale_factor=False)


class FlowBlock(nn.Module):
    """One refinement step (official name IFBlock): frames + current flow -> flow and mask updates."""

    def __init__(self, inputs: int, channels: int):
        super().__init__()
        half = channels // 2
        self.conv0 = nn.Sequential(_conv_prelu(inputs, half, 2), _conv_prelu(half, channels, 2))
        for name in ("convblock0", "convblock1", "convblock2", "convblock3"):
            setattr(self, name, nn.Sequential(_conv_prelu(channels, channels), _conv_prelu(channels, channels)))
        self.conv1 = nn.Sequential(nn.ConvTranspose2d(channels, half, 4, 2, 1), nn.PReLU(half),
                                   nn.ConvTranspose2d(half, 4, 4, 2, 1))       # flow update (2 x 2 channels)
        self.conv2 = nn.Sequential(nn.ConvTranspose2d(channels, half, 4, 2, 1), nn.PReLU(half),
                                   nn.ConvTranspose2d(half, 1, 4, 2, 1))       # mask update

    def forward(self, x: torch.Tensor, flow: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = _resample(x, 1.0 / scale)
        flow = _resample(flow, 1.0 / scale) * (1.0 / scale)
        feat = self.conv0(torch.cat((x, flow), 1))
        for block in (self.convblock0, self.convblock1, self.convblock2, self.convblock3):
            feat = block(feat) + feat
        flow = _resample(self.conv1(feat), scale) * scale
        mask = _resample(self.conv2(feat), scale)
        return flow, mask


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample `image` at (pixel + flow): bilinear, border padding, as RIFE's warp (flow in pixels)."""
    n, _, h, w = flow.shape
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(n, h, w)
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(n, h, w)
    grid = torch.stack((xs + flow[:, 0] / ((w - 1.0) / 2.0), ys + flow[:, 1] / ((h - 1.0) / 2.0)), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


class FrameInterpolator(nn.Module):
    """IFNet: the frame half-way between two frames (official class name IFNet)."""

    def __init__(self, config: RifeConfig = RifeConfig()):
        super().__init__()
        self.config = config
        self.block0 = FlowBlock(config.student_inputs, config.channels)
        self.block1 = FlowBlock(config.student_inputs, config.channels)
        self.block2 = FlowBlock(config.student_inputs, config.channels)
        self.block_tea = FlowBlock(config.teacher_inputs, config.channels)   # training only: never run

    @torch.no_grad()
    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """first, second: (N, 3, H, W) float in [0, 1], H and W multiples of 32 -> middles (N, 3, H, W)."""
        dtype = next(self.parameters()).dtype
        img0, img1 = first.float(), second.float()
        n = img0.shape[0]
        flow = img0.new_zeros(n, 4, *img0.shape[-2:])     # channels 0-1: middle -> first, 2-3: middle -> second
        mask = img0.new_zeros(n, 1, *img0.shape[-2:])
        warped0, warped1 = img0, img1
        for block, scale in zip((self.block0, self.block1, self.block2), self.config.scales):
            # both directions in one batch: (0 -> 1 with flow) and (1 -> 0 with the flow halves swapped)
            x = torch.cat((torch.cat((warped0, warped1, mask), 1), torch.cat((warped1, warped0, -mask), 1)))
            f = torch.cat((flow, torch.cat((flow[:, 2:4], flow[:, :2]), 1)))
            delta_flow, delta_mask = block(x.to(dtype), f.to(dtype), scale)
            delta_flow, delta_mask = delta_flow.float(), delta_mask.float()
            forward_flow, backward_flow = delta_flow[:n], delta_flow[n:]
            flow = flow + (forward_flow + torch.cat((backward_flow[:, 2:4], backward_flow[:, :2]), 1)) / 2
            mask = mask + (delta_mask[:n] - delta_mask[n:]) / 2
            warped0 = backward_warp(img0, flow[:, :2])
            warped1 = backward_warp(img1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return warped0 * weight + warped1 * (1 - weight)


def interpolate_stream(
    net: FrameInterpolator, chunks: Iterator[torch.Tensor], pairs_per_call: int
) -> Iterator[torch.Tensor]:
    """Insert the middle frame between every two neighbours of a stream of frame chunks.

    chunks: (k, 3, H, W) float in [0, 1] on the net's device, in order. Yields chunks of the
    doubled sequence f0, m01, f1, m12, ..., f_last (2n - 1 frames from n) without holding more than
    one input chunk: the last frame of each chunk waits for the next chunk's first.
    """
    held: torch.Tensor | None = None
    for chunk in chunks:
        frames = chunk if held is None else torch.cat((held, chunk))
        if frames.shape[0] > 1:
            left, right = frames[:-1], frames[1:]
            middles = torch.cat([
                net(left[i : i + pairs_per_call], right[i : i + pairs_per_call]).clamp(0, 1)
                for i in range(0, left.shape[0], pairs_per_call)
            ])
            # interleave: f0, m0, f1, m1, ...
            yield torch.stack((left.float(), middles), dim=1).flatten(0, 1)
        held = frames[-1:]
    if held is not None:
        yield held.float()


def load_interpolator(path: str | Path, device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float16) -> FrameInterpolator:
    """Load `RIFE/flownet.pkl` strictly. The official file's keys start with "module." (DataParallel);
    the official loader keeps only such keys and strips the prefix; we strip it and then require the
    exact key set and shapes, naming every missing, unexpected or mis-shaped tensor."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"RIFE weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated download or a pickle with code in it
        raise CheckpointError(f"{path} could not be read as a dict of tensors: {exc}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a dict of tensors (the official torch.save format)")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    with torch.device("meta"):
        net = FrameInterpolator()
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    check_state_dict(state, path.name, expected)
    net.load_state_dict(state, strict=True, assign=True)
    return net.to(device, dtype).eval().requires_grad_(False)


def pairs_per_call_for(height: int, width: int, pairs_at_512: int = 32) -> int:
    """How many frame pairs to batch: `pairs_at_512` at 512x512, fewer for larger frames (bounded memory)."""
    return max(1, int(pairs_at_512 * (512 * 512) / (height * width)))
