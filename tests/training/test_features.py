"""The average gradient outer product, the neural feature ansatz correlation and subspace
alignment."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.training import (
    MatrixSimilarity,
    Nonlinearity,
    Scaling,
    TwoLayerNetwork,
    average_gradient_outer_product,
    feature_ansatz_correlation,
    input_gradients,
    psd_matrix_power,
    subspace_alignment,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class _SingleIndex(torch.nn.Module):
    """f(x) = tanh(u.x) + (u.x)^2: depends on x only through u.x."""

    def __init__(self, u: torch.Tensor) -> None:
        super().__init__()
        self.u = torch.nn.Parameter(u.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.u
        return torch.tanh(z) + z**2


class _BalancedLinear(torch.nn.Module):
    """f(x) = a^T W x."""

    def __init__(self, weight: torch.Tensor, output: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight)
        self.output = torch.nn.Parameter(output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T @ self.output


def test_input_gradients_equal_per_sample_autograd_and_the_closed_form():
    g = _gen(0)
    net = TwoLayerNetwork(4, 6, scaling=Scaling.NTK, activation=Nonlinearity.TANH, bias=True,
                          bias_std=1.0, generator=g, dtype=F64)
    x = torch.randn(5, 4, generator=g, dtype=F64)
    grads = input_gradients(net, x)
    # Closed form: grad_x f = c_m W^T (a * tanh'(W x + b)).
    w, b, a = net.weight.detach(), net.bias.detach(), net.output.detach()
    pre = x @ w.T + b
    expected = net.output_scale * (a * (1 - torch.tanh(pre) ** 2)) @ w
    torch.testing.assert_close(grads, expected, rtol=1e-13, atol=1e-15)


def test_agop_of_a_single_index_function_has_rank_one_along_the_index():
    g = _gen(1)
    u = torch.randn(7, generator=g, dtype=F64)
    u = u / u.norm()
    x = torch.randn(50, 7, generator=g, dtype=F64)
    agop = average_gradient_outer_product(_SingleIndex(u), x)
    z = x @ u
    scale = torch.mean((1 - torch.tanh(z) ** 2 + 2 * z) ** 2)  # E[g'(u.x)^2]
    torch.testing.assert_close(agop, scale * torch.outer(u, u), rtol=1e-12, atol=1e-14)
    assert subspace_alignment(agop, u[None]) == pytest.approx(1.0, abs=1e-12)


def test_agop_is_the_mean_of_outer_products_and_psd():
    g = _gen(2)
    net = TwoLayerNetwork(3, 8, activation=Nonlinearity.RELU, generator=g, dtype=F64)
    x = torch.randn(20, 3, generator=g, dtype=F64)
    agop = average_gradient_outer_product(net, x)
    grads = input_gradients(net, x)
    expected = sum(torch.outer(gi, gi) for gi in grads) / 20
    torch.testing.assert_close(agop, expected, rtol=1e-13, atol=1e-15)
    assert float(torch.linalg.eigvalsh(agop).min()) >= -1e-14


def test_feature_ansatz_holds_exactly_with_power_one_half_for_balanced_linear_networks():
    # f = a^T W x with W = a q^T, |q| = 1: balanced (W W^T = a a^T), so AGOP = (W^T W)^2.
    g = _gen(3)
    d, m = 6, 4
    a = torch.randn(m, generator=g, dtype=F64)
    q = torch.randn(d, generator=g, dtype=F64)
    q = q / q.norm()
    weight = torch.outer(a, q)
    torch.testing.assert_close(weight @ weight.T, torch.outer(a, a))
    x = torch.randn(30, d, generator=g, dtype=F64)
    agop = average_gradient_outer_product(_BalancedLinear(weight, a), x)
    torch.testing.assert_close(agop, (weight.T @ weight) @ (weight.T @ weight))
    for similarity in MatrixSimilarity:
        rho = feature_ansatz_correlation(weight, agop, power=0.5, similarity=similarity)
        assert rho == pytest.approx(1.0, abs=1e-12)


def test_feature_ansatz_power_matters_for_a_rank_two_gram():
    # AGOP = (W^T W)^2 with two distinct non-zero eigenvalues: power 1/2 gives correlation 1,
    # power 1 does not (rank one would hide the difference).
    gram = torch.diag(torch.tensor([4.0, 1.0, 0.0, 0.0, 0.0], dtype=F64))
    weight = torch.sqrt(gram)[:2]  # W^T W = diag(4, 1, 0, 0, 0)
    agop = gram @ gram  # diag(16, 1, 0, ...)
    exact = feature_ansatz_correlation(weight, agop, power=0.5)
    off = feature_ansatz_correlation(weight, agop, power=1.0)
    assert exact == pytest.approx(1.0, abs=1e-12)
    assert off < 0.999  # the wrong power is detected
    torch.testing.assert_close(psd_matrix_power(agop, 0.5), gram)


def test_pearson_and_cosine_differ_as_documented():
    # Adding a multiple of the all-ones matrix leaves Pearson unchanged, not cosine.
    g = _gen(4)
    weight = torch.randn(5, 4, generator=g, dtype=F64)
    gram = weight.T @ weight
    ones = torch.ones(4, 4, dtype=F64)
    target = psd_matrix_power(gram + 3.0 * ones, 2.0)  # AGOP^(1/2) = gram + 3 ones
    pearson = feature_ansatz_correlation(weight, target, power=0.5)
    cosine = feature_ansatz_correlation(weight, target, power=0.5,
                                        similarity=MatrixSimilarity.COSINE)
    assert pearson == pytest.approx(1.0, abs=1e-10)
    assert cosine < 0.99


def test_psd_matrix_power_inverts_and_composes():
    g = _gen(5)
    b = torch.randn(6, 6, generator=g, dtype=F64)
    a = b @ b.T
    root = psd_matrix_power(a, 0.5)
    torch.testing.assert_close(root @ root, a, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(psd_matrix_power(a, 1.0), a, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_subspace_alignment_of_the_subspace_itself_is_one_and_orthogonal_is_zero(k):
    g = _gen(6 + k)
    d = 8
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    u = q[:, :k].T
    # W = L diag(s) Q^T: its top-k right singular vectors are the first k columns of Q = span(u)
    left = torch.linalg.qr(torch.randn(10, d, generator=g, dtype=F64))[0]
    s = torch.cat([torch.arange(k, 0, -1, dtype=F64) + 1.0, torch.full((d - k,), 0.1,
                                                                       dtype=F64)])
    weight = left * s @ q.T
    assert subspace_alignment(weight, u) == pytest.approx(1.0, abs=1e-12)
    assert subspace_alignment(weight, q[:, k:2 * k].T) == pytest.approx(0.0, abs=1e-12)
    # a non-orthonormal basis of the same span gives the same answer
    mix = torch.randn(k, k, generator=g, dtype=F64) + 3 * torch.eye(k, dtype=F64)
    assert subspace_alignment(weight, mix @ u) == pytest.approx(1.0, abs=1e-12)


def test_subspace_alignment_at_random_is_about_k_over_d():
    g = _gen(10)
    d, k = 20, 2
    u = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=F64))[0].T
    values = [subspace_alignment(torch.randn(40, d, generator=g, dtype=F64), u)
              for _ in range(400)]
    mean = sum(values) / len(values)
    # mean k/d = 0.1; the standard error of 400 draws is < 0.005
    assert mean == pytest.approx(k / d, abs=0.02)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: input_gradients("net", torch.zeros(2, 3)), "model"),
        (lambda: input_gradients(TwoLayerNetwork(3, 2), torch.zeros(3)), "x"),
        (lambda: average_gradient_outer_product(TwoLayerNetwork(3, 2),
                                                torch.zeros(2, 3, dtype=torch.int64)), "x"),
        (lambda: average_gradient_outer_product(torch.nn.Linear(3, 2), torch.zeros(4, 3)),
         "model"),
        (lambda: psd_matrix_power(torch.zeros(2, 3), 0.5), "a"),
        (lambda: psd_matrix_power(torch.tensor([[1.0, 2.0], [0.0, 1.0]]), 0.5), "a"),
        (lambda: psd_matrix_power(torch.eye(2), 0.0), "power"),
        (lambda: feature_ansatz_correlation(torch.eye(3), torch.eye(2)), "agop"),
        (lambda: feature_ansatz_correlation(torch.eye(3), torch.eye(3), power=-1.0), "power"),
        (lambda: feature_ansatz_correlation(torch.eye(3), torch.eye(3), similarity="pearson"),
         "similarity"),
        (lambda: feature_ansatz_correlation(torch.ones(2, 3), torch.eye(3)), "weight"),
        (lambda: feature_ansatz_correlation(torch.full((3, 3), math.nan), torch.eye(3)),
         "weight"),
        (lambda: subspace_alignment(torch.eye(3), torch.ones(1, 4)), "directions"),
        (lambda: subspace_alignment(torch.eye(3), torch.ones(2, 3)), "directions"),
        (lambda: subspace_alignment(torch.ones(1, 3), torch.eye(3)[:2]), "directions"),
    ],
)
def test_bad_input_gives_a_one_line_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{name}:") and "\n" not in message
