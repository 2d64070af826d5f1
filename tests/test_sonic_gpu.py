"""Sonic GPU renderer on the CPU: architecture vs the official spec, strict loading, tiny end-to-end."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sonic.gpu.spec import CheckpointError, check_state_dict, doctor, expected_shapes


def test_full_size_unet_and_audio_models_match_every_key_and_shape_of_the_spec():
    from sonic.gpu.audio_models import AudioToBucket, AudioToTokens
    from sonic.gpu.unet import build_unet

    with torch.device("meta"):
        unet, tokens, bucket = build_unet(), AudioToTokens(), AudioToBucket()
    for module, name in ((unet, "unet.pth"), (tokens, "audio2token.pth"), (bucket, "audio2bucket.pth")):
        state = module.state_dict()
        check_state_dict(state, name)  # raises on any difference
        assert len(state) == len(expected_shapes(name))
    assert len(expected_shapes("unet.pth")) == 1492


def test_official_format_checkpoint_round_trips_with_strict_loading(tmp_path):
    from sonic.gpu.audio_models import AudioToBucket
    from sonic.gpu.models import _load_sonic_file, save_official

    original = AudioToBucket()
    path = tmp_path / "audio2bucket.pth"
    save_official(original, path)
    assert isinstance(torch.load(path, weights_only=True), dict)
    with torch.device("meta"):
        loaded = AudioToBucket()
    _load_sonic_file(path, loaded)
    x, clip = torch.randn(3, 50, 1, 384), torch.randn(1, 1024)
    assert torch.equal(original(x, clip), loaded(x, clip))

    # a file with a renamed key is refused, naming both keys
    state = torch.load(path, weights_only=True)
    state["proj9.weight"] = state.pop("proj3.weight")
    torch.save(state, path)
    with torch.device("meta"):
        target = AudioToBucket()
    with pytest.raises(CheckpointError) as err:
        _load_sonic_file(path, target)
    assert "proj3.weight" in str(err.value) and "proj9.weight" in str(err.value)


def test_doctor_and_renderer_name_the_missing_files(tmp_path):
    from factory.stages import StageError
    from sonic.gpu.renderer import SonicRenderer

    (tmp_path / "Sonic").mkdir()
    (tmp_path / "Sonic" / "unet.pth").write_bytes(b"x")
    report = doctor(tmp_path)
    assert not report.ok
    assert "Sonic/unet.pth" in report.present and "Sonic/audio2token.pth" in report.missing
    assert "whisper-tiny config" in report.missing
    with pytest.raises(StageError, match="audio2token.pth"):
        SonicRenderer(tmp_path, device="cpu")


def test_attention_shortcuts_equal_the_official_computation():
    """One-token CLIP attention == its value; temporal audio K/V shared per video == repeated per
    pixel; spatially the face mask and scale weigh the audio part only."""
    from sonic.gpu.kernels import merge_heads, split_heads
    from sonic.gpu.unet import AudioAdapter, audio_cross_attention
    from diffusers.models.attention_processor import Attention

    torch.manual_seed(0)
    attn = Attention(query_dim=32, cross_attention_dim=16, heads=2, dim_head=16).eval()
    attn.set_processor(AudioAdapter(32, 16))
    batch, pixels, frames = 2, 6, 5
    x = torch.randn(batch * pixels, frames, 32)
    clip, audio = torch.randn(batch, 1, 16), torch.randn(batch, 8, 16)

    def heads(t):
        return split_heads(t, 2)

    # the official way: contexts repeated per pixel, real attention over the CLIP token
    clip_r, audio_r = clip.repeat_interleave(pixels, 0), audio.repeat_interleave(pixels, 0)
    q = heads(attn.to_q(x))
    base = merge_heads(F.scaled_dot_product_attention(q, heads(attn.to_k(clip_r)), heads(attn.to_v(clip_r))))
    ip = merge_heads(F.scaled_dot_product_attention(q, heads(attn.processor.to_k_ip[0](audio_r)),
                                              heads(attn.processor.to_v_ip[0](audio_r))))
    expected = attn.to_out[0](base + ip)
    with torch.no_grad():
        got = audio_cross_attention(attn, x, clip, audio, None, 1.0)
    torch.testing.assert_close(got, expected.detach(), rtol=1e-5, atol=1e-5)

    # spatially: one context per frame, the audio part times the face mask and the adapter scale
    positions = 6
    x, clip, audio = torch.randn(frames, positions, 32), torch.randn(frames, 1, 16), torch.randn(frames, 8, 16)
    mask = (torch.rand(1, positions, 1) > 0.5).float()
    q = heads(attn.to_q(x))
    base = merge_heads(F.scaled_dot_product_attention(q, heads(attn.to_k(clip)), heads(attn.to_v(clip))))
    ip = merge_heads(F.scaled_dot_product_attention(q, heads(attn.processor.to_k_ip[0](audio)),
                                              heads(attn.processor.to_v_ip[0](audio))))
    expected = attn.to_out[0](base + ip * mask * 0.7)
    with torch.no_grad():
        got = audio_cross_attention(attn, x, clip, audio, mask, 0.7)
        with pytest.raises(ValueError, match="face mask needs one context per row"):
            audio_cross_attention(attn, torch.randn(batch * pixels, frames, 32), clip[:batch], audio[:batch], mask, 1.0)
    torch.testing.assert_close(got, expected.detach(), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_models():
    from sonic.gpu.models import random_models

    return random_models(tiny=True, device="cpu", dtype=torch.float32)


def test_tiny_random_model_renders_frames_for_the_whole_audio(tiny_models):
    from sonic.gpu.pipeline import RenderSettings, generate
    from sonic.gpu.renderer import SonicRenderer

    renderer = SonicRenderer(None, device="cpu", models=tiny_models)
    rng = np.random.default_rng(0)
    portrait = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    audio = (rng.standard_normal(22050) * 0.1).astype(np.float32)       # 1 s at 22.05 kHz
    frames = list(renderer.render(portrait, audio, 22050, face_box=(16, 16, 48, 48), inference_steps=2))
    assert len(frames) == 25
    assert frames[0].shape == (64, 64, 3) and frames[0].dtype == np.uint8
    assert np.std(np.stack(frames).astype(np.float32)) > 1.0

    # same seed -> same video; a fixed initial noise reproduces it too
    samples = (rng.standard_normal(16000) * 0.1).astype(np.float32)
    settings = RenderSettings(inference_steps=2, frames_per_window=4, seed=5)
    a = np.stack(list(generate(tiny_models, portrait, None, samples, settings)))
    b = np.stack(list(generate(tiny_models, portrait, None, samples, settings)))
    assert np.array_equal(a, b)
    other = np.stack(list(generate(tiny_models, portrait, None, samples, RenderSettings(inference_steps=2, seed=6))))
    assert not np.array_equal(a, other)

    # RIFE off: every generated frame shown twice; on: the same frames with new ones in between
    plain = np.stack(list(generate(tiny_models, portrait, None, samples,
                                   RenderSettings(inference_steps=2, frames_per_window=4, seed=5, interpolate=False))))
    assert len(plain) == len(a) == 25
    assert np.array_equal(plain[0:24:2], plain[1:24:2])
    assert np.array_equal(a[0:24:2], plain[0:24:2])
    assert not np.array_equal(a[1:23:2], plain[1:23:2])


def tiny_unet_inputs(dtype: torch.dtype = torch.float32, frames: int = 4, image_branches_equal: bool = False):
    """One UNet call's inputs for the tiny configuration: 3 guidance branches x `frames` frames,
    independent, or with the last two differing only in their audio tokens (as in the loop)."""
    x = torch.randn(3, frames, 8, 8, 8, dtype=dtype)
    clip, audio = torch.randn(3 * frames, 1, 64, dtype=dtype), torch.randn(3 * frames, 32, 64, dtype=dtype)
    if image_branches_equal:
        x[2], clip[2 * frames :] = x[1], clip[frames : 2 * frames]
    ids, t = torch.tensor([[12.5, 30.0, 20.0]] * 3, dtype=dtype), torch.tensor(1.0, dtype=dtype)
    mask = torch.zeros(1, 1, 64, 64, dtype=dtype)
    mask[..., 16:48, 16:48] = 1
    return x, t, clip, audio, ids, mask


def test_compiled_unet_regions_have_no_graph_breaks_and_compute_the_same():
    """torch.compile per block (eager backend here: dynamo's tracing, no code generation on CI),
    with the speed rewrites in place: channels-last weights, the fused GEGLU and audio-attention
    custom ops and GroupNorm by channel statistics (which only compiled code takes: float64, so the eager and compiled
    sums agree to rounding)."""
    from sonic.gpu.acceleration import compile_unet_regions, to_channels_last
    from sonic.gpu.group_norm import use_channel_stats_group_norm
    from sonic.gpu.kernels import use_fused_geglu
    from sonic.gpu.unet import build_unet, fuse_self_attention, tiny_unet_config, use_fused_audio_attention

    torch.manual_seed(0)
    unet = build_unet(tiny_unet_config()).eval().double()
    fuse_self_attention(unet)
    assert to_channels_last(unet) > 0 and use_fused_geglu(unet) == 48     # 16 transformers x 3 feed-forwards
    assert use_fused_audio_attention(unet) == 32                           # a spatial and a temporal one in each
    assert use_channel_stats_group_norm(unet, min_positions=0) > 0
    x, t, clip, audio, ids, mask = tiny_unet_inputs(torch.float64)
    loop_inputs = tiny_unet_inputs(torch.float64, image_branches_equal=True)
    with torch.no_grad():
        expected = unet(x, t, clip, audio, ids, mask)
        loop_expected = unet(*loop_inputs)
        # fullgraph=True turns any graph break (e.g. a host sync such as .item()) into an error
        assert compile_unet_regions(unet, mode=None, backend="eager", fullgraph=True) == 38
        got = unet(x, t, clip, audio, ids, mask)
        again = unet(x * 0.5, t * 2, clip, audio, ids, mask)
        shared = unet(*loop_inputs, last_branch_differs_only_in_audio=True)    # as the loop calls it
    assert ((got - expected).norm() / expected.norm()).item() < 1e-9
    assert ((shared - loop_expected).norm() / loop_expected.norm()).item() < 1e-9
    assert again.shape == expected.shape and not torch.allclose(again, expected)


def test_last_two_branches_share_the_layers_before_the_audio_attention():
    """The diffusion loop's "image + silence" and "image + audio" branches share the input
    convolution, the first ResNet and the first self-attention: computing those once for both
    gives every branch's output unchanged, and the audio still moves the last branch."""
    from sonic.gpu.unet import build_unet, tiny_unet_config

    torch.manual_seed(0)
    unet = build_unet(tiny_unet_config()).eval().double()
    for p in unet.parameters():          # diffusers zero-initialises some layers: make every one count
        p.data.normal_(0, 0.2)
    x, t, clip, audio, ids, mask = tiny_unet_inputs(torch.float64, image_branches_equal=True)
    rows = []
    unet.conv_in.register_forward_hook(lambda module, args, out: rows.append(out.shape[0]))
    with torch.no_grad():
        full = unet(x, t, clip, audio, ids, mask)
        shared = unet(x, t, clip, audio, ids, mask, last_branch_differs_only_in_audio=True)
        with pytest.raises(ValueError, match="at least 2 branches"):
            unet(x[:1], t, clip[:4], audio[:4], ids[:1], mask, last_branch_differs_only_in_audio=True)
    assert rows == [12, 8]                  # 3 x 4 frames in full, 2 x 4 when shared
    assert shared.shape == full.shape == (3, 4, 4, 8, 8)
    assert ((shared - full).norm() / full.norm()).item() < 1e-12
    assert ((full[2] - full[1]).norm() / full[1].norm()).item() > 1e-2    # the audio matters


def test_speed_rewrites_compute_the_same_unet(monkeypatch):
    """Channels-last convolutions and the fused GEGLU and audio-attention paths give the plain UNet's output (float64:
    the tiny random network amplifies float32 rounding ~1e4x through its 1x1-pixel GroupNorms);
    the swapped GroupNorms keep PyTorch's kernel uncompiled (the compiled path: the test above)."""
    import copy

    import sonic.gpu.kernels as kernels
    from sonic.gpu.acceleration import to_channels_last
    from sonic.gpu.group_norm import use_channel_stats_group_norm
    from sonic.gpu.unet import build_unet, tiny_unet_config, use_fused_audio_attention

    torch.manual_seed(0)
    unet = build_unet(tiny_unet_config()).eval().double()
    inputs = tiny_unet_inputs(torch.float64)
    rewritten = copy.deepcopy(unet)
    to_channels_last(rewritten)
    kernels.use_fused_geglu(rewritten)
    use_fused_audio_attention(rewritten)
    assert use_channel_stats_group_norm(rewritten, min_positions=0) == 105    # every GroupNorm of the UNet
    assert rewritten.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    calls = []
    for name in ("geglu_reference", "audio_attention_reference"):     # what the custom ops run on the CPU
        reference = getattr(kernels, name)
        monkeypatch.setattr(kernels, name, lambda *a, name=name, reference=reference: calls.append(name) or reference(*a))
    with torch.no_grad():
        expected = unet(*inputs)
        assert calls == []
        got = rewritten(*inputs)
    # every feed-forward went through the sonic::geglu op, every audio attention through
    # sonic::audio_attention (CPU: their reference math)
    assert calls.count("geglu_reference") == 48 and calls.count("audio_attention_reference") == 32
    assert ((got - expected).norm() / expected.norm()).item() < 1e-9
    # only the widest feature maps (32 channels in the tiny model: 10 transformers x 3 feed-forwards)
    assert kernels.use_fused_geglu(build_unet(tiny_unet_config()), max_width=32) == 30


def test_group_norm_by_channel_statistics_equals_pytorchs_group_norm():
    """The per-channel GroupNorm gives F.group_norm's output in every layout the renderer meets
    (NCHW, NHWC, NDHWC), keeps the layout, and stays exact for activations far from zero mean
    (where a naive E[x^2] - E[x]^2 would cancel)."""
    import torch.nn.functional as F

    from sonic.gpu.group_norm import ChannelStatsGroupNorm, group_norm_by_channel, use_channel_stats_group_norm

    torch.manual_seed(0)
    cases = [((2, 64, 8, 8), torch.contiguous_format), ((3, 64, 8, 8), torch.channels_last),
             ((2, 96, 5, 4, 6), torch.channels_last_3d), ((1, 40, 3, 3), torch.channels_last)]
    for shape, layout in cases:
        for offset in (0.0, 300.0):
            x = (torch.randn(shape, dtype=torch.float64) * 0.5 + offset
                 + torch.randn(shape[:2], dtype=torch.float64).view(*shape[:2], *[1] * (len(shape) - 2)))
            x = x.contiguous(memory_format=layout)
            w, b = torch.randn(shape[1], dtype=torch.float64), torch.randn(shape[1], dtype=torch.float64)
            got = group_norm_by_channel(x, 8, w, b, 1e-6)
            torch.testing.assert_close(got, F.group_norm(x, 8, w, b, 1e-6), rtol=1e-9, atol=1e-9)
            assert got.is_contiguous(memory_format=layout)
    # float32 far from zero mean: as close to float64 as PyTorch's own kernel
    x = torch.randn(2, 64, 16, 16, dtype=torch.float64) + 1000.0
    want = F.group_norm(x, 32, None, None, 1e-5)
    ours = (group_norm_by_channel(x.float(), 32, None, None, 1e-5).double() - want).abs().max().item()
    stock = (F.group_norm(x.float(), 32, None, None, 1e-5).double() - want).abs().max().item()
    assert ours < max(4 * stock, 1e-3), (ours, stock)
    # the module swap keeps parameters and state dict; compiled, maps with enough positions take
    # the per-channel path (8 x 8 = 64 here), smaller ones and uncompiled calls PyTorch's kernel
    block = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 1), torch.nn.GroupNorm(32, 64, eps=1e-6), torch.nn.SiLU())
    x = torch.randn(2, 3, 8, 8)
    expected, keys = block(x), set(block.state_dict())
    assert use_channel_stats_group_norm(block, min_positions=64) == 1 and isinstance(block[1], ChannelStatsGroupNorm)
    assert set(block.state_dict()) == keys
    assert torch.equal(block(x), expected)

    def traced_ops(inputs: torch.Tensor) -> tuple[torch.Tensor, set[str]]:
        ops: set[str] = set()

        def record(graph_module, example_inputs):
            ops.update(str(node.target) for node in graph_module.graph.nodes if node.op == "call_function")
            return graph_module.forward

        torch._dynamo.reset()
        return torch.compile(block, backend=record, fullgraph=True)(inputs), ops

    got, ops = traced_ops(x)
    assert any("var_mean" in op for op in ops) and not any("group_norm" in op for op in ops)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    _, ops = traced_ops(torch.randn(2, 3, 4, 4))
    assert any("group_norm" in op for op in ops)


