"""Random features: closed-form kernels vs Monte Carlo (ReLU, sigmoid, Fourier), RKHS norms and
representations, the Monte Carlo error constant, and the ridge estimator against kernel ridge
regression."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mathdl.generalization import (
    FeatureKind,
    RandomFeatureModel,
    empirical_feature_kernel,
    feature_kernel,
    fourier_feature_error_constant,
    kernel_expansion_representation,
    random_feature_expansion,
    random_features,
    representation_norm_squared,
    rkhs_norm,
    sample_feature_weights,
)
from mathdl.kernels import Dense, ReLU, Serial, kernel_fn, kernel_ridge

F64 = torch.float64
KINDS = list(FeatureKind)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _points(n: int, d: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(n, d, generator=_gen(seed), dtype=dtype)


# ------------------------------------------------------------------ kernels: closed form vs MC


@pytest.mark.parametrize("kind", KINDS)
def test_kernel_is_the_mean_of_feature_products(kind):
    """k(x, x') = E_w[phi(x; w).phi(x'; w)]: each entry within 5 standard errors."""
    d, m = 4, 100_000
    sigma = 0.7
    x = _points(6, d, 1)
    w = sample_feature_weights(kind, m, d, generator=_gen(2), frequency_scale=sigma)
    phi = random_features(x, w, kind=kind)  # (n, m) or (n, 2m)
    per_feature = phi.reshape(6, kind.channels, m)
    products = torch.einsum("ick,jck->ijk", per_feature, per_feature)  # (n, n, m)
    stderr = products.std(dim=2) / math.sqrt(m)
    exact = feature_kernel(x, kind=kind, frequency_scale=sigma)
    empirical = empirical_feature_kernel(x, None, w, kind=kind)
    torch.testing.assert_close(empirical, products.mean(dim=2))
    assert torch.all((empirical - exact).abs() <= 5 * stderr + 1e-12)


def test_relu_kernel_is_the_one_layer_nngp():
    """w uniform on the sphere = g/|g|, and E|g|^2 = d: the kernel is the NNGP of
    relu(g.x / sqrt(d)), i.e. Serial(Dense(1, 0), ReLU()) in mathdl.kernels."""
    x1, x2 = _points(7, 5, 3), _points(4, 5, 4)
    nngp = kernel_fn(Serial(Dense(1.0, 0.0), ReLU()), x1, x2).nngp
    torch.testing.assert_close(feature_kernel(x1, x2, kind=FeatureKind.RELU), nngp)


def test_relu_kernel_special_angles():
    d = 6
    x = _points(5, d, 5)
    k = feature_kernel(x, kind=FeatureKind.RELU)
    torch.testing.assert_close(torch.diagonal(k), (x * x).sum(1) / (2 * d))  # theta = 0
    anti = feature_kernel(x, -x, kind=FeatureKind.RELU)
    torch.testing.assert_close(torch.diagonal(anti), torch.zeros(5, dtype=F64))  # theta = pi
    e1, e2 = torch.eye(d, dtype=F64)[:1] * 2.0, torch.eye(d, dtype=F64)[1:2] * 3.0
    ortho = feature_kernel(e1, e2, kind=FeatureKind.RELU)  # theta = pi / 2: |x||x'| / (2 pi d)
    torch.testing.assert_close(ortho, torch.tensor([[6.0 / (2 * math.pi * d)]], dtype=F64))


def test_relu_linear_function_is_a_two_center_expansion():
    """k(x, v) - k(x, -v) = x.v / (2d): relu(t) - relu(-t) = t in the representation."""
    d = 7
    x, v = _points(20, d, 6), _points(1, d, 7)
    diff = (feature_kernel(x, v, kind=FeatureKind.RELU)
            - feature_kernel(x, -v, kind=FeatureKind.RELU))[:, 0]
    torch.testing.assert_close(diff, (x @ v[0]) / (2 * d))
    # ||f||_H^2 = |v|^2 / d for f(x) = x.v / (2d) (a(w) = w.v is minimal)
    norm = rkhs_norm(torch.tensor([1.0, -1.0], dtype=F64), torch.cat([v, -v]),
                     kind=FeatureKind.RELU)
    torch.testing.assert_close(norm**2, (v**2).sum() / d)


def test_fourier_kernel_is_gaussian():
    x = _points(5, 3, 8)
    sigma = 1.3
    k = feature_kernel(x, kind=FeatureKind.FOURIER, frequency_scale=sigma)
    sq = torch.cdist(x, x) ** 2
    torch.testing.assert_close(k, torch.exp(-0.5 * sigma**2 * sq))
    torch.testing.assert_close(torch.diagonal(k), torch.ones(5, dtype=F64))


def _feature_products(kind, x, w):
    """Per-feature products phi(x_i; w_k) phi(x_j; w_k): their mean over k is the empirical
    kernel, their standard error over k that of the Monte Carlo estimate."""
    m = w.shape[0]
    per_feature = random_features(x, w, kind=kind).reshape(x.shape[0], kind.channels, m)
    products = torch.einsum("ick,jck->ijk", per_feature, per_feature)
    return products.mean(dim=2), products.std(dim=2) / math.sqrt(m)


def test_sigmoid_kernel_special_cases():
    """Phi(0) = 1/2 gives k(0, x) = 1/4; Phi(-t) = 1 - Phi(t) gives k(x, -x) = E Phi(u) -
    E Phi(u)^2 = 1/2 - k(x, x); the diagonal is 1/4 + arcsin(s^2|x|^2 / (1 + s^2|x|^2)) / (2 pi)
    (Sheppard); Phi(t) = 1/2 + t/sqrt(2 pi) + O(t^3) gives k = 1/4 + s^2 x.x' / (2 pi) + O(s^4)."""
    kind, d, s = FeatureKind.SIGMOID, 5, 0.8
    x = _points(6, d, 40)
    zero = torch.zeros(1, d, dtype=F64)
    torch.testing.assert_close(feature_kernel(zero, x, kind=kind, frequency_scale=s),
                               torch.full((1, 6), 0.25, dtype=F64))
    diag = torch.diagonal(feature_kernel(x, kind=kind, frequency_scale=s))
    anti = torch.diagonal(feature_kernel(x, -x, kind=kind, frequency_scale=s))
    torch.testing.assert_close(diag + anti, torch.full((6,), 0.5, dtype=F64))
    sq = s * s * (x * x).sum(1)
    torch.testing.assert_close(diag, 0.25 + torch.arcsin(sq / (1 + sq)) / (2 * math.pi))
    tiny = 1e-3
    small = feature_kernel(x, kind=kind, frequency_scale=tiny)
    linear = 0.25 + tiny**2 * (x @ x.T) / (2 * math.pi)
    assert float((small - linear).abs().max()) < 10 * tiny**4 * float((x * x).sum(1).max()) ** 2


