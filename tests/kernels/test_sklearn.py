"""InfiniteWidthRegressor: scikit-learn conformance; its predictions are the kernel predictors'."""

from __future__ import annotations

import doctest
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mathdl.kernels import _sklearn
from mathdl.kernels._analytic import (
    ActivationKind,
    Parameterization,
    fully_connected,
    kernel_fn,
)
from mathdl.kernels._predictors import kernel_ridge, nngp_posterior, ntk_predictor
from mathdl.kernels._sklearn import InfiniteWidthRegressor, PredictorKind

EPS = float(np.finfo(np.float64).eps)


def _data(n: int, d: int, seed: int, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal(n if k is None else (n, k))
    return x, y


# ----------------------------------------------------------------------------- conformance


def _expected_failed_checks(estimator: InfiniteWidthRegressor) -> dict[str, str]:
    if estimator.dtype != "float32":
        return {}
    return {
        "check_regressor_multioutput": (
            "the check requires float64 predictions; dtype='float32' deliberately computes and "
            "predicts in float32"
        ),
        "check_methods_subset_invariance": (
            "float32 ReLU NTK: the input Gram matrix is rounded differently for different batch "
            "sizes (BLAS blocking) and arccos amplifies an error e in the correlation near 1 to "
            "sqrt(2e) ~ 3e-4 in the derivative kernel, above the check's rtol=1e-4"
        ),
    }


@parametrize_with_checks(
    [
        InfiniteWidthRegressor(),
        InfiniteWidthRegressor(
            predictor="nngp", activation="erf", regularization=1e-3, block_size=64
        ),
        InfiniteWidthRegressor(
            predictor="ridge", parameterization="standard", depth=1, regularization=1e-2
        ),
        InfiniteWidthRegressor(t=5.0, learning_rate=0.5, dtype="float32"),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check) -> None:
    # parametrize_with_checks turns SkipTest (pandas / array-API checks) into pytest skips;
    # no warning needs filtering
    check(estimator)


# ----------------------------------------------------------------------------- mathematics

CONFIGS = [
    dict(activation="relu", parameterization="ntk", depth=2, weight_var=2.0, bias_var=0.1),
    dict(activation="erf", parameterization="standard", depth=3, weight_var=1.5, bias_var=0.3),
]
PREDICTORS = [
    dict(predictor="ntk", t=math.inf),
    dict(predictor="ntk", t=0.7, learning_rate=0.3),
    dict(predictor="nngp", regularization=1e-2),
    dict(predictor="ridge", regularization=1e-1),
]


def _reference(config: dict, predictor: dict, x: np.ndarray, y: np.ndarray, xs: np.ndarray):
    """The same prediction assembled directly from kernel_fn and the public predictors."""
    layers = fully_connected(
        config["depth"],
        activation=ActivationKind(config["activation"]),
        weight_var=config["weight_var"],
        bias_var=config["bias_var"],
        parameterization=Parameterization(config["parameterization"]),
    )
    xt, yt, xst = torch.tensor(x), torch.tensor(y), torch.tensor(xs)
    k_train, k_cross = kernel_fn(layers, xt), kernel_fn(layers, xst, xt)
    kind = predictor["predictor"]
    if kind == "ntk":
        _, mean = ntk_predictor(
            k_train.ntk, k_cross.ntk, yt, t=predictor["t"],
            learning_rate=predictor.get("learning_rate", 1.0),
        )
        return mean.numpy(), None
    if kind == "ridge":
        ridge = kernel_ridge(k_train.ntk, k_cross.ntk, yt, ridge=predictor["regularization"])
        return ridge.numpy(), None
    mean, cov = nngp_posterior(
        k_train.nngp, k_cross.nngp, yt, k_test_test=kernel_fn(layers, xst).nngp,
        noise_var=predictor["regularization"],
    )
    return mean.numpy(), cov.diagonal().sqrt().numpy()


@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("predictor", PREDICTORS, ids=lambda p: "-".join(map(str, p.values())))
@pytest.mark.parametrize("config", CONFIGS, ids=["relu-ntk", "erf-standard"])
def test_predictions_equal_the_kernel_predictors(config: dict, predictor: dict, k) -> None:
    x, y = _data(40, 3, seed=0, k=k)
    xs, _ = _data(25, 3, seed=1)
    # block_size=7 exercises the chunked predict and the blocked kernels; the reference is
    # unblocked: the two differ only by the rounding of the input Gram matrix
    model = InfiniteWidthRegressor(**config, **predictor, block_size=7).fit(x, y)
    mean_ref, std_ref = _reference(config, predictor, x, y, xs)
    # the kernels have condition numbers ~1e3 and entries O(1): the dual-coefficient form
    # K_* alpha differs from the direct one by ~cond * eps ~ 1e-13, while a wrong kernel,
    # time or regulariser changes the predictions by O(0.1)
    if std_ref is None:
        mean = model.predict(xs)
    else:
        mean, std = model.predict(xs, return_std=True)
        expected_std = std_ref if k is None else np.repeat(std_ref[:, None], k, axis=1)
        assert std.shape == mean.shape
        np.testing.assert_allclose(std, expected_std, rtol=0, atol=1e-10)
    assert mean.shape == mean_ref.shape == (25,) + (() if k is None else (k,))
    assert mean.dtype == np.float64
    np.testing.assert_allclose(mean, mean_ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("d", [1, 5])
def test_ntk_at_infinite_time_interpolates_on_the_training_kernel(d: int) -> None:
    # f_inf(X) = Theta Theta^{-1} Y = Y for positive-definite Theta (distinct inputs)
    x, y = _data(100, d, seed=2, k=2)
    model = InfiniteWidthRegressor().fit(x, y)
    fitted = model.train_kernel_ @ model.alpha_
    assert np.abs(fitted - y).max() < 1e-8


def _dyadic_inputs(n: int, d: int, seed: int) -> np.ndarray:
    """Distinct points on the grid (1/8) Z^d: every product and sum in x . x' is exact."""
    rng = np.random.default_rng(seed)
    grid = np.unique(rng.integers(-16, 17, size=(3 * n, d)), axis=0)
    return rng.permutation(grid)[:n] / 8.0


@pytest.mark.parametrize(
    "x",
    [np.linspace(-2.0, 2.0, 60)[:, None], _dyadic_inputs(80, 4, seed=3)],
    ids=["d=1", "dyadic-d=4"],
)
def test_ntk_at_infinite_time_predicts_the_training_targets(x: np.ndarray) -> None:
    y = np.sin(3 * x.sum(axis=1)) + 0.1 * np.random.default_rng(4).standard_normal(len(x))
    model = InfiniteWidthRegressor().fit(x, y)
    assert np.abs(model.predict(x) - y).max() < 1e-8


def test_ntk_predicts_generic_training_targets_to_1e8() -> None:
    x, y = _data(100, 5, seed=2)
    model = InfiniteWidthRegressor().fit(x, y)
    assert np.abs(model.predict(x) - y).max() < 1e-8


def test_ntk_at_time_zero_predicts_zero() -> None:
    # f_0 = 0 and I - e^{0} = 0: exactly zero
    x, y = _data(20, 3, seed=5, k=2)
    xs, _ = _data(7, 3, seed=6)
    model = InfiniteWidthRegressor(t=0.0).fit(x, y)
    assert np.all(model.predict(xs) == 0.0)
    assert np.all(model.alpha_ == 0.0)


def test_ntk_at_small_time_is_one_gradient_step() -> None:
    # f_t(x) = eta t Theta(x, X) Y + O((eta t lambda_max)^2): relative error ~ eta t lambda_max
    x, y = _data(30, 3, seed=7)
    xs, _ = _data(9, 3, seed=8)
    eta, t = 0.5, 1e-6
    model = InfiniteWidthRegressor(t=t, learning_rate=eta).fit(x, y)
    layers = model.layers_
    k_cross = kernel_fn(layers, torch.tensor(xs), torch.tensor(x)).ntk.numpy()
    first_order = eta * t * k_cross @ y
    lam_max = np.linalg.eigvalsh(model.train_kernel_).max()
    rel = np.abs(model.predict(xs) - first_order).max() / np.abs(first_order).max()
    assert rel < 2 * eta * t * lam_max


def test_ridge_without_regularization_is_the_ntk_at_infinite_time() -> None:
    x, y = _data(40, 3, seed=9, k=2)
    xs, _ = _data(15, 3, seed=10)
    ntk = InfiniteWidthRegressor(predictor="ntk").fit(x, y).predict(xs)
    ridge = InfiniteWidthRegressor(predictor="ridge", regularization=0.0).fit(x, y).predict(xs)
    # eigendecomposition vs Cholesky solve of a cond ~1e3 system
    np.testing.assert_allclose(ridge, ntk, rtol=0, atol=1e-10)


def test_long_training_time_approaches_infinite_time() -> None:
    # the slowest mode decays like exp(-eta lambda_min t); choose t with that ~ 1e-12
    x, y = _data(30, 3, seed=11)
    xs, _ = _data(10, 3, seed=12)
    inf_model = InfiniteWidthRegressor().fit(x, y)
    lam_min = np.linalg.eigvalsh(inf_model.train_kernel_).min()
    t = 12 * math.log(10) / lam_min
    finite = InfiniteWidthRegressor(t=t).fit(x, y).predict(xs)
    np.testing.assert_allclose(finite, inf_model.predict(xs), rtol=0, atol=1e-9)


@pytest.mark.parametrize("predictor", PREDICTORS, ids=lambda p: "-".join(map(str, p.values())))
def test_invariant_to_the_order_of_training_samples(predictor: dict) -> None:
    x, y = _data(35, 4, seed=13, k=2)
    xs, _ = _data(10, 4, seed=14)
    perm = np.random.default_rng(15).permutation(len(x))
    a = InfiniteWidthRegressor(**predictor).fit(x, y).predict(xs)
    b = InfiniteWidthRegressor(**predictor).fit(x[perm], y[perm]).predict(xs)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_outputs_are_independent_columns() -> None:
    x, y = _data(30, 2, seed=16, k=3)
    xs, _ = _data(8, 2, seed=17)
    joint = InfiniteWidthRegressor(predictor="nngp", regularization=1e-3).fit(x, y)
    mean, std = joint.predict(xs, return_std=True)
    for j in range(3):
        single = InfiniteWidthRegressor(predictor="nngp", regularization=1e-3).fit(x, y[:, j])
        m_j, s_j = single.predict(xs, return_std=True)
        np.testing.assert_allclose(mean[:, j], m_j, rtol=0, atol=1e-12)
        np.testing.assert_allclose(std[:, j], s_j, rtol=0, atol=1e-12)


def test_nngp_std_is_below_the_noise_at_training_points_and_the_prior_elsewhere() -> None:
    # V[f(x_i) | y] <= V[f(x_i) | y_i] = k_ii s^2 / (k_ii + s^2) <= s^2 (conditioning on more
    # data never increases the Gaussian variance), and V[f(x) | y] <= k(x, x) everywhere
    noise = 1e-2
    x, y = _data(30, 3, seed=18)
    xs, _ = _data(20, 3, seed=19)
    model = InfiniteWidthRegressor(predictor="nngp", regularization=noise).fit(x, y)
    _, std_train = model.predict(x, return_std=True)
    _, std_test = model.predict(xs, return_std=True)
    prior = kernel_fn(model.layers_, torch.tensor(xs)).var1.numpy()
    assert np.all(std_train**2 <= noise + 1e-10)
    assert np.all(std_test**2 <= prior + 1e-10)


def test_float32_predictions_are_float32_and_close_to_float64() -> None:
    x, y = _data(30, 3, seed=20)
    xs, _ = _data(10, 3, seed=21)
    p64 = InfiniteWidthRegressor(activation="erf").fit(x, y).predict(xs)
    for dtype in ("float32", np.float32, torch.float32):
        p32 = InfiniteWidthRegressor(activation="erf", dtype=dtype).fit(x, y).predict(xs)
        assert p32.dtype == np.float32
        # float32 eps ~ 6e-8 times the condition number ~1e3 of the kernel solve
        np.testing.assert_allclose(p32, p64, rtol=0, atol=1e-3 * np.abs(p64).max())


def test_enum_and_string_options_agree() -> None:
    x, y = _data(20, 3, seed=22)
    xs, _ = _data(6, 3, seed=23)
    by_string = InfiniteWidthRegressor(
        activation="erf", parameterization="standard", predictor="ridge", regularization=0.1
    )
    by_enum = InfiniteWidthRegressor(
        activation=ActivationKind.ERF,
        parameterization=Parameterization.STANDARD,
        predictor=PredictorKind.RIDGE,
        regularization=0.1,
        depth=np.int64(2),
        block_size=np.int32(4),
    )
    np.testing.assert_array_equal(
        by_string.fit(x, y).predict(xs), clone(by_enum).fit(x, y).predict(xs)
    )


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 6),
    m=st.integers(1, 5),
    d=st.integers(1, 3),
    k=st.one_of(st.none(), st.integers(1, 3)),
    seed=st.integers(0, 2**16),
)
def test_shapes(n: int, m: int, d: int, k: int | None, seed: int) -> None:
    x, y = _data(n, d, seed, k=k)
    xs, _ = _data(m, d, seed + 1)
    model = InfiniteWidthRegressor(predictor="nngp", regularization=0.1).fit(x, y)
    mean, std = model.predict(xs, return_std=True)
    shape = (m,) if k is None else (m, k)
    assert mean.shape == std.shape == shape
    assert model.alpha_.shape == y.shape
    assert model.train_kernel_.shape == model.L_.shape == (n, n)
    assert model.n_features_in_ == d


# ----------------------------------------------------------------------------- scikit-learn


def _smooth_problem(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 2))
    return x, np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] + noise * rng.standard_normal(n)