def test_fused_geglu_kernel_matches_pytorch_in_the_triton_interpreter():
    """The Triton GEGLU kernel itself, run on the CPU by Triton's interpreter: edges that are not
    multiples of the tile (tensor descriptors pad reads and drop writes), bias or none, 3-D input."""
    import textwrap

    script = textwrap.dedent("""
        import torch
        from sonic.gpu.kernels import geglu_reference, geglu_triton
        torch.manual_seed(0)
        cases = [(100, 64, 48, True, torch.float32), (64, 96, 64, False, torch.float32),
                 (33, 40, 20, True, torch.float32), (70, 32, 96, True, torch.float32),
                 (300, 64, 48, True, torch.float32),     # more tile rows than one group of 4
                 (130, 64, 80, True, torch.float16)]     # the renderer's precision
        for m, k, n, bias, dtype in cases:
            x = torch.randn(m, k).to(dtype)
            w = (torch.randn(2 * n, k) / k ** 0.5).to(dtype)
            b = torch.randn(2 * n).to(dtype) if bias else None
            got = geglu_triton(x, w, b).float()
            want = geglu_reference(x.float(), w.float(), b.float() if bias else None)
            assert got.shape == want.shape == (m, n), (got.shape, want.shape)
            err = ((got - want).norm() / want.norm()).item()
            assert err < (1e-5 if dtype == torch.float32 else 2e-3), (m, k, n, bias, dtype, err)
        # a bias that is a strided view (every other element of a longer tensor)
        x, w, b = torch.randn(40, 32), torch.randn(64, 32), torch.randn(128)[::2]
        assert torch.allclose(geglu_triton(x, w, b), geglu_reference(x, w, b), atol=1e-4)
        x = torch.randn(2, 5, 32)
        w = torch.randn(40, 32)
        assert torch.allclose(geglu_triton(x, w, None), geglu_reference(x, w, None), atol=1e-4)
    """)
    run_in_triton_interpreter(script)