def test_sigmoid_kernel_tends_to_the_step_kernel():
    """sigma -> infinity: Phi(sigma t) -> 1{t > 0} and k -> (pi - theta) / (2 pi), the degree-0
    arc-cosine kernel of Cho & Saul (2009) halved; the deviation is O(1 / (sigma |x|))."""
    x = _points(7, 4, 41)
    cos = (x @ x.T) / torch.outer(x.norm(dim=1), x.norm(dim=1))
    step = (math.pi - torch.arccos(cos.clamp(-1, 1))) / (2 * math.pi)
    k = feature_kernel(x, kind=FeatureKind.SIGMOID, frequency_scale=1e6)
    torch.testing.assert_close(k, step, atol=1e-5, rtol=0)


@pytest.mark.parametrize("wrong", ["no-unit-variance", "erf-scaling"])
def test_sigmoid_monte_carlo_check_rejects_a_wrong_kernel(wrong):
    """The 5-standard-error check of test_kernel_is_the_mean_of_feature_products is sharp
    enough to reject plausible mistakes in the arcsine kernel: dropping the 1 + s^2|x|^2
    (the variance of the auxiliary Z in Phi(u) = P(Z <= u)), or using Williams' erf(t) kernel
    for Phi(t) = (1 + erf(t / sqrt 2)) / 2 without rescaling."""
    d, m, s = 3, 100_000, 0.6
    x = _points(6, d, 42)
    w = sample_feature_weights(FeatureKind.SIGMOID, m, d, generator=_gen(43), frequency_scale=s)
    empirical, stderr = _feature_products(FeatureKind.SIGMOID, x, w)
    exact = feature_kernel(x, kind=FeatureKind.SIGMOID, frequency_scale=s)
    assert torch.all((empirical - exact).abs() <= 5 * stderr)
    norms, dots = (x * x).sum(1), x @ x.T
    if wrong == "no-unit-variance":
        rho = dots / torch.sqrt(torch.outer(norms, norms))
    else:
        rho = 2 * s * s * dots / torch.sqrt(torch.outer(1 + 2 * s * s * norms,
                                                        1 + 2 * s * s * norms))
    bad = 0.25 + torch.arcsin(rho.clamp(-1, 1)) / (2 * math.pi)
    assert float(((empirical - bad).abs() / stderr).max()) > 5


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(KINDS), n1=st.integers(1, 6), n2=st.integers(1, 6),
       d=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_kernel_symmetry_and_rotation_invariance(kind, n1, n2, d, seed):
    x1, x2 = _points(n1, d, seed), _points(n2, d, seed + 1)
    k = feature_kernel(x1, x2, kind=kind)
    assert k.shape == (n1, n2)
    torch.testing.assert_close(feature_kernel(x2, x1, kind=kind), k.mT)
    q, _ = torch.linalg.qr(_points(d, d, seed + 2))
    torch.testing.assert_close(feature_kernel(x1 @ q, x2 @ q, kind=kind), k)


