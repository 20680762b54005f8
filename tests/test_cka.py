"""Tests of seelike.cka: estimator identities, invariances, the streaming engine's precision and errors."""

import itertools
import math
import warnings

import pytest
import torch

from seelike import cka


def _correlated(n: int, p: int, q: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two float64 representations of n examples sharing a low-rank signal."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 5, generator=g, dtype=torch.float64)
    x = base @ torch.randn(5, p, generator=g, dtype=torch.float64) + torch.randn(
        n, p, generator=g, dtype=torch.float64
    )
    y = torch.tanh(base @ torch.randn(5, q, generator=g, dtype=torch.float64))
    y = y + 0.5 * torch.randn(n, q, generator=g, dtype=torch.float64)
    return x, y


def _random_orthogonal(d: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64)).Q


def _hsic_u_statistic(K: torch.Tensor, L: torch.Tensor) -> float:
    """HSIC₁ straight from its U-statistic definition: the mean over ordered 4-tuples of distinct indices of
    k_ij l_ij + k_ij l_qr − 2 k_ij l_iq (Song et al. 2012, Theorem 2)."""
    n = K.shape[0]
    total, count = 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += K[i, j] * L[i, j] + K[i, j] * L[q, r] - 2 * K[i, j] * L[i, q]
        count += 1
    return float(total / count)


def _reference_minibatch_cka(xs, ys, batch_size):
    """Float64 per-pair reference of the minibatch estimator: Song's formula for every pair and minibatch.
    Features are centred in float64 first (HSIC₁ is exactly invariant to it), so that the reference itself
    does not suffer the cancellation that a +30 offset causes."""
    n = xs[0].shape[0]
    hxy = torch.zeros(len(xs), len(ys), dtype=torch.float64)
    hxx = torch.zeros(len(xs), dtype=torch.float64)
    hyy = torch.zeros(len(ys), dtype=torch.float64)

    def grams(layers, s):
        out = []
        for a in layers:
            a = a[s : s + batch_size].reshape(len(a[s : s + batch_size]), -1).double()
            a = a - a.mean(0)
            out.append(a @ a.T)
        return out

    for s in range(0, n, batch_size):
        gx, gy = grams(xs, s), grams(ys, s)
        for i, K in enumerate(gx):
            hxx[i] += cka.hsic_unbiased(K, K)
            for j, L in enumerate(gy):
                hxy[i, j] += cka.hsic_unbiased(K, L)
        for j, L in enumerate(gy):
            hyy[j] += cka.hsic_unbiased(L, L)
    return hxy / torch.sqrt(torch.outer(hxx, hyy))


# --------------------------------------------------------------------------------------------- HSIC


def test_hsic_unbiased_equals_u_statistic_definition():
    x, y = _correlated(7, 4, 3)
    K, L = x @ x.T, y @ y.T
    assert cka.hsic_unbiased(K, L).item() == pytest.approx(_hsic_u_statistic(K, L), rel=1e-12)


def test_u_centred_inner_product_equals_song_formula():
    x, y = _correlated(30, 20, 10)
    K, L = x @ x.T, y @ y.T
    n = 30
    via_u = (cka.u_centre(K) * cka.u_centre(L)).sum() / (n * (n - 3))
    assert via_u.item() == pytest.approx(cka.hsic_unbiased(K, L).item(), rel=1e-12)


def test_hsic_unbiased_invariant_to_feature_shift_and_symmetric_rank_two_changes():
    # Why centring features before the float32 Gram is free: HSIC₁ ignores K ↦ K + a1ᵀ + 1aᵀ + c + D.
    x, y = _correlated(40, 25, 15)
    K, L = x @ x.T, y @ y.T
    reference = cka.hsic_unbiased(K, L).item()
    shifted = x + 10 * torch.randn(1, 25, dtype=torch.float64)
    assert cka.hsic_unbiased(shifted @ shifted.T, L).item() == pytest.approx(reference, rel=1e-10)
    a = torch.randn(40, 1, dtype=torch.float64)
    changed = K + a + a.T + 3.0 + torch.diag(torch.randn(40, dtype=torch.float64))
    assert cka.hsic_unbiased(changed, L).item() == pytest.approx(reference, rel=1e-10)
    # ...but not to an asymmetric change a1ᵀ + 1bᵀ (it is not of the form a feature shift produces).
    b = 50 * torch.randn(40, 1, dtype=torch.float64)
    assert abs(cka.hsic_unbiased(K + 50 * a + b.T, L).item() - reference) > 1e-2 * abs(reference)


