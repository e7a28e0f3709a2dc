"""Tests of the path-norm-regularised estimator of E, Ma & Wu and the shape of its bound."""

from __future__ import annotations

import math

import pytest
import torch

from mathdl.generalization import (
    PathNormRegularizedEstimator,
    a_priori_bound,
    path_norm,
    random_barron_target,
)

D = torch.float64


def data(n: int = 200, d: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    target = random_barron_target(d, 50, generator=g)
    x = 2 * torch.rand(n, d, generator=g, dtype=D) - 1
    with torch.no_grad():
        y = target(x) + 0.1 * torch.randn(n, generator=g, dtype=D)
    return x, y


def fit(x, y, *, penalty=1.0, steps=300, seed=1):
    est = PathNormRegularizedEstimator(16, penalty=penalty, learning_rate=0.03, steps=steps)
    return est.fit(x, y, generator=torch.Generator().manual_seed(seed))


def test_a_priori_bound_shape():
    value = a_priori_bound(2.0, width=100, n=400, dim=5, penalty=3.0)
    assert value == pytest.approx(4.0 / 100 + 3.0 * 2.0 * math.sqrt(math.log(10) / 400))
    # approximation term ~ 1/m, estimation term ~ n^(-1/2)
    big = a_priori_bound(1.0, width=10**9, n=100, dim=3)
    assert a_priori_bound(1.0, width=10**9, n=400, dim=3) == pytest.approx(big / 2, rel=1e-6)
    for name, kwargs in [("barron_norm", dict(barron_norm=-1.0)), ("width", dict(width=0)),
                         ("n", dict(n=0)), ("dim", dict(dim=0)), ("penalty", dict(penalty=0.0))]:
        args = dict(barron_norm=1.0, width=1, n=1, dim=1) | kwargs
        b = args.pop("barron_norm")
        with pytest.raises(ValueError, match=name):
            a_priori_bound(b, **args)


def test_fit_returns_self_minimises_the_regularised_objective_and_is_deterministic():
    x, y = data()
    est = fit(x, y)
    assert isinstance(est, PathNormRegularizedEstimator) and est.n_features_in_ == 4
    strength = est.regularization_strength(200, 4)
    assert strength == pytest.approx(math.sqrt(math.log(8) / 200))
    net = est.network_
    with torch.no_grad():
        risk = 0.5 * float((net(x) - y).pow(2).mean())
        assert est.train_risk_ == pytest.approx(risk, rel=1e-12)
        assert est.path_norm_ == pytest.approx(float(path_norm(net)), rel=1e-12)
    assert est.objective_ == pytest.approx(risk + strength * est.path_norm_, rel=1e-12)
    # the start (zero output weights) has objective R_n(0) = mean(y^2)/2; training lowers it
    assert est.objective_ < 0.5 * float(y.pow(2).mean())
    again = fit(x, y)
    assert torch.equal(again.predict(x), est.predict(x))


def test_a_larger_penalty_gives_a_smaller_path_norm_and_a_larger_training_risk():
    x, y = data(seed=2)
    weak, strong = fit(x, y, penalty=0.1), fit(x, y, penalty=10.0)
    assert strong.path_norm_ < weak.path_norm_
    assert strong.train_risk_ > weak.train_risk_


def test_estimator_rejects_bad_input():
    x, y = data(n=20)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="width"):
        PathNormRegularizedEstimator(0).fit(x, y, generator=g)
    with pytest.raises(ValueError, match="penalty"):
        PathNormRegularizedEstimator(4, penalty=-1.0).fit(x, y, generator=g)
    with pytest.raises(ValueError, match="learning_rate"):
        PathNormRegularizedEstimator(4, learning_rate=0.0).fit(x, y, generator=g)
    with pytest.raises(ValueError, match="y"):
        PathNormRegularizedEstimator(4, steps=2).fit(x, y[:-1], generator=g)
    with pytest.raises(ValueError, match="generator"):
        PathNormRegularizedEstimator(4, steps=2).fit(x, y, generator=None)
    with pytest.raises(ValueError, match="not fitted"):
        PathNormRegularizedEstimator(4).predict(x)
    est = PathNormRegularizedEstimator(4, steps=2).fit(x, y, generator=g)
    with pytest.raises(ValueError, match="x"):
        est.predict(x[:, :2])
    with pytest.raises(RuntimeError, match="learning_rate"):
        PathNormRegularizedEstimator(4, learning_rate=1e300, steps=5).fit(x, y, generator=g)