@pytest.mark.parametrize("kind", KINDS)
def test_kernel_matrix_is_positive_semidefinite(kind):
    k = feature_kernel(_points(30, 3, 9), kind=kind)
    assert float(torch.linalg.eigvalsh(k).min()) > -1e-12


# ------------------------------------------------------------------ weights and features


def test_relu_weights_are_on_the_unit_sphere():
    d = 3
    w = sample_feature_weights(FeatureKind.RELU, 50, d, generator=_gen(10))
    torch.testing.assert_close(w.norm(dim=1), torch.ones(50, dtype=F64))


@pytest.mark.parametrize("kind", [FeatureKind.SIGMOID, FeatureKind.FOURIER])
def test_gaussian_weights_have_covariance_sigma_squared(kind):
    d, m, sigma = 3, 200_000, 0.5
    om = sample_feature_weights(kind, m, d, generator=_gen(11), frequency_scale=sigma)
    cov = om.mT @ om / m
    # entries of the sample covariance of N(0, sigma^2 I): standard error <= sqrt(2/m) sigma^2
    deviation = float((cov - sigma**2 * torch.eye(d, dtype=F64)).abs().max())
    assert deviation < 5 * math.sqrt(2 / m) * sigma**2


def test_sigmoid_features_are_the_gaussian_distribution_function():
    x = _points(4, 2, 44)
    w = sample_feature_weights(FeatureKind.SIGMOID, 5, 2, generator=_gen(45))
    phi = random_features(x, w, kind=FeatureKind.SIGMOID)
    assert phi.shape == (4, 5)
    torch.testing.assert_close(phi, 0.5 * (1 + torch.erf(x @ w.T / math.sqrt(2))))


def test_weights_are_reproducible_and_follow_dtype():
    a = sample_feature_weights(FeatureKind.FOURIER, 8, 3, generator=_gen(12), dtype=torch.float32)
    b = sample_feature_weights(FeatureKind.FOURIER, 8, 3, generator=_gen(12), dtype=torch.float32)
    assert a.dtype == torch.float32 and torch.equal(a, b)