def run_in_triton_interpreter(script: str) -> None:
    """Run `script` in a fresh Python with TRITON_INTERPRET=1 (read when triton is imported), so the
    Triton kernels execute on the CPU; it must finish without an exception."""
    import subprocess
    import sys

    script += "\nprint('ok')\n"
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]


def test_fused_audio_attention_kernel_matches_pytorch_in_the_triton_interpreter():
    """The Triton audio-attention kernel, run on the CPU by Triton's interpreter, against SDPA +
    mask + scale + CLIP: key counts below the tile (5) and the model's (32), rows that are not a
    multiple of the tile, a face mask or none, strided queries, keys and values sliced from one
    tensor, Sonic's own head layout (5 x 64), fp32 and the renderer's fp16; and the shapes it
    leaves to the reference (a broadcast CLIP row, a head width of 12)."""
    import textwrap

    script = textwrap.dedent("""
        import torch
        from sonic.gpu.kernels import audio_attention_reference, audio_attention_supported, audio_attention_triton
        torch.manual_seed(0)
        cases = [(3, 70, 5, 2, 16, True, 1.0, torch.float32), (2, 33, 32, 4, 16, False, 0.7, torch.float32),
                 (4, 64, 32, 2, 32, True, 1.3, torch.float32), (2, 50, 32, 2, 32, True, 1.0, torch.float16),
                 (2, 40, 32, 5, 64, True, 1.0, torch.float16)]      # level 0 of the full-size UNet
        for groups, length, keys, heads, dim, masked, scale, dtype in cases:
            c = heads * dim
            q = torch.randn(groups, length, c).to(dtype)
            k, v = torch.randn(groups, keys, 2 * c).to(dtype).chunk(2, dim=-1)    # strided views
            clip = torch.randn(groups, 1, c).to(dtype)
            mask = (torch.rand(1, length, 1) > 0.4).to(dtype) if masked else None
            assert audio_attention_supported(q, k, v, clip, mask, heads)
            got = audio_attention_triton(q, k, v, clip, mask, scale, heads).float()
            want = audio_attention_reference(*(t.float() if t is not None else None for t in (q, k, v, clip, mask)),
                                             scale, heads)
            assert got.shape == want.shape == (groups, length, c)
            err = ((got - want).norm() / want.norm()).item()
            assert err < (1e-5 if dtype == torch.float32 else 2e-3), (groups, length, keys, heads, dim, dtype, err)
        # queries that are a strided view (every other row of a longer tensor)
        q = torch.randn(2, 80, 32)[:, ::2]
        k, v, clip = torch.randn(2, 32, 32), torch.randn(2, 32, 32), torch.randn(2, 1, 32)
        assert torch.allclose(audio_attention_triton(q, k, v, clip, None, 1.0, 2),
                              audio_attention_reference(q, k, v, clip, None, 1.0, 2), atol=1e-5)
        assert not audio_attention_supported(q, k, v, clip[:1], None, 2)          # one CLIP row for all groups
        q12 = torch.randn(2, 4, 24)
        assert not audio_attention_supported(q12, k[..., :24], v[..., :24], clip[..., :24], None, 2)   # head width 12
    """)
    run_in_triton_interpreter(script)


