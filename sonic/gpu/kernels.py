"""Fused GPU kernels for the Sonic UNet (Triton), each beside the plain-PyTorch math it replaces.

1. GEGLU feed-forward (`hidden, gate = x @ W + b; hidden * gelu(gate)`). Why a hand-written
kernel: it is memory-bound at the UNet's first level (320 channels x 75 frames x 4,096 positions):
the projection writes a 2 x 1,280-wide fp16 result, an elementwise kernel reads it back and writes
half of it again. `torch.compile` cannot fuse an activation into cuBLAS's matrix product. The
kernel here computes both halves of each output tile in registers and writes only
`hidden * gelu(gate)`, so the wide intermediate never goes through memory; same arithmetic in fp32
(persistent, tiles moved by TMA descriptors; the weight's hidden and gate rows are interleaved so
that one matrix product of Hopper's full instruction width makes both). On the wider levels the
step is less memory-bound and cuBLAS's faster matrix product makes up for the extra traffic (the
kernel gains little or loses there), so the renderer uses it at level 0 only
(`use_fused_geglu(max_width=320)`), where it is faster at every image size
(bench/bench_sonic_kernels.py; numbers in bench/RESULTS.md).

2. Audio attention: every position's attention to the 32 audio tokens of its frame (or video),
times the face mask and the adapter scale, plus the CLIP attention output. With 32 keys the
arithmetic is small and the step is bound by reading the queries and writing the result; SDPA
also needs the heads split out and merged back (a transpose each way) and an elementwise pass for
mask, scale and CLIP. The kernel reads each query row once in the model's own (rows, heads x 64)
layout, holds the 32 keys and values of its head in registers, and writes the finished sum once.
Its error against fp32 is the same as SDPA's. It is faster than the compiled SDPA path on the
benchmarked shapes except one small one (temporal, level 1, at 512 px; not understood), and a whole
compiled UNet call gets a little faster (bench/bench_sonic_kernels.py --attention; numbers in
bench/RESULTS.md).

Each kernel is a registered custom op (`sonic::geglu`, `sonic::audio_attention`) so
`torch.compile` treats it as one opaque call inside the compiled blocks (no graph break); on the
CPU, or where Triton is missing, it runs its reference math. Tests run the Triton kernels on the
CPU through Triton's interpreter (TRITON_INTERPRET=1); the benchmark checks them against the
reference on the GPU.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

import torch
import torch.nn.functional as F


def geglu_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """diffusers' GEGLU: project to 2N features, split, `hidden * gelu(gate)` (exact erf GELU)."""
    hidden, gate = F.linear(x, weight, bias).chunk(2, dim=-1)
    return hidden * F.gelu(gate)


@functools.cache
def _geglu_kernel():
    """The Triton kernel, built on first use (triton is imported only where it runs)."""
    import triton
    import triton.language as tl

    @triton.jit
    def geglu_kernel(x_ptr, w_ptr, b_ptr, out_ptr, M, N, K,
                     HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, PROGRAMS: tl.constexpr):
        # tensor descriptors: tiles move by TMA on Hopper; reads past an edge give zeros and
        # writes past it are dropped, so no masks
        x_desc = tl.make_tensor_descriptor(x_ptr, shape=[M, K], strides=[K, 1], block_shape=[BLOCK_M, BLOCK_K])
        # W is (2N, K) with hidden and gate rows interleaved (row 2j: hidden j, row 2j + 1: gate j),
        # so one product of width 2 * BLOCK_N gives both halves of an output tile (Hopper's matrix
        # instruction is most efficient at its full width of 256)
        w_desc = tl.make_tensor_descriptor(w_ptr, shape=[2 * N, K], strides=[K, 1], block_shape=[2 * BLOCK_N, BLOCK_K])
        out_desc = tl.make_tensor_descriptor(out_ptr, shape=[M, N], strides=[N, 1], block_shape=[BLOCK_M, BLOCK_N])
        tiles_m = tl.cdiv(M, BLOCK_M)
        tiles_n = tl.cdiv(N, BLOCK_N)
        per_group = GROUP_M * tiles_n
        # persistent: one program per SM walks the output tiles, in groups of GROUP_M tile rows so
        # programs running together share weight tiles in L2
        for tile in tl.range(tl.program_id(0), tiles_m * tiles_n, PROGRAMS, flatten=True):
            first_m = (tile // per_group) * GROUP_M
            group_rows = min(tiles_m - first_m, GROUP_M)
            off_m = (first_m + (tile % per_group) % group_rows) * BLOCK_M
            off_n = ((tile % per_group) // group_rows) * BLOCK_N
            both = tl.zeros((BLOCK_M, 2 * BLOCK_N), dtype=tl.float32)
            for k in range(0, K, BLOCK_K):
                both = tl.dot(x_desc.load([off_m, k]), w_desc.load([2 * off_n, k]).T, both)
            if HAS_BIAS:
                cols = 2 * off_n + tl.arange(0, 2 * BLOCK_N)
                both += tl.load(b_ptr + cols, mask=cols < 2 * N, other=0.0).to(tl.float32)[None, :]
            # the interleaved columns pair up in each thread's registers: no data moves here
            hidden, gate = tl.split(tl.reshape(both, (BLOCK_M, BLOCK_N, 2)))
            out = hidden * (0.5 * gate * (1.0 + tl.math.erf(gate * 0.7071067811865476)))
            out_desc.store([off_m, off_n], out.to(out_desc.dtype))

    return geglu_kernel


# (BLOCK_M, BLOCK_N output columns, BLOCK_K, warps, pipeline stages): the candidates the
# autotuner times. A weight tile is 2 * BLOCK_N rows, so BLOCK_N <= 128 (a TMA block has at
# most 256 rows), and the fp32 accumulator is BLOCK_M x 2 * BLOCK_N: 128 x 256 needs 8 warps.
TILE_CONFIGS = (
    (128, 128, 64, 8, 3), (128, 128, 64, 8, 4), (128, 128, 32, 8, 4), (128, 64, 64, 4, 4),
    (128, 64, 64, 8, 4), (64, 128, 64, 4, 4), (256, 64, 64, 8, 3),
)


@functools.cache
def _tuned_geglu_kernel():
    """The kernel with tile sizes picked per shape by timing (once per shape, on the GPU)."""
    import triton

    configs = [
        triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8}, num_warps=w, num_stages=s)
        for bm, bn, bk, w, s in TILE_CONFIGS
    ]
    return triton.autotune(configs=configs, key=["M", "N", "K"])(_geglu_kernel())