def test_fourier_feature_layout():
    x = _points(4, 2, 13)
    w = sample_feature_weights(FeatureKind.FOURIER, 5, 2, generator=_gen(14))
    phi = random_features(x, w, kind=FeatureKind.FOURIER)
    assert phi.shape == (4, 10)
    torch.testing.assert_close(phi[:, :5], torch.cos(x @ w.T))
    torch.testing.assert_close(phi[:, 5:], torch.sin(x @ w.T))
    torch.testing.assert_close((phi**2).sum(1), torch.full((4,), 5.0, dtype=F64))


# ------------------------------------------------------------------ RKHS norms and representations


@pytest.mark.parametrize("kind", KINDS)
def test_minimal_representation_attains_the_rkhs_norm(kind):
    """For a = sum_j c_j phi(z_j; .), E|a(w)|^2 = c^T K c = ||f||_H^2 (within 4 s.e.)."""
    d = 3
    z, c = _points(3, d, 15), torch.tensor([0.5, -1.0, 0.8], dtype=F64)
    est = representation_norm_squared(kernel_expansion_representation(c, z, kind=kind),
                                      kind=kind, dim=d, num_samples=100_000, generator=_gen(16))
    exact = float(rkhs_norm(c, z, kind=kind)) ** 2
    assert abs(est.mean - exact) <= 4 * est.stderr


def test_non_minimal_representation_has_a_larger_norm():
    """Adding a(w) += (w_1, 0), orthogonal to every phi(x; .) (E[w_1 cos(w.x)] = 0), keeps f but
    adds E[w_1^2] = sigma^2 to E|a|^2: ||f||_H^2 < E|a|^2."""
    d, sigma, m = 2, 0.8, 200_000
    kind = FeatureKind.FOURIER
    z, c = _points(2, d, 17), torch.tensor([1.0, 0.5], dtype=F64)
    minimal = kernel_expansion_representation(c, z, kind=kind)

    def padded(w):
        a = minimal(w)
        return a + torch.cat([w[:, 0], torch.zeros_like(w[:, 0])])

    est = representation_norm_squared(padded, kind=kind, dim=d, num_samples=m,
                                      generator=_gen(18), frequency_scale=sigma)
    norm_sq = float(rkhs_norm(c, z, kind=kind, frequency_scale=sigma)) ** 2
    assert abs(est.mean - (norm_sq + sigma**2)) <= 4 * est.stderr
    assert est.mean - 4 * est.stderr > norm_sq
    # ... and it represents the same f: the Monte Carlo expansion is unbiased for it
    x = _points(5, d, 19)
    w = sample_feature_weights(kind, m, d, generator=_gen(20), frequency_scale=sigma)
    per_feature = random_features(x, w, kind=kind).reshape(5, 2, m)
    values = (per_feature * padded(w).reshape(1, 2, m)).sum(1)  # a(w_k).phi(x; w_k)
    f = feature_kernel(x, z, kind=kind, frequency_scale=sigma) @ c
    assert torch.all((values.mean(1) - f).abs() <= 5 * values.std(1) / math.sqrt(m))


def test_expansion_with_the_minimal_representation_is_the_empirical_kernel_expansion():
    kind = FeatureKind.RELU
    z, c, x = _points(3, 4, 21), torch.tensor([1.0, 2.0, -1.0], dtype=F64), _points(6, 4, 22)
    w = sample_feature_weights(kind, 50, 4, generator=_gen(23))
    a = kernel_expansion_representation(c, z, kind=kind)(w)
    torch.testing.assert_close(random_feature_expansion(x, w, a, kind=kind),
                               empirical_feature_kernel(x, z, w, kind=kind) @ c)


# ------------------------------------------------------------------ the Monte Carlo error constant


def _mc_error(kind, c, z, m, repeats, sigma, seed, n_test=400):
    g = _gen(seed)
    rep = kernel_expansion_representation(c, z, kind=kind)
    sq = []
    for _ in range(repeats):
        w = sample_feature_weights(kind, m, z.shape[1], generator=g, frequency_scale=sigma)
        x = torch.randn(n_test, z.shape[1], generator=g, dtype=F64)
        f = feature_kernel(x, z, kind=kind, frequency_scale=sigma) @ c
        sq.append(float(torch.mean((random_feature_expansion(x, w, rep(w), kind=kind) - f) ** 2)))
    t = torch.tensor(sq, dtype=F64) * m
    return float(t.mean()), float(t.std()) / math.sqrt(repeats)


