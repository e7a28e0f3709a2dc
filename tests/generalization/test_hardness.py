"""Shamir's gradient-variance bound: exact orthonormality of the cosines on the torus grid,
Parseval with a complete basis, per-example gradients against autograd, and the bound
Var <= Q / M."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.generalization import (
    cosine_family,
    gradient_variance,
    half_space_frequencies,
    loss_gradients,
    per_example_gradients,
    torus_grid,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _model(d: int, width: int, seed: int) -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(d, width), torch.nn.Tanh(),
                                torch.nn.Linear(width, 1)).to(F64)
    g = _gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    return model


def test_torus_grid():
    x = torus_grid(4, 2)
    assert x.shape == (16, 2)
    torch.testing.assert_close(x[:4], torch.tensor([[0, 0], [0, 0.25], [0, 0.5], [0, 0.75]],
                                                   dtype=F64))


def test_half_space_frequencies_order_and_symmetry():
    b = half_space_frequencies(4, 2)
    assert b.tolist() == [[0, 1], [1, 0], [1, -1], [1, 1]]
    b = half_space_frequencies(200, 3)
    assert len({tuple(v) for v in b.tolist()}) == 200
    assert not ({tuple(v) for v in b.tolist()} & {tuple(v) for v in (-b).tolist()})
    norms = (b * b).sum(1)
    assert bool((norms[1:] >= norms[:-1]).all()) and int(norms[0]) == 1


def test_half_space_frequencies_in_a_box():
    b = half_space_frequencies(12, 2, max_abs=2)         # (5^2 - 1) / 2 = 12 in the box
    assert int(b.abs().max()) == 2
    with pytest.raises(ValueError, match="count"):
        half_space_frequencies(13, 2, max_abs=2)


@pytest.mark.parametrize(("k", "d"), [(8, 1), (16, 2), (6, 3)])
def test_cosines_are_orthonormal_on_the_grid(k, d):
    x = torus_grid(k, d)
    b = half_space_frequencies(((k - 1) // 2 * 2 + 1) ** d // 2, d, max_abs=(k - 1) // 2)
    h = cosine_family(x, b)
    torch.testing.assert_close(h.T @ h / x.shape[0], torch.eye(b.shape[0], dtype=F64),
                               atol=1e-12, rtol=0)


def test_cosines_are_orthonormal_on_the_torus():
    # a Monte Carlo check of the continuum statement: uniform x on [0, 1)^2
    x = torch.rand(200_000, 2, generator=_gen(1), dtype=F64)
    h = cosine_family(x, half_space_frequencies(6, 2))
    torch.testing.assert_close(h.T @ h / x.shape[0], torch.eye(6, dtype=F64), atol=0.02, rtol=0)


def test_per_example_gradients_match_autograd():
    model = _model(2, 5, 2)
    x = torch.rand(7, 2, generator=_gen(3), dtype=F64)
    out, grads = per_example_gradients(model, x)
    for i in range(7):
        model.zero_grad()
        y = model(x[i:i + 1]).sum()
        y.backward()
        flat = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(grads[i], flat)
        torch.testing.assert_close(out[i], y.detach())


def test_loss_gradient_matches_autograd():
    model = _model(2, 4, 4)
    x = torus_grid(8, 2)
    h = cosine_family(x, half_space_frequencies(3, 2))
    out, grads = per_example_gradients(model, x)
    lg = loss_gradients(out, grads, h)
    for k in range(3):
        model.zero_grad()
        (0.5 * ((model(x).reshape(-1) - h[:, k]) ** 2).mean()).backward()
        flat = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        torch.testing.assert_close(lg[k], flat)


def test_parseval_with_the_complete_basis():
    # K = 5, d = 1: {1, sqrt2 cos 2 pi b x, sqrt2 sin 2 pi b x : b = 1, 2} is an orthonormal basis
    # of functions on the grid, so sum_e |<e, grad p>|^2 = Q exactly (Bessel becomes Parseval)
    x = torus_grid(5, 1)
    b = half_space_frequencies(2, 1)
    cos = cosine_family(x, b)
    sin = math.sqrt(2.0) * torch.sin(2 * math.pi * x @ b.to(F64).T)
    basis = torch.cat([torch.ones(5, 1, dtype=F64), cos, sin], dim=1)
    _, grads = per_example_gradients(_model(1, 3, 5), x)
    coeffs = basis.T @ grads / 5
    q = (grads * grads).sum(1).mean()
    torch.testing.assert_close((coeffs * coeffs).sum(), q)


def test_gradient_variance_definition():
    g = torch.tensor([[1.0, 0.0], [3.0, 2.0]], dtype=F64)        # mean (2, 1), deviations 2
    assert gradient_variance(g) == pytest.approx(2.0)
    assert gradient_variance(g[[0, 0, 0]]) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_variance_is_at_most_q_over_m(seed):
    model = _model(2, 6, seed)
    x = torus_grid(16, 2)
    out, grads = per_example_gradients(model, x)
    q = float((grads * grads).sum(1).mean())
    h = cosine_family(x, half_space_frequencies(112, 2, max_abs=7))
    for m in (1, 7, 30, 112):
        assert gradient_variance(loss_gradients(out, grads, h[:, :m])) <= q / m * (1 + 1e-12)


def test_variance_ignores_the_target_independent_part():
    # Var_h grad F_h depends on the targets only: shifting the model outputs changes nothing
    model = _model(2, 4, 7)
    x = torus_grid(8, 2)
    out, grads = per_example_gradients(model, x)
    h = cosine_family(x, half_space_frequencies(10, 2))
    v1 = gradient_variance(loss_gradients(out, grads, h))
    v2 = gradient_variance(loss_gradients(out + 3.0, grads, h))
    assert v1 == pytest.approx(v2, rel=1e-10)


@pytest.mark.parametrize(("call", "name"), [
    (lambda: torus_grid(0, 2), "resolution"),
    (lambda: torus_grid(4, 0), "dim"),
    (lambda: half_space_frequencies(0, 2), "count"),
    (lambda: half_space_frequencies(3, 2, max_abs=0), "max_abs"),
    (lambda: cosine_family(torch.rand(3, 2, dtype=F64), torch.ones(2, 2, dtype=F64)),
     "frequencies"),
    (lambda: cosine_family(torch.rand(3, 2, dtype=F64), torch.ones(2, 3, dtype=torch.int64)),
     "frequencies"),
    (lambda: per_example_gradients(lambda x: x, torch.rand(3, 2, dtype=F64)), "model"),
    (lambda: loss_gradients(torch.rand(3, dtype=F64), torch.rand(3, 4, dtype=F64),
                            torch.rand(2, 5, dtype=F64)), "targets"),
    (lambda: gradient_variance(torch.rand(3, dtype=F64)), "loss_grads"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(("changes", "field"), [
    ({"family_sizes": (16, 64, 4096)}, "family_sizes"),
    ({"family_sizes": (64, 16, 256)}, "family_sizes"),
    ({"dim": 3, "resolution": 128}, "resolution"),
    ({"weight_scale": 0.0}, "weight_scale"),
])
def test_config_rejects_bad_values(changes, field):
    import dataclasses

    from mathdl.generalization.experiments_extra import GradientHardnessConfig
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(GradientHardnessConfig(), **changes)