def test_u_centre_annihilates_shift_terms_exactly():
    a = torch.randn(12, 1, dtype=torch.float64)
    assert cka.u_centre(a + a.T + 2.5).abs().max().item() < 1e-12
    assert torch.equal(cka.u_centre(torch.full((9, 9), 0.3)), torch.zeros(9, 9, dtype=torch.float64))


def test_hsic_biased_matches_gretton_sum_form():
    x, y = _correlated(15, 6, 4)
    K, L = x @ x.T, y @ y.T
    n = 15
    sum_form = (K * L).sum() / n**2 + K.sum() * L.sum() / n**4 - 2 * (K.sum(1) * L.sum(1)).sum() / n**3
    assert cka.hsic_biased(K, L).item() == pytest.approx((sum_form * n**2 / (n - 1) ** 2).item(), rel=1e-12)


# --------------------------------------------------------------------------------------------- full-data CKA


@pytest.mark.parametrize("unbiased", [True, False])
def test_linear_cka_self_is_one_and_symmetric(unbiased):
    x, y = _correlated(50, 30, 20)
    assert cka.linear_cka(x, x, unbiased=unbiased) == pytest.approx(1.0, abs=1e-12)
    assert cka.linear_cka(x, y, unbiased=unbiased) == pytest.approx(cka.linear_cka(y, x, unbiased=unbiased))


def test_linear_cka_biased_equals_feature_space_formula():
    # Kornblith et al. (2019) eq. 5: ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on centred features, never forming a Gram.
    x, y = _correlated(60, 12, 9)
    xc, yc = x - x.mean(0), y - y.mean(0)
    feature_space = (yc.T @ xc).norm() ** 2 / ((xc.T @ xc).norm() * (yc.T @ yc).norm())
    assert cka.linear_cka(x, y, unbiased=False) == pytest.approx(feature_space.item(), rel=1e-12)


@pytest.mark.parametrize("unbiased", [True, False])
def test_linear_cka_invariances(unbiased):
    x, y = _correlated(80, 16, 10)
    base = cka.linear_cka(x, y, unbiased=unbiased)
    rotated = x @ _random_orthogonal(16)
    assert cka.linear_cka(rotated, y, unbiased=unbiased) == pytest.approx(base, rel=1e-10)
    assert cka.linear_cka(7.5 * x, 1e-3 * y, unbiased=unbiased) == pytest.approx(base, rel=1e-10)
    assert cka.linear_cka(x + 30.0, y, unbiased=unbiased) == pytest.approx(base, rel=1e-10)
    # A general invertible map (anisotropic scaling) changes CKA.
    stretch = torch.diag(torch.logspace(-2, 2, 16, dtype=torch.float64))
    assert abs(cka.linear_cka(x @ stretch, y, unbiased=unbiased) - base) > 1e-2


def test_linear_cka_accepts_any_trailing_shape():
    x, y = _correlated(20, 48, 12)
    assert cka.linear_cka(x.reshape(20, 3, 4, 4), y) == pytest.approx(cka.linear_cka(x, y))


def test_rbf_cka_properties():
    x, y = _correlated(60, 10, 8)
    assert cka.rbf_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    base = cka.rbf_cka(x, y)
    assert cka.rbf_cka(y, x) == pytest.approx(base, rel=1e-12)
    assert cka.rbf_cka(x @ _random_orthogonal(10), 3.0 * y) == pytest.approx(base, rel=1e-9)
    # Very wide kernels: exp(−d²/2σ²) ≈ 1 − d²/2σ², whose centred Gram is the linear one (Kornblith §6.1).
    assert cka.rbf_cka(x, y, sigma_frac=1e3) == pytest.approx(cka.linear_cka(x, y, unbiased=False), abs=1e-5)
    assert cka.rbf_cka(x, y, unbiased=True) != pytest.approx(base, abs=1e-6)


# --------------------------------------------------------------------------------------------- engine


def test_centred_gram_matches_float64_and_is_symmetric():
    x = torch.randn(150, 3000) + 30.0
    gram = cka.centred_gram(x)
    x64 = x.double() - x.double().mean(0)
    exact = x64 @ x64.T
    assert torch.equal(gram, gram.T)
    # Up to the centring reference (a constant shift), it is the Gram of centred features.
    assert cka.hsic_unbiased(gram, gram).item() == pytest.approx(
        cka.hsic_unbiased(exact, exact).item(), rel=1e-5
    )