def test_fourier_error_constant_matches_simulation():
    """m E||f_m - f||^2_{N(0, I)} equals the closed form (within 4 s.e.) at two widths, and is
    below ||f||_H^2 (kappa = 1)."""
    d, sigma = 3, 0.6
    z, c = _points(3, d, 24), torch.tensor([0.7, -0.4, 1.0], dtype=F64)
    constant = float(fourier_feature_error_constant(c, z, frequency_scale=sigma))
    for m in (8, 64):
        mean, se = _mc_error(FeatureKind.FOURIER, c, z, m, 300, sigma, seed=m)
        assert abs(mean - constant) <= 4 * se
    assert constant < float(rkhs_norm(c, z, kind=FeatureKind.FOURIER, frequency_scale=sigma)) ** 2


def test_fourier_error_constant_input_scale():
    """Inputs N(0, s^2 I): the Gaussian integrals scale with s; at s -> 0 every x is 0 and
    C -> Var_w[sum_j c_j cos(w.z_j)]."""
    z, c = _points(2, 2, 25), torch.tensor([1.0, 1.0], dtype=F64)
    tiny = float(fourier_feature_error_constant(c, z, input_scale=1e-8))
    k = feature_kernel(z, kind=FeatureKind.FOURIER)
    zz = feature_kernel(z, -z, kind=FeatureKind.FOURIER)
    # E[(sum_j c_j cos(w.z_j))^2] = (1/2) sum c_j c_l (k(z_j - z_l) + k(z_j + z_l));
    # the mean is c^T k(0, z)
    second = 0.5 * (c @ k @ c + c @ zz @ c)
    mean = float(feature_kernel(torch.zeros(1, 2, dtype=F64), z, kind=FeatureKind.FOURIER)[0] @ c)
    assert tiny == pytest.approx(float(second) - mean**2, rel=1e-6)


def test_relu_error_constant_identity():
    """ReLU features, x ~ N(0, I): E_x relu(w.x)^2 = 1/2, so m E||f_m - f||^2 =
    ||f||_H^2 / 2 - ||f||_rho^2 exactly."""
    d = 4
    z, c = _points(2, d, 26), torch.tensor([1.0, -0.5], dtype=F64)
    x = _points(200_000, d, 27)
    f = feature_kernel(x, z, kind=FeatureKind.RELU) @ c
    constant = 0.5 * float(rkhs_norm(c, z, kind=FeatureKind.RELU)) ** 2 - float(torch.mean(f * f))
    mean, se = _mc_error(FeatureKind.RELU, c, z, 32, 300, 1.0, seed=28)
    assert abs(mean - constant) <= 4 * se + 1e-3 * constant


# ------------------------------------------------------------------ the estimator


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_features", [5, 40])  # primal (2m or m < n) and dual systems
def test_ridge_fit_is_kernel_ridge_with_the_empirical_kernel(kind, num_features):
    n, d, lam = 30, 3, 1e-2
    x, xt = _points(n, d, 29), _points(7, d, 30)
    y = torch.sin(x[:, 0]) + x[:, 1]
    model = RandomFeatureModel(num_features, kind=kind, ridge=lam).fit(x, y, generator=_gen(31))
    w = model.weights_
    expected = kernel_ridge(empirical_feature_kernel(x, None, w, kind=kind),
                            empirical_feature_kernel(xt, x, w, kind=kind), y, ridge=n * lam)
    torch.testing.assert_close(model.predict(xt), expected)


