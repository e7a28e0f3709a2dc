"""Theorem checks of the training topic: which solution gradient descent finds, and in which regime.

Built only on the public primitives of :mod:`mathdl.training` and :mod:`mathdl.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

from mathdl.atlas import (
    Claim,
    ClaimKind,
    Experiment,
    Progress,
    Result,
    ToleranceKind,
    no_progress,
    register,
    require,
    require_int_range,
    require_ints,
    require_positive,
)
from mathdl.stats import fit_power_law
from mathdl.training import (
    LinearLoss,
    OutputInit,
    Scaling,
    TwoLayerNetwork,
    linear_gradient_descent,
    logistic_gd_offset,
    max_margin_classifier,
    min_l2_interpolant,
    train_gradient_descent,
)

TOPIC = "training"
DTYPE = torch.float64
EPS = float(np.finfo(np.float64).eps)


def _log_steps(first: int, last: int, count: int) -> list[int]:
    """About ``count`` integer steps, log-spaced in [first, last], always including both ends."""
    grid = np.unique(np.round(np.geomspace(first, last, count)).astype(int))
    return sorted({int(k) for k in grid} | {first, last})


# =============================================================================================
# 1. Least squares from zero converge to the minimum-norm interpolant


@dataclass(frozen=True, kw_only=True)
class MinNormConfig:
    """Parameters of ``training/min-norm-least-squares``.

    n_samples, n_features: the Gaussian design X (n_samples < n_features: overparameterised).
    step_fraction: eta = step_fraction / lambda_max(X^T X / n), in (0, 2).
    steps: gradient-descent steps K.
    records: number of log-spaced recorded steps.
    rounding_tolerance: allowance for float64 rounding on the final distance and on the
        component orthogonal to the row space (relative to |w*|).
    trajectory_tolerance: relative tolerance of the measured error against the exact linear
        prediction |(I - eta H)^k w*| (at steps where that error exceeds 1e-9 |w*|).
    """

    n_samples: int = 40
    n_features: int = 200
    step_fraction: float = 1.0
    steps: int = 600
    records: int = 200
    rounding_tolerance: float = 1e-11
    trajectory_tolerance: float = 1e-5

    def __post_init__(self) -> None:
        require_int_range("n_samples", self.n_samples, 1, 10_000)
        require_int_range("n_features", self.n_features, 2, 100_000)
        require(self.n_samples < self.n_features, "n_samples",
                f"fewer samples than n_features = {self.n_features} (overparameterised)",
                self.n_samples)
        require(0 < self.step_fraction < 2, "step_fraction", "a number in (0, 2)",
                self.step_fraction)
        require_int_range("steps", self.steps, 10, 10**7)
        require_int_range("records", self.records, 3, 10_000)
        require_positive("rounding_tolerance", self.rounding_tolerance)
        require_positive("trajectory_tolerance", self.trajectory_tolerance)


def run_min_norm(config: MinNormConfig, *, seed: int, progress: Progress = no_progress) -> Result:
    generator = torch.Generator().manual_seed(seed)
    n, p = config.n_samples, config.n_features
    x = torch.randn(n, p, generator=generator, dtype=DTYPE)
    y = torch.randn(n, generator=generator, dtype=DTYPE)
    w0 = torch.randn(p, generator=generator, dtype=DTYPE)
    w_star = min_l2_interpolant(x, y)
    # Spectrum of H = X^T X / n on the row space (its n non-zero eigenvalues).
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    lam = s**2 / n
    eta = config.step_fraction / float(lam.max())
    rho = float(torch.max(torch.abs(1 - eta * lam)))  # contraction factor on the row space
    steps = _log_steps(1, config.steps, config.records)
    steps = [0, *steps]
    progress(0, 2)
    traj = linear_gradient_descent(x, y, loss=LinearLoss.HALF_MSE, learning_rate=eta,
                                   steps=config.steps, record_steps=steps)
    progress(1, 2)
    shifted = linear_gradient_descent(x, y, loss=LinearLoss.HALF_MSE, learning_rate=eta,
                                      steps=config.steps, record_steps=[config.steps],
                                      initial=w0)
    progress(2, 2)
    norm_star = float(torch.linalg.norm(w_star))
    # Theory: w_k - w* = -(I - eta H)^k w* exactly (w* lies in the row space, spanned by vh).
    coeff = vh @ w_star
    k = torch.tensor(steps, dtype=DTYPE)
    exact = torch.linalg.norm((1 - eta * lam)[None, :] ** k[:, None] * coeff[None, :], dim=1)
    errors = torch.linalg.norm(traj.weights - w_star, dim=1)
    rel_err = (errors / norm_star).tolist()
    rel_exact = (exact / norm_star).tolist()
    bound = [rho**kk for kk in steps]
    # Components orthogonal to the row space of X.
    def orth(w: torch.Tensor) -> torch.Tensor:
        return w - (w @ vh.T) @ vh

    orth_traj = (torch.linalg.norm(orth(traj.weights), dim=1) / norm_star).tolist()
    final_orth = orth_traj[-1]
    informative = [i for i, e in enumerate(rel_exact) if e > 1e-9]
    deviation = max(abs(rel_err[i] - rel_exact[i]) / rel_exact[i] for i in informative)
    # From w0 != 0, GD converges to w* + P_perp w0: distance |P_perp w0| to w*.
    perp_w0 = float(torch.linalg.norm(orth(w0)))
    shifted_distance = float(torch.linalg.norm(shifted.weights[-1] - w_star))
    ref = "Gunasekar, Lee, Soudry, Srebro 2018 (§2); Zhang et al. 2017 (§5)"
    claims = (
        Claim(
            name="distance-to-min-norm",
            statement="from w_0 = 0, |w_K - X^+ y| / |X^+ y| <= rho^K (rho = max |1 - eta "
                      "lambda| over the non-zero spectrum of X^T X / n), up to float64 rounding",
            reference=ref, predicted=bound[-1], measured=rel_err[-1],
            tolerance=config.rounding_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="exact-trajectory",
            statement="|w_k - X^+ y| equals |(I - eta X^T X / n)^k X^+ y| at every recorded step "
                      "(relative deviation, steps where the error exceeds 1e-9 |X^+ y|)",
            reference=ref, predicted=0.0, measured=deviation,
            tolerance=config.trajectory_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="stays-in-row-space",
            statement="the component of w_K orthogonal to the row space of X is at rounding "
                      "level (relative to |X^+ y|)",
            reference=ref, predicted=0.0, measured=final_orth,
            tolerance=config.rounding_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="nonzero-start-offset",
            statement="from w_0 != 0, GD converges to X^+ y + P_perp w_0: its distance to X^+ y "
                      "is |P_perp w_0| (relative tolerance)",
            reference=ref, predicted=perp_w0, measured=shifted_distance,
            tolerance=1e-8 + config.rounding_tolerance * norm_star / perp_w0,
            kind=ClaimKind.VALUE, tolerance_kind=ToleranceKind.RELATIVE,
        ),
    )
    floor = EPS * norm_star
    return Result(
        metrics={"learning_rate": eta, "contraction": rho, "lambda_min": float(lam.min()),
                 "lambda_max": float(lam.max()), "final_relative_error": rel_err[-1],
                 "final_orthogonal": final_orth, "trajectory_deviation": deviation,
                 "perp_w0": perp_w0, "shifted_distance": shifted_distance},
        series={"steps": [float(kk) for kk in steps],
                "relative_error": [max(e, floor) for e in rel_err],
                "exact_prediction": [max(e, floor) for e in rel_exact],
                "contraction_bound": [max(b, floor) for b in bound],
                "orthogonal_component": [max(e, floor) for e in orth_traj]},
        claims=claims,
    )


def figure_min_norm(result: Result) -> dict[str, Figure]:
    s = result.series
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    k = s["steps"]
    ax.semilogy(k, s["relative_error"], "-", lw=2, label="|w_k - X⁺y| / |X⁺y|")
    ax.semilogy(k, s["exact_prediction"], "k:", label="|(I - ηH)^k X⁺y| / |X⁺y| (theory)")
    ax.semilogy(k, s["contraction_bound"], "--", color="grey", label="ρ^k bound")
    ax.semilogy(k, s["orthogonal_component"], "-", label="component ⊥ row space")
    ax.set_xlabel("gradient-descent step k")
    ax.set_title("least squares from 0 → minimum-norm interpolant")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"min-norm": fig}


min_norm_least_squares = register(Experiment(
    name=f"{TOPIC}/min-norm-least-squares",
    title="Gradient descent on least squares from zero finds the minimum-norm interpolant",
    reference="Gunasekar, Lee, Soudry, Srebro 2018; Zhang, Bengio, Hardt, Recht, Vinyals 2017",
    description=(
        "Runs gradient descent on 1/(2n)|Xw - y|^2 with more features than samples, from w_0 = 0. "
        "The iterates stay in the row space of X, where the only interpolant is the "
        "pseudo-inverse solution X^+ y; the error contracts exactly like (I - eta X^T X / n)^k "
        "applied to X^+ y and ends at rounding level. From w_0 != 0 the limit is X^+ y + P_perp "
        "w_0 instead."
    ),
    config_type=MinNormConfig,
    quick=MinNormConfig(n_samples=20, n_features=80, steps=300, records=60),
    full=MinNormConfig(),
    run=run_min_norm,
    figure=figure_min_norm,
))


# =============================================================================================
# 2. Implicit bias of gradient descent on the logistic loss (Soudry et al. 2018)


@dataclass(frozen=True, kw_only=True)
class ImplicitBiasLogisticConfig:
    """Parameters of ``training/implicit-bias-logistic``.

    n_samples: points in R^2: two support vectors z = u + a v and u - b v (u, v orthonormal,
        random; a ~ U[a_range], b ~ U[b_range]) and n_samples - 2 points with u-margin at least
        margin_gap, so that the max-margin direction is u and the non-support transient decays
        like t^(1 - margin_gap). Labels are random signs, x_i = y_i z_i.
    step_fraction: eta = step_fraction / beta, beta = lambda_max(X^T X) / (4 n) the smoothness of
        the mean logistic loss (Soudry et al. need eta < 2 / beta).
    steps: T, the last step; records: log-spaced recorded steps in [10, T].
    fit_decades: the rate fits use the steps in [T / 10^fit_decades, T].
    slope_tolerance: absolute tolerance of the loss slope (theory: -1).
    relative_tolerance: relative tolerance of |w| growth rate, t L(t) and the direction gap
        against their asymptotic predictions.
    offset_tolerance: bound on |w(T) - w_hat log T - w_tilde| / |w_tilde|.
    """

    n_samples: int = 24
    margin_gap: float = 2.0
    a_range: tuple[float, ...] = (2.0, 3.0)
    b_range: tuple[float, ...] = (0.5, 0.7)
    step_fraction: float = 1.0
    steps: int = 1_000_000
    records: int = 61
    fit_decades: float = 2.0
    slope_tolerance: float = 0.02
    relative_tolerance: float = 0.02
    offset_tolerance: float = 0.02

    def __post_init__(self) -> None:
        require_int_range("n_samples", self.n_samples, 2, 10_000)
        require(self.margin_gap > 1, "margin_gap", "a number > 1", self.margin_gap)
        for name in ("a_range", "b_range"):
            r = getattr(self, name)
            require(len(r) == 2 and 0 < r[0] <= r[1], name, "a pair 0 < low <= high", r)
        require(0 < self.step_fraction < 2, "step_fraction", "a number in (0, 2)",
                self.step_fraction)
        require_int_range("steps", self.steps, 1000, 10**8)
        require_int_range("records", self.records, 5, 10_000)
        require(0 < self.fit_decades <= math.log10(self.steps / 10), "fit_decades",
                f"a number in (0, log10(steps / 10) = {math.log10(self.steps / 10):.3g}]",
                self.fit_decades)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("relative_tolerance", self.relative_tolerance)
        require_positive("offset_tolerance", self.offset_tolerance)


def _separable_data(config: ImplicitBiasLogisticConfig, generator: torch.Generator):
    u = torch.randn(2, generator=generator, dtype=DTYPE)
    u = u / u.norm()
    v = torch.stack([-u[1], u[0]])

    def uniform(lo: float, hi: float, size: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(size, generator=generator, dtype=DTYPE)

    a = float(uniform(*config.a_range, 1))
    b = float(uniform(*config.b_range, 1))
    m = config.n_samples - 2
    s = torch.cat([torch.ones(2, dtype=DTYPE), uniform(config.margin_gap,
                                                       config.margin_gap + 1.0, m)])
    t = torch.cat([torch.tensor([a, -b], dtype=DTYPE), uniform(-2.0, 2.0, m)])
    z = s[:, None] * u[None, :] + t[:, None] * v[None, :]
    y = torch.where(torch.rand(config.n_samples, generator=generator) < 0.5, -1.0, 1.0)
    y = y.to(DTYPE)
    return y[:, None] * z, y, u


def _direction_gap(w: torch.Tensor, w_hat: torch.Tensor) -> torch.Tensor:
    w = torch.atleast_2d(w)
    return torch.linalg.norm(w / torch.linalg.norm(w, dim=1, keepdim=True)
                             - w_hat / torch.linalg.norm(w_hat), dim=1)


def run_implicit_bias_logistic(
    config: ImplicitBiasLogisticConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    x, y, u = _separable_data(config, generator)
    n = config.n_samples
    svm = max_margin_classifier(x, y)
    w_hat = svm.weight
    norm_hat = float(torch.linalg.norm(w_hat))
    beta = float(torch.linalg.eigvalsh(x.T @ x)[-1]) / (4 * n)
    eta = config.step_fraction / beta
    w_tilde = logistic_gd_offset(x, y, svm, learning_rate=eta)
    steps = _log_steps(10, config.steps, config.records)
    progress(0, 1)
    traj = linear_gradient_descent(x, y, loss=LinearLoss.LOGISTIC, learning_rate=eta,
                                   steps=config.steps, record_steps=steps)
    progress(1, 1)
    t = torch.tensor(steps, dtype=DTYPE)
    log_t = torch.log(t)
    w = traj.weights
    loss = np.array(traj.loss)
    norms = torch.linalg.norm(w, dim=1)
    gap = _direction_gap(w, w_hat)
    asymptote = log_t[:, None] * w_hat[None, :] + w_tilde[None, :]
    gap_pred = _direction_gap(asymptote, w_hat)
    offset = torch.linalg.norm(w - asymptote, dim=1) / torch.linalg.norm(w_tilde)
    fit = [i for i, k in enumerate(steps) if k >= config.steps / 10**config.fit_decades]
    loss_fit = fit_power_law([steps[i] for i in fit], loss[fit])
    lt = log_t.numpy()[fit]
    norm_slope = float(np.polyfit(lt, norms.numpy()[fit], 1)[0])
    t_loss_limit = norm_hat**2 / eta  # sum_i alpha_i / eta
    t_loss = float(steps[-1] * loss[-1])
    # w = w_hat L + w_tilde (L = log t) makes the angle theta with w_hat, tan theta =
    # ell / (L + c), ell = |P_perp w_tilde| / |w_hat|, c = w_hat . w_tilde / |w_hat|^2: so
    # log t x gap -> ell, and (log t + c) x gap = ell (1 + O(theta^2)) removes the O(1/log t)
    # bias of the plain product.
    perp = w_tilde - (w_tilde @ w_hat) * w_hat / norm_hat**2
    gap_limit = float(torch.linalg.norm(perp)) / norm_hat
    shift = float(w_tilde @ w_hat) / norm_hat**2
    gap_times_log = (log_t * gap).tolist()
    gap_times_shifted_log = ((log_t + shift) * gap).tolist()
    ref = "Soudry, Hoffer, Nacson, Gunasekar, Srebro 2018 (JMLR), Thm 3"
    claims = (
        Claim(
            name="loss-slope",
            statement="the logistic loss decays like 1/t: fitted log-log slope of L(w_t) vs t "
                      f"over the last {config.fit_decades:g} decades",
            reference=ref, predicted=-1.0, measured=loss_fit.slope,
            tolerance=config.slope_tolerance, kind=ClaimKind.RATE,
        ),
        Claim(
            name="loss-constant",
            statement="t L(w_t) -> sum_i alpha_i / eta = |w_hat|^2 / eta (alpha the SVM dual "
                      "variables), at the last step",
            reference=ref, predicted=t_loss_limit, measured=t_loss,
            tolerance=config.relative_tolerance, tolerance_kind=ToleranceKind.RELATIVE,
        ),
        Claim(
            name="norm-growth",
            statement="|w_t| grows like |w_hat| log t: slope of |w_t| against log t over the "
                      f"last {config.fit_decades:g} decades (w_hat scaled to min margin 1)",
            reference=ref, predicted=norm_hat, measured=norm_slope,
            tolerance=config.relative_tolerance, kind=ClaimKind.RATE,
            tolerance_kind=ToleranceKind.RELATIVE,
        ),
        Claim(
            name="offset",
            statement="w_t - w_hat log t -> w_tilde, the solution of (eta/n) exp(-y_i x_i . "
                      "w_tilde) = alpha_i on the support: |w_T - w_hat log T - w_tilde| / "
                      "|w_tilde|",
            reference=ref + ", eq. 8", predicted=0.0, measured=float(offset[-1]),
            tolerance=config.offset_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="gap-times-log-limit",
            statement="the direction gap is ell / log t to leading order: (log T + c) x "
                      "|w_T/|w_T| - w_hat/|w_hat|| = ell = |P_perp w_tilde| / |w_hat|, with the "
                      "constant c = w_hat . w_tilde / |w_hat|^2 of the O(1/log t) correction",
            reference=ref, predicted=gap_limit, measured=gap_times_shifted_log[-1],
            tolerance=config.relative_tolerance, tolerance_kind=ToleranceKind.RELATIVE,
        ),
    )
    return Result(
        metrics={"learning_rate": eta, "w_hat_norm": norm_hat, "margin": svm.margin,
                 "svm_vs_construction": float(torch.linalg.norm(w_hat - u)),
                 "support_size": float(svm.support.sum()),
                 "loss_slope": loss_fit.slope, "norm_slope": norm_slope,
                 "t_loss_final": t_loss, "t_loss_limit": t_loss_limit,
                 "final_gap": float(gap[-1]), "final_gap_predicted": float(gap_pred[-1]),
                 "gap_times_log_limit": gap_limit, "gap_shift": shift,
                 "gap_times_log_final": gap_times_log[-1]},
        series={"steps": [float(k) for k in steps], "loss": loss.tolist(),
                "norm": norms.tolist(), "gap": gap.tolist(), "gap_predicted": gap_pred.tolist(),
                "gap_times_log": gap_times_log, "gap_times_shifted_log": gap_times_shifted_log,
                "offset": offset.tolist(),
                "x1": x[:, 0].tolist(), "x2": x[:, 1].tolist(), "labels": y.tolist(),
                "w_hat": w_hat.tolist(), "w_final": w[-1].tolist()},
        claims=claims,
    )


def figure_implicit_bias_logistic(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    fig = Figure(figsize=(13, 4.2))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    t = np.array(s["steps"])
    ax1.loglog(t, s["loss"], "-", lw=2, label="L(w_t)")
    ax1.loglog(t, mt["t_loss_limit"] / t, "k:", label="|ŵ|² / (η t)")
    ax1.set_xlabel("step t")
    ax1.set_title("loss ~ 1/t")
    ax1.legend(fontsize=8)
    ax2.semilogx(t, s["gap_times_log"], "-", lw=2, label="log t × gap")
    ax2.semilogx(t, s["gap_times_shifted_log"], "-", label="(log t + c) × gap")
    ax2.semilogx(t, np.array(s["gap_predicted"]) * np.log(t), "k:",
                 label="log t × gap of ŵ log t + w̃ (theory)")
    ax2.axhline(mt["gap_times_log_limit"], color="grey", ls="--", label="limit |P⊥ w̃| / |ŵ|")
    # the asymptote is meaningless while log t + c <= 0: keep the measured curves in view
    ax2.set_ylim(0, 1.5 * max(max(s["gap_times_log"]), mt["gap_times_log_limit"]))
    ax2.set_xlabel("step t")
    ax2.set_title("direction gap = O(1 / log t)")
    ax2.legend(fontsize=8)
    x1, x2, lab = np.array(s["x1"]), np.array(s["x2"]), np.array(s["labels"])
    ax3.scatter(x1[lab > 0], x2[lab > 0], marker="+", label="y = +1")
    ax3.scatter(x1[lab < 0], x2[lab < 0], marker="o", facecolors="none", edgecolors="C1",
                label="y = -1")
    r = 1.1 * max(np.abs(x1).max(), np.abs(x2).max())
    for key, style, name in (("w_hat", "k-", "max-margin"), ("w_final", "r--", "GD at t = T")):
        w = np.array(s[key])
        perp = np.array([-w[1], w[0]]) / np.linalg.norm(w)
        ax3.plot([-r * perp[0], r * perp[0]], [-r * perp[1], r * perp[1]], style, label=name)
    ax3.set_xlim(-r, r)
    ax3.set_ylim(-r, r)
    ax3.set_aspect("equal")
    ax3.set_title("decision boundaries")
    ax3.legend(fontsize=8)
    fig.tight_layout()
    return {"implicit-bias-logistic": fig}


implicit_bias_logistic = register(Experiment(
    name=f"{TOPIC}/implicit-bias-logistic",
    title="Gradient descent on separable logistic regression converges to the max-margin direction",
    reference="Soudry, Hoffer, Nacson, Gunasekar, Srebro, JMLR 19 (2018), Thm 3",
    description=(
        "Runs gradient descent with a fixed step on the mean logistic loss of linearly separable "
        "data in the plane for up to millions of steps. The weights diverge like w_hat log t + "
        "w_tilde, with w_hat the hard-margin SVM solution (solved by a convex QP) and w_tilde "
        "given by the SVM dual variables: the loss decays like |w_hat|^2 / (eta t), |w| grows "
        "like |w_hat| log t, and the direction converges to the max-margin one only "
        "logarithmically slowly, gap ~ |P_perp w_tilde| / (|w_hat| log t)."
    ),
    config_type=ImplicitBiasLogisticConfig,
    quick=ImplicitBiasLogisticConfig(steps=100_000, records=41, fit_decades=1.5,
                                     slope_tolerance=0.05, relative_tolerance=0.05,
                                     offset_tolerance=0.05),
    full=ImplicitBiasLogisticConfig(),
    run=run_implicit_bias_logistic,
    figure=figure_implicit_bias_logistic,
))


# =============================================================================================
# 3. Lazy vs mean-field training of two-layer networks (Chizat, Oyallon, Bach 2019)


@dataclass(frozen=True, kw_only=True)
class LazyVsMeanFieldConfig:
    """Parameters of ``training/lazy-vs-mean-field``.

    widths: hidden widths m for the NTK (1/sqrt(m)) and mean-field (1/m) scalings.
    input_dim, n_train: inputs on the sphere of radius sqrt(d); targets sin(2 x.v).
    learning_rate: eta for R = 1/(2n) sum (f - y)^2; the mean-field runs use eta m (each
        particle's gradient is O(1/m); eta m makes it move O(1) in the time eta m K / m).
    steps: gradient-descent steps K (the same time horizon for every width).
    networks_per_width: independent initialisations (the displacement is their RMS).
    alphas, alpha_width: the Chizat-Oyallon-Bach scale factors and the width they use; the
        network is alpha h with h the NTK-scaled network started at h(w_0) = 0 (zero output
        layer), trained on alpha^(-2) R(alpha h) (learning rate eta / alpha^2).
    slope_tolerance: absolute tolerance of the width slopes (theory: -1/2 and 0).
    alpha_slope_tolerance: absolute tolerance of the alpha slope (theory: -1).
    """

    widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    input_dim: int = 4
    n_train: int = 16
    learning_rate: float = 0.5
    steps: int = 400
    networks_per_width: int = 6
    alphas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    alpha_width: int = 256
    slope_tolerance: float = 0.05
    alpha_slope_tolerance: float = 0.03

    def __post_init__(self) -> None:
        require_ints("widths", self.widths, 2, 2**16, min_len=3, increasing=True)
        require_int_range("input_dim", self.input_dim, 1, 1000)
        require_int_range("n_train", self.n_train, 2, 1000)
        require_positive("learning_rate", self.learning_rate)
        require_int_range("steps", self.steps, 1, 10**6)
        require_int_range("networks_per_width", self.networks_per_width, 1, 100)
        require(len(self.alphas) >= 3 and all(a > 0 for a in self.alphas)
                and all(a < b for a, b in zip(self.alphas, self.alphas[1:], strict=False)),
                "alphas", "at least 3 increasing positive numbers", self.alphas)
        require_int_range("alpha_width", self.alpha_width, 1, 2**16)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("alpha_slope_tolerance", self.alpha_slope_tolerance)


def run_lazy_vs_mean_field(
    config: LazyVsMeanFieldConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    d = config.input_dim
    x = torch.randn(config.n_train, d, generator=generator, dtype=DTYPE)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(d)
    v = torch.randn(d, generator=generator, dtype=DTYPE)
    y = torch.sin(2 * x @ (v / v.norm()))
    total = 2 * len(config.widths) * config.networks_per_width + len(config.alphas)
    done = 0
    change: dict[Scaling, list[float]] = {Scaling.NTK: [], Scaling.MEAN_FIELD: []}
    loss_ratio: dict[Scaling, list[float]] = {Scaling.NTK: [], Scaling.MEAN_FIELD: []}
    for scaling in (Scaling.NTK, Scaling.MEAN_FIELD):
        for width in config.widths:
            squares, ratios = [], []
            lr = config.learning_rate * (width if scaling is Scaling.MEAN_FIELD else 1.0)
            for _ in range(config.networks_per_width):
                net = TwoLayerNetwork(d, width, scaling=scaling, generator=generator,
                                      dtype=DTYPE)
                rec = train_gradient_descent(net, x, y, learning_rate=lr, steps=config.steps,
                                             record_every=config.steps)
                squares.append(rec.relative_distance("weight") ** 2)
                ratios.append(rec.train_loss[-1] / rec.train_loss[0])
                done += 1
                progress(done, total)
            change[scaling].append(math.sqrt(sum(squares) / len(squares)))
            loss_ratio[scaling].append(max(ratios))
    # Chizat-Oyallon-Bach: h with h(w_0) = 0, objective alpha^-2 R(alpha h): displacement ~ 1/alpha.
    init = torch.Generator().manual_seed(seed + 1)
    state = init.get_state()
    displacement, alpha_loss = [], []
    for alpha in config.alphas:
        init.set_state(state)  # the same w_0 for every alpha
        net = TwoLayerNetwork(d, config.alpha_width, scaling=Scaling.NTK, alpha=alpha,
                              output_init=OutputInit.ZERO, generator=init, dtype=DTYPE)
        rec = train_gradient_descent(net, x, y, learning_rate=config.learning_rate / alpha**2,
                                     steps=config.steps, record_every=config.steps)
        displacement.append(math.sqrt(sum(dd**2 for dd in rec.parameter_distance.values())))
        alpha_loss.append(rec.train_loss[-1] / rec.train_loss[0])
        done += 1
        progress(done, total)
    ntk_fit = fit_power_law(config.widths, change[Scaling.NTK])
    mf_fit = fit_power_law(config.widths, change[Scaling.MEAN_FIELD])
    alpha_fit = fit_power_law(config.alphas, displacement)
    ref = "Chizat, Oyallon, Bach 2019 (NeurIPS)"
    claims = (
        Claim(
            name="ntk-weight-change-slope",
            statement="NTK scaling (1/sqrt(m), fixed learning rate): |W_K - W_0|_F / |W_0|_F "
                      "decays like m^(-1/2)",
            reference=ref + "; Jacot, Gabriel, Hongler 2018; Du et al. 2019",
            predicted=-0.5, measured=ntk_fit.slope, tolerance=config.slope_tolerance,
            kind=ClaimKind.RATE,
        ),
        Claim(
            name="mean-field-weight-change-slope",
            statement="mean-field scaling (1/m, learning rate eta m): |W_K - W_0|_F / |W_0|_F "
                      "stays of order one: log-log slope in m is 0",
            reference=ref + "; Mei, Montanari, Nguyen 2018; Chizat, Bach 2018",
            predicted=0.0, measured=mf_fit.slope, tolerance=config.slope_tolerance,
            kind=ClaimKind.RATE,
        ),
        Claim(
            name="alpha-displacement-slope",
            statement="objective alpha^-2 R(alpha h), h(w_0) = 0: |w_K - w_0| decays like "
                      "1/alpha",
            reference=ref + ", Thm 2.2", predicted=-1.0, measured=alpha_fit.slope,
            tolerance=config.alpha_slope_tolerance, kind=ClaimKind.RATE,
        ),
    )
    return Result(
        metrics={"ntk_slope": ntk_fit.slope, "mean_field_slope": mf_fit.slope,
                 "alpha_slope": alpha_fit.slope,
                 "max_loss_ratio_ntk": max(loss_ratio[Scaling.NTK]),
                 "max_loss_ratio_mean_field": max(loss_ratio[Scaling.MEAN_FIELD]),
                 "max_loss_ratio_alpha": max(alpha_loss)},
        series={"widths": [float(m) for m in config.widths],
                "ntk_weight_change": change[Scaling.NTK],
                "mean_field_weight_change": change[Scaling.MEAN_FIELD],
                "alphas": list(config.alphas), "alpha_displacement": displacement,
                "alpha_loss_ratio": alpha_loss},
        claims=claims,
    )


def figure_lazy_vs_mean_field(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    w = np.array(s["widths"])
    ntk, mf = np.array(s["ntk_weight_change"]), np.array(s["mean_field_weight_change"])
    ax1.loglog(w, ntk, "o-", label=f"NTK 1/√m, slope {mt['ntk_slope']:.3f}")
    ax1.loglog(w, mf, "s-", label=f"mean field 1/m, slope {mt['mean_field_slope']:.3f}")
    ax1.loglog(w, ntk[0] * (w / w[0]) ** -0.5, ":", color="grey", label="m^(-1/2)")
    ax1.set_xticks(w, [str(int(m)) for m in w])
    ax1.minorticks_off()
    ax1.set_xlabel("width m")
    ax1.set_ylabel("|W_K - W_0|_F / |W_0|_F")
    ax1.set_title("lazy (NTK) vs mean-field scaling")
    ax1.legend(fontsize=8)
    a, disp = np.array(s["alphas"]), np.array(s["alpha_displacement"])
    ax2.loglog(a, disp, "o-", label=f"|w_K - w_0|, slope {mt['alpha_slope']:.3f}")
    ax2.loglog(a, disp[-1] * a[-1] / a, ":", color="grey", label="1/α")
    ax2.set_xlabel("scale α")
    ax2.set_title("α^(-2) R(α h): displacement ~ 1/α")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return {"lazy-vs-mean-field": fig}


lazy_vs_mean_field = register(Experiment(
    name=f"{TOPIC}/lazy-vs-mean-field",
    title="Lazy (NTK) vs mean-field training: how far the weights move",
    reference="Chizat, Oyallon, Bach 2019 (Thm 2.2); Mei, Montanari, Nguyen 2018; "
              "Jacot, Gabriel, Hongler 2018",
    description=(
        "Trains two-layer ReLU networks of growing width by full-batch gradient descent on the "
        "same data and time horizon. Under the NTK scaling 1/sqrt(m) the relative change of the "
        "first layer shrinks like m^(-1/2) (lazy training); under the mean-field scaling 1/m with "
        "the learning rate multiplied by m it stays of order one (features move). With the "
        "Chizat-Oyallon-Bach scale factor, training alpha h on alpha^-2 R(alpha h) from "
        "h(w_0) = 0 moves the weights by O(1/alpha)."
    ),
    config_type=LazyVsMeanFieldConfig,
    quick=LazyVsMeanFieldConfig(widths=(64, 128, 256, 512, 1024), steps=200,
                                networks_per_width=2, alphas=(2.0, 4.0, 8.0, 16.0, 32.0),
                                alpha_width=128, slope_tolerance=0.1,
                                alpha_slope_tolerance=0.05),
    full=LazyVsMeanFieldConfig(),
    run=run_lazy_vs_mean_field,
    figure=figure_lazy_vs_mean_field,
))

from mathdl.training import (  # noqa: E402,F401  (imported to register)
    experiments_diagonal,
    experiments_features,
    experiments_landscape,
    experiments_mean_field,
    experiments_sgd,
)