@pytest.mark.parametrize(("chunk", "rows"), [(2**20, 64), (2**22, 128), (3000, 7), (50_000, 1000)])
def test_centred_gram_is_the_same_for_every_cpu_layout(monkeypatch, chunk, rows):
    # Chunk width and row blocks (picked per thread count, `_gram_layout`) change the rounding only.
    x = torch.randn(100, 2500, dtype=torch.float64) + 30.0
    monkeypatch.setattr(cka, "GRAM_CHUNK_ELEMENTS", chunk)
    monkeypatch.setattr(cka, "GRAM_BLOCK_ROWS", rows)
    assert cka._gram_layout(1) == cka._gram_layout(4) == (chunk, rows)
    gram = cka.centred_gram(x.float())
    x64 = x - x.mean(0)
    assert torch.equal(gram, gram.T)
    assert cka.hsic_unbiased(gram, gram).item() == pytest.approx(
        cka.hsic_unbiased(x64 @ x64.T, x64 @ x64.T).item(), rel=1e-5
    )


def test_gram_layout_by_thread_count():
    assert cka._gram_layout(1) == (2**20, 64)
    assert cka._gram_layout(2) == (2**22, 128)


def test_centred_gram_of_constant_features_is_exactly_zero():
    x = torch.full((64, 500), 0.1) + torch.linspace(-3, 3, 500)
    assert torch.equal(cka.centred_gram(x), torch.zeros(64, 64))


@pytest.mark.parametrize(("offset", "scale"), [(0.0, 1.0), (30.0, 1.0), (0.0, 1e-3), (30.0, 1e-3)])
def test_minibatch_cka_matches_float64_reference(offset, scale):
    n = 256
    base = torch.randn(n, 6, dtype=torch.float64)
    xs = [
        base @ torch.randn(6, 4000, dtype=torch.float64) + torch.randn(n, 4000, dtype=torch.float64),
        torch.relu(base @ torch.randn(6, 2500, dtype=torch.float64)).reshape(n, 10, 250),
        torch.randn(n, 300, dtype=torch.float64),
    ]
    ys = [
        torch.tanh(base[:, :3] @ torch.randn(3, 3500, dtype=torch.float64)) + 0.3 * torch.randn(n, 3500),
        base @ torch.randn(6, 64, dtype=torch.float64),
    ]
    xs = [(a * scale + offset).float() for a in xs]
    ys = [(a * scale + offset).float() for a in ys]
    engine = cka.MinibatchCKA(3, 2)
    for s in range(0, n, 64):
        engine.update([a[s : s + 64] for a in xs], [a[s : s + 64] for a in ys])
    result = engine.compute()
    reference = _reference_minibatch_cka(xs, ys, 64)
    assert result.dtype == torch.float64 and result.shape == (3, 2)
    assert (result - reference).abs().max().item() <= 1e-6


def test_minibatch_cka_single_batch_equals_linear_cka_and_self_matrix_is_symmetric():
    x, y = _correlated(100, 40, 30)
    z = torch.randn(100, 2, 5, 5, dtype=torch.float64)
    engine = cka.MinibatchCKA(3)
    engine.update([x.float(), y.float(), z.float()])
    matrix = engine.compute()
    assert torch.equal(matrix, matrix.T)
    assert torch.allclose(matrix.diagonal(), torch.ones(3, dtype=torch.float64), atol=1e-12)
    assert matrix[0, 1].item() == pytest.approx(cka.linear_cka(x, y), abs=1e-6)
    exact = cka.MinibatchCKA(3)
    exact.update([x, y, z])  # float64 input stays float64
    assert exact.compute()[0, 1].item() == pytest.approx(cka.linear_cka(x, y), abs=1e-12)


def test_minibatch_cka_is_not_an_average_of_per_batch_cka():
    x, y = _correlated(120, 20, 10)
    engine = cka.MinibatchCKA(1, 1)
    per_batch = []
    for s in range(0, 120, 40):
        xb, yb = x[s : s + 40] * (1 + s), y[s : s + 40]  # batches of very different scale
        engine.update([xb], [yb])
        per_batch.append(cka.linear_cka(xb, yb))
    hsic = lambda a, b: cka.hsic_unbiased(a @ a.T, b @ b.T).item()  # noqa: E731
    pairs = [(x[s : s + 40] * (1 + s), y[s : s + 40]) for s in range(0, 120, 40)]
    summed = sum(hsic(a, b) for a, b in pairs) / math.sqrt(
        sum(hsic(a, a) for a, _ in pairs) * sum(hsic(b, b) for _, b in pairs)
    )
    assert engine.compute().item() == pytest.approx(summed, abs=1e-6)
    assert abs(engine.compute().item() - sum(per_batch) / 3) > 1e-3