def test_ridgeless_fit_interpolates_with_enough_features_and_is_least_squares_otherwise():
    n, d = 20, 2
    x = _points(n, d, 32)
    y = torch.cos(x.sum(1))
    wide = RandomFeatureModel(200, kind=FeatureKind.RELU).fit(x, y, generator=_gen(33))
    torch.testing.assert_close(wide.predict(x), y, atol=1e-8, rtol=0)
    narrow = RandomFeatureModel(6, kind=FeatureKind.FOURIER).fit(x, y, generator=_gen(34))
    phi = random_features(x, narrow.weights_, kind=FeatureKind.FOURIER) / 6
    residual = narrow.predict(x) - y
    torch.testing.assert_close(phi.mT @ residual, torch.zeros(12, dtype=F64), atol=1e-10,
                               rtol=0)  # normal equations


def test_fit_returns_self_stores_state_and_accepts_weights():
    x, y = _points(10, 3, 35), _points(10, 1, 36)[:, 0]
    model = RandomFeatureModel(8, kind=FeatureKind.FOURIER, ridge=0.1)
    assert model.fit(x, y, generator=_gen(37)) is model
    assert model.weights_.shape == (8, 3) and model.coefficients_.shape == (16,)
    assert model.n_features_in_ == 3
    again = RandomFeatureModel(8, kind=FeatureKind.FOURIER, ridge=0.1).fit(
        x, y, weights=model.weights_)
    torch.testing.assert_close(again.predict(x), model.predict(x))
    same_seed = RandomFeatureModel(8, kind=FeatureKind.FOURIER, ridge=0.1).fit(
        x, y, generator=_gen(37))
    assert torch.equal(same_seed.coefficients_, model.coefficients_)


def test_fit_follows_the_input_dtype():
    x = _points(10, 2, 38, dtype=torch.float32)
    model = RandomFeatureModel(4, ridge=0.1).fit(x, x[:, 0], generator=_gen(39))
    assert model.predict(x).dtype == torch.float32


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("call", "name"), [
    (lambda: sample_feature_weights("relu", 3, 2, generator=_gen(0)), "kind"),
    (lambda: sample_feature_weights(FeatureKind.RELU, 0, 2, generator=_gen(0)), "num_features"),
    (lambda: sample_feature_weights(FeatureKind.RELU, 3, 2, generator=None), "generator"),
    (lambda: feature_kernel(torch.ones(2, 3), torch.ones(2, 4), kind=FeatureKind.RELU), "x2"),
    (lambda: feature_kernel(torch.ones(2, 3), kind=FeatureKind.FOURIER, frequency_scale=0.0),
     "frequency_scale"),
    (lambda: feature_kernel(torch.ones(2, 3), kind=FeatureKind.SIGMOID, frequency_scale=-1.0),
     "frequency_scale"),
    (lambda: sample_feature_weights(FeatureKind.SIGMOID, 3, 2, generator=_gen(0),
                                    frequency_scale=math.inf), "frequency_scale"),
    (lambda: random_features(torch.ones(3), torch.ones(2, 3), kind=FeatureKind.RELU), "x"),
    (lambda: random_feature_expansion(torch.ones(2, 3), torch.ones(4, 3), torch.ones(4),
                                      kind=FeatureKind.FOURIER), "coefficients"),
    (lambda: rkhs_norm(torch.ones(2), torch.ones(3, 2), kind=FeatureKind.RELU), "coefficients"),
    (lambda: RandomFeatureModel(4).fit(torch.ones(3, 2), torch.ones(3)), "generator"),
    (lambda: RandomFeatureModel(4, ridge=-1.0).fit(torch.ones(3, 2), torch.ones(3),
                                                   generator=_gen(0)), "ridge"),
    (lambda: RandomFeatureModel(4).fit(torch.ones(3, 2), torch.ones(4), generator=_gen(0)), "y"),
    (lambda: RandomFeatureModel(4).predict(torch.ones(3, 2)), "fit"),
    (lambda: representation_norm_squared(lambda w: torch.ones(3), kind=FeatureKind.RELU, dim=2,
                                         num_samples=10, generator=_gen(0)), "representation"),
    (lambda: fourier_feature_error_constant(torch.ones(2), torch.ones(2, 2), input_scale=-1.0),
     "input_scale"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
