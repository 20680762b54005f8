"""The fused attention-distance kernel against the chunked torch reference, and the reference against the
probability route.

The Triton kernel runs here on CPU tensors through Triton's interpreter. TRITON_INTERPRET=1 must be set
before the kernel module is imported (Triton decides at `@triton.jit` time) and must not leak into the rest
of the test session (notebook kernels inherit the environment), so the kernel runs in one subprocess with
the variable set; the comparison happens here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from seelike.attention import mean_attention_distance
from seelike.kernels import (
    mean_attention_distance_from_qk,
    mean_attention_distance_reference,
    triton_available,
)

# (batch, heads, grid, prefix tokens, head dim, renormalize, score gain, non-contiguous q/k)
CASES = [
    (2, 3, 5, 1, 16, True, 1.0, False),  # T = 26, CLS
    (1, 2, 7, 1, 32, True, 2.0, False),  # T = 50, the zoo's geometry
    (1, 2, 7, 1, 32, False, 2.0, True),  # same without renormalisation, strided q/k as timm makes them
    (2, 2, 4, 0, 8, True, 1.0, False),  # T = 16, no CLS, head dim below the 16-wide tile
    (1, 2, 9, 0, 16, False, 3.0, False),  # T = 81 (odd), no CLS, several key blocks, peaked softmax
    (1, 1, 6, 2, 24, False, 1.0, False),  # T = 38, two prefix tokens, head dim not a power of two
    (1, 2, 3, 1, 16, True, 1.0, True),  # T = 10 (odd), fewer keys than one tile
    (1, 1, 11, 1, 16, True, 4.0, False),  # T = 122, four key blocks
]


def case_inputs(index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic q, k for CASES[index]; strided cases are slices of a (B, T, 3, H, D) qkv tensor."""
    batch, heads, grid, prefix, dim, _, gain, strided = CASES[index]
    tokens = prefix + grid * grid
    generator = torch.Generator().manual_seed(index)
    if strided:
        qkv = torch.randn(batch, tokens, 3, heads, dim, generator=generator)
        qkv[:, :, 0] *= gain
        qkv = qkv.permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1]
    q = torch.randn(batch, heads, tokens, dim, generator=generator) * gain
    k = torch.randn(batch, heads, tokens, dim, generator=generator)
    return q, k


KERNEL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    assert os.environ.get("TRITON_INTERPRET") == "1"
    import torch
    from seelike.kernels.triton_attention_distance import mean_attention_distance_triton
    sys.path.insert(0, os.path.dirname(sys.argv[1]))
    from test_kernels import CASES, case_inputs
    outputs = []
    for index, (_, _, grid, prefix, _, renormalize, _, _) in enumerate(CASES):
        q, k = case_inputs(index)
        outputs.append(mean_attention_distance_triton(q, k, 4.0, grid, prefix, None, renormalize))
    torch.save(outputs, sys.argv[2])
    """
)


@pytest.fixture(scope="module")
def kernel_outputs(tmp_path_factory) -> list[torch.Tensor]:
    if not triton_available():
        pytest.skip("triton is not installed")
    path = tmp_path_factory.mktemp("kernel") / "outputs.pt"
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run(
        [sys.executable, "-c", KERNEL_SCRIPT, os.path.abspath(__file__), str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_triton_kernel_matches_reference(kernel_outputs, index):
    batch, heads, grid, prefix, _, renormalize, _, _ = CASES[index]
    q, k = case_inputs(index)
    assert q.is_contiguous() != CASES[index][-1]
    expected = mean_attention_distance_reference(q, k, 4.0, grid, prefix, None, renormalize)
    got = kernel_outputs[index]
    assert got.shape == (batch, heads, grid * grid) and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("renormalize", [True, False])
@pytest.mark.parametrize("prefix", [0, 1])
def test_reference_matches_probability_route(prefix, renormalize):
    """Independent formula: softmax the full score matrix, then weight the patch distance matrix."""
    generator = torch.Generator().manual_seed(7)
    q = torch.randn(3, 2, prefix + 25, 8, generator=generator, dtype=torch.float64) * 2
    k = torch.randn(3, 2, prefix + 25, 8, generator=generator, dtype=torch.float64)
    attn = (q @ k.transpose(-2, -1) * 8**-0.5).softmax(-1)
    expected = mean_attention_distance(attn, 3.0, num_prefix_tokens=prefix, renormalize=renormalize)
    per_query = mean_attention_distance_reference(q, k, 3.0, 5, prefix, None, renormalize)
    torch.testing.assert_close(per_query.mean(dim=(0, 2)), expected, rtol=1e-12, atol=1e-12)


def test_reference_does_not_depend_on_chunking():
    q, k = case_inputs(4)
    whole = mean_attention_distance_reference(q, k, 4.0, 9, 0, renormalize=False, max_chunk_elements=1 << 30)
    one_query_at_a_time = mean_attention_distance_reference(
        q, k, 4.0, 9, 0, renormalize=False, max_chunk_elements=1
    )
    seven = mean_attention_distance_reference(
        q, k, 4.0, 9, 0, renormalize=False, max_chunk_elements=7 * 2 * 81
    )
    torch.testing.assert_close(one_query_at_a_time, whole, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(seven, whole, rtol=1e-13, atol=1e-13)


def test_identical_keys_give_uniform_distance():
    """All keys equal → uniform attention → each query's mean distance to every patch (a closed form)."""
    q = torch.randn(1, 1, 1 + 16, 4)
    k = torch.ones(1, 1, 1 + 16, 4)
    per_query = mean_attention_distance_reference(q, k, 2.0, 4, 1)
    rows, cols = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], 1).double() * 2
    torch.testing.assert_close(per_query[0, 0], torch.cdist(centres, centres).mean(1))


def test_dispatch_uses_reference_on_cpu_and_validates():
    q, k = case_inputs(0)
    auto = mean_attention_distance_from_qk(q, k, 4.0, 5, 1)
    assert auto.dtype == torch.float64  # the reference's dtype: no kernel on CPU tensors
    torch.testing.assert_close(auto, mean_attention_distance_reference(q, k, 4.0, 5, 1))
    with pytest.raises(ValueError, match="grid"):
        mean_attention_distance_from_qk(q, k, 4.0, 6, 1)
    with pytest.raises(ValueError, match="shape"):
        mean_attention_distance_from_qk(q, k[:, :1], 4.0, 5, 1)
    with pytest.raises(ValueError, match="NaN"):
        mean_attention_distance_from_qk(q.clone().fill_(float("nan")), k, 4.0, 5, 1)
    with pytest.raises(ValueError, match="backend"):
        mean_attention_distance_from_qk(q, k, 4.0, 5, 1, backend="cuda")