def test_resume_from_state_dict_gives_the_same_result(tmp_path):
    xs = [torch.randn(96, 50), torch.randn(96, 4, 8)]
    ys = [torch.randn(96, 30) + xs[0][:, :30]]
    full = cka.MinibatchCKA(2, 1, names_x=["a", "b"], names_y=["c"])
    for s in range(0, 96, 32):
        full.update([a[s : s + 32] for a in xs], [a[s : s + 32] for a in ys])
    first = cka.MinibatchCKA(2, 1, names_x=["a", "b"], names_y=["c"])
    first.update([a[:32] for a in xs], [a[:32] for a in ys])
    torch.save(first.state_dict(), tmp_path / "state.pt")
    resumed = cka.MinibatchCKA(2, 1)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt"))
    for s in range(32, 96, 32):
        resumed.update([a[s : s + 32] for a in xs], [a[s : s + 32] for a in ys])
    assert torch.equal(resumed.compute(), full.compute())
    assert (resumed.n_batches, resumed.n_examples, resumed.names_x) == (3, 96, ["a", "b"])
    with pytest.raises(ValueError, match="layer pairs"):
        cka.MinibatchCKA(3, 1).load_state_dict(first.state_dict())


def test_merge_equals_one_engine():
    xs = [torch.randn(64, 20), torch.randn(64, 7)]
    one, a, b = cka.MinibatchCKA(2), cka.MinibatchCKA(2), cka.MinibatchCKA(2)
    for s in range(0, 64, 16):
        one.update([t[s : s + 16] for t in xs])
        (a if s < 32 else b).update([t[s : s + 16] for t in xs])
    a.merge(b)
    assert torch.allclose(a.compute(), one.compute(), rtol=0, atol=1e-14)


def test_layer_by_layer_in_any_order_equals_update():
    g = torch.Generator().manual_seed(5)
    xs = [torch.randn(48, 30, generator=g), torch.randn(48, 2, 9, generator=g)]
    ys = [xs[0][:, :10] + torch.randn(48, 10, generator=g), torch.randn(48, 7, generator=g)]
    whole = cka.MinibatchCKA(2, 2)
    by_layer = cka.MinibatchCKA(2, 2, names_x=["a", "b"], names_y=["c", "d"])
    for s in range(0, 48, 16):
        whole.update([t[s : s + 16] for t in xs], [t[s : s + 16] for t in ys])
        for side, index, layers in (("y", 1, ys), ("x", 1, xs), ("y", 0, ys), ("x", 0, xs)):
            by_layer.add_layer(index, layers[index][s : s + 16], side=side)
        by_layer.finish_minibatch()
    assert torch.equal(by_layer.compute(), whole.compute())
    # A minibatch with a layer missing is refused and forgotten; the engine goes on.
    by_layer.add_layer(0, xs[0][:16])
    with pytest.raises(RuntimeError, match=r"\['b', 'c', 'd'\] gave no activations"):
        by_layer.finish_minibatch()
    with pytest.raises(RuntimeError, match="before any add_layer"):
        by_layer.finish_minibatch()
    by_layer.add_layer(0, xs[0][:16])
    with pytest.raises(ValueError, match="'b'.*same examples"):
        by_layer.add_layer(1, xs[1][:15])
    assert by_layer.n_batches == 3
    with pytest.raises(ValueError, match="side must be 'x', got 'y'"):
        cka.MinibatchCKA(2).add_layer(0, xs[0], side="y")
    with pytest.raises(IndexError, match="out of range"):
        by_layer.add_layer(2, xs[0])
    with pytest.raises(ValueError, match="compares X with itself"):
        cka.MinibatchCKA(2).update(xs, ys)