def test_clone_and_params_round_trip() -> None:
    model = InfiniteWidthRegressor(depth=3, predictor="nngp", regularization=0.5)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    x, y = _data(10, 2, seed=24)
    fitted = clone(model).fit(x, y)
    assert not hasattr(clone(fitted), "alpha_")
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(x), fitted.predict(x))


def test_grid_search_picks_a_noise_level_between_interpolation_and_the_prior() -> None:
    # noisy data (noise std 0.3): interpolating the noise (1e-8) and drowning the data in
    # noise (1e3, predictions ~ 0) are both worse than a moderate noise variance
    x, y = _smooth_problem(80, noise=0.3, seed=1)
    grid = [1e-8, 1e-3, 1e-1, 1e1, 1e3]
    search = GridSearchCV(
        InfiniteWidthRegressor(predictor="nngp"),
        {"regularization": grid},
        cv=KFold(4, shuffle=True, random_state=0),
    ).fit(x, y)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_["regularization"] not in (grid[0], grid[-1])
    assert search.best_score_ > 0.7
    assert search.best_score_ > scores[0] + 0.1
    assert search.best_score_ > scores[-1] + 0.5
    assert isinstance(search.best_estimator_, InfiniteWidthRegressor)


def test_grid_search_over_depth_runs() -> None:
    x, y = _smooth_problem(40, noise=0.1, seed=2)
    search = GridSearchCV(
        InfiniteWidthRegressor(predictor="ridge", regularization=0.1),
        {"depth": [1, 2, 4]},
        cv=3,
    ).fit(x, y)
    assert search.best_params_["depth"] in (1, 2, 4)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_cross_val_score_on_a_noise_free_smooth_target() -> None:
    # a constant predictor scores R^2 <= 0; the NTK interpolant of 80 points of a smooth
    # function in 2-D scores ~0.95
    x, y = _smooth_problem(100, noise=0.0, seed=3)
    cv = KFold(5, shuffle=True, random_state=0)
    scores = cross_val_score(InfiniteWidthRegressor(), x, y, cv=cv)
    assert scores.shape == (5,)
    assert scores.mean() > 0.85