def test_render_stage_with_sonic_and_no_weights_fails_with_the_doctors_message(tmp_path, portrait_path):
    """Asking for Sonic without weights fails the job with instructions; no silent CPU fallback."""
    from factory.service import JobService
    from factory.settings import Settings

    service = JobService(Settings.load(data_dir=tmp_path / "d", publish_dir=tmp_path / "p"))
    job = service.follow(service.submit(image=portrait_path, script="Hello.", params={"renderer": "sonic"}, check=False).id)
    assert job.status == "failed"
    assert "Sonic GPU renderer" in job.error and "FACTORY_SONIC_MODEL_DIR" in job.error


def test_stage_adapter_renders_the_crop_size_and_exact_frame_count(tiny_models, tmp_path, portrait_path):
    """The render stage's adapter: any crop size in, same size out, round(seconds × 25) frames."""
    from factory.media import load_image, write_wav
    from sonic.gpu.renderer import SonicRenderer, StageRenderer
    from sonic.params import RenderParams

    audio = tmp_path / "a.wav"
    write_wav(audio, (np.random.default_rng(1).standard_normal(8820) * 0.1).astype(np.float32), 22050)  # 0.4 s
    crop = load_image(portrait_path)[60:160, 160:260]  # 100×100: not a multiple of 64
    adapter = StageRenderer(SonicRenderer(None, device="cpu", models=tiny_models))
    told = []
    frames = list(adapter.render(crop, audio, None, RenderParams(inference_steps=10),
                                 lambda fraction, note: told.append((fraction, note))))
    assert len(frames) == 10
    assert all(f.shape == (100, 100, 3) and f.dtype == np.uint8 for f in frames)
    # progress during the diffusion steps (before any frame exists), then a report for the job
    assert [note for _, note in told] == [f"diffusion step {i}/10" for i in range(1, 11)]
    assert [f for f, _ in told] == sorted(f for f, _ in told) and told[-1][0] == 1.0
    report = adapter.last_report
    assert report["size"] == 128 and 0 < report["seconds_to_first_frame"] <= report["seconds"]

    # 0.43 s: Sonic makes floor(10.75) = 10 frames, the video needs round(10.75) = 11
    write_wav(audio, (np.random.default_rng(2).standard_normal(9482) * 0.1).astype(np.float32), 22050)
    frames = list(adapter.render(crop, audio, None, RenderParams(inference_steps=2)))
    assert len(frames) == 11 and np.array_equal(frames[-1], frames[-2])