def tma_compatible(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Tensor descriptors need rows whose byte length is a multiple of 16 (K and N) and a 16-byte
    aligned start (checked for the input again after it is made contiguous)."""
    return (x.shape[-1] * x.element_size() % 16 == 0 and weight.shape[0] // 2 * x.element_size() % 16 == 0
            and weight.data_ptr() % 16 == 0)


def geglu_triton(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`geglu_reference` in one Triton kernel. x: (..., K); weight: (2N, K); bias: (2N,) or None."""
    import triton

    k = x.shape[-1]
    n = weight.shape[0] // 2
    x2 = x.reshape(-1, k).contiguous()
    if x2.data_ptr() % 16:             # a view starting mid-row: descriptors need 16-byte aligned starts
        x2 = x2.clone()
    # hidden and gate rows interleaved, as the kernel reads them (a copy of 2N x K: microseconds)
    weight = weight.reshape(2, n, k).transpose(0, 1).reshape(2 * n, k)
    bias = bias.reshape(2, n).t().reshape(2 * n) if bias is not None else None
    m = x2.shape[0]
    out = torch.empty((m, n), device=x.device, dtype=x.dtype)
    # Triton builds the tensor descriptors in scratch memory it asks for through this hook
    triton.set_allocator(lambda size, alignment, stream: torch.empty(size, dtype=torch.int8, device=x.device))
    args = (x2, weight, bias if bias is not None else weight, out, m, n, k)
    if interpreted(x):                 # one small tile size
        programs = 4
        _geglu_kernel()[(programs,)](*args, HAS_BIAS=bias is not None, BLOCK_M=32, BLOCK_N=32, BLOCK_K=32,
                                      GROUP_M=4, PROGRAMS=programs)
    else:
        programs = torch.cuda.get_device_properties(x.device).multi_processor_count

        def grid(meta):
            return (min(programs, triton.cdiv(m, meta["BLOCK_M"]) * triton.cdiv(n, meta["BLOCK_N"])),)

        with torch.cuda.device(x.device):     # Triton launches on the current device
            _tuned_geglu_kernel()[grid](*args, HAS_BIAS=bias is not None, PROGRAMS=programs)
    return out.reshape(*x.shape[:-1], n)


def interpreted(x: torch.Tensor) -> bool:
    """Whether a kernel launch on `x` runs in Triton's interpreter (the CPU tests) rather than on a GPU."""
    return os.environ.get("TRITON_INTERPRET") == "1" or not x.is_cuda


@functools.cache
def triton_available(tensor_descriptors: bool = False) -> bool:
    """Triton importable; with `tensor_descriptors`, also with the tensor descriptors and scratch
    allocator the GEGLU kernel uses (3.4+: torch builds before 2.8 bring older Triton, and then
    PyTorch's GEGLU runs)."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return False
    return not tensor_descriptors or (hasattr(tl, "make_tensor_descriptor") and hasattr(triton, "set_allocator"))


@functools.cache
def has_tma(device_index: int) -> bool:
    """TMA tensor descriptors (the kernel's tile loads) need Hopper (compute capability 9) or newer;
    older cards, e.g. 24 GB consumer cards, run the PyTorch reference instead."""
    return torch.cuda.get_device_capability(device_index)[0] >= 9


# Optional[...] rather than `X | None`: custom_op reads these annotations to build the op's schema
@torch.library.custom_op("sonic::geglu", mutates_args=())
def geglu(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """GEGLU projection + activation: the Triton kernel on CUDA in half precision, the PyTorch
    reference elsewhere (fp32 too: Triton's fp32 products round through TF32)."""
    if (x.is_cuda and x.dtype in (torch.float16, torch.bfloat16) and triton_available(tensor_descriptors=True)
            and has_tma(x.device.index or 0) and tma_compatible(x, weight)):
        return geglu_triton(x, weight, bias)
    return geglu_reference(x, weight, bias)


@geglu.register_fake
def _(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    return x.new_empty(*x.shape[:-1], weight.shape[0] // 2)


def feed_forward(ff: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """diffusers' FeedForward (GEGLU -> dropout -> linear) with the fused GEGLU when the module was
    marked by `use_fused_geglu`; otherwise the module itself."""
    if not getattr(ff, "fused_geglu", False):
        return ff(x)
    proj = ff.net[0].proj
    return ff.net[2](geglu(x, proj.weight, proj.bias))   # net[1] is dropout: identity at inference


def use_fused_geglu(model: torch.nn.Module, enabled: bool = True, max_width: int | None = None) -> int:
    """Mark the GEGLU FeedForwards of `model` to use the fused kernel; returns how many.

    max_width: only those with at most this many input features (e.g. 320: the UNet's first
    level, where the kernel beats cuBLAS + compiled GELU at every image size;
    bench/bench_sonic_kernels.py)."""
    from diffusers.models.activations import GEGLU
    from diffusers.models.attention import FeedForward

    count = 0
    for module in model.modules():
        if isinstance(module, FeedForward) and isinstance(module.net[0], GEGLU):   # exact-erf GEGLU
            if max_width is not None and module.net[0].proj.in_features > max_width:
                continue
            module.fused_geglu = enabled
            count += 1
    return count


# --- audio attention --------------------------------------------------------------------------


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, heads x D) -> (B, heads, N, D), a view."""
    b, n, c = x.shape
    return x.view(b, n, heads, c // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, N, D) -> (B, N, heads x D)."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def audio_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, clip: torch.Tensor,
                              mask: torch.Tensor | None, scale: float, heads: int) -> torch.Tensor:
    """`softmax(q k^T / sqrt(D)) v` per head, times `mask` (per query row) and `scale`, plus `clip`.

    q: (G, L, C) queries; k, v: (G, T, C) audio keys and values of each group; clip: (G, 1, C), the
    CLIP attention output of each group; mask: L values (any shape holding L, e.g. (1, L, 1)) or
    None. Returns (G, L, C)."""
    out = merge_heads(F.scaled_dot_product_attention(split_heads(q, heads), split_heads(k, heads), split_heads(v, heads)))
    if mask is not None:
        out = out * mask.reshape(1, -1, 1)
    if scale != 1.0:
        out = out * scale
    return (out + clip).to(q.dtype)


@functools.cache
def _audio_attention_kernel():
    """The Triton kernel, built on first use (triton is imported only where it runs)."""
    import triton
    import triton.language as tl

    @triton.jit
    def audio_attention_kernel(q_ptr, k_ptr, v_ptr, clip_ptr, mask_ptr, out_ptr, L, T, heads,
                               stride_qg, stride_ql, stride_kg, stride_kt, stride_vg, stride_vt, stride_cg,
                               stride_og, stride_ol, scale, softmax_scale,
                               HAS_MASK: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_M: tl.constexpr):
        # one program: BLOCK_M query rows of one group and one head, against all T keys at once;
        # programs next to each other take the heads of the same rows (the rows' bytes are then
        # read by programs running together)
        head_tiles = heads * tl.cdiv(L, BLOCK_M)
        g = (tl.program_id(0) // head_tiles).to(tl.int64)    # int64 offsets: exact past 2**31 elements too
        tile = tl.program_id(0) % head_tiles
        h = tile % heads
        rows = (tile // heads) * BLOCK_M + tl.arange(0, BLOCK_M)
        cols = h * D + tl.arange(0, D)
        keys = tl.arange(0, BLOCK_T)
        row_ok, key_ok = rows < L, keys < T
        q = tl.load(q_ptr + g * stride_qg + rows[:, None].to(tl.int64) * stride_ql + cols[None, :],
                    mask=row_ok[:, None], other=0.0)
        k = tl.load(k_ptr + g * stride_kg + keys[:, None] * stride_kt + cols[None, :], mask=key_ok[:, None], other=0.0)
        v = tl.load(v_ptr + g * stride_vg + keys[:, None] * stride_vt + cols[None, :], mask=key_ok[:, None], other=0.0)
        # the softmax in fp32, in base 2 (exp2 is the GPU's native exponential)
        s = tl.dot(q, tl.trans(k)) * (softmax_scale * 1.4426950408889634)
        s = tl.where(key_ok[None, :], s, float("-inf"))
        p = tl.math.exp2(s - tl.max(s, axis=1)[:, None])
        out = tl.dot(p.to(v.dtype), v) * (scale / tl.sum(p, axis=1))[:, None]
        if HAS_MASK:
            out *= tl.load(mask_ptr + rows, mask=row_ok, other=0.0).to(tl.float32)[:, None]
        out += tl.load(clip_ptr + g * stride_cg + cols).to(tl.float32)[None, :]
        tl.store(out_ptr + g * stride_og + rows[:, None].to(tl.int64) * stride_ol + cols[None, :],
                 out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None])

    return audio_attention_kernel


@functools.cache
def _tuned_audio_attention_kernel():
    """The kernel with the rows per program picked per shape by timing (once per shape, on the GPU)."""
    import triton

    configs = [triton.Config({"BLOCK_M": m}, num_warps=w) for m, w in ((64, 4), (128, 4), (128, 8), (256, 8))]
    return triton.autotune(configs=configs, key=["L", "T", "heads", "D"])(_audio_attention_kernel())


def audio_attention_supported(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, clip: torch.Tensor,
                              mask: torch.Tensor | None, heads: int) -> bool:
    """The kernel's limits: a head width that is a power of two from 16 (its matrix products), at
    most 128 keys (all held in registers; Sonic has 32), and every shape exactly as documented
    (the reference would broadcast a group or key dimension of 1; the kernel does not)."""
    groups, length, channels = q.shape
    d = channels // heads
    return (d >= 16 and d & (d - 1) == 0 and channels == heads * d and k.shape[1] <= 128
            and k.shape == v.shape == (groups, k.shape[1], channels) and clip.shape == (groups, 1, channels)
            and (mask is None or mask.numel() == length))


def audio_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, clip: torch.Tensor,
                           mask: torch.Tensor | None, scale: float, heads: int) -> torch.Tensor:
    """`audio_attention_reference` in one Triton kernel (same arguments, shapes as
    `audio_attention_supported` requires; on a GPU for half precision: fp32 products would round
    through TF32)."""
    import triton

    groups, length, channels = q.shape
    keys = k.shape[1]
    q, k, v, clip = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v, clip))
    mask = mask.reshape(length).contiguous() if mask is not None else None
    out = torch.empty_like(q, memory_format=torch.contiguous_format)
    args = (q, k, v, clip, mask if mask is not None else q, out, length, keys, heads,
            q.stride(0), q.stride(1), k.stride(0), k.stride(1), v.stride(0), v.stride(1), clip.stride(0),
            out.stride(0), out.stride(1), float(scale), (channels // heads) ** -0.5)
    meta = dict(HAS_MASK=mask is not None, D=channels // heads, BLOCK_T=max(16, triton.next_power_of_2(keys)))
    if interpreted(q):                 # one small tile size
        _audio_attention_kernel()[(groups * heads * triton.cdiv(length, 32),)](*args, **meta, BLOCK_M=32)
    else:
        def grid(config):
            return (groups * heads * triton.cdiv(length, config["BLOCK_M"]),)

        with torch.cuda.device(q.device):
            _tuned_audio_attention_kernel()[grid](*args, **meta)
    return out


@torch.library.custom_op("sonic::audio_attention", mutates_args=())
def audio_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, clip: torch.Tensor,
                    mask: Optional[torch.Tensor], scale: float, heads: int) -> torch.Tensor:
    """`audio_attention_reference`: the Triton kernel on CUDA in half precision, the reference
    elsewhere."""
    if (q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and triton_available()
            and audio_attention_supported(q, k, v, clip, mask, heads)):
        return audio_attention_triton(q, k, v, clip, mask, scale, heads)
    # contiguous, as the kernel's result and the fake below: compiled code relies on that layout
    return audio_attention_reference(q, k, v, clip, mask, scale, heads).contiguous()


@audio_attention.register_fake
def _(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, clip: torch.Tensor,
      mask: Optional[torch.Tensor], scale: float, heads: int) -> torch.Tensor:
    return torch.empty_like(q, memory_format=torch.contiguous_format)