def test_pipeline_with_standard_scaler() -> None:
    x, y = _smooth_problem(40, noise=0.1, seed=4)
    x = x * np.array([100.0, 0.01]) + np.array([5.0, -3.0])  # features in different units
    xs = x[:7] + 0.01
    pipe = make_pipeline(StandardScaler(), InfiniteWidthRegressor(predictor="ridge",
                                                                  regularization=0.1))
    scaler = StandardScaler().fit(x)
    direct = InfiniteWidthRegressor(predictor="ridge", regularization=0.1).fit(
        scaler.transform(x), y
    )
    np.testing.assert_allclose(
        pipe.fit(x, y).predict(xs), direct.predict(scaler.transform(xs)), rtol=0, atol=1e-12
    )
    assert pipe.score(x, y) > 0.9


def test_module_docstring_example_runs() -> None:
    result = doctest.testmod(_sklearn, verbose=False)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (dict(activation="tanh"), "activation"),
        (dict(activation=None), "activation"),
        (dict(predictor="gp"), "predictor"),
        (dict(parameterization="mup"), "parameterization"),
        (dict(dtype="float16"), "dtype"),
        (dict(dtype=None), "dtype"),
        (dict(depth=0), "depth"),
        (dict(depth=2.0), "depth"),
        (dict(weight_var=-1.0), "weight_var"),
        (dict(bias_var=math.nan), "bias_var"),
        (dict(t=-1.0), "t"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(regularization=-0.1), "regularization"),
        (dict(regularization=math.inf), "regularization"),
        (dict(block_size=0), "block_size"),
        (dict(block_size=True), "block_size"),
    ],
)
def test_bad_parameters_raise_in_fit_naming_the_parameter(params: dict, name: str) -> None:
    model = InfiniteWidthRegressor(**params)  # the constructor only stores
    x, y = _data(5, 2, seed=25)
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        model.fit(x, y)