def test_stage_adapter_masks_the_crop_centre_when_the_face_is_not_found_again(tiny_models, tmp_path, monkeypatch):
    """The stage cut the crop around a face; if detection misses it on the resized crop, the audio
    mask is the centre square that face occupies (not the whole image: another compiled path)."""
    from factory.media import write_wav
    from sonic.gpu.renderer import SonicRenderer, StageRenderer
    from sonic.params import RenderParams

    audio = tmp_path / "a.wav"
    write_wav(audio, np.zeros(4410, np.float32), 22050)
    adapter = StageRenderer(SonicRenderer(None, device="cpu", models=tiny_models))
    boxes = []
    original = adapter.sonic.render
    monkeypatch.setattr(adapter.sonic, "render", lambda *a, **k: boxes.append(k["face_box"]) or original(*a, **k))
    frames = list(adapter.render(np.full((128, 128, 3), 90, np.uint8), audio, None,
                                 RenderParams(inference_steps=1, expand_ratio=0.15)))
    assert len(frames) == 5
    half = 128 / 1.3 / 2
    np.testing.assert_allclose(boxes[0], (64 - half, 64 - half, 64 + half, 64 + half))


def test_compiled_kernels_are_cached_beside_the_data(monkeypatch, tmp_path):
    """A restarted render worker finds torch.compile's kernels in the data folder, not in /tmp."""
    from factory.settings import Settings
    from factory.stages import StageError
    from sonic.gpu.renderer import create_renderer

    for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):   # set, then unset: monkeypatch restores both
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FACTORY_SONIC_MODEL_DIR", raising=False)
    with pytest.raises(StageError, match="FACTORY_SONIC_MODEL_DIR"):
        create_renderer(Settings.load())
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "compile-cache")
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "compile-cache" / "triton")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/elsewhere")       # an operator's choice stays
    with pytest.raises(StageError):
        create_renderer(Settings.load())
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/elsewhere"