def test_engine_reuses_its_buffers_and_takes_unequal_minibatches():
    # After the first minibatch nothing large is allocated per minibatch (no heap churn: memory stays flat
    # in N); a smaller last minibatch uses a view of the same buffers and still gives the exact sums.
    g = torch.Generator().manual_seed(6)
    xs = [torch.randn(124, 3000, generator=g) + 5, torch.randn(124, 40, generator=g)]
    ys = [xs[0][:, :500] ** 2]
    engine = cka.MinibatchCKA(2, 1)
    engine.update([t[:64] for t in xs], [t[:64] for t in ys])
    pointers = {key: b.data_ptr() for key, b in engine._workspace._buffers.items()}
    engine.update([t[64:] for t in xs], [t[64:] for t in ys])  # 60 examples
    assert {key: b.data_ptr() for key, b in engine._workspace._buffers.items()} == pointers
    first, second = cka.MinibatchCKA(2, 1), cka.MinibatchCKA(2, 1)
    first.update([t[:64] for t in xs], [t[:64] for t in ys])
    second.update([t[64:] for t in xs], [t[64:] for t in ys])
    first.merge(second)
    assert torch.allclose(engine.compute(), first.compute(), rtol=0, atol=1e-14)


# --------------------------------------------------------------------------------------------- bad input


def test_errors_for_bad_input():
    engine = cka.MinibatchCKA(2, 1, names_x=["good", "bad"], names_y=["y"])
    good, y = torch.randn(16, 5), torch.randn(16, 3)
    with pytest.raises(ValueError, match="same examples"):
        engine.update([good, torch.randn(15, 5)], [y])
    with pytest.raises(ValueError, match="same examples"):
        engine.update([good, good], [torch.randn(12, 3)])
    with pytest.raises(ValueError, match="at least 4"):
        engine.update([good[:3], good[:3]], [y[:3]])
    nan = good.clone()
    nan[2, 1] = math.nan
    with pytest.raises(ValueError, match="'bad'.*NaN or inf"):
        engine.update([good, nan], [y])
    inf = good.clone()
    inf[0, 0] = math.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        engine.update([good, inf], [y])
    with pytest.raises(ValueError, match="overflows"):
        engine.update([good, good * 1e30], [y])
    with pytest.raises(ValueError, match="expected 2 layers"):
        engine.update([good], [y])
    with pytest.raises(TypeError, match="sequence"):
        engine.update(good, [y])
    with pytest.raises(RuntimeError, match="before any update"):
        engine.compute()
    assert engine.n_batches == 0
    with pytest.raises(ValueError, match="at least 4"):
        cka.linear_cka(torch.randn(3, 5), torch.randn(3, 5))
    with pytest.raises(ValueError, match="same examples"):
        cka.linear_cka(torch.randn(8, 5), torch.randn(9, 5))
    with pytest.raises(ValueError, match="NaN or inf"):
        cka.linear_cka(torch.full((8, 5), math.nan), torch.randn(8, 5))


def test_constant_layer_gives_nan_row_with_named_warning():
    engine = cka.MinibatchCKA(2, 2, names_x=["live", "dead.layer"], names_y=["p", "q"])
    for _ in range(2):
        x = torch.randn(32, 10)
        engine.update(
            [x, torch.full((32, 4, 4), 0.7)], [x[:, :5] + 0.1 * torch.randn(32, 5), torch.randn(32, 3)]
        )
    with pytest.warns(UserWarning, match="dead.layer"):
        matrix = engine.compute()
    assert torch.isnan(matrix[1]).all() and torch.isfinite(matrix[0]).all()
    with pytest.warns(UserWarning, match="constant"):
        assert math.isnan(cka.linear_cka(torch.ones(10, 3), torch.randn(10, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cka.MinibatchCKA(1).update([torch.randn(8, 3)])  # no warning for ordinary input


def test_precision_survives_an_outlying_first_example():
    # Centring on the minibatch mean (not on one example) keeps the +30 cancellation away even when one
    # example is 20 times further from the mean than the others.
    g = torch.Generator().manual_seed(3)
    n = 128
    base = torch.randn(n, 8, generator=g, dtype=torch.float64)
    x = base @ torch.randn(8, 20000, generator=g, dtype=torch.float64) / 3 + torch.randn(
        n, 20000, generator=g
    )
    y = torch.relu(base[:, :4] @ torch.randn(4, 15000, generator=g, dtype=torch.float64)) + torch.randn(
        n, 15000
    )
    x[0] *= 20
    y[0] *= 20
    xs, ys = [(x + 30).float()], [(y + 30).float()]
    engine = cka.MinibatchCKA(1, 1)
    engine.update(xs, ys)
    assert abs(engine.compute().item() - _reference_minibatch_cka(xs, ys, n).item()) <= 1e-6
