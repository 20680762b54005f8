"""Triton kernel: mean attention distance straight from Q and K, without the T×T attention matrix.

Flash-attention style: one program owns a block of BLOCK_M spatial queries of one (image, head); it walks
over the keys in blocks of BLOCK_N, computes the scores with `tl.dot`, keeps a running maximum `m`, a
running softmax denominator `l` and a running numerator `acc = Σ exp(s - m) · distance`, rescaling both
whenever the maximum grows (online softmax). The distance between query and key patch centres is computed
in the kernel from the token indices, so only q, k and the (B, H, grid²) output ever touch memory:
O(B·H·T) instead of O(B·H·T²).

On a machine without a GPU the kernel runs under Triton's interpreter (`TRITON_INTERPRET=1`, set before
this module is imported) — slow, float32 only, but exact enough to test against the torch reference.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .reference import check_qk


@triton.jit
def _mean_distance_kernel(
    q_ptr, k_ptr, out_ptr,
    stride_qb, stride_qh, stride_qt, stride_qd,
    stride_kb, stride_kh, stride_kt, stride_kd,
    stride_ob, stride_oh, stride_op,
    num_heads, num_tokens, num_prefix, grid_size, head_dim,
    scale, patch_size,
    RENORMALIZE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    block_m = tl.program_id(0)
    batch_head = tl.program_id(1)
    b = batch_head // num_heads
    h = batch_head % num_heads
    n_patches = grid_size * grid_size

    offs_m = block_m * BLOCK_M + tl.arange(0, BLOCK_M)  # spatial query index (patch index)
    offs_d = tl.arange(0, BLOCK_D)
    valid_m = offs_m < n_patches
    q_rows = q_ptr + b * stride_qb + h * stride_qh + (num_prefix + offs_m)[:, None] * stride_qt
    q = tl.load(
        q_rows + offs_d[None, :] * stride_qd, mask=valid_m[:, None] & (offs_d[None, :] < head_dim), other=0.0
    ).to(tl.float32)  # half-precision inputs are upcast: scores in full float32 (no TF32)
    q_row = (offs_m // grid_size).to(tl.float32)
    q_col = (offs_m % grid_size).to(tl.float32)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M], dtype=tl.float32)

    # With renormalisation the softmax runs over spatial keys only; without it prefix keys join the
    # denominator at distance 0. Every key block starts at a valid key, so no row of a block is all -inf.
    first_key = num_prefix if RENORMALIZE else 0
    for start_n in range(first_key, num_tokens, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        valid_n = offs_n < num_tokens
        k_rows = k_ptr + b * stride_kb + h * stride_kh + offs_n[:, None] * stride_kt
        k = tl.load(
            k_rows + offs_d[None, :] * stride_kd,
            mask=valid_n[:, None] & (offs_d[None, :] < head_dim),
            other=0.0,
        ).to(tl.float32)
        scores = tl.dot(q, tl.trans(k), input_precision="ieee") * scale  # (BLOCK_M, BLOCK_N)
        scores = tl.where(valid_n[None, :], scores, float("-inf"))

        key_patch = offs_n - num_prefix  # negative for prefix keys
        k_row = (key_patch // grid_size).to(tl.float32)
        k_col = (key_patch % grid_size).to(tl.float32)
        d_row = q_row[:, None] - k_row[None, :]
        d_col = q_col[:, None] - k_col[None, :]
        distance = tl.sqrt(d_row * d_row + d_col * d_col) * patch_size
        distance = tl.where((key_patch >= 0)[None, :], distance, 0.0)

        m_new = tl.maximum(m_i, tl.max(scores, axis=1))
        alpha = tl.exp(m_i - m_new)
        p = tl.exp(scores - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = acc * alpha + tl.sum(p * distance, axis=1)
        m_i = m_new

    out = out_ptr + b * stride_ob + h * stride_oh + offs_m * stride_op
    tl.store(out, acc / l_i, mask=valid_m)


def mean_attention_distance_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    patch_size: float,
    grid_size: int,
    num_prefix_tokens: int = 1,
    scale: float | None = None,
    renormalize: bool = True,
    block_m: int = 32,
    block_n: int = 32,
) -> torch.Tensor:
    """Per-query mean attention distance computed by the fused Triton kernel.

    Args:
        q, k: (B, H, T, D) queries and keys on the kernel's device (CUDA, or CPU under TRITON_INTERPRET=1).
        patch_size, grid_size, num_prefix_tokens, scale, renormalize: as in
            `mean_attention_distance_reference`.
        block_m, block_n: query and key tile sizes (powers of two, at least 16 for `tl.dot`).

    Returns:
        (B, H, grid²) float32 per-query distances in pixels.
    """
    batch, heads, tokens, dim = check_qk(q, k, grid_size, num_prefix_tokens, patch_size)
    for name, size in (("block_m", block_m), ("block_n", block_n)):
        if size < 16 or size & (size - 1):
            raise ValueError(f"{name} must be a power of two >= 16, got {size}")
    scale = dim**-0.5 if scale is None else scale
    n_patches = grid_size * grid_size
    out = torch.empty(batch, heads, n_patches, dtype=torch.float32, device=q.device)
    grid = (triton.cdiv(n_patches, block_m), batch * heads)
    _mean_distance_kernel[grid](
        q, k, out,
        *q.stride(), *k.stride(), *out.stride(),
        heads, tokens, num_prefix_tokens, grid_size, dim,
        float(scale), float(patch_size),
        RENORMALIZE=renormalize,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=max(16, triton.next_power_of_2(dim)),
    )  # fmt: skip
    return out