def test_acceleration_settings_compile_on_cuda_by_default_never_on_the_cpu_and_switch_graphs(monkeypatch):
    from factory.settings import Settings
    from sonic.gpu.acceleration import Acceleration, set_attention_backend

    monkeypatch.delenv("FACTORY_SONIC_COMPILE", raising=False)
    assert Acceleration.from_settings(Settings.load(), "cpu").compile_mode is None
    assert Acceleration.from_settings(Settings.load(), "cuda").compile_mode == "default"
    monkeypatch.setenv("FACTORY_SONIC_COMPILE", "off")
    assert Acceleration.from_settings(Settings.load(), "cuda").compile_mode is None
    monkeypatch.setenv("FACTORY_SONIC_COMPILE", "max-autotune-no-cudagraphs")
    assert Acceleration.from_settings(Settings.load(), "cuda").compile_mode == "max-autotune-no-cudagraphs"
    assert Acceleration.from_settings(Settings.load(), "cuda").cuda_graphs
    monkeypatch.setenv("FACTORY_SONIC_CUDA_GRAPHS", "false")
    assert not Acceleration.from_settings(Settings.load(), "cuda").cuda_graphs
    with pytest.raises(ValueError, match="unknown attention backend"):
        set_attention_backend("fastest")


def test_compiled_decoder_is_not_recompiled_for_each_clip_length():
    """Clips of 10 and 13 generated frames decode as 8 + 2 and 8 + 5: the full chunks reuse one
    compiled graph and the short last chunk runs eagerly, so a new clip length never triggers a
    compile (minutes on a GPU) inside a job. Frames equal the uncompiled decoder's."""
    from torch._dynamo.utils import counters

    from sonic.gpu.acceleration import compile_vae_decoder_regions
    from sonic.gpu.models import random_models
    from sonic.gpu.pipeline import RenderSettings, decode

    models = random_models(tiny=True, device="cpu", dtype=torch.float32, interpolator=False)
    settings = RenderSettings()
    latents = torch.randn(13, 4, 8, 8)
    with torch.no_grad():
        expected = [torch.cat(list(decode(models, latents[:n], settings))) for n in (10, 13)]
        torch._dynamo.reset()
        counters.clear()
        assert compile_vae_decoder_regions(models.vae, mode=None, backend="eager") == 14
        first = torch.cat(list(decode(models, latents[:10], settings)))
        graphs = counters["stats"]["unique_graphs"]
        second = torch.cat(list(decode(models, latents[:13], settings)))
    assert graphs > 0 and counters["stats"]["unique_graphs"] == graphs
    assert first.shape[0] == 10 and second.shape[0] == 13
    torch.testing.assert_close(first, expected[0])
    torch.testing.assert_close(second, expected[1])
    torch._dynamo.reset()


