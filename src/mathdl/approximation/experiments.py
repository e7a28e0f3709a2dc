"""Theorem checks of the approximation topic: the curse of dimensionality.

Built only on the public primitives of :mod:`mathdl.approximation` and :mod:`mathdl.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from mathdl.approximation import (
    NodeFamily,
    PiecewiseLinearScheme,
    barycentric_interpolate,
    chebyshev_nodes,
    equispaced_nodes,
    gaussian_product,
    gaussian_product_integral,
    gaussian_product_variance,
    grid_values,
    interpolation_error_rate,
    midpoint_rule,
    monte_carlo_integral,
    piecewise_linear_interpolate,
    runge_function,
)
from mathdl.atlas import (
    Claim,
    ClaimKind,
    Experiment,
    Progress,
    Result,
    SweepObservation,
    ToleranceKind,
    no_progress,
    register,
    require,
    require_int_range,
    require_ints,
    require_positive,
)
from mathdl.stats import fit_exponential_rate, fit_power_law

TOPIC = "approximation"


def _geometric_ints(low: int, high: int, count: int) -> list[int]:
    """Up to ``count`` distinct integers spread geometrically over [low, high]."""
    if high <= low:
        return [low]
    values = torch.logspace(math.log10(low), math.log10(high), count, dtype=torch.float64)
    return sorted({int(round(v)) for v in values.tolist()})


# =============================================================================================
# 1. Monte Carlo versus the tensor-product midpoint rule


@dataclass(frozen=True, kw_only=True)
class MonteCarloVsGridConfig:
    """Parameters of ``approximation/monte-carlo-vs-grid``.

    dims: dimensions d at which Monte Carlo is measured.
    mc_sizes: sample sizes m of the Monte Carlo estimator.
    mc_repeats: independent estimates per (d, m) for the RMS error.
    grid_dims: dimensions at which the midpoint rule's rate in m is fitted.
    grid_max_points: largest number of midpoint-rule nodes n**d used for the rate fit.
    budget: the common number of function evaluations at which both methods are compared.
    sharpness: s in the integrand exp(-s |x - 1/2|^2).
    mc_slope_tolerance, grid_slope_tolerance: absolute tolerances on the fitted log-log slopes.
    mc_constant_tolerance: relative tolerance on sigma_d, the Monte Carlo error constant.
    """

    dims: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 20)
    mc_sizes: tuple[int, ...] = (100, 316, 1000, 3162, 10000, 31623, 100000)
    mc_repeats: int = 200
    grid_dims: tuple[int, ...] = (1, 2, 3, 4)
    grid_max_points: int = 2**20
    budget: int = 100000
    sharpness: float = 1.0
    mc_slope_tolerance: float = 0.05
    grid_slope_tolerance: float = 0.05
    mc_constant_tolerance: float = 0.1

    def __post_init__(self) -> None:
        require_ints("dims", self.dims, 1, 64, increasing=True)
        require_ints("mc_sizes", self.mc_sizes, 2, 10**7, min_len=3, increasing=True)
        require_int_range("mc_repeats", self.mc_repeats, 4, 100000)
        require_ints("grid_dims", self.grid_dims, 1, 8, increasing=True)
        require_int_range("grid_max_points", self.grid_max_points, 64, 2**26)
        for d in self.grid_dims:
            require(self.grid_max_points >= 16**d, "grid_max_points",
                    f"at least 16**d = {16**d} nodes for every d in grid_dims (d = {d})",
                    self.grid_max_points)
        require_int_range("budget", self.budget, 2, 2**26)
        require_positive("sharpness", self.sharpness)
        require_positive("mc_slope_tolerance", self.mc_slope_tolerance)
        require_positive("grid_slope_tolerance", self.grid_slope_tolerance)
        require_positive("mc_constant_tolerance", self.mc_constant_tolerance)


def _mc_rms_error(d: int, m: int, repeats: int, s: float, generator: torch.Generator) -> float:
    f = lambda x: gaussian_product(x, sharpness=s)  # noqa: E731
    estimates = monte_carlo_integral(f, d, m, generator=generator, repeats=repeats)
    exact = gaussian_product_integral(d, sharpness=s)
    return float(torch.sqrt(torch.mean((estimates - exact) ** 2)))


def _grid_error(d: int, n: int, s: float) -> float:
    f = lambda x: gaussian_product(x, sharpness=s)  # noqa: E731
    return abs(float(midpoint_rule(f, d, n)) - gaussian_product_integral(d, sharpness=s))


def run_monte_carlo_vs_grid(
    config: MonteCarloVsGridConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    s = config.sharpness
    total = len(config.dims) * (len(config.mc_sizes) + 1) + len(config.grid_dims)
    done = 0
    series: dict[str, list[float]] = {"mc_sizes": list(map(float, config.mc_sizes))}
    metrics: dict[str, float] = {}
    claims: list[Claim] = []
    ref_mc = "Monte Carlo error: sqrt(Var f / m) whatever d (central limit theorem)"
    ref_grid = "Tensor-product midpoint rule: error O(n^-2) = O(m^(-2/d)) for f in C^2"

    # Monte Carlo: RMS error against m, for every d.
    for d in config.dims:
        rms = []
        for m in config.mc_sizes:
            rms.append(_mc_rms_error(d, m, config.mc_repeats, s, generator))
            done += 1
            progress(done, total)
        series[f"mc_rms_d{d}"] = rms
        fit = fit_power_law(config.mc_sizes, rms)
        metrics[f"mc_slope_d{d}"] = fit.slope
        claims.append(Claim(
            name=f"mc-slope-d{d}",
            statement=f"Monte Carlo RMS error decays like m^(-1/2) in d = {d}",
            reference=ref_mc, predicted=-0.5, measured=fit.slope,
            tolerance=config.mc_slope_tolerance, kind=ClaimKind.RATE,
        ))
    # The constant: RMS * sqrt(m) pooled over all m equals sigma_d = sqrt(Var f) (closed form).
    d_max = config.dims[-1]
    pooled = math.sqrt(sum(r**2 * m for r, m in zip(series[f"mc_rms_d{d_max}"],
                                                     config.mc_sizes, strict=True))
                       / len(config.mc_sizes))
    sigma = math.sqrt(gaussian_product_variance(d_max, sharpness=s))
    metrics["mc_constant_measured"] = pooled
    metrics["mc_constant_predicted"] = sigma
    claims.append(Claim(
        name=f"mc-constant-d{d_max}",
        statement=f"RMS error x sqrt(m) equals the standard deviation of f in d = {d_max}",
        reference=ref_mc, predicted=sigma, measured=pooled,
        tolerance=config.mc_constant_tolerance, tolerance_kind=ToleranceKind.RELATIVE,
    ))

    # Midpoint rule: error against m = n**d, for small d.
    for d in config.grid_dims:
        n_max = int(math.floor(config.grid_max_points ** (1 / d) + 1e-9))
        ns = _geometric_ints(4, n_max, 8)
        errors = [_grid_error(d, n, s) for n in ns]
        ms = [float(n**d) for n in ns]
        series[f"grid_m_d{d}"] = ms
        series[f"grid_error_d{d}"] = errors
        fit = fit_power_law(ms, errors)
        metrics[f"grid_slope_d{d}"] = fit.slope
        claims.append(Claim(
            name=f"grid-slope-d{d}",
            statement=f"midpoint-rule error decays like m^(-2/d) in d = {d}",
            reference=ref_grid, predicted=-2.0 / d, measured=fit.slope,
            tolerance=config.grid_slope_tolerance, kind=ClaimKind.RATE,
        ))
        done += 1
        progress(done, total)

    # Both methods at (about) the same budget of function evaluations, for every d.
    grid_at_budget, mc_at_budget, budget_m = [], [], []
    for d in config.dims:
        n = max(1, int(math.floor(config.budget ** (1 / d) + 1e-9)))
        m = n**d
        budget_m.append(float(m))
        grid_at_budget.append(_grid_error(d, n, s))
        mc_at_budget.append(_mc_rms_error(d, m, config.mc_repeats, s, generator))
        done += 1
        progress(done, total)
    series["budget_dims"] = list(map(float, config.dims))
    series["budget_m"] = budget_m
    series["grid_error_at_budget"] = grid_at_budget
    series["mc_rms_at_budget"] = mc_at_budget
    crossover = next((d for d, g, mc in zip(config.dims, grid_at_budget, mc_at_budget,
                                            strict=True) if mc < g), float("nan"))
    metrics["crossover_dimension"] = float(crossover)
    return Result(metrics=metrics, series=series, claims=tuple(claims))


def figure_monte_carlo_vs_grid(result: Result) -> dict[str, Figure]:
    s = result.series
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    ms = s["mc_sizes"]
    for key in sorted((k for k in s if k.startswith("mc_rms_d")), key=lambda k: int(k[8:])):
        ax1.loglog(ms, s[key], "o-", ms=3, lw=1, label=f"MC d={key[8:]}")
    for key in sorted((k for k in s if k.startswith("grid_error_d")), key=lambda k: int(k[12:])):
        d = key[12:]
        ax1.loglog(s[f"grid_m_d{d}"], s[key], "s--", ms=3, lw=1, label=f"grid d={d}")
    ax1.set_xlabel("function evaluations m")
    ax1.set_ylabel("error")
    ax1.set_title("Monte Carlo: m^(-1/2) for every d; grid: m^(-2/d)")
    ax1.legend(fontsize=7, ncol=2)
    dims = s["budget_dims"]
    ax2.semilogy(dims, s["grid_error_at_budget"], "s--", label="midpoint rule")
    ax2.semilogy(dims, s["mc_rms_at_budget"], "o-", label="Monte Carlo (RMS)")
    crossover = result.metrics.get("crossover_dimension", float("nan"))
    if math.isfinite(crossover):
        ax2.axvline(crossover, color="grey", lw=0.8, ls=":")
    ax2.set_xlabel("dimension d")
    ax2.set_ylabel("error at the budget")
    ax2.set_title(f"equal budget; Monte Carlo wins from d = {crossover:g}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return {"errors": fig}


monte_carlo_vs_grid = register(Experiment(
    name=f"{TOPIC}/monte-carlo-vs-grid",
    title="Monte Carlo beats grids in high dimension",
    reference="Curse of dimensionality: midpoint rule O(m^(-2/d)) vs Monte Carlo O(m^(-1/2)) "
              "(e.g. Novak & Wozniakowski 2008; E, Ma, Wu 2020 §2)",
    description=(
        "Integrates f(x) = exp(-s|x - 1/2|^2) over [0,1]^d, whose integral and variance are known "
        "in closed form, by plain Monte Carlo and by the tensor-product midpoint rule. The Monte "
        "Carlo RMS error is sigma_d m^(-1/2) in every dimension; the grid error is O(m^(-2/d)). "
        "At an equal budget of function evaluations, the dimension where Monte Carlo overtakes "
        "the grid is reported."
    ),
    config_type=MonteCarloVsGridConfig,
    quick=MonteCarloVsGridConfig(
        dims=(1, 2, 4, 8, 20), mc_sizes=(100, 316, 1000, 3162, 10000), mc_repeats=200,
        grid_dims=(1, 2, 3), grid_max_points=2**14, budget=10000,
        mc_slope_tolerance=0.1, grid_slope_tolerance=0.1, mc_constant_tolerance=0.15,
    ),
    full=MonteCarloVsGridConfig(),
    run=run_monte_carlo_vs_grid,
    figure=figure_monte_carlo_vs_grid,
))


# =============================================================================================
# 2. Piecewise-linear interpolation on uniform grids


@dataclass(frozen=True, kw_only=True)
class PiecewiseLinearConfig:
    """Parameters of ``approximation/piecewise-linear-cod``.

    dims: dimensions d.
    max_grid_points: largest grid size N = n**d used in each dimension.
    eval_points: uniform random points at which the L2 error is estimated.
    scheme: simplicial (P1 on the Kuhn triangulation) or multilinear (Q1) interpolation.
    sharpness: s in the target exp(-s |x - 1/2|^2).
    slope_tolerance: relative tolerance on the fitted slope, as a fraction of 2/d.
    """

    dims: tuple[int, ...] = (1, 2, 3, 4)
    max_grid_points: int = 2**22
    eval_points: int = 100000
    scheme: PiecewiseLinearScheme = PiecewiseLinearScheme.SIMPLICIAL
    sharpness: float = 5.0
    slope_tolerance: float = 0.05

    def __post_init__(self) -> None:
        require_ints("dims", self.dims, 1, 8, increasing=True)
        require_int_range("max_grid_points", self.max_grid_points, 64, 2**24)
        for d in self.dims:
            require(self.max_grid_points >= 16**d, "max_grid_points",
                    f"at least 16**d = {16**d} grid points for every d in dims (d = {d})",
                    self.max_grid_points)
        require_int_range("eval_points", self.eval_points, 100, 10**7)
        require(isinstance(self.scheme, PiecewiseLinearScheme), "scheme",
                "a PiecewiseLinearScheme", self.scheme)
        require_positive("sharpness", self.sharpness)
        require_positive("slope_tolerance", self.slope_tolerance)


def run_piecewise_linear(
    config: PiecewiseLinearConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    f = lambda x: gaussian_product(x, sharpness=config.sharpness)  # noqa: E731
    plans = []
    for d in config.dims:
        n_max = int(math.floor(config.max_grid_points ** (1 / d) + 1e-9))
        plans.append((d, _geometric_ints(4, n_max, 7)))
    total, done = sum(len(ns) for _, ns in plans), 0
    series: dict[str, list[float]] = {}
    metrics: dict[str, float] = {}
    claims: list[Claim] = []
    for d, ns in plans:
        x = torch.rand(config.eval_points, d, generator=generator, dtype=torch.float64)
        fx = f(x)
        errors = []
        for n in ns:
            approx = piecewise_linear_interpolate(grid_values(f, n, d), x, scheme=config.scheme)
            errors.append(float(torch.sqrt(torch.mean((approx - fx) ** 2))))
            done += 1
            progress(done, total)
        # The theorem's variable is the mesh size h = 1/(n - 1): fit against the number of cells
        # (n - 1)^d = h^(-d), which equals the number of grid points n^d up to a factor
        # (1 - 1/n)^d -> 1. Fitting against n^d over small n biases the slope by ~n/(n - 1).
        cells = [float((n - 1) ** d) for n in ns]
        series[f"grid_points_d{d}"] = [float(n**d) for n in ns]
        series[f"cells_d{d}"] = cells
        series[f"l2_error_d{d}"] = errors
        fit = fit_power_law(cells, errors)
        metrics[f"slope_d{d}"] = fit.slope
        metrics[f"slope_vs_points_d{d}"] = fit_power_law(series[f"grid_points_d{d}"], errors).slope
        claims.append(Claim(
            name=f"slope-d{d}",
            statement=f"L2 interpolation error decays like N^(-2/d) in d = {d} "
                      "(N = (n - 1)^d cells of the grid)",
            reference="Piecewise-linear interpolation of C^2 functions: error O(h^2), "
                      "h = N^(-1/d) (Ciarlet 1978, Thm 3.1.6)",
            predicted=-2.0 / d, measured=fit.slope, tolerance=config.slope_tolerance,
            kind=ClaimKind.RATE, tolerance_kind=ToleranceKind.RELATIVE,
        ))
    return Result(metrics=metrics, series=series, claims=tuple(claims))


def figure_piecewise_linear(result: Result) -> dict[str, Figure]:
    s = result.series
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    for key in sorted((k for k in s if k.startswith("l2_error_d")), key=lambda k: int(k[10:])):
        d = key[10:]
        n_pts, err = s[f"cells_d{d}"], s[key]
        line = ax.loglog(n_pts, err, "o-", ms=3, label=f"d={d}, slope "
                         f"{result.metrics[f'slope_d{d}']:.3f}")[0]
        ref = [err[0] * (n / n_pts[0]) ** (-2 / int(d)) for n in n_pts]
        ax.loglog(n_pts, ref, ":", color=line.get_color(), lw=1)
    ax.set_xlabel("grid cells N = (n - 1)^d")
    ax.set_ylabel("L2 error")
    ax.set_title("piecewise-linear interpolation: N^(-2/d) (dotted)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"l2-error": fig}


piecewise_linear_cod = register(Experiment(
    name=f"{TOPIC}/piecewise-linear-cod",
    title="Piecewise-linear interpolation pays N^(-2/d)",
    reference="Ciarlet 1978 (interpolation error O(h^2) for C^2 targets); the curse of "
              "dimensionality in the number of grid points",
    description=(
        "Interpolates the smooth target exp(-s|x - 1/2|^2) on uniform grids of [0,1]^d with "
        "n points per axis (N = n^d in all) and measures the L2 error by Monte Carlo. The error "
        "is O(h^2) = O(N^(-2/d)): to halve it in d dimensions takes 2^(d/2) times more points."
    ),
    config_type=PiecewiseLinearConfig,
    quick=PiecewiseLinearConfig(dims=(1, 2, 3), max_grid_points=2**15, eval_points=4096,
                                slope_tolerance=0.1),
    full=PiecewiseLinearConfig(),
    run=run_piecewise_linear,
    figure=figure_piecewise_linear,
))


# =============================================================================================
# 3. Runge's phenomenon


@dataclass(frozen=True, kw_only=True)
class RungeConfig:
    """Parameters of ``approximation/runge``.

    a: the target is 1/(1 + a x^2), with poles at +-i/sqrt(a).
    equispaced_degrees: even interpolation degrees n (n + 1 nodes), at most 48: beyond, the
        barycentric formula's rounding error on equispaced nodes (amplified by the Lebesgue
        constant ~ 2^n) reaches the size of the interpolation error itself. One parity only:
        odd and even degrees have different algebraic prefactors.
    chebyshev_degrees: interpolation degrees on Chebyshev-Lobatto nodes.
    eval_points: equispaced points of [-1, 1] where the max error is taken.
    rate_tolerance: relative tolerance on the fitted exponential rates.
    """

    a: float = 25.0
    equispaced_degrees: tuple[int, ...] = tuple(range(20, 50, 2))
    chebyshev_degrees: tuple[int, ...] = tuple(range(10, 131, 5))
    eval_points: int = 20001
    rate_tolerance: float = 0.02

    def __post_init__(self) -> None:
        require_positive("a", self.a)
        require_ints("equispaced_degrees", self.equispaced_degrees, 2, 48, min_len=4,
                     increasing=True)
        require(all(n % 2 == 0 for n in self.equispaced_degrees), "equispaced_degrees",
                "even degrees only", self.equispaced_degrees)
        require_ints("chebyshev_degrees", self.chebyshev_degrees, 1, 2000, min_len=3,
                     increasing=True)
        require_int_range("eval_points", self.eval_points, 101, 10**7)
        require_positive("rate_tolerance", self.rate_tolerance)


def _max_interpolation_error(nodes: torch.Tensor, a: float, x: torch.Tensor) -> float:
    p = barycentric_interpolate(nodes, runge_function(nodes, a=a), x)
    return float(torch.max(torch.abs(p - runge_function(x, a=a))))


def run_runge(config: RungeConfig, *, seed: int, progress: Progress = no_progress) -> Result:
    del seed  # deterministic: no random draw
    x = torch.linspace(-1.0, 1.0, config.eval_points, dtype=torch.float64)
    pole = complex(0.0, 1.0 / math.sqrt(config.a))
    total = len(config.equispaced_degrees) + len(config.chebyshev_degrees)
    done = 0
    errors: dict[NodeFamily, list[float]] = {}
    for family, degrees, nodes_of in (
        (NodeFamily.EQUISPACED, config.equispaced_degrees, equispaced_nodes),
        (NodeFamily.CHEBYSHEV, config.chebyshev_degrees, chebyshev_nodes),
    ):
        errors[family] = []
        for n in degrees:
            errors[family].append(_max_interpolation_error(nodes_of(n), config.a, x))
            done += 1
            progress(done, total)
    # The equispaced error is C n^alpha exp(lambda n): fit the algebraic prefactor too, or the
    # rate comes out ~alpha/mean(n) low (about -7% for n in [10, 48]).
    eq_fit = fit_exponential_rate(config.equispaced_degrees, errors[NodeFamily.EQUISPACED],
                                  power_correction=True)
    eq_plain = fit_exponential_rate(config.equispaced_degrees, errors[NodeFamily.EQUISPACED])
    ch_fit = fit_exponential_rate(config.chebyshev_degrees, errors[NodeFamily.CHEBYSHEV])
    eq_rate = math.log(interpolation_error_rate(pole, NodeFamily.EQUISPACED))
    ch_rate = math.log(interpolation_error_rate(pole, NodeFamily.CHEBYSHEV))
    eq = errors[NodeFamily.EQUISPACED]
    ref = "Runge 1901; potential theory of interpolation (Trefethen, ATAP 2013, chs. 8, 12-13)"
    claims = (
        Claim(
            name="equispaced-diverges",
            statement="on equispaced nodes the max error grows with the degree "
                      "(log of last/first max error >= 0)",
            reference=ref, predicted=0.0, measured=math.log(eq[-1] / eq[0]), tolerance=0.0,
            kind=ClaimKind.LOWER_BOUND,
        ),
        Claim(
            name="equispaced-rate",
            statement="equispaced max error grows like n^alpha exp(n (U(1) - U(i/sqrt(a)))), "
                      "U the logarithmic potential of the uniform measure on [-1, 1] "
                      "(rate fitted with the algebraic prefactor n^alpha)",
            reference=ref, predicted=eq_rate, measured=eq_fit.slope,
            tolerance=config.rate_tolerance, kind=ClaimKind.RATE,
            tolerance_kind=ToleranceKind.RELATIVE,
        ),
        Claim(
            name="chebyshev-rate",
            statement="Chebyshev max error decays like rho^(-n), rho the Bernstein ellipse "
                      "parameter of the pole (0.2 + sqrt(1.04) for a = 25)",
            reference=ref, predicted=ch_rate, measured=ch_fit.slope,
            tolerance=config.rate_tolerance, kind=ClaimKind.RATE,
            tolerance_kind=ToleranceKind.RELATIVE,
        ),
    )
    return Result(
        metrics={
            "equispaced_rate_measured": eq_fit.slope,
            "equispaced_prefactor_power": eq_fit.power,
            "equispaced_rate_plain_fit": eq_plain.slope,
            "equispaced_rate_predicted": eq_rate,
            "chebyshev_rate_measured": ch_fit.slope,
            "chebyshev_rate_predicted": ch_rate,
            "equispaced_max_error_last": eq[-1],
            "chebyshev_max_error_last": errors[NodeFamily.CHEBYSHEV][-1],
        },
        series={
            "equispaced_degrees": list(map(float, config.equispaced_degrees)),
            "equispaced_max_error": eq,
            "chebyshev_degrees": list(map(float, config.chebyshev_degrees)),
            "chebyshev_max_error": errors[NodeFamily.CHEBYSHEV],
            "rates_predicted": [eq_rate, ch_rate],
            "rates_intercepts": [eq_plain.intercept, ch_fit.intercept],
        },
        claims=claims,
    )


def figure_runge(result: Result) -> dict[str, Figure]:
    s = result.series
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    (eq_rate, ch_rate), (eq_b, ch_b) = s["rates_predicted"], s["rates_intercepts"]
    for label, key, rate, b in (("equispaced", "equispaced", eq_rate, eq_b),
                                ("Chebyshev", "chebyshev", ch_rate, ch_b)):
        n = s[f"{key}_degrees"]
        line = ax.semilogy(n, s[f"{key}_max_error"], "o", ms=3, label=f"{label} nodes")[0]
        mid = n[len(n) // 2]
        # theory slope drawn through the fitted line's midpoint
        plain = "equispaced_rate_plain_fit" if key == "equispaced" else "chebyshev_rate_measured"
        anchor = b + result.metrics[plain] * mid
        ax.semilogy(n, [math.exp(anchor + rate * (k - mid)) for k in n], "-", lw=1,
                    color=line.get_color(), label=f"theory: exp({rate:+.4f} n)")
    ax.set_xlabel("degree n")
    ax.set_ylabel("max error on [-1, 1]")
    ax.set_title("Runge's phenomenon: 1/(1 + 25 x^2)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"max-error": fig}


def runge_sweep_claims(observations: Sequence[SweepObservation]) -> tuple[Claim, ...]:
    """Claims on the curve a sweep over ``a`` traces: the Chebyshev rate as a function of a.

    Theory: log rho(a) = asinh(1/sqrt(a)) (the Bernstein ellipse through +-i/sqrt(a)). Over the
    swept a (seeds pooled: the run is deterministic), (1) the measured rate follows the formula
    at every a, (2) the log-log slope of the rate against a matches the formula's over the same
    a values. Needs at least three values of a spanning a factor of 10; else no claims.
    """
    by_a: dict[float, list[float]] = {}
    tolerance = 0.0
    for obs in observations:
        by_a.setdefault(obs.config.a, []).append(obs.metrics["chebyshev_rate_measured"])
        tolerance = max(tolerance, obs.config.rate_tolerance)
    a_values = sorted(by_a)
    if len(a_values) < 3 or a_values[-1] < 10 * a_values[0]:
        return ()
    measured = [-sum(by_a[a]) / len(by_a[a]) for a in a_values]
    predicted = [-math.log(interpolation_error_rate(complex(0.0, 1.0 / math.sqrt(a)),
                                                    NodeFamily.CHEBYSHEV)) for a in a_values]
    deviation = max(abs(m / p - 1.0) for m, p in zip(measured, predicted, strict=True))
    slope_measured = fit_power_law(a_values, measured).slope
    slope_predicted = fit_power_law(a_values, predicted).slope
    ref = "Bernstein ellipse rate (Trefethen, ATAP 2013, Thm 8.2)"
    # A relative error of at most eps at each a moves each log-rate by at most -log(1 - eps);
    # the least-squares slope then moves by at most that times sum|x - mean| / sum (x - mean)^2.
    x = [math.log(a) for a in a_values]
    mean = sum(x) / len(x)
    leverage = sum(abs(v - mean) for v in x) / sum((v - mean) ** 2 for v in x)
    return (
        Claim(
            name="chebyshev-rate-curve",
            statement=f"the Chebyshev rate follows log rho(a) = asinh(1/sqrt(a)) at each of the "
                      f"{len(a_values)} swept a in [{a_values[0]:g}, {a_values[-1]:g}] (largest "
                      "relative deviation)",
            reference=ref, predicted=0.0, measured=deviation, tolerance=tolerance,
            kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="chebyshev-rate-slope-in-a",
            statement="log-log slope of the Chebyshev rate against a equals the formula's over "
                      "the swept a (tolerance: the most that relative errors of rate_tolerance "
                      "at each a can move a least-squares slope)",
            reference=ref, predicted=slope_predicted, measured=slope_measured,
            tolerance=-math.log1p(-tolerance) * leverage, kind=ClaimKind.RATE,
        ),
    )


runge = register(Experiment(
    name=f"{TOPIC}/runge",
    title="Runge's phenomenon and Chebyshev interpolation",
    reference="Runge 1901; Bernstein ellipse rate rho = 0.2 + sqrt(1.04) "
              "(Trefethen, Approximation Theory and Approximation Practice 2013, Thm 8.2)",
    description=(
        "Interpolates 1/(1 + 25 x^2) on [-1, 1] by polynomials of degree n. On equispaced nodes "
        "the max error grows like exp(0.399 n) (potential theory: the uniform node measure's "
        "logarithmic potential at the poles +-i/5 is below its value at the endpoints); on "
        "Chebyshev nodes it decays like rho^(-n) with rho the parameter of the Bernstein "
        "ellipse through the poles."
    ),
    config_type=RungeConfig,
    quick=RungeConfig(equispaced_degrees=tuple(range(10, 50, 2)),
                      chebyshev_degrees=tuple(range(10, 111, 10)), eval_points=4001,
                      rate_tolerance=0.05),
    full=RungeConfig(),
    run=run_runge,
    figure=figure_runge,
    sweep_claims=runge_sweep_claims,
))