def test_return_std_needs_the_nngp_predictor() -> None:
    x, y = _data(5, 2, seed=26)
    model = InfiniteWidthRegressor(predictor="ridge", regularization=0.1).fit(x, y)
    with pytest.raises(ValueError, match="^return_std"):
        model.predict(x, return_std=True)


def test_ntk_on_duplicate_inputs_predicts_their_mean_target() -> None:
    # Theta has a null direction e_i - e_j for x_i = x_j; gradient flow never moves it, so at
    # t = inf both copies predict the least-squares compromise (y_i + y_j) / 2 (d = 1: the
    # kernel at the training points is evaluated exactly)
    x = np.linspace(-2.0, 2.0, 9)[:, None]
    y = np.arange(9.0)
    x2, y2 = np.vstack([x, x[:1]]), np.append(y, 5.0)
    pred = InfiniteWidthRegressor().fit(x2, y2).predict(x2)
    expected = np.append(y, 5.0)
    expected[[0, -1]] = 2.5
    np.testing.assert_allclose(pred, expected, rtol=0, atol=1e-8)


def test_predict_before_fit_and_with_wrong_features() -> None:
    x, y = _data(5, 2, seed=28)
    with pytest.raises(NotFittedError):
        InfiniteWidthRegressor().predict(x)
    model = InfiniteWidthRegressor().fit(x, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((3, 4)))