def test_vae_decoder_rewrites_decode_the_same_frames():
    """The VAE decoder's speed rewrites (channels-last convolutions, GroupNorm by channel
    statistics, which only compiled code takes) decode the frames the plain decoder does
    (float64: the two GroupNorm sums agree to rounding)."""
    from types import SimpleNamespace

    from sonic.gpu.acceleration import Acceleration, compile_vae_decoder_regions, rewrite_vae_decoder
    from sonic.gpu.group_norm import ChannelStatsGroupNorm
    from sonic.gpu.models import random_models

    vae = random_models(tiny=True, device="cpu", dtype=torch.float64, interpolator=False).vae
    latents = torch.randn(8, 4, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        expected = vae.decode(latents, num_frames=8).sample
        # the rewrites are CUDA-only (no gain on the CPU): a CUDA-labelled holder applies them here
        rewrite_vae_decoder(SimpleNamespace(device=torch.device("cuda"), vae=vae), Acceleration())
        norms = [m for m in vae.decoder.modules() if isinstance(m, ChannelStatsGroupNorm)]
        assert norms and all(m.min_positions == 1024 for m in norms)
        convs = [m for m in vae.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
        assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
        for m in norms:
            m.min_positions = 0          # tiny feature maps: take the per-channel path everywhere
        torch._dynamo.reset()
        compile_vae_decoder_regions(vae, mode=None, backend="eager")
        got = vae.decode(latents, num_frames=8).sample
    torch._dynamo.reset()
    assert got.shape == expected.shape
    assert ((got - expected).norm() / expected.norm()).item() < 1e-9


def test_sonic_worker_warm_up_renders_each_configured_size_before_any_job(tiny_models, monkeypatch):
    """`render` stage warm-up (run by a worker's stage process before its first message): Sonic
    renders a short silent clip at each `sonic_warmup_sizes` size (that is what compiles on a GPU)."""
    from factory.settings import Settings
    from sonic.gpu.renderer import SonicRenderer, StageRenderer, parse_sizes

    assert parse_sizes("") == [] and parse_sizes("1024") == [1024] and parse_sizes("512, 1000,512") == [512, 1024]
    for bad in ("large", "0", "512,-5"):
        with pytest.raises(ValueError, match="sonic_warmup_sizes"):
            parse_sizes(bad)
    renderer = StageRenderer(SonicRenderer(None, device="cpu", models=tiny_models))
    calls = []
    original = renderer.sonic.render
    monkeypatch.setattr(renderer.sonic, "render", lambda portrait, *a, **k: calls.append((portrait.shape, k)) or original(portrait, *a, **k))
    monkeypatch.setenv("FACTORY_SONIC_WARMUP_SIZES", "64,128")
    seconds = renderer.warm_up(Settings.load())
    assert sorted(seconds) == [64, 128] and all(s > 0 for s in seconds.values())
    assert [shape for shape, _ in calls] == [(64, 64, 3), (128, 128, 3)]
    assert all(k["face_box"] is not None for _, k in calls)      # the masked path a job takes


def test_frames_come_out_while_the_rest_of_the_clip_is_still_to_be_decoded(tiny_models, monkeypatch):
    """A long video is never held whole: its first frames reach the caller (the encoder) after the
    VAE has decoded one chunk of 8 frames, not the whole clip; the rest follow chunk by chunk."""
    from sonic.gpu.pipeline import RenderSettings, generate

    decoded = []
    original = tiny_models.vae.decode
    monkeypatch.setattr(tiny_models.vae, "decode", lambda latents, **k: decoded.append(len(latents)) or original(latents, **k))
    rng = np.random.default_rng(3)
    portrait = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    samples = (rng.standard_normal(32_000) * 0.1).astype(np.float32)     # 2 s: 25 generated frames
    # one chunk of 8 frames per decoder call, as at 512 px and above (at 64 px the decoder would take 64)
    settings = RenderSettings(inference_steps=1, frames_per_window=4, decode_chunks_per_call=0, interpolate=False)
    frames = generate(tiny_models, portrait, None, samples, settings)
    first = next(frames)
    assert first.shape == (64, 64, 3) and decoded == [8]
    rest = list(frames)
    assert 1 + len(rest) == 50 and decoded == [8, 8, 8, 1]


def test_audio_conditioning_of_a_long_clip_in_batches_equals_one_batch(tiny_models, monkeypatch):
    """Long videos run the audio networks batch by batch (bounded memory): same tokens and motion
    buckets as one batch, and each frame's window is the official one (4 zero rows before the
    whisper features, 6 after; 24 and 26 for the bucket window)."""
    import sonic.gpu.pipeline as pipeline

    samples = (np.random.default_rng(4).standard_normal(48_000) * 0.1).astype(np.float32)    # 3 s: 37 frames
    embed = torch.randn(1, tiny_models.unet.config.cross_attention_dim)
    with torch.no_grad():
        tokens, silent, buckets, frames_25 = pipeline.audio_conditioning(tiny_models, samples, embed)
        monkeypatch.setattr(pipeline, "AUDIO_FRAMES_PER_BATCH", 8)
        in_batches = pipeline.audio_conditioning(tiny_models, samples, embed)
        layers, last, _ = pipeline.audio_features(tiny_models, samples)
        padded = torch.cat([torch.zeros(4, *layers.shape[1:]), layers, torch.zeros(6, *layers.shape[1:])])
        padded_last = torch.cat([torch.zeros(24, *last.shape[1:]), last, torch.zeros(26, *last.shape[1:])])
        k = tokens.shape[0] - 1                       # the last frame: its windows reach into the end padding
        last_tokens = tiny_models.audio_to_tokens(padded[4 * k : 4 * k + 10][None])
        last_bucket = tiny_models.audio_to_bucket(padded_last[4 * k : 4 * k + 50][None], embed) * 16 + 16
    assert tokens.shape[0] == 37 and frames_25 == 75
    for whole, batched in zip((tokens, silent, buckets), in_batches[:3]):
        torch.testing.assert_close(batched, whole)
    torch.testing.assert_close(tokens[k], last_tokens[0])
    torch.testing.assert_close(buckets[k], last_bucket[0])
