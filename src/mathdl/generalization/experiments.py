"""Theorem checks of the generalization topic: the random-feature approximation rate, empirical
Rademacher complexities against their bounds, and double descent of linear regression.

Built only on the public primitives of :mod:`mathdl.generalization` and :mod:`mathdl.stats`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
from mathdl.generalization import (
    FeatureKind,
    RandomFeatureModel,
    empirical_rademacher_complexity,
    feature_kernel,
    fourier_feature_error_constant,
    kernel_expansion_representation,
    l1_ball_rademacher_bound,
    l1_ball_supremum,
    l2_ball_rademacher_bound,
    l2_ball_supremum,
    min_norm_asymptotic_risk,
    min_norm_finite_sample_risk,
    min_norm_least_squares,
    optimal_ridge_penalty,
    path_norm_ball_supremum,
    path_norm_rademacher_bound,
    prediction_risk,
    random_feature_expansion,
    ridge_asymptotic_risk,
    ridge_regression,
    rkhs_ball_rademacher_bound,
    rkhs_ball_supremum,
    rkhs_norm,
    sample_feature_weights,
    sample_isotropic_regression,
)
from mathdl.stats import fit_power_law

TOPIC = "generalization"
DTYPE = torch.float64


def _log_ticks(ax, values) -> None:
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.minorticks_off()


# =============================================================================================
# 1. Random features approximate an RKHS target at ||f||_H / sqrt(m)


@dataclass(frozen=True, kw_only=True)
class RandomFeaturesRateConfig:
    """Parameters of ``generalization/random-features-rate``.

    kinds: feature families (Fourier: Gaussian kernel; ReLU: arc-cosine kernel; the sigmoid
        family is refused, its exact error constant m E||f_m - f||^2 not being derived here).
    dims: input dimensions d; inputs and centers are N(0, I_d).
    widths: numbers of random features m.
    repeats: independent draws of the m features per (kind, d, m); the error is their RMS.
    test_points: fresh inputs per draw on which the L2(rho) error is averaged.
    num_centers: J, the target is f = sum_j c_j k(., z_j) with c_j = 1/J.
    frequency_scale: Fourier frequencies omega ~ N(0, (frequency_scale^2 / d) I_d).
    least_squares_max_width: also fit the coefficients by (nearly ridgeless) least squares on
        2 x (number of feature columns) + 100 samples, one draw per m, for m up to this width
        (0: never).
    norm_samples: Monte Carlo points for ||f||_{L2(rho)}^2 in the ReLU error constant.
    slope_tolerance: absolute tolerance on the fitted log-log slope (theory: -1/2).
    constant_tolerance: relative tolerance on the error constant sqrt(m E||f_m - f||^2).
    bound_sigmas: the bound claims allow this many standard errors of the estimate.
    """

    kinds: tuple[FeatureKind, ...] = (FeatureKind.FOURIER, FeatureKind.RELU)
    dims: tuple[int, ...] = (5, 20, 100)
    widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    repeats: int = 120
    test_points: int = 500
    num_centers: int = 4
    frequency_scale: float = 1.0
    least_squares_max_width: int = 512
    norm_samples: int = 200_000
    slope_tolerance: float = 0.03
    constant_tolerance: float = 0.05
    bound_sigmas: float = 3.0

    def __post_init__(self) -> None:
        require(isinstance(self.kinds, tuple) and len(self.kinds) >= 1
                and all(isinstance(k, FeatureKind) for k in self.kinds)
                and len(set(self.kinds)) == len(self.kinds),
                "kinds", "distinct FeatureKind values", self.kinds)
        # the exact error constant below is derived for these two families only
        require(all(k in (FeatureKind.FOURIER, FeatureKind.RELU) for k in self.kinds), "kinds",
                "FeatureKind.FOURIER or FeatureKind.RELU (exact error constant known)",
                self.kinds)
        require_ints("dims", self.dims, 1, 10_000, increasing=True)
        require_ints("widths", self.widths, 1, 2**16, min_len=3, increasing=True)
        require_int_range("repeats", self.repeats, 4, 100_000)
        require_int_range("test_points", self.test_points, 10, 10**6)
        require_int_range("num_centers", self.num_centers, 1, 1000)
        require_positive("frequency_scale", self.frequency_scale)
        require_int_range("least_squares_max_width", self.least_squares_max_width, 0, 2**16)
        require_int_range("norm_samples", self.norm_samples, 100, 10**8)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("constant_tolerance", self.constant_tolerance)
        require_positive("bound_sigmas", self.bound_sigmas)


def _error_constant(kind: FeatureKind, c, z, sigma: float, norm_sq: float, samples: int,
                    generator: torch.Generator) -> float:
    """m E||f_m - f||^2 in closed form (Fourier), or (1/2)||f||_H^2 - ||f||_rho^2 (ReLU).

    ReLU, rho = N(0, I): E_x relu(w.x)^2 = |w|^2 / 2 = 1/2 for every w on the sphere, so
    m E||f_m - f||^2 = E_w[a(w)^2] / 2 - ||f||_rho^2 = ||f||_H^2 / 2 - ||f||_rho^2 exactly; the
    last term is the integral of the closed-form target, evaluated with ``samples`` points.
    """
    if kind is FeatureKind.FOURIER:
        return float(fourier_feature_error_constant(c, z, frequency_scale=sigma))
    x = torch.randn(samples, z.shape[1], generator=generator, dtype=DTYPE)
    f = feature_kernel(x, z, kind=kind) @ c
    return 0.5 * norm_sq - float(torch.mean(f * f))


def run_random_features_rate(
    config: RandomFeaturesRateConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    ms = config.widths
    total = len(config.kinds) * len(config.dims) * len(ms)
    done = 0
    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {"widths": list(map(float, ms))}
    claims: list[Claim] = []
    ref = ("Rahimi & Recht 2008, Thm 3.2; E, Ma, Wu 2019 (Monte Carlo approximation in the "
           "RKHS / Barron space)")
    for kind in config.kinds:
        for d in config.dims:
            tag = f"{kind.value}-d{d}"
            sigma = config.frequency_scale / math.sqrt(d)
            z = torch.randn(config.num_centers, d, generator=generator, dtype=DTYPE)
            c = torch.full((config.num_centers,), 1.0 / config.num_centers, dtype=DTYPE)
            norm = float(rkhs_norm(c, z, kind=kind, frequency_scale=sigma))
            kappa = 1.0 if kind is FeatureKind.FOURIER else 0.5  # sup_w E_rho |phi(x; w)|^2
            bound = norm * math.sqrt(kappa)
            constant = _error_constant(kind, c, z, sigma, norm * norm, config.norm_samples,
                                       generator)
            represent = kernel_expansion_representation(c, z, kind=kind)
            rms, per_draw, ls_rms = [], [], []
            for m in ms:
                sq = []
                for _ in range(config.repeats):
                    w = sample_feature_weights(kind, m, d, generator=generator,
                                               frequency_scale=sigma)
                    x = torch.randn(config.test_points, d, generator=generator, dtype=DTYPE)
                    f_m = random_feature_expansion(x, w, represent(w), kind=kind)
                    f = feature_kernel(x, z, kind=kind, frequency_scale=sigma) @ c
                    sq.append(float(torch.mean((f_m - f) ** 2)))
                sq_t = torch.tensor(sq, dtype=DTYPE)
                rms.append(math.sqrt(float(sq_t.mean())))
                per_draw.append(float(sq_t.std()) / math.sqrt(len(sq)) * m)  # s.e. of m * MSE
                if m <= config.least_squares_max_width:
                    n_fit = 2 * kind.channels * m + 100
                    x_fit = torch.randn(n_fit, d, generator=generator, dtype=DTYPE)
                    y_fit = feature_kernel(x_fit, z, kind=kind, frequency_scale=sigma) @ c
                    model = RandomFeatureModel(m, kind=kind, ridge=1e-10,
                                               frequency_scale=sigma)
                    model.fit(x_fit, y_fit, generator=generator)
                    x = torch.randn(config.test_points, d, generator=generator, dtype=DTYPE)
                    f = feature_kernel(x, z, kind=kind, frequency_scale=sigma) @ c
                    ls_rms.append(math.sqrt(float(torch.mean((model.predict(x) - f) ** 2))))
                done += 1
                progress(done, total)
            fit = fit_power_law(ms, rms)
            # pooled m * MSE over all widths estimates the constant C (exact: E = C / m)
            pooled_sq = sum(r * r * m for r, m in zip(rms, ms, strict=True)) / len(ms)
            pooled = math.sqrt(pooled_sq)
            pooled_sq_se = math.sqrt(sum(s * s for s in per_draw)) / len(ms)
            pooled_se = pooled_sq_se / (2 * pooled)  # delta method for the square root
            series[f"rms_{tag}"] = rms
            if ls_rms:
                series[f"least_squares_{tag}"] = ls_rms
                series[f"least_squares_widths_{tag}"] = list(map(float, ms[:len(ls_rms)]))
            metrics.update({
                f"slope_{tag}": fit.slope, f"slope_stderr_{tag}": fit.slope_stderr,
                f"rkhs_norm_{tag}": norm, f"bound_constant_{tag}": bound,
                f"error_constant_{tag}": pooled, f"error_constant_stderr_{tag}": pooled_se,
                f"predicted_constant_{tag}": math.sqrt(max(constant, 0.0)),
            })
            claims.append(Claim(
                name=f"slope-{tag}",
                statement=f"the L2(rho) error of the Monte Carlo random-feature approximant "
                          f"({kind.value} features, d = {d}) decays like m^(-1/2)",
                reference=ref, predicted=-0.5, measured=fit.slope,
                tolerance=config.slope_tolerance, kind=ClaimKind.RATE,
            ))
            claims.append(Claim(
                name=f"constant-{tag}",
                statement="sqrt(m) x RMS error equals sqrt(E_x Var_w[a(w) phi(x; w)]) "
                          + ("(closed form for Gaussian inputs)" if kind is FeatureKind.FOURIER
                             else "= sqrt(||f||_H^2 / 2 - ||f||_rho^2) (exact for ReLU features "
                                  "and Gaussian inputs)"),
                reference=ref, predicted=math.sqrt(max(constant, 0.0)), measured=pooled,
                tolerance=config.constant_tolerance, tolerance_kind=ToleranceKind.RELATIVE,
            ))
            claims.append(Claim(
                name=f"bound-{tag}",
                statement=f"sqrt(m) x RMS error <= ||f||_H sqrt(kappa), kappa = sup_w E|phi|^2 "
                          f"= {kappa:g} (within {config.bound_sigmas:g} standard errors)",
                reference=ref, predicted=bound, measured=pooled,
                tolerance=config.bound_sigmas * pooled_se, kind=ClaimKind.UPPER_BOUND,
            ))
            if ls_rms:
                ls_pooled = math.sqrt(sum(e * e * m for e, m in zip(ls_rms, ms, strict=False))
                                      / len(ls_rms))
                metrics[f"least_squares_constant_{tag}"] = ls_pooled
                claims.append(Claim(
                    name=f"least-squares-{tag}",
                    statement="coefficients fitted by least squares on the same kind of features "
                              "do at least as well as the bound: sqrt(m) x error, pooled over m "
                              "like the Monte Carlo constant, <= ||f||_H sqrt(kappa)",
                    reference=ref, predicted=bound, measured=ls_pooled, tolerance=0.0,
                    kind=ClaimKind.UPPER_BOUND,
                ))
    return Result(metrics=metrics, series=series, claims=tuple(claims))


def figure_random_features_rate(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    ms = s["widths"]
    tags = [k[4:] for k in s if k.startswith("rms_")]
    fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for tag in tags:
        line, = ax1.loglog(ms, s[f"rms_{tag}"], "o-", ms=3, lw=1,
                           label=f"{tag}: slope {mt[f'slope_{tag}']:.3f}")
        b = mt[f"bound_constant_{tag}"]
        ax1.loglog(ms, [b / math.sqrt(m) for m in ms], ":", color=line.get_color(), lw=1)
        if f"least_squares_{tag}" in s:
            ls_ms = s[f"least_squares_widths_{tag}"]
            ax2.loglog(ls_ms, [e * math.sqrt(m) / b for e, m in
                               zip(s[f"least_squares_{tag}"], ls_ms, strict=True)], "s--",
                       ms=3, lw=1, color=line.get_color(), label=f"least squares {tag}")
        ax2.loglog(ms, [e * math.sqrt(m) / b for e, m in zip(s[f"rms_{tag}"], ms, strict=True)],
                   "o-", ms=3, lw=1, color=line.get_color(), label=f"Monte Carlo {tag}")
    _log_ticks(ax1, ms)
    ax1.set_xlabel("random features m")
    ax1.set_ylabel("RMS ||f_m - f||_L2(rho)")
    ax1.set_title("Monte Carlo approximant (dotted: ||f||_H sqrt(κ/m))")
    ax1.legend(fontsize=7)
    ax2.axhline(1.0, color="grey", lw=0.8, ls=":")
    _log_ticks(ax2, ms)
    ax2.set_xlabel("random features m")
    ax2.set_ylabel("sqrt(m) x error / (||f||_H sqrt(κ))")
    ax2.set_title("error constant relative to the bound")
    ax2.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return {"random-features-rate": fig}


random_features_rate = register(Experiment(
    name=f"{TOPIC}/random-features-rate",
    title="Random features approximate an RKHS target at ||f||_H / sqrt(m)",
    reference="Rahimi & Recht 2008, Thm 3.2; Bach 2017; E, Ma, Wu 2019",
    description=(
        "A target f = sum_j c_j k(., z_j) in the RKHS of the random-feature kernel (Gaussian "
        "kernel for Fourier features, arc-cosine kernel for ReLU features on the sphere) has "
        "the minimal representation a(w) = sum_j c_j phi(z_j; w), so E|a|^2 = ||f||_H^2. The "
        "Monte Carlo approximant f_m = (1/m) sum_k a(w_k) phi(x; w_k) is unbiased with "
        "E||f_m - f||^2 = E_x Var_w[a phi] / m <= kappa ||f||_H^2 / m in every dimension. "
        "Checked: the log-log slope -1/2 in m, the exact constant, the bound, and that a "
        "least-squares fit on the same features does no worse than the bound."
    ),
    config_type=RandomFeaturesRateConfig,
    quick=RandomFeaturesRateConfig(
        dims=(5, 50), widths=(16, 64, 256, 1024), repeats=40, test_points=400,
        least_squares_max_width=256, norm_samples=50_000, slope_tolerance=0.06,
        constant_tolerance=0.1,
    ),
    full=RandomFeaturesRateConfig(),
    run=run_random_features_rate,
    figure=figure_random_features_rate,
))


# =============================================================================================
# 2. Empirical Rademacher complexity against its bounds


@dataclass(frozen=True, kw_only=True)
class RademacherConfig:
    """Parameters of ``generalization/rademacher``.

    sample_sizes: n, the data x_i uniform on [-1, 1]^d (fresh data per n).
    num_signs: sign vectors per Monte Carlo estimate.
    dim: d of the linear and RKHS classes.
    path_norm_dim: d of the path-norm ball (the exact supremum needs d <= 2).
    radius: Q, the radius of every ball.
    frequency_scale: the RKHS is that of exp(-sigma^2 |x - x'|^2 / 2), sigma = this / sqrt(d).
    slope_tolerance: absolute tolerance on the fitted log-log slope in n (theory: -1/2).
    bound_sigmas: the bound claims allow this many standard errors of the estimate.
    """

    sample_sizes: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096)
    num_signs: int = 1000
    dim: int = 10
    path_norm_dim: int = 2
    radius: float = 1.0
    frequency_scale: float = 1.0
    slope_tolerance: float = 0.05
    bound_sigmas: float = 3.0

    def __post_init__(self) -> None:
        require_ints("sample_sizes", self.sample_sizes, 2, 2**16, min_len=3, increasing=True)
        require_int_range("num_signs", self.num_signs, 10, 10**6)
        require_int_range("dim", self.dim, 1, 10_000)
        require_int_range("path_norm_dim", self.path_norm_dim, 1, 2)
        require_positive("radius", self.radius)
        require_positive("frequency_scale", self.frequency_scale)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("bound_sigmas", self.bound_sigmas)


_RADEMACHER_CLASSES = {
    "l2": ("the l2 ball of linear predictors", "Q max|x|_2 / sqrt(n)",
           "Shalev-Shwartz & Ben-David 2014, Lemma 26.10"),
    "l1": ("the l1 ball of linear predictors", "Q max|x|_inf sqrt(2 ln(2d) / n)",
           "Shalev-Shwartz & Ben-David 2014, Lemma 26.11 (Massart)"),
    "rkhs": ("the RKHS ball of the Gaussian kernel", "Q sqrt(sup k / n) = Q / sqrt(n)",
             "Bartlett & Mendelson 2002, Lemma 22"),
    "path-norm": ("the path-norm ball of two-layer ReLU networks",
                  "2Q max|x|_inf sqrt(2 ln(2d) / n)", "E, Ma, Wu 2019, Thm 6"),
}


def run_rademacher(
    config: RademacherConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    q = config.radius
    ns = config.sample_sizes
    total, done = len(ns) * len(_RADEMACHER_CLASSES), 0
    series: dict[str, list[float]] = {"sample_sizes": list(map(float, ns))}
    metrics: dict[str, float] = {}
    claims: list[Claim] = []
    for name in _RADEMACHER_CLASSES:
        estimates, errors, bounds = [], [], []
        d = config.path_norm_dim if name == "path-norm" else config.dim
        for n in ns:
            x = 2.0 * torch.rand(n, d, generator=generator, dtype=DTYPE) - 1.0
            if name == "l2":
                sup, bound = (lambda s, x=x: l2_ball_supremum(x, s, radius=q),
                              l2_ball_rademacher_bound(x, radius=q))
            elif name == "l1":
                sup, bound = (lambda s, x=x: l1_ball_supremum(x, s, radius=q),
                              l1_ball_rademacher_bound(x, radius=q))
            elif name == "rkhs":
                gram = feature_kernel(x, kind=FeatureKind.FOURIER,
                                      frequency_scale=config.frequency_scale / math.sqrt(d))
                sup, bound = (lambda s, k=gram: rkhs_ball_supremum(k, s, radius=q),
                              rkhs_ball_rademacher_bound(gram, radius=q))
            else:
                sup, bound = (lambda s, x=x: path_norm_ball_supremum(x, s, radius=q),
                              path_norm_rademacher_bound(x, radius=q))
            est = empirical_rademacher_complexity(sup, n, num_samples=config.num_signs,
                                                  generator=generator)
            estimates.append(est.mean)
            errors.append(est.stderr)
            bounds.append(bound)
            done += 1
            progress(done, total)
        fit = fit_power_law(ns, estimates)
        ratios = [e / b for e, b in zip(estimates, bounds, strict=True)]
        worst = max(range(len(ns)), key=lambda i: ratios[i])
        series[f"estimate_{name}"] = estimates
        series[f"stderr_{name}"] = errors
        series[f"bound_{name}"] = bounds
        metrics[f"slope_{name}"] = fit.slope
        metrics[f"slope_stderr_{name}"] = fit.slope_stderr
        metrics[f"max_ratio_to_bound_{name}"] = ratios[worst]
        what, formula, ref = _RADEMACHER_CLASSES[name]
        claims.append(Claim(
            name=f"{name}-below-bound",
            statement=f"the Monte Carlo empirical Rademacher complexity of {what} is at most "
                      f"{formula} at every n (ratio to the bound <= 1 within "
                      f"{config.bound_sigmas:g} standard errors)",
            reference=ref, predicted=1.0, measured=ratios[worst],
            tolerance=config.bound_sigmas * errors[worst] / bounds[worst],
            kind=ClaimKind.UPPER_BOUND,
        ))
        claims.append(Claim(
            name=f"{name}-slope",
            statement=f"the empirical Rademacher complexity of {what} decays like n^(-1/2)",
            reference=ref, predicted=-0.5, measured=fit.slope,
            tolerance=config.slope_tolerance, kind=ClaimKind.RATE,
        ))
    return Result(metrics=metrics, series=series, claims=tuple(claims))


def figure_rademacher(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    ns = s["sample_sizes"]
    fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for name in _RADEMACHER_CLASSES:
        est, bound = s[f"estimate_{name}"], s[f"bound_{name}"]
        line, = ax1.loglog(ns, est, "o-", ms=3, lw=1,
                           label=f"{name}: slope {mt[f'slope_{name}']:.3f}")
        ax1.loglog(ns, bound, "--", lw=1, color=line.get_color())
        ax2.semilogx(ns, [e / b for e, b in zip(est, bound, strict=True)], "o-", ms=3, lw=1,
                     color=line.get_color(), label=name)
    for ax in (ax1, ax2):
        _log_ticks(ax, [int(n) for n in ns])
        ax.set_xlabel("sample size n")
    ax1.set_ylabel("empirical Rademacher complexity")
    ax1.set_title("Monte Carlo estimate (solid) and bound (dashed)")
    ax1.legend(fontsize=7)
    ax2.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax2.set_ylim(0, 1.1)
    ax2.set_ylabel("estimate / bound")
    ax2.set_title("all below 1")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"rademacher": fig}


rademacher = register(Experiment(
    name=f"{TOPIC}/rademacher",
    title="Empirical Rademacher complexity: below its bounds, decaying as n^(-1/2)",
    reference="Bartlett & Mendelson 2002; Shalev-Shwartz & Ben-David 2014, ch. 26; "
              "E, Ma, Wu 2019, Thm 6",
    description=(
        "Estimates E_sigma sup_f (1/n) sum_i sigma_i f(x_i) by Monte Carlo over sign vectors for "
        "four classes whose supremum is explicit: the l2 and l1 balls of linear predictors (dual "
        "norms), the unit ball of the Gaussian-kernel RKHS (sqrt(sigma^T K sigma)), and the "
        "path-norm ball of two-layer ReLU networks (a supremum over single neurons, enumerated "
        "exactly in d = 2). Claims: each estimate sits below its bound and decays as n^(-1/2)."
    ),
    config_type=RademacherConfig,
    quick=RademacherConfig(sample_sizes=(64, 128, 256, 512, 1024), num_signs=500,
                           slope_tolerance=0.1),
    full=RademacherConfig(),
    run=run_rademacher,
    figure=figure_rademacher,
))


# =============================================================================================
# 3. Double descent of min-norm linear regression; optimal ridge removes the peak


@dataclass(frozen=True, kw_only=True)
class DoubleDescentLinearConfig:
    """Parameters of ``generalization/double-descent-linear``.

    n: sample size; p = round(ratio * n) features for each ratio gamma.
    ratios: gamma = p / n (none equal to 1).
    repeats: minimum number of data sets per ratio.
    feature_budget: at least feature_budget / p data sets per ratio (small p needs more draws
        for the same relative standard error).
    signal: r = |beta|; noise: sigma.
    peak_distance: ratios with |gamma - 1| < this are "near the peak".
    tolerance: relative tolerance of simulation vs closed form away from the peak (and for
        optimal ridge everywhere); peak_tolerance: near the peak.
    """

    n: int = 400
    ratios: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.3,
                                 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0)
    repeats: int = 50
    feature_budget: int = 100_000
    signal: float = 1.0
    noise: float = 0.5
    peak_distance: float = 0.25
    tolerance: float = 0.03
    peak_tolerance: float = 0.1

    def __post_init__(self) -> None:
        require_int_range("n", self.n, 20, 100_000)
        require(isinstance(self.ratios, tuple) and len(self.ratios) >= 4
                and all(isinstance(g, float) and math.isfinite(g) and g > 0 for g in self.ratios)
                and all(a < b for a, b in zip(self.ratios, self.ratios[1:], strict=False)),
                "ratios", "at least 4 strictly increasing positive numbers", self.ratios)
        require(any(g < 1 for g in self.ratios) and any(g > 1 for g in self.ratios), "ratios",
                "ratios on both sides of 1", self.ratios)
        ps = [round(g * self.n) for g in self.ratios]
        require(all(p >= 1 and abs(p - self.n) > 1 for p in ps), "ratios",
                f"round(ratio * n) >= 1 and |round(ratio * n) - n| > 1 for n = {self.n}",
                self.ratios)
        require_int_range("repeats", self.repeats, 2, 100_000)
        require_int_range("feature_budget", self.feature_budget, 1, 10**9)
        require_positive("signal", self.signal)
        require_positive("noise", self.noise)
        require_positive("peak_distance", self.peak_distance)
        require_positive("tolerance", self.tolerance)
        require_positive("peak_tolerance", self.peak_tolerance)


_BATCH_ENTRIES = 8_000_000  # entries of the stacked designs (R, n, p) held at once


def run_double_descent_linear(
    config: DoubleDescentLinearConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    n, r, sigma = config.n, config.signal, config.noise
    gammas = list(config.ratios)
    sim_mn, sim_ridge, se_mn, se_ridge = [], [], [], []
    theory_mn, theory_ridge, exact_mn, lambdas, draws = [], [], [], [], []
    for i, gamma in enumerate(gammas):
        p = round(gamma * n)
        lam = optimal_ridge_penalty(gamma, signal=r, noise=sigma)
        reps = max(config.repeats, math.ceil(config.feature_budget / p))
        risks_mn, risks_ridge = [], []
        chunk = max(1, _BATCH_ENTRIES // (n * p))  # data sets solved together
        for start in range(0, reps, chunk):
            x, y, beta = sample_isotropic_regression(n, p, signal=r, noise=sigma,
                                                     generator=generator,
                                                     repeats=min(chunk, reps - start))
            risks_mn.append(prediction_risk(min_norm_least_squares(x, y), beta))
            risks_ridge.append(prediction_risk(ridge_regression(x, y, ridge=lam), beta))
        t_mn = torch.cat(risks_mn)
        t_ridge = torch.cat(risks_ridge)
        sim_mn.append(float(t_mn.mean()))
        sim_ridge.append(float(t_ridge.mean()))
        se_mn.append(float(t_mn.std()) / math.sqrt(reps))
        se_ridge.append(float(t_ridge.std()) / math.sqrt(reps))
        theory_mn.append(min_norm_asymptotic_risk(gamma, signal=r, noise=sigma))
        theory_ridge.append(ridge_asymptotic_risk(gamma, lam, signal=r, noise=sigma))
        exact_mn.append(min_norm_finite_sample_risk(n, p, signal=r, noise=sigma))
        lambdas.append(lam)
        draws.append(float(reps))
        progress(i + 1, len(gammas))

    def deviation(sim: list[float], theory: list[float], keep) -> tuple[float, float]:
        devs = [(abs(s / t - 1.0), g) for s, t, g in zip(sim, theory, gammas, strict=True)
                if keep(g)]
        return max(devs) if devs else (0.0, float("nan"))

    far = lambda g: abs(g - 1.0) >= config.peak_distance  # noqa: E731
    under, at_under = deviation(sim_mn, theory_mn, lambda g: g < 1 and far(g))
    over, at_over = deviation(sim_mn, theory_mn, lambda g: g > 1 and far(g))
    near, at_near = deviation(sim_mn, theory_mn, lambda g: not far(g))
    ridge_dev, at_ridge = deviation(sim_ridge, theory_ridge, lambda g: True)
    peak = gammas[max(range(len(gammas)), key=lambda i: sim_mn[i])]
    below = max(g for g in gammas if g < 1)
    above = min(g for g in gammas if g > 1)
    ridge_max = max(sim_ridge)
    ref = "Hastie, Montanari, Rosset, Tibshirani 2022 (Ann. Stat.), Thms 1, 2 and 5, Cor. 5"
    claims = [
        Claim(name="min-norm-underparameterized",
              statement=f"for gamma < 1 (|gamma - 1| >= {config.peak_distance:g}) the simulated "
                        "risk of least squares equals sigma^2 gamma / (1 - gamma) (largest "
                        f"relative deviation, at gamma = {at_under:g})",
              reference=ref, predicted=0.0, measured=under, tolerance=config.tolerance),
        Claim(name="min-norm-overparameterized",
              statement=f"for gamma > 1 (|gamma - 1| >= {config.peak_distance:g}) the simulated "
                        "risk of the min-norm interpolator equals r^2 (1 - 1/gamma) + "
                        "sigma^2 / (gamma - 1) (largest relative deviation, at gamma = "
                        f"{at_over:g})",
              reference=ref, predicted=0.0, measured=over, tolerance=config.tolerance),
        Claim(name="peak-location",
              statement="the simulated min-norm risk is largest at a ratio adjacent to "
                        f"gamma = 1 ({below:g} or {above:g})",
              reference=ref, predicted=1.0, measured=peak,
              tolerance=max(1.0 - below, above - 1.0) + 1e-9),
        Claim(name="optimal-ridge-closed-form",
              statement="with lambda* = sigma^2 gamma / r^2 the simulated ridge risk equals "
                        "sigma^2 gamma m(-lambda*) (Marchenko-Pastur Stieltjes transform) at "
                        f"every gamma (largest relative deviation, at gamma = {at_ridge:g})",
              reference=ref, predicted=0.0, measured=ridge_dev, tolerance=config.tolerance),
        Claim(name="optimal-ridge-no-peak",
              statement="the optimally tuned ridge risk stays below the null risk r^2 at every "
                        "gamma, including next to gamma = 1 where the min-norm risk peaks",
              reference=ref, predicted=r * r, measured=ridge_max, tolerance=0.0,
              kind=ClaimKind.UPPER_BOUND),
    ]
    if any(not far(g) for g in gammas):
        claims.insert(2, Claim(
            name="min-norm-near-peak",
            statement=f"near the peak (|gamma - 1| < {config.peak_distance:g}) the simulated "
                      "min-norm risk matches the closed form within the looser peak tolerance "
                      f"(largest relative deviation, at gamma = {at_near:g})",
            reference=ref, predicted=0.0, measured=near, tolerance=config.peak_tolerance))
    metrics = {
        "peak_ratio": peak, "max_ridge_risk": ridge_max,
        "min_norm_risk_below_peak": sim_mn[gammas.index(below)],
        "min_norm_risk_above_peak": sim_mn[gammas.index(above)],
        "max_relative_deviation_min_norm": max(under, over),
        "max_relative_deviation_near_peak": near,
        "max_relative_deviation_ridge": ridge_dev,
    }
    # the closed forms on a fine grid, for the figure (a gap where |gamma - 1| < 0.01)
    grid = [gammas[0] * (gammas[-1] / gammas[0]) ** (k / 399) for k in range(400)]
    curve_mn = [min_norm_asymptotic_risk(g, signal=r, noise=sigma) if abs(g - 1) >= 0.01
                else float("nan") for g in grid]
    curve_ridge = [ridge_asymptotic_risk(g, optimal_ridge_penalty(g, signal=r, noise=sigma),
                                         signal=r, noise=sigma) for g in grid]
    series = {
        "curve_ratios": grid, "curve_min_norm": curve_mn, "curve_ridge": curve_ridge,
        "ratios": gammas, "min_norm_simulated": sim_mn, "min_norm_stderr": se_mn,
        "min_norm_asymptotic": [t if math.isfinite(t) else float("nan") for t in theory_mn],
        "min_norm_exact_finite_n": exact_mn, "ridge_simulated": sim_ridge,
        "ridge_stderr": se_ridge, "ridge_asymptotic": theory_ridge, "ridge_penalty": lambdas,
        "data_sets": draws,
    }
    return Result(metrics=metrics, series=series, claims=tuple(claims))


def figure_double_descent_linear(result: Result) -> dict[str, Figure]:
    s = result.series
    fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for ax in (ax1, ax2):
        ax.plot(s["curve_ratios"], s["curve_min_norm"], "-", color="C0", lw=1,
                label="min-norm: closed form (HMRT Thms 1-2)")
        ax.plot(s["curve_ratios"], s["curve_ridge"], "-", color="C1", lw=1,
                label="optimal ridge: closed form σ²γ m(-λ*)")
        ax.errorbar(s["ratios"], s["min_norm_simulated"], yerr=s["min_norm_stderr"], fmt="o",
                    ms=3, color="C0", label="min-norm: simulated")
        ax.errorbar(s["ratios"], s["ridge_simulated"], yerr=s["ridge_stderr"], fmt="s", ms=3,
                    color="C1", label="optimal ridge: simulated")
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("γ = p / n")
        ax.set_ylabel("test risk E(x·β̂ - x·β)²")
    finite = [v for v in s["min_norm_simulated"] if math.isfinite(v)]
    ax1.set_yscale("log")
    ax1.set_ylim(0.5 * min(min(finite), min(s["ridge_simulated"])), 3.0 * max(finite))
    ax1.set_title("double descent (log scale)")
    ax1.legend(fontsize=7)
    ax2.set_ylim(0, 1.15 * max(finite))
    ax2.set_title(f"peak next to γ = 1 (at {result.metrics['peak_ratio']:g}); ridge has none")
    fig.tight_layout()
    return {"double-descent-linear": fig}


double_descent_linear = register(Experiment(
    name=f"{TOPIC}/double-descent-linear",
    title="Double descent of min-norm least squares; optimal ridge removes the peak",
    reference="Hastie, Montanari, Rosset, Tibshirani 2022, Ann. Stat. 50, Thms 1, 2, 5",
    description=(
        "Isotropic Gaussian features x ~ N(0, I_p), y = x.beta + noise, n samples, p = gamma n. "
        "The min-norm least-squares estimator X^+ y has the limit risk sigma^2 gamma/(1-gamma) "
        "below the interpolation threshold and r^2 (1 - 1/gamma) + sigma^2/(gamma - 1) above "
        "it, exploding at gamma = 1; ridge with the optimal penalty lambda* = sigma^2 gamma / r^2 "
        "has the risk sigma^2 gamma m(-lambda*) (Marchenko-Pastur Stieltjes transform), below "
        "r^2 everywhere. Simulated risks are compared with the closed forms."
    ),
    config_type=DoubleDescentLinearConfig,
    quick=DoubleDescentLinearConfig(
        n=200, ratios=(0.2, 0.4, 0.6, 0.8, 0.9, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0), repeats=20,
        feature_budget=40_000, tolerance=0.06, peak_tolerance=0.2,
    ),
    full=DoubleDescentLinearConfig(),
    run=run_double_descent_linear,
    figure=figure_double_descent_linear,
))

from mathdl.generalization import (  # noqa: E402  (imported to register)
    experiments_barron,  # noqa: F401
    experiments_extra,  # noqa: F401
    experiments_rf,  # noqa: F401
)
