"""Theorem check ``generalization/random-features-double-descent``: the test error of
random-features ridge regression against N/n matches the Mei-Montanari asymptotic curve, with the
peak at the interpolation threshold N = n as the penalty vanishes.

Built only on the public primitives of :mod:`mathdl.generalization`; registered on import by
:mod:`mathdl.generalization.experiments`.
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
    no_progress,
    register,
    require,
    require_int_range,
    require_positive,
)
from mathdl.generalization import (
    FeatureKind,
    activation_constants,
    random_features_asymptotic_risk,
    simulate_random_features_risk,
)

TOPIC = "generalization"
DTYPE = torch.float64
REFERENCE = ("Mei & Montanari 2022, Comm. Pure Appl. Math. 75, Thm 1 and Definition 1 "
             "(arXiv:1908.05355)")


def _increasing_positive(values: object) -> bool:
    return (isinstance(values, tuple) and len(values) >= 1
            and all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in values)
            and all(a < b for a, b in zip(values, values[1:], strict=False)))


@dataclass(frozen=True, kw_only=True)
class RandomFeaturesDoubleDescentConfig:
    """Parameters of ``generalization/random-features-double-descent``.

    dim: d; inputs x and weights theta uniform on the sphere of radius sqrt(d).
    samples_ratio: psi_2 = n / d (n = round(samples_ratio * dim) samples).
    ratios: N / n, the grid of the curve (N = round(ratio * n) features); it must contain 1.0
        (the interpolation threshold) and ratios on both sides.
    ridges: at least two penalties lambda of (1/n)|y - Phi a|^2 + (N lambda / d)|a|^2,
        increasing; the smallest stands for lambda -> 0 (peak claims), the largest for a penalty
        that removes the peak.
    activation: FeatureKind.RELU (default) or FeatureKind.SIGMOID.
    signal: F_1 = |beta_1| of the linear target; noise: tau; nonlinear_signal: F_* (a degree-2
        spherical harmonic, acting as noise at n, N = O(d)).
    draws: independent draws (data, weights, target direction, noise) per (ratio, ridge); the
        same draws are used for every ridge (common random numbers).
    test_points: fresh inputs on which each draw's test error is measured.
    peak_distance: ratios with |N/n - 1| < this are "near the peak" (finite-d fluctuations are
        largest there).
    sigmas: the Monte Carlo allowance: a ratio's relative deviation |simulated / theory - 1|
        counts only beyond this many relative standard errors of its mean over the draws.
    tolerance: largest relative deviation beyond the Monte Carlo allowance, away from the peak
        (smallest ridge) and at every ratio (other ridges): the finite-d bias of the mean test
        error, which calibration runs put at a few percent for d = 50 ... 400, shrinking with d.
        (One draw's test error fluctuates by 5-10% relative at d = 300, sqrt(2/1000) = 4.5% of it
        from the 1000 test points; 20 draws leave a relative standard error of 1.5-2.5%.)
    peak_tolerance: the same near the peak, where a draw's error is heavy-tailed (its standard
        error is itself uncertain) and the finite-d bias is largest.
    """

    dim: int = 300
    samples_ratio: float = 2.0
    ratios: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0,
                                 10.0)
    ridges: tuple[float, ...] = (1e-4, 1e-1)
    activation: FeatureKind = FeatureKind.RELU
    signal: float = 1.0
    noise: float = 0.5
    nonlinear_signal: float = 0.0
    draws: int = 20
    test_points: int = 1000
    peak_distance: float = 0.25
    sigmas: float = 3.0
    tolerance: float = 0.03
    peak_tolerance: float = 0.1

    def __post_init__(self) -> None:
        require_int_range("dim", self.dim, 2, 5000)
        require_positive("samples_ratio", self.samples_ratio)
        require(round(self.samples_ratio * self.dim) >= 2, "samples_ratio",
                "at least 2 samples (round(samples_ratio * dim) >= 2)", self.samples_ratio)
        require(_increasing_positive(self.ratios) and len(self.ratios) >= 3, "ratios",
                "at least 3 strictly increasing positive floats", self.ratios)
        require(1.0 in self.ratios and self.ratios[0] < 1.0 < self.ratios[-1], "ratios",
                "a grid containing 1.0 with ratios on both sides", self.ratios)
        n = round(self.samples_ratio * self.dim)
        require(all(round(r * n) >= 1 for r in self.ratios), "ratios",
                f"round(ratio * n) >= 1 for n = {n}", self.ratios)
        require(_increasing_positive(self.ridges) and len(self.ridges) >= 2, "ridges",
                "at least 2 strictly increasing positive floats", self.ridges)
        require(self.activation in (FeatureKind.RELU, FeatureKind.SIGMOID), "activation",
                "FeatureKind.RELU or FeatureKind.SIGMOID", self.activation)
        require(isinstance(self.signal, int | float) and math.isfinite(self.signal)
                and self.signal >= 0, "signal", "a finite number >= 0", self.signal)
        require_positive("noise", self.noise)
        require(isinstance(self.nonlinear_signal, int | float)
                and math.isfinite(self.nonlinear_signal) and self.nonlinear_signal >= 0,
                "nonlinear_signal", "a finite number >= 0", self.nonlinear_signal)
        require_int_range("draws", self.draws, 2, 100_000)
        require_int_range("test_points", self.test_points, 10, 10**6)
        require_positive("peak_distance", self.peak_distance)
        require(any(abs(r - 1.0) >= self.peak_distance for r in self.ratios if r < 1)
                and any(abs(r - 1.0) >= self.peak_distance for r in self.ratios if r > 1),
                "peak_distance", "ratios at least this far from 1 on both sides",
                self.peak_distance)
        require_positive("sigmas", self.sigmas)
        require_positive("tolerance", self.tolerance)
        require_positive("peak_tolerance", self.peak_tolerance)


def _theory(config: RandomFeaturesDoubleDescentConfig, features: float, samples: int,
            ridge: float) -> float:
    """The limit at psi_1 = features / d, psi_2 = samples / d (the simulated sizes)."""
    d = config.dim
    return random_features_asymptotic_risk(
        features / d, samples / d, ridge, activation=config.activation, signal=config.signal,
        noise=config.noise, nonlinear_signal=config.nonlinear_signal)


def run_random_features_double_descent(
    config: RandomFeaturesDoubleDescentConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    d = config.dim
    n = round(config.samples_ratio * d)
    # one seed per draw, shared by every (ratio, ridge): common random numbers across ridges
    master = torch.Generator().manual_seed(seed)
    draw_seeds = torch.randint(0, 2**62, (len(config.ratios), config.draws), generator=master,
                               dtype=torch.int64).tolist()
    series: dict[str, list[float]] = {"ratios": list(config.ratios),
                                      "features": [float(round(r * n)) for r in config.ratios]}
    sims: dict[float, list[float]] = {lam: [] for lam in config.ridges}
    total, done = len(config.ratios), 0
    for i, ratio in enumerate(config.ratios):
        n_feat = round(ratio * n)
        per_ridge: dict[float, list[float]] = {lam: [] for lam in config.ridges}
        for s in draw_seeds[i]:
            for lam in config.ridges:
                per_ridge[lam].append(simulate_random_features_risk(
                    n_feat, n, d, ridge=lam, activation=config.activation,
                    signal=config.signal, noise=config.noise,
                    nonlinear_signal=config.nonlinear_signal, test_points=config.test_points,
                    generator=torch.Generator().manual_seed(s), dtype=DTYPE))
        for k, lam in enumerate(config.ridges):
            risks = torch.tensor(per_ridge[lam], dtype=DTYPE)
            sims[lam].append(float(risks.mean()))
            series.setdefault(f"stderr_{k}", []).append(float(risks.std()) / math.sqrt(
                config.draws))
            series.setdefault(f"theory_{k}", []).append(_theory(config, n_feat, n, lam))
        done += 1
        progress(done, total)
    for k, lam in enumerate(config.ridges):
        series[f"simulated_{k}"] = sims[lam]
    series["ridges"] = list(config.ridges)
    # theory on a fine log grid of N/n for the figure
    lo, hi = config.ratios[0], config.ratios[-1]
    grid = [lo * (hi / lo) ** (j / 299) for j in range(300)]
    series["curve_ratios"] = grid
    for k, lam in enumerate(config.ridges):
        series[f"curve_{k}"] = [_theory(config, r * n, n, lam) for r in grid]

    ratios = list(config.ratios)
    near = [abs(r - 1.0) < config.peak_distance for r in ratios]

    def worst(k: int, keep: list[bool], excess: bool = True) -> tuple[float, float]:
        """Largest relative deviation (beyond `sigmas` relative standard errors if `excess`)."""
        devs = [(abs(m / t - 1.0) - (config.sigmas * se / t if excess else 0.0), r)
                for m, t, se, r, ok in zip(series[f"simulated_{k}"], series[f"theory_{k}"],
                                           series[f"stderr_{k}"], ratios, keep, strict=True)
                if ok]
        return max(devs) if devs else (0.0, float("nan"))

    lam_small, lam_large = config.ridges[0], config.ridges[-1]
    small_sim = series["simulated_0"]
    peak = ratios[max(range(len(ratios)), key=lambda j: small_sim[j])]
    below = max(r for r in ratios if r < 1.0)
    above = min(r for r in ratios if r > 1.0)
    one = ratios.index(1.0)
    far_below = [j for j, r in enumerate(ratios) if r <= 1.0 - config.peak_distance]
    last = len(config.ridges) - 1
    large_sim = series[f"simulated_{last}"]
    flat = large_sim[one] / max(large_sim[j] for j in far_below)
    small_prominence = small_sim[one] / max(small_sim[j] for j in far_below)
    theory_flat, theory_prominence = (
        series[f"theory_{k}"][one] / max(series[f"theory_{k}"][j] for j in far_below)
        for k in (last, 0))
    constants = activation_constants(config.activation)
    claims: list[Claim] = []
    far_dev, at_far = worst(0, [not x for x in near])
    claims.append(Claim(
        name="theory-small-ridge",
        statement=f"lambda = {lam_small:g}, |N/n - 1| >= {config.peak_distance:g}: the simulated "
                  f"test error (d = {d}, n = {n}, {config.draws} draws) equals the Mei-Montanari "
                  f"limit F1^2 B + (tau^2 + F*^2) V + F*^2 (largest relative deviation beyond "
                  f"{config.sigmas:g} standard errors, at N/n = {at_far:g})",
        reference=REFERENCE, predicted=0.0, measured=far_dev, tolerance=config.tolerance,
        kind=ClaimKind.UPPER_BOUND,
    ))
    if any(near):
        near_dev, at_near = worst(0, near)
        claims.append(Claim(
            name="theory-near-peak",
            statement=f"lambda = {lam_small:g}, |N/n - 1| < {config.peak_distance:g}: the "
                      "simulated test error matches the limit within the looser peak tolerance "
                      f"(largest relative deviation beyond {config.sigmas:g} standard errors, at "
                      f"N/n = {at_near:g})",
            reference=REFERENCE, predicted=0.0, measured=near_dev,
            tolerance=config.peak_tolerance, kind=ClaimKind.UPPER_BOUND,
        ))
    for k, lam in enumerate(config.ridges[1:], start=1):
        dev, at = worst(k, [True] * len(ratios))
        claims.append(Claim(
            name=f"theory-ridge-{lam:g}",
            statement=f"lambda = {lam:g}: the simulated test error equals the Mei-Montanari "
                      f"limit at every N/n (largest relative deviation beyond {config.sigmas:g} "
                      f"standard errors, at N/n = {at:g})",
            reference=REFERENCE, predicted=0.0, measured=dev, tolerance=config.tolerance,
            kind=ClaimKind.UPPER_BOUND,
        ))
    claims.append(Claim(
        name="peak-at-interpolation-threshold",
        statement=f"lambda = {lam_small:g} (lambda -> 0: the ridgeless limit diverges at "
                  "psi_1 = psi_2): the simulated test error is largest at N = n, within the "
                  f"grid resolution ({below:g}, 1 or {above:g})",
        reference=REFERENCE, predicted=1.0, measured=peak,
        tolerance=max(1.0 - below, above - 1.0) + 1e-9,
    ))
    claims.append(Claim(
        name="larger-ridge-removes-peak",
        statement=f"lambda = {lam_large:g}: the simulated error at N = n is no larger than the "
                  f"largest at N/n <= {1 - config.peak_distance:g}: no peak (theory: ratio "
                  f"{theory_flat:.3g}, against {theory_prominence:.3g} for lambda = "
                  f"{lam_small:g})",
        reference=REFERENCE, predicted=1.0, measured=flat, tolerance=0.0,
        kind=ClaimKind.UPPER_BOUND,
    ))
    metrics = {
        "samples": float(n), "peak_ratio": peak,
        "max_relative_deviation_small_ridge": worst(0, [not x for x in near], False)[0],
        "max_relative_deviation_near_peak": worst(0, near, False)[0],
        "max_relative_deviation_all": max(worst(k, [True] * len(ratios), False)[0]
                                          for k in range(len(config.ridges))),
        "max_excess_deviation_small_ridge": far_dev,
        "peak_prominence_small_ridge": small_prominence, "peak_prominence_large_ridge": flat,
        "theory_prominence_small_ridge": theory_prominence,
        "theory_prominence_large_ridge": theory_flat,
        "simulated_at_threshold_small_ridge": small_sim[one],
        "theory_at_threshold_small_ridge": series["theory_0"][one],
        "mu0": constants.mu0, "mu1": constants.mu1, "mu_star": constants.mu_star,
        "zeta": constants.zeta,
    }
    return Result(metrics=metrics, series=series, claims=tuple(claims))


def _sparse_labels(ratios: list[float]) -> list[str]:
    """Tick labels at least 0.1 decade apart, the threshold 1 always labelled."""
    kept = [0.0]  # log10 of the labelled ratios
    labels = []
    for r in ratios:
        x = math.log10(r)
        keep = r == 1.0 or all(abs(x - k) >= 0.1 for k in kept)
        if keep:
            kept.append(x)
        labels.append(f"{r:g}" if keep else "")
    return labels


def figure_random_features_double_descent(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    ridges = s["ridges"]
    fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for k, lam in enumerate(ridges):
        color = f"C{k}"
        ax1.plot(s["curve_ratios"], s[f"curve_{k}"], "-", color=color, lw=1,
                 label=f"λ = {lam:g}: Mei–Montanari limit")
        ax1.errorbar(s["ratios"], s[f"simulated_{k}"], yerr=s[f"stderr_{k}"], fmt="o", ms=3,
                     color=color, label=f"λ = {lam:g}: simulated")
        ax2.errorbar(s["ratios"], [m / t - 1.0 for m, t in zip(
            s[f"simulated_{k}"], s[f"theory_{k}"], strict=True)],
            yerr=[e / t for e, t in zip(s[f"stderr_{k}"], s[f"theory_{k}"], strict=True)],
            fmt="o-", ms=3, lw=1, color=color, label=f"λ = {lam:g}")
    for ax in (ax1, ax2):
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("N / n (features / samples)")
        ax.set_xscale("log")
        ax.set_xticks(s["ratios"], _sparse_labels(s["ratios"]), fontsize=7)
        ax.minorticks_off()
    ax1.set_yscale("log")
    ax1.set_ylabel("test error E(f(x) − f̂(x))²")
    ax1.set_title(f"random-features ridge, n = {mt['samples']:g}: peak at N/n = "
                  f"{mt['peak_ratio']:g}")
    ax1.legend(fontsize=7)
    ax2.axhline(0.0, color="grey", lw=0.8)
    ax2.set_ylabel("simulated / theory − 1")
    ax2.set_title("relative deviation from the limit")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"random-features-double-descent": fig}


random_features_double_descent = register(Experiment(
    name=f"{TOPIC}/random-features-double-descent",
    title="Double descent of random-features ridge regression: the Mei–Montanari curve",
    reference=REFERENCE,
    description=(
        "Inputs and first-layer weights uniform on the sphere of radius sqrt(d), N ReLU features "
        "relu(<theta, x>/sqrt(d)), n = psi_2 d samples of a linear target plus noise, ridge "
        "penalty (N lambda/d)|a|^2 on the second layer. As N, n, d grow proportionally the test "
        "error tends to F1^2 B + (tau^2 + F*^2) V + F*^2, with B and V rational in "
        "chi = nu_1 nu_2, the solution of a two-equation fixed point in psi_1 = N/d, "
        "psi_2 = n/d, zeta = mu_1/mu_* and lambda/mu_*^2. Simulated test errors against N/n are "
        "compared with the limit for a small and a large penalty: the small one peaks at the "
        "interpolation threshold N = n, the large one has no peak."
    ),
    config_type=RandomFeaturesDoubleDescentConfig,
    # quick: d = 50 (n = 100), 7 ratios, 12 draws: a larger finite-d bias allowance.
    quick=RandomFeaturesDoubleDescentConfig(
        dim=50, ratios=(0.2, 0.5, 0.7, 1.0, 1.5, 2.0, 5.0), draws=12, test_points=500,
        tolerance=0.05, peak_tolerance=0.15,
    ),
    full=RandomFeaturesDoubleDescentConfig(),
    run=run_random_features_double_descent,
    figure=figure_random_features_double_descent,
))
