"""Theorem checks on Barron space: ``generalization/barron-approximation`` (the Monte Carlo rate
of two-layer networks without a curse of dimensionality, and path norms of approximants of a
Barron and a non-Barron function) and ``generalization/path-norm-estimator`` (E, Ma & Wu's
path-norm-regularised estimator against its a priori bound).

Built only on the public primitives of :mod:`mathdl.generalization` and :mod:`mathdl.stats`;
registered on import by :mod:`mathdl.generalization.experiments`.
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
    PathNormRegularizedEstimator,
    a_priori_bound,
    fit_path_norm_lasso,
    monte_carlo_approximant,
    monte_carlo_error_constant,
    norm_barron_coefficient,
    path_norm,
    path_norm_rademacher_bound,
    random_barron_target,
    sphere_distance,
)
from mathdl.stats import fit_power_law
from mathdl.training import OutputInit, Scaling, TwoLayerNetwork

DTYPE = torch.float64
REFERENCE = ("Barron 1993; E, Ma & Wu 2019 (Commun. Math. Sci.), approximation theorem; "
             "E & Wojtowytsch 2020 (Representation formulas and pointwise properties for "
             "Barron functions)")


@dataclass(frozen=True, kw_only=True)
class BarronApproximationConfig:
    """Parameters of ``generalization/barron-approximation``.

    Part 1 (the Monte Carlo rate). For each d in ``dims`` a target f = E_rho[a relu(w.x + b)]
    with rho the empirical measure of ``num_atoms`` atoms (w uniform on the sphere,
    b ~ U[-bias_scale, bias_scale], a ~ N(1, 1)); inputs x uniform on [-1, 1]^d.
    widths: m, the number of importance-sampled atoms of the approximant f_m.
    repeats: independent approximants per (d, m); the error is the RMS over them.
    test_points: fresh inputs per approximant on which ||f_m - f||_L2 is averaged.
    constant_points: inputs on which the exact constant m E||f_m - f||^2 is evaluated.
    slope_tolerance: absolute tolerance on the log-log slope (theory -1/2). The RMS over R
        repeats of a squared error has relative error about sqrt(2/R) per width; over the
        width range the slope error is about that divided by log(m_max/m_min).
    constant_tolerance: relative tolerance of sqrt(m x MSE) pooled over m against the exact
        constant sqrt(P^2 E E sigma^2 - ||f||^2) (same Monte Carlo error, without the log).

    Part 2 (path norms of good approximants, d = 2, x uniform on [-domain, domain]^2). Targets
    |x| (Barron: |x| = A_2 E_u relu(u.x), path norm 2d = 4) and dist(x, S^1) = ||x| - 1| (not
    Barron). A two-layer network over a fixed dictionary of neurons relu(u.x + b) (``angles``
    directions u on the circle x ``biases`` offsets in [-bias_range, bias_range], plus b = 0) is
    fitted by the path-norm-penalised least squares for each penalty in ``penalties``
    (decreasing, warm started, ``iterations`` FISTA steps each) on ``fit_points`` samples; the
    L2 error on ``error_points`` fresh samples and the path norm are recorded.
    tail: the growth slope d log(path norm) / d log(1/error) is fitted on the last ``tail``
        penalties (the accurate end of the path).
    barron_slope_tolerance: for |x| the path norm converges to a finite limit (at most the
        representation's 2d plus the lasso bound's R(g)/lambda), so the tail slope tends to 0;
        the tolerance allows its approach from below over the finite tail.
    growth_threshold: for dist(x, S^1) the path norm must diverge as the error -> 0 (E &
        Wojtowytsch); the tail slope must exceed this level, twice the Barron tolerance, so the
        two cases are separated.
    norm_bound_tolerance: relative slack on the lasso bound ||theta*||_P <= ||g||_P + R(g) /
        lambda for |x| (g = the representation discretised on the dictionary), allowing for the
        inexact FISTA minimiser.
    """

    dims: tuple[int, ...] = (5, 20, 100)
    widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    repeats: int = 40
    test_points: int = 500
    constant_points: int = 20_000
    num_atoms: int = 2000
    bias_scale: float = 0.5
    slope_tolerance: float = 0.03
    constant_tolerance: float = 0.05
    angles: int = 48
    biases: int = 48
    bias_range: float = 2.2
    domain: float = 1.5
    fit_points: int = 1500
    error_points: int = 3000
    penalties: tuple[float, ...] = (0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001)
    iterations: int = 800
    tail: int = 4
    barron_slope_tolerance: float = 0.15
    growth_threshold: float = 0.3
    norm_bound_tolerance: float = 0.05

    def __post_init__(self) -> None:
        require_ints("dims", self.dims, 1, 10_000, increasing=True)
        require_ints("widths", self.widths, 1, 2**20, min_len=3, increasing=True)
        require_int_range("repeats", self.repeats, 2, 100_000)
        require_int_range("test_points", self.test_points, 10, 10**7)
        require_int_range("constant_points", self.constant_points, 10, 10**8)
        require_int_range("num_atoms", self.num_atoms, 1, 10**7)
        require(isinstance(self.bias_scale, int | float) and not isinstance(self.bias_scale, bool)
                and math.isfinite(self.bias_scale) and self.bias_scale >= 0, "bias_scale",
                "a finite number >= 0", self.bias_scale)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("constant_tolerance", self.constant_tolerance)
        require_int_range("angles", self.angles, 4, 100_000)
        require_int_range("biases", self.biases, 2, 100_000)
        require_positive("bias_range", self.bias_range)
        require_positive("domain", self.domain)
        require(self.domain > 1.0, "domain", "a half-width > 1 (the unit circle inside)",
                self.domain)
        require_int_range("fit_points", self.fit_points, 10, 10**7)
        require_int_range("error_points", self.error_points, 10, 10**7)
        require(isinstance(self.penalties, tuple) and len(self.penalties) >= 3
                and all(isinstance(p, float) and math.isfinite(p) and p > 0
                        for p in self.penalties)
                and all(a > b for a, b in zip(self.penalties, self.penalties[1:], strict=False)),
                "penalties", "at least 3 strictly decreasing positive floats", self.penalties)
        require_int_range("iterations", self.iterations, 1, 10**7)
        require_int_range("tail", self.tail, 2, len(self.penalties))
        require_positive("barron_slope_tolerance", self.barron_slope_tolerance)
        require_positive("growth_threshold", self.growth_threshold)
        require_positive("norm_bound_tolerance", self.norm_bound_tolerance)


def _monte_carlo_rate(config: BarronApproximationConfig, d: int, generator: torch.Generator,
                      tick) -> tuple[dict[str, float], dict[str, list[float]], list[Claim]]:
    target = random_barron_target(d, config.num_atoms, generator=generator,
                                  bias_scale=config.bias_scale)
    p = float(path_norm(target).detach())
    x_c = 2 * torch.rand(config.constant_points, d, generator=generator, dtype=DTYPE) - 1
    constant = math.sqrt(max(monte_carlo_error_constant(target, x_c), 0.0))
    with torch.no_grad():
        f_norm = float(target(x_c).pow(2).mean().sqrt())
    rms, path_norms = [], []
    for m in config.widths:
        sq, pn = [], []
        for _ in range(config.repeats):
            approx = monte_carlo_approximant(target, m, generator=generator)
            x = 2 * torch.rand(config.test_points, d, generator=generator, dtype=DTYPE) - 1
            with torch.no_grad():
                sq.append(float((approx(x) - target(x)).pow(2).mean()))
                pn.append(float(path_norm(approx)))
        rms.append(math.sqrt(sum(sq) / len(sq)))
        path_norms.append(max(pn))
        tick()
    fit = fit_power_law(config.widths, rms)
    pooled = math.sqrt(sum(r * r * m for r, m in zip(rms, config.widths, strict=True))
                       / len(rms))
    tag = f"d{d}"
    worst_pn = max(path_norms)
    metrics = {f"slope_{tag}": fit.slope, f"slope_stderr_{tag}": fit.slope_stderr,
               f"path_norm_target_{tag}": p, f"error_constant_{tag}": pooled,
               f"predicted_constant_{tag}": constant, f"target_l2_norm_{tag}": f_norm,
               f"max_path_norm_approximants_{tag}": worst_pn}
    series = {f"rms_{tag}": rms}
    claims = [
        Claim(name=f"slope-{tag}",
              statement=f"the L2 error of the m-term Monte Carlo approximant of a Barron target "
                        f"in d = {d} decays like m^(-1/2) (log-log slope)",
              reference=REFERENCE, predicted=-0.5, measured=fit.slope,
              tolerance=config.slope_tolerance, kind=ClaimKind.RATE),
        Claim(name=f"constant-{tag}",
              statement="sqrt(m) x RMS error equals sqrt(P^2 E_x E_rho~ relu(u.x + c)^2 - "
                        "||f||^2) (exact variance of the importance-sampled approximant)",
              reference=REFERENCE, predicted=constant, measured=pooled,
              tolerance=config.constant_tolerance, tolerance_kind=ToleranceKind.RELATIVE),
        Claim(name=f"bound-{tag}",
              statement="sqrt(m) x RMS error <= ||f||_B max(1, sup|x|_inf) = P for x in "
                        "[-1, 1]^d (P: path norm of the representation, c = 1)",
              reference=REFERENCE, predicted=p, measured=pooled, tolerance=0.0,
              kind=ClaimKind.UPPER_BOUND),
        Claim(name=f"path-norm-{tag}",
              statement="every approximant has path norm <= the Barron norm of the "
                        "representation (equal by construction of the importance sampling)",
              reference=REFERENCE, predicted=p, measured=worst_pn, tolerance=1e-9,
              kind=ClaimKind.UPPER_BOUND, tolerance_kind=ToleranceKind.RELATIVE),
    ]
    return metrics, series, claims


def _dictionary(config: BarronApproximationConfig) -> tuple[torch.Tensor, torch.Tensor]:
    theta = torch.arange(config.angles, dtype=DTYPE) * (2 * math.pi / config.angles)
    u = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    b = torch.linspace(-config.bias_range, config.bias_range, config.biases, dtype=DTYPE)
    if not bool((b == 0).any()):
        b = torch.cat([b, torch.zeros(1, dtype=DTYPE)])
    return u.repeat_interleave(b.shape[0], dim=0), b.repeat(config.angles)


def _path_norm_growth(config: BarronApproximationConfig, generator: torch.Generator, tick
                      ) -> tuple[dict[str, float], dict[str, list[float]], list[Claim]]:
    weight, bias = _dictionary(config)
    x = config.domain * (2 * torch.rand(config.fit_points, 2, generator=generator,
                                        dtype=DTYPE) - 1)
    x_err = config.domain * (2 * torch.rand(config.error_points, 2, generator=generator,
                                            dtype=DTYPE) - 1)
    targets = {"norm": lambda z: torch.linalg.vector_norm(z, dim=1), "dist": sphere_distance}
    # the representation |x| = A_2 E_u relu(u.x) discretised on the dictionary's b = 0 atoms
    zero = bias == 0
    g_out = torch.zeros(weight.shape[0], dtype=DTYPE)
    g_out[zero] = norm_barron_coefficient(2) * weight.shape[0] / int(zero.sum())
    g = TwoLayerNetwork(2, weight.shape[0], scaling=Scaling.MEAN_FIELD, bias=True,
                        output_init=OutputInit.ZERO, dtype=DTYPE)
    with torch.no_grad():
        g.weight.copy_(weight)
        g.bias.copy_(bias)
        g.output.copy_(g_out)
        g_risk = float((g(x) - targets["norm"](x)).pow(2).mean()) / 2
    g_norm = float(path_norm(g).detach())
    metrics: dict[str, float] = {"representation_path_norm_norm": g_norm,
                                 "representation_risk_norm": g_risk}
    series: dict[str, list[float]] = {"penalties": list(config.penalties)}
    slopes = {}
    worst_ratio = 0.0
    for name, f in targets.items():
        y, y_err = f(x), f(x_err)
        net = None
        errors, norms, widths = [], [], []
        for lam in config.penalties:
            net = fit_path_norm_lasso(x, y, weight, bias, penalty=lam,
                                      iterations=config.iterations, initial=net)
            with torch.no_grad():
                errors.append(float((net(x_err) - y_err).pow(2).mean().sqrt()))
                norms.append(float(path_norm(net)))
                widths.append(float((net.output != 0).sum()))
            if name == "norm":
                worst_ratio = max(worst_ratio, norms[-1] / (g_norm + g_risk / lam))
            tick()
        k = config.tail
        fit = fit_power_law([1.0 / e for e in errors[-k:]], norms[-k:])
        slopes[name] = fit.slope
        series[f"error_{name}"] = errors
        series[f"path_norm_{name}"] = norms
        series[f"active_neurons_{name}"] = widths
        metrics[f"growth_slope_{name}"] = fit.slope
        metrics[f"final_error_{name}"] = errors[-1]
        metrics[f"final_path_norm_{name}"] = norms[-1]
    metrics["max_ratio_to_lasso_bound_norm"] = worst_ratio
    ref = ("E & Wojtowytsch 2020 (Barron functions are differentiable outside a countable "
           "union of hyperplanes; dist(x, S^{d-1}) is not Barron)")
    claims = [
        Claim(name="norm-path-norm-bounded",
              statement="for |x| (Barron, representation path norm 2d = 4) the path norm of "
                        "every penalised fit is at most ||g||_P + R(g) / lambda (g: the "
                        "representation on the dictionary); largest ratio over the penalties",
              reference=REFERENCE, predicted=1.0, measured=worst_ratio,
              tolerance=config.norm_bound_tolerance, kind=ClaimKind.UPPER_BOUND),
        Claim(name="norm-path-norm-flat",
              statement="for |x| the path norm of increasingly accurate fits levels off: slope "
                        "of log(path norm) against log(1/error) on the accurate end -> 0",
              reference=ref, predicted=0.0, measured=slopes["norm"],
              tolerance=config.barron_slope_tolerance, kind=ClaimKind.RATE),
        Claim(name="dist-path-norm-grows",
              statement="for dist(x, S^1) the path norm of increasingly accurate fits grows "
                        "without bound: slope of log(path norm) against log(1/error) above "
                        f"{config.growth_threshold:g}",
              reference=ref, predicted=config.growth_threshold, measured=slopes["dist"],
              tolerance=0.0, kind=ClaimKind.LOWER_BOUND),
    ]
    return metrics, series, claims


def run_barron_approximation(config: BarronApproximationConfig, *, seed: int,
                             progress: Progress = no_progress) -> Result:
    generator = torch.Generator().manual_seed(seed)
    total = len(config.dims) * len(config.widths) + 2 * len(config.penalties)
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(done[0], total)

    metrics: dict[str, float] = {}
    series: dict[str, list[float]] = {"widths": [float(m) for m in config.widths]}
    claims: list[Claim] = []
    for d in config.dims:
        mt, se, cl = _monte_carlo_rate(config, d, generator, tick)
        metrics.update(mt)
        series.update(se)
        claims.extend(cl)
    mt, se, cl = _path_norm_growth(config, generator, tick)
    metrics.update(mt)
    series.update(se)
    claims.extend(cl)
    return Result(metrics=metrics, series=series, claims=tuple(claims))


def figure_barron_approximation(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    ms = s["widths"]
    tags = [k[4:] for k in s if k.startswith("rms_")]
    fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for tag in tags:
        rel = [e / mt[f"path_norm_target_{tag}"] for e in s[f"rms_{tag}"]]
        line, = ax1.loglog(ms, rel, "o-", ms=3, lw=1,
                           label=f"{tag}: slope {mt[f'slope_{tag}']:.3f}")
        c = mt[f"predicted_constant_{tag}"] / mt[f"path_norm_target_{tag}"]
        ax1.loglog(ms, [c / math.sqrt(m) for m in ms], ":", color=line.get_color(), lw=1)
    ax1.loglog(ms, [1 / math.sqrt(m) for m in ms], "k--", lw=0.8, label="bound 1/sqrt(m)")
    ax1.set_xlabel("width m")
    ax1.set_ylabel("RMS ||f_m - f||_L2 / P  (P >= ||f||_B)")
    ax1.set_title("Monte Carlo approximants (dotted: exact variance)")
    ax1.legend(fontsize=7)
    for name, label in (("norm", "|x| (Barron)"), ("dist", "dist(x, S^1) (not Barron)")):
        ax2.loglog([1 / e for e in s[f"error_{name}"]], s[f"path_norm_{name}"], "o-", ms=3,
                   label=f"{label}: tail slope {mt[f'growth_slope_{name}']:.2f}")
    ax2.axhline(4.0, color="grey", lw=0.8, ls=":", label="2d = 4")
    ax2.set_xlabel("1 / L2 error of the penalised fit")
    ax2.set_ylabel("path norm")
    ax2.set_title("path norm of good approximants, d = 2")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"barron-approximation": fig}


barron_approximation = register(Experiment(
    name="generalization/barron-approximation",
    title="Two-layer networks approximate Barron functions at ||f||_B / sqrt(m) in every d; "
          "dist(x, S^{d-1}) is not Barron",
    reference=REFERENCE,
    description=(
        "A target f = E_rho[a relu(w.x + b)] with a known representation rho is approximated by "
        "m atoms importance-sampled from |a|(|w|_1 + |b|) rho: unbiased, with path norm equal "
        "to that of rho and m E||f_m - f||^2 = P^2 E E relu^2 - ||f||^2 <= P^2 on [-1, 1]^d. "
        "Checked for d in (5, 20, 100): slope -1/2 in m, the exact constant, the bound. Then, "
        "in d = 2, path-norm-penalised fits over a dense dictionary of neurons with decreasing "
        "penalty: for |x| (Barron, path norm 2d) the path norm levels off below the bound, for "
        "dist(x, S^1) = ||x| - 1| it grows as the error decreases."
    ),
    config_type=BarronApproximationConfig,
    quick=BarronApproximationConfig(
        dims=(5, 20), widths=(16, 64, 256, 1024), repeats=24, test_points=300,
        constant_points=5000, num_atoms=500, slope_tolerance=0.08, constant_tolerance=0.1,
        angles=24, biases=24, fit_points=600, error_points=1000,
        penalties=(0.01, 0.003, 0.001, 0.0003, 0.0001), iterations=400, tail=3,
    ),
    full=BarronApproximationConfig(),
    run=run_barron_approximation,
    figure=figure_barron_approximation,
))




# =============================================================================================
# generalization/path-norm-estimator

ESTIMATOR_REFERENCE = ("E, Ma & Wu 2019, A priori estimates of the population risk for two-layer "
                       "neural networks (Commun. Math. Sci. 17), a priori estimate and Thm 6")


@dataclass(frozen=True, kw_only=True)
class PathNormEstimatorConfig:
    """Parameters of ``generalization/path-norm-estimator``.

    dim: d; inputs x uniform on [-1, 1]^d (|x|_inf <= 1 as in E, Ma & Wu).
    num_atoms, bias_scale: the Barron target f = E_rho[a relu(w.x + b)] (as in
        ``barron-approximation``); its representation's path norm P >= ||f||_B.
    noise: label noise sigma, y = f(x) + sigma N(0, 1).
    sample_sizes: n, fresh data per n.
    width: m of the estimator; penalty: lambda in R_n + lambda sqrt(log(2d)/n) ||theta||_P.
    learning_rate, steps: full-batch Adam.
    test_points: fresh inputs on which the excess risk E(f_hat - f)^2 is evaluated.
    repeats: independent data sets (and initialisations) per n; their excess risks and gaps
        are averaged.
    widths: m of the width sweep at n = the largest sample size (one data set, shared).
    slope_tolerance: the a priori bound decays like n^(-1/2) in the estimation-dominated regime
        (||f||_B^2 / m is small at this width); the excess risk must decay at least that fast:
        fitted slope <= -1/2 + tolerance. The slope of single-draw risks over a factor 2^k in n
        has a standard error of about 0.1 (quick, 3 sizes) / 0.06 (full), hence 0.15 / 0.1.
    width_tolerance: the bound ||f||_B^2/m + ||f||_B sqrt(log(2d)/n) does not grow with m (the
        path norm, not the parameter count, controls the estimation error), so the fitted slope
        of the excess risk against m must be <= 0 + tolerance (one data set: the risk fluctuates
        by ~10-20% between widths through the initialisation, over 1-2 decades of m).
    """

    dim: int = 5
    num_atoms: int = 500
    bias_scale: float = 0.5
    noise: float = 0.3
    sample_sizes: tuple[int, ...] = (100, 200, 400, 800, 1600, 3200)
    width: int = 32
    penalty: float = 1.0
    learning_rate: float = 0.01
    steps: int = 1000
    test_points: int = 5000
    repeats: int = 3
    widths: tuple[int, ...] = (8, 32, 128, 512)
    slope_tolerance: float = 0.1
    width_tolerance: float = 0.1

    def __post_init__(self) -> None:
        require_int_range("dim", self.dim, 1, 10_000)
        require_int_range("repeats", self.repeats, 1, 10_000)
        require_ints("widths", self.widths, 1, 10**6, min_len=2, increasing=True)
        require_positive("width_tolerance", self.width_tolerance)
        require_int_range("num_atoms", self.num_atoms, 1, 10**7)
        require(isinstance(self.bias_scale, int | float) and not isinstance(self.bias_scale, bool)
                and math.isfinite(self.bias_scale) and self.bias_scale >= 0, "bias_scale",
                "a finite number >= 0", self.bias_scale)
        require_positive("noise", self.noise)
        require_ints("sample_sizes", self.sample_sizes, 2, 10**7, min_len=3, increasing=True)
        require_int_range("width", self.width, 1, 10**6)
        require_positive("penalty", self.penalty)
        require_positive("learning_rate", self.learning_rate)
        require_int_range("steps", self.steps, 1, 10**7)
        require_int_range("test_points", self.test_points, 10, 10**8)
        require_positive("slope_tolerance", self.slope_tolerance)


def run_path_norm_estimator(config: PathNormEstimatorConfig, *, seed: int,
                            progress: Progress = no_progress) -> Result:
    generator = torch.Generator().manual_seed(seed)
    d = config.dim
    target = random_barron_target(d, config.num_atoms, generator=generator,
                                  bias_scale=config.bias_scale)
    p = float(path_norm(target).detach())
    x_test = 2 * torch.rand(config.test_points, d, generator=generator, dtype=DTYPE) - 1
    with torch.no_grad():
        f_test = target(x_test)
    sigma2 = config.noise**2
    total = len(config.sample_sizes) * config.repeats + len(config.widths)
    done = 0

    def one_fit(n: int, width: int) -> tuple[float, float, float, float, float]:
        """Excess risk, gap, gap bound, path norm, training risk of one fit on fresh data."""
        x = 2 * torch.rand(n, d, generator=generator, dtype=DTYPE) - 1
        with torch.no_grad():
            f = target(x)
        y = f + config.noise * torch.randn(n, generator=generator, dtype=DTYPE)
        est = PathNormRegularizedEstimator(width, penalty=config.penalty,
                                           learning_rate=config.learning_rate,
                                           steps=config.steps)
        est.fit(x, y, generator=generator)
        y_test = f_test + config.noise * torch.randn(config.test_points, generator=generator,
                                                      dtype=DTYPE)
        pred_test = est.predict(x_test)
        e = float((pred_test - f_test).pow(2).mean())
        test_risk = 0.5 * (e + sigma2)  # population risk E (f_hat - y)^2 / 2
        # the half-square loss is L-Lipschitz in f on the range it is evaluated on
        lip = max(float((est.predict(x) - y).abs().max()),
                  float((pred_test - y_test).abs().max()))
        rad = path_norm_rademacher_bound(x, radius=max(est.path_norm_, 1e-12))
        return e, test_risk - est.train_risk_, 2.0 * lip * rad, est.path_norm_, est.train_risk_

    excess, gaps, gap_bounds, norms, train_risks, bounds = [], [], [], [], [], []
    for n in config.sample_sizes:
        runs = []
        for _ in range(config.repeats):
            runs.append(one_fit(n, config.width))
            done += 1
            progress(done, total)
        mean = [sum(r[j] for r in runs) / len(runs) for j in range(5)]
        excess.append(mean[0])
        gaps.append(mean[1])
        gap_bounds.append(min(r[2] for r in runs))
        norms.append(max(r[3] for r in runs))
        train_risks.append(mean[4])
        bounds.append(a_priori_bound(p, width=config.width, n=n, dim=d, penalty=config.penalty))
    width_excess = []
    for m in config.widths:
        width_excess.append(one_fit(config.sample_sizes[-1], m)[0])
        done += 1
        progress(done, total)
    width_fit = fit_power_law(config.widths, width_excess)
    ns = config.sample_sizes
    fit = fit_power_law(ns, excess)
    ratio = max(g / b for g, b in zip(gaps, gap_bounds, strict=True))  # mean gap / least bound
    worst_pn = max(norms)
    claims = (
        Claim(name="excess-risk-rate",
              statement="the excess risk E(f_hat - f)^2 of the path-norm-regularised network "
                        "decays at least like the a priori bound's estimation term "
                        "||f||_B sqrt(log(2d)/n): log-log slope in n <= -1/2",
              reference=ESTIMATOR_REFERENCE, predicted=-0.5, measured=fit.slope,
              tolerance=config.slope_tolerance, kind=ClaimKind.UPPER_BOUND),
        Claim(name="generalization-gap-below-rademacher-bound",
              statement="at every n the generalisation gap R(theta) - R_n(theta) is at most "
                        "2 L Rad_n, Rad_n <= 2 ||theta||_P max|x|_inf sqrt(2 log(2d)/n) "
                        "(path_norm_rademacher_bound; L = max |f - y|); largest ratio",
              reference=ESTIMATOR_REFERENCE, predicted=1.0, measured=ratio, tolerance=0.0,
              kind=ClaimKind.UPPER_BOUND),
        Claim(name="no-overfitting-in-width",
              statement=f"at n = {ns[-1]} the excess risk does not grow with the width m (the "
                        "bound ||f||_B^2/m + ||f||_B sqrt(log(2d)/n) is decreasing in m): "
                        "log-log slope in m <= 0",
              reference=ESTIMATOR_REFERENCE, predicted=0.0, measured=width_fit.slope,
              tolerance=config.width_tolerance, kind=ClaimKind.UPPER_BOUND),
        Claim(name="path-norm-bounded",
              statement="the path norm of the estimate stays below the Barron norm bound of the "
                        "target (the path norm P of its representation) at every n",
              reference=ESTIMATOR_REFERENCE, predicted=p, measured=worst_pn, tolerance=0.0,
              kind=ClaimKind.UPPER_BOUND),
    )
    metrics = {"excess_risk_slope": fit.slope, "excess_risk_slope_stderr": fit.slope_stderr,
               "target_path_norm": p, "max_estimate_path_norm": worst_pn,
               "max_gap_to_bound_ratio": ratio, "final_excess_risk": excess[-1],
               "width_slope": width_fit.slope}
    series = {"sample_sizes": [float(n) for n in ns], "excess_risk": excess,
              "generalization_gap": gaps, "gap_bound": gap_bounds, "path_norm": norms,
              "train_risk": train_risks, "a_priori_bound_shape": bounds,
              "widths": [float(m) for m in config.widths], "width_excess_risk": width_excess}
    return Result(metrics=metrics, series=series, claims=claims)


def figure_path_norm_estimator(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    ns = s["sample_sizes"]
    fig = Figure(figsize=(14, 4.4))
    ax1, ax3, ax2 = fig.subplots(1, 3)
    ax1.loglog(ns, s["excess_risk"], "o-", ms=3, label=f"excess risk (slope "
               f"{mt['excess_risk_slope']:.2f})")
    c = s["excess_risk"][0] * math.sqrt(ns[0])
    ax1.loglog(ns, [c / math.sqrt(n) for n in ns], "k:", lw=1, label="n^(-1/2)")
    ax1.set_xlabel("sample size n")
    ax3.loglog(s["widths"], s["width_excess_risk"], "s-", ms=3,
               label=f"slope {mt['width_slope']:.2f}")
    ax3.set_xlabel(f"width m (n = {ns[-1]:g})")
    ax3.set_ylabel("E (f_hat - f)^2")
    ax3.set_title("no overfitting as m grows")
    ax3.legend(fontsize=7)
    ax1.set_ylabel("E (f_hat - f)^2")
    ax1.set_title("path-norm-regularised two-layer network")
    ax1.legend(fontsize=7)
    ax2.loglog(ns, [abs(g) for g in s["generalization_gap"]], "o-", ms=3,
               label="|generalisation gap|")
    ax2.loglog(ns, s["gap_bound"], "s--", ms=3, label="2 L x Rademacher bound")
    ax2.set_xlabel("sample size n")
    ax2.set_title(f"path norm of the estimate <= {mt['max_estimate_path_norm']:.3g}")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"path-norm-estimator": fig}


path_norm_estimator = register(Experiment(
    name="generalization/path-norm-estimator",
    title="The path-norm-regularised two-layer network: risk and gap follow the a priori bound",
    reference=ESTIMATOR_REFERENCE,
    description=(
        "Noisy samples of a Barron target in d = 5, a width-m ReLU network in the 1/m scaling "
        "trained by full-batch Adam on R_n + lambda sqrt(log(2d)/n) ||theta||_P. E, Ma & Wu's "
        "a priori estimate bounds the population risk by ||f||_B^2/m + ||f||_B sqrt(log(2d)/n) "
        "(up to constants and logs) and the path norm of the estimate by ||f||_B. Checked: the "
        "excess risk decays at least like n^(-1/2), the generalisation gap stays below twice "
        "the Lipschitz constant times the path-norm Rademacher bound, the path norm stays "
        "bounded."
    ),
    config_type=PathNormEstimatorConfig,
    quick=PathNormEstimatorConfig(sample_sizes=(100, 400, 1600), steps=150, repeats=1,
                                  widths=(8, 64), learning_rate=0.05, test_points=2000,
                                  slope_tolerance=0.15, width_tolerance=0.15),
    full=PathNormEstimatorConfig(),
    run=run_path_norm_estimator,
    figure=figure_path_norm_estimator,
))


__all__ = ["BarronApproximationConfig", "PathNormEstimatorConfig", "barron_approximation",
           "path_norm_estimator", "run_barron_approximation", "run_path_norm_estimator"]
