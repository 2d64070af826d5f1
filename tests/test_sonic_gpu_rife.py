"""RIFE frame interpolation of the Sonic GPU renderer, on the CPU with random weights."""

from __future__ import annotations

import pytest
import torch

from sonic.gpu.rife import FrameInterpolator, backward_warp, interpolate_stream, load_interpolator
from sonic.gpu.spec import CheckpointError


def smooth_frames(count: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Natural-looking frames in [0, 1] (smooth colour fields), not constant."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(count, 3, 6, 6, generator=g)
    return torch.nn.functional.interpolate(small, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


@pytest.fixture(scope="module")
def net() -> FrameInterpolator:
    torch.manual_seed(0)
    model = FrameInterpolator().eval()
    with torch.no_grad():   # small random weights: flows of a few pixels, like a trained model's
        for p in model.parameters():
            if p.dim() == 4:
                p.mul_(0.1)
    return model


def pair_by_pair(model: FrameInterpolator, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
    """The official order of work: one pair, and each direction of each block as its own call."""
    flow = torch.zeros(1, 4, *img0.shape[-2:])
    mask = torch.zeros(1, 1, *img0.shape[-2:])
    w0, w1 = img0, img1
    for block, scale in zip((model.block0, model.block1, model.block2), (4.0, 2.0, 1.0)):
        f0, m0 = block(torch.cat((w0, w1, mask), 1), flow, scale)
        f1, m1 = block(torch.cat((w1, w0, -mask), 1), torch.cat((flow[:, 2:], flow[:, :2]), 1), scale)
        flow = flow + (f0 + torch.cat((f1[:, 2:], f1[:, :2]), 1)) / 2
        mask = mask - (m1 - m0) / 2
        w0, w1 = backward_warp(img0, flow[:, :2]), backward_warp(img1, flow[:, 2:])
    alpha = torch.sigmoid(mask)
    return alpha * w0 + (1 - alpha) * w1


def test_batched_interpolation_equals_one_pair_at_a_time(net):
    frames = smooth_frames(5)
    with torch.no_grad():
        batched = net(frames[:-1], frames[1:])
        single = torch.cat([pair_by_pair(net, frames[i : i + 1], frames[i + 1 : i + 2]) for i in range(4)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)
    assert batched.shape == (4, 3, 32, 32)
    # a real interpolation: each middle lies between its neighbours, not on either of them
    for i in range(4):
        to_first = (batched[i] - frames[i]).abs().mean()
        to_second = (batched[i] - frames[i + 1]).abs().mean()
        gap = (frames[i] - frames[i + 1]).abs().mean()
        assert 0.05 * gap < to_first < gap and 0.05 * gap < to_second < gap


def test_warp_by_zero_flow_is_identity_and_by_one_pixel_shifts():
    image = smooth_frames(1)
    flow = torch.zeros(1, 2, 32, 32)
    torch.testing.assert_close(backward_warp(image, flow), image, rtol=0, atol=1e-6)
    flow[:, 0] = 1.0     # sample one pixel to the right
    shifted = backward_warp(image, flow)
    torch.testing.assert_close(shifted[..., :-1], image[..., 1:], rtol=0, atol=1e-5)


def test_stream_doubles_frame_rate_and_chunking_does_not_change_frames(net):
    frames = smooth_frames(7, seed=1)
    with torch.no_grad():
        whole = torch.cat(list(interpolate_stream(net, iter([frames]), pairs_per_call=64)))
        pieces = torch.cat(list(interpolate_stream(net, iter([frames[:3], frames[3:4], frames[4:]]), pairs_per_call=2)))
        middles = net(frames[:-1], frames[1:]).clamp(0, 1)
    assert whole.shape[0] == 2 * 7 - 1
    torch.testing.assert_close(pieces, whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(whole[0::2], frames)                 # originals kept, in order
    torch.testing.assert_close(whole[1::2], middles, rtol=1e-5, atol=1e-5)


def test_official_flownet_file_loads_strictly_and_bad_files_are_named(net, tmp_path):
    path = tmp_path / "flownet.pkl"
    # the official file: a plain dict saved from a DataParallel model, keys prefixed "module."
    torch.save({f"module.{k}": v.clone() for k, v in net.state_dict().items()}, path)
    loaded = load_interpolator(path, dtype=torch.float32)
    frames = smooth_frames(2, seed=2)
    with torch.no_grad():
        assert torch.equal(loaded(frames[:1], frames[1:]), net(frames[:1], frames[1:]))
    assert any(k.startswith("block_tea.") for k in loaded.state_dict())   # training-only block kept for strictness

    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    del state["module.block1.conv1.0.weight"]
    state["module.block9.conv0.0.0.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_interpolator(path)
    assert "block1.conv1.0.weight" in str(err.value) and "block9.conv0.0.0.weight" in str(err.value)

    with pytest.raises(CheckpointError, match="not found"):
        load_interpolator(tmp_path / "missing.pkl")
