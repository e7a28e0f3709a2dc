"""Theorem checks ``generalization/benign-overfitting``, ``generalization/lipschitz-rademacher``
and ``generalization/gradient-hardness``.

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
    no_progress,
    register,
    require,
    require_int_range,
    require_ints,
    require_positive,
)
from mathdl.generalization import (
    benign_bias_term,
    benign_critical_index,
    benign_variance_term,
    cosine_family,
    diagonal_excess_risk,
    effective_ranks,
    gradient_variance,
    half_space_frequencies,
    lipschitz_ball_chaining_bound,
    lipschitz_ball_supremum,
    loss_gradients,
    min_norm_finite_sample_risk,
    min_norm_least_squares,
    min_norm_variance,
    per_example_gradients,
    sample_gaussian_design,
    spiked_spectrum,
    torus_grid,
)
from mathdl.stats import fit_power_law

TOPIC = "generalization"
DTYPE = torch.float64


def _log_ticks(ax, values) -> None:
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.minorticks_off()


# =============================================================================================
# Benign overfitting (Bartlett, Long, Lugosi, Tsigler 2020)

BENIGN_REFERENCE = ("Bartlett, Long, Lugosi, Tsigler 2020, PNAS 117, Thms 4 and 6; "
                    "Hastie, Montanari, Rosset, Tibshirani 2022, Ann. Stat. 50 (isotropic case)")


@dataclass(frozen=True, kw_only=True)
class BenignOverfittingConfig:
    """Parameters of ``generalization/benign-overfitting``.

    sample_sizes: n.
    num_spikes: s, the large eigenvalues (value 1) of the benign spectrum; theta* is spread
        evenly over them, |theta*| = signal.
    tail_factor, tail_exponent: the flat tail has q = ceil(tail_factor n^tail_exponent)
        eigenvalues (q = omega(n) needs tail_exponent > 1) ...
    tail_mass_exponent: ... of total mass n^tail_mass_exponent (o(n) needs < 1), so that
        r_0 = s + n^a = o(n), k* = s (b = 1) and R_{k*} = q: the variance term
        sigma^2 (s/n + n/q) -> 0 at the rate n^-min(1, tail_exponent - 1).
    isotropic_ratio: the isotropic comparison Sigma = I_p with p = ceil(ratio n) (ratio > 1:
        still interpolating); theta* uniform on the sphere of radius signal.
    noise: sigma; signal: |theta*|.
    repeats: independent data sets per n.
    slope_tolerance: the benign claim is slope <= -min(1, tail_exponent - 1) + this. The
        asymptotic slope of the slowest term n/q is the prediction; at small n the s/n term
        (slope -1) and the bias (~(n^a/n)^2: the tail acts on the spikes as a ridge of size
        n^a) make the measured slope steeper, never flatter, so a one-sided claim is sharp.
    isotropic_slope_tolerance: the isotropic claim is slope >= -this (theory: the exact risk
        sigma^2 n/(p - n - 1) + r^2 (1 - n/p) is constant in n up to O(1/n); the tolerance is
        about 3 Monte Carlo standard errors of the fitted slope, the risks being heavy-tailed).
    isotropic_tolerance: relative tolerance of the isotropic risk at the largest n against the
        exact inverse-Wishart value (Monte Carlo error of a heavy-tailed mean over `repeats`).
    constant_factor: C in 1/C <= E R / (sigma^2 (k*/n + n/R_k*)) <= C for the benign spectrum.
        BLLT's constants are universal but not explicit; for this spectrum X_tail X_tail^T ~ n^a
        I_n (q >> n), which gives variance sigma^2 s n/(n + n^a)^2 from the spikes and
        ~ sigma^2 n/q from the tail, so the ratio is 1 + O(n^(a-1) + sqrt(n/q)) plus the
        bias; C = 2 allows those corrections at n >= 25.
    interpolation_tolerance: largest allowed |X theta_hat - y| / |y| (rounding level: the
        interpolator fits the noise exactly).
    """

    sample_sizes: tuple[int, ...] = (50, 100, 200, 400, 800)
    num_spikes: int = 4
    tail_factor: float = 1.0
    tail_exponent: float = 1.5
    tail_mass_exponent: float = 0.5
    isotropic_ratio: float = 1.5
    noise: float = 1.0
    signal: float = 1.0
    repeats: int = 20
    slope_tolerance: float = 0.05
    isotropic_slope_tolerance: float = 0.08
    isotropic_tolerance: float = 0.1
    constant_factor: float = 2.0
    interpolation_tolerance: float = 1e-8

    def __post_init__(self) -> None:
        require_ints("sample_sizes", self.sample_sizes, 8, 4096, min_len=3, increasing=True)
        require_int_range("num_spikes", self.num_spikes, 0, 1000)
        require_positive("tail_factor", self.tail_factor)
        require(isinstance(self.tail_exponent, int | float) and 1 < self.tail_exponent <= 3,
                "tail_exponent", "a number in (1, 3]", self.tail_exponent)
        require(isinstance(self.tail_mass_exponent, int | float)
                and 0 <= self.tail_mass_exponent < 1, "tail_mass_exponent",
                "a number in [0, 1)", self.tail_mass_exponent)
        require(isinstance(self.isotropic_ratio, int | float) and 1.05 <= self.isotropic_ratio
                <= 100, "isotropic_ratio", "a number in [1.05, 100]", self.isotropic_ratio)
        require_positive("noise", self.noise)
        require_positive("signal", self.signal)
        require_int_range("repeats", self.repeats, 2, 100_000)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("isotropic_slope_tolerance", self.isotropic_slope_tolerance)
        require_positive("isotropic_tolerance", self.isotropic_tolerance)
        require(isinstance(self.constant_factor, int | float) and self.constant_factor > 1,
                "constant_factor", "a number > 1", self.constant_factor)
        require_positive("interpolation_tolerance", self.interpolation_tolerance)
        for n in self.sample_sizes:
            q = math.ceil(self.tail_factor * n**self.tail_exponent)
            require(q >= n and self.num_spikes + n**self.tail_mass_exponent < n,
                    "sample_sizes", "n with tail_dim >= n and num_spikes + tail mass < n "
                    "(k* = num_spikes)", self.sample_sizes)


def _benign_spectrum(config: BenignOverfittingConfig, n: int) -> torch.Tensor:
    q = math.ceil(config.tail_factor * n**config.tail_exponent)
    return spiked_spectrum(config.num_spikes, q, float(n**config.tail_mass_exponent))


def _interpolate(x: torch.Tensor, theta: torch.Tensor, lam: torch.Tensor, noise: float,
                 generator: torch.Generator) -> tuple[float, float, float]:
    """(excess risk, noise-averaged variance, relative training residual) of one data set."""
    y = x @ theta + noise * torch.randn(x.shape[0], generator=generator, dtype=DTYPE)
    theta_hat = min_norm_least_squares(x, y)
    residual = float(torch.linalg.vector_norm(x @ theta_hat - y) / torch.linalg.vector_norm(y))
    risk = float(diagonal_excess_risk(theta_hat, theta, lam))
    return risk, float(min_norm_variance(x, lam, noise=noise)), residual


def run_benign_overfitting(
    config: BenignOverfittingConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    ns = config.sample_sizes
    sigma, r = config.noise, config.signal
    series: dict[str, list[float]] = {k: [] for k in (
        "benign_risk", "benign_stderr", "benign_variance", "variance_term", "bias_term",
        "isotropic_risk", "isotropic_stderr", "isotropic_exact", "tail_dims", "critical_index")}
    worst_residual = 0.0
    for i, n in enumerate(ns):
        lam = _benign_spectrum(config, n)
        s = config.num_spikes
        theta = torch.zeros(lam.shape[0], dtype=DTYPE)
        if s > 0:
            theta[:s] = r / math.sqrt(s)
        else:
            theta[0] = r
        p_iso = math.ceil(config.isotropic_ratio * n)
        lam_iso = torch.ones(p_iso, dtype=DTYPE)
        risks, variances, iso = [], [], []
        for _ in range(config.repeats):
            x = sample_gaussian_design(lam, n, generator=generator)
            risk, var, res = _interpolate(x, theta, lam, sigma, generator)
            risks.append(risk)
            variances.append(var)
            worst_residual = max(worst_residual, res)
            theta_iso = torch.randn(p_iso, generator=generator, dtype=DTYPE)
            theta_iso *= r / torch.linalg.vector_norm(theta_iso)
            x_iso = sample_gaussian_design(lam_iso, n, generator=generator)
            risk_iso, _, res = _interpolate(x_iso, theta_iso, lam_iso, sigma, generator)
            iso.append(risk_iso)
            worst_residual = max(worst_residual, res)
        rt, it = torch.tensor(risks), torch.tensor(iso)
        series["benign_risk"].append(float(rt.mean()))
        series["benign_stderr"].append(float(rt.std() / math.sqrt(len(risks))))
        series["benign_variance"].append(sum(variances) / len(variances))
        series["variance_term"].append(benign_variance_term(lam, n, noise=sigma))
        series["bias_term"].append(benign_bias_term(lam, n, signal_norm=r))
        series["isotropic_risk"].append(float(it.mean()))
        series["isotropic_stderr"].append(float(it.std() / math.sqrt(len(iso))))
        series["isotropic_exact"].append(min_norm_finite_sample_risk(n, p_iso, signal=r,
                                                                     noise=sigma))
        series["tail_dims"].append(float(lam.shape[0] - s))
        series["critical_index"].append(float(benign_critical_index(lam, n)))
        progress(i + 1, len(ns))
    series["sample_sizes"] = list(map(float, ns))
    benign_fit = fit_power_law(ns, series["benign_risk"])
    iso_fit = fit_power_law(ns, series["isotropic_risk"])
    term_fit = fit_power_law(ns, series["variance_term"])
    ratios = [m / v for m, v in zip(series["benign_risk"], series["variance_term"], strict=True)]
    spread = max(max(q, 1 / q) for q in ratios)
    predicted_slope = -min(1.0, config.tail_exponent - 1.0)
    iso_rel = series["isotropic_risk"][-1] / series["isotropic_exact"][-1] - 1.0
    r_eff, big_r = effective_ranks(_benign_spectrum(config, ns[-1]))
    claims = (
        Claim(
            name="interpolates",
            statement="the min-norm estimator interpolates the noisy labels: largest relative "
                      "training residual |X theta_hat - y| / |y| over all data sets is 0 up to "
                      "rounding",
            reference=BENIGN_REFERENCE, predicted=0.0, measured=worst_residual,
            tolerance=config.interpolation_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="benign-risk-decreases",
            statement="benign spectrum (s spikes + flat tail of q = omega(n) eigenvalues, mass "
                      "o(n)): the excess risk of the interpolator decays, log-log slope in n at "
                      "most -min(1, tail_exponent - 1) (the rate of sigma^2 n / R_k*)",
            reference=BENIGN_REFERENCE, predicted=predicted_slope, measured=benign_fit.slope,
            tolerance=config.slope_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="benign-within-constants-of-variance-term",
            statement=f"the measured excess risk is within a factor {config.constant_factor:g} "
                      "of the variance term sigma^2 (k*/n + n/R_k*) at every n (largest of "
                      "ratio and 1/ratio)",
            reference=BENIGN_REFERENCE, predicted=config.constant_factor, measured=spread,
            tolerance=0.0, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="isotropic-not-decreasing",
            statement=f"isotropic Sigma = I_p, p = {config.isotropic_ratio:g} n: the excess risk "
                      "does not decay (log-log slope >= 0 up to the tolerance; R_0 = p gives the "
                      "variance term sigma^2 n / p, constant)",
            reference=BENIGN_REFERENCE, predicted=0.0, measured=iso_fit.slope,
            tolerance=config.isotropic_slope_tolerance, kind=ClaimKind.LOWER_BOUND,
        ),
        Claim(
            name="isotropic-exact-risk",
            statement="isotropic case at the largest n: the simulated risk matches the exact "
                      "Gaussian-design value sigma^2 n / (p - n - 1) + r^2 (1 - n / p) "
                      "(relative deviation)",
            reference=BENIGN_REFERENCE, predicted=0.0, measured=iso_rel,
            tolerance=config.isotropic_tolerance,
        ),
    )
    metrics = {
        "benign_slope": benign_fit.slope, "benign_slope_stderr": benign_fit.slope_stderr,
        "variance_term_slope": term_fit.slope, "isotropic_slope": iso_fit.slope,
        "max_ratio_to_variance_term": spread, "worst_training_residual": worst_residual,
        "r0_largest_n": float(r_eff[0]), "R_kstar_largest_n":
            float(big_r[int(series["critical_index"][-1])]),
    }
    return Result(metrics=metrics, series=series, claims=claims)


def figure_benign_overfitting(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    ns = s["sample_sizes"]
    fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.errorbar(ns, s["benign_risk"], yerr=s["benign_stderr"], fmt="o-", ms=3, lw=1,
                 label=f"benign spectrum (slope {mt['benign_slope']:.2f})")
    ax1.loglog(ns, s["variance_term"], "--", lw=1, label="σ²(k*/n + n/R_k*)")
    ax1.errorbar(ns, s["isotropic_risk"], yerr=s["isotropic_stderr"], fmt="s-", ms=3, lw=1,
                 label=f"isotropic, p ∝ n (slope {mt['isotropic_slope']:.2f})")
    ax1.loglog(ns, s["isotropic_exact"], ":", lw=1, color="grey", label="isotropic exact")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    _log_ticks(ax1, [int(n) for n in ns])
    ax1.set_xlabel("sample size n")
    ax1.set_ylabel("excess risk of the min-norm interpolator")
    ax1.set_title("training error 0 in both cases")
    ax1.legend(fontsize=7)
    ax2.semilogx(ns, [m / v for m, v in zip(s["benign_risk"], s["variance_term"], strict=True)],
                 "o-", ms=3, label="measured / variance term")
    ax2.axhline(1.0, color="grey", lw=0.8, ls=":")
    _log_ticks(ax2, [int(n) for n in ns])
    ax2.set_ylim(0, 2.2)
    ax2.set_xlabel("sample size n")
    ax2.set_title("benign spectrum: ratio to σ²(k*/n + n/R_k*)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"benign-overfitting": fig}


benign_overfitting = register(Experiment(
    name=f"{TOPIC}/benign-overfitting",
    title="Benign overfitting: the min-norm interpolator is consistent iff the effective "
          "ranks allow",
    reference=BENIGN_REFERENCE,
    description=(
        "Gaussian features x = Sigma^(1/2) z, y = x.theta* + noise, n samples, p > n: the "
        "min-norm interpolator fits the noise exactly. With a spiked spectrum (s eigenvalues 1, "
        "a flat tail of q = n^1.5 eigenvalues of total mass sqrt(n)) the effective ranks give "
        "k* = s, R_k* = q, and the BLLT variance term sigma^2 (k*/n + n/R_k*) -> 0: the excess "
        "risk decreases with n and sits within a constant factor of that term. With Sigma = I_p, "
        "p = 1.5 n, R_0 = p and the risk stays at the exact value sigma^2 n/(p-n-1) + "
        "r^2 (1 - n/p)."
    ),
    config_type=BenignOverfittingConfig,
    # quick: small n and few repeats; the slopes are fitted over a shorter range and the Monte
    # Carlo error of the means is larger (heavy-tailed inverse-Wishart risks at p = 1.5 n).
    quick=BenignOverfittingConfig(sample_sizes=(25, 50, 100, 200), repeats=12,
                                  slope_tolerance=0.1, isotropic_slope_tolerance=0.2,
                                  isotropic_tolerance=0.3),
    full=BenignOverfittingConfig(),
    run=run_benign_overfitting,
    figure=figure_benign_overfitting,
))


# =============================================================================================
# The Rademacher complexity of the Lipschitz ball: the curse of dimensionality

LIPSCHITZ_REFERENCE = ("von Luxburg & Bousquet 2004, JMLR 5, Thms 17-18; Dudley 1969; "
                       "Ajtai, Komlos, Tusnady 1984 (d = 2)")


@dataclass(frozen=True, kw_only=True)
class LipschitzRademacherConfig:
    """Parameters of ``generalization/lipschitz-rademacher``.

    dims: input dimensions d (the points are uniform on [0, 1]^d, fresh per n).
    sample_sizes: n.
    num_signs: sign vectors per Monte Carlo estimate (the supremum is solved exactly for each).
    lipschitz, bound: the class {Lip(f) <= L, |f| <= B}. B = 1/4 keeps the constant-function
        part B E|sum sigma| / n ~ 0.2 n^(-1/2) small next to the n^(-1/d) part at d = 4.
    slope_tolerance: absolute tolerance on the fitted log-log slopes against the theory's
        slopes: -1/2 (d = 1), the local slope of sqrt(log n / n) on the grid (d = 2, Ajtai-
        Komlos-Tusnady), -1/d (d >= 3). It covers the pre-asymptotic corrections (the truncated
        cost min(L|x - x'|, 2B) and the B n^(-1/2) part bend the curve at small n; an estimated
        0.03-0.05 over a decade) and the sampling error of one point set per n.
    bound_sigmas: the bound claim allows this many standard errors of the estimate.
    """

    dims: tuple[int, ...] = (1, 2, 4)
    sample_sizes: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096)
    num_signs: int = 40
    lipschitz: float = 1.0
    bound: float = 0.25
    slope_tolerance: float = 0.05
    bound_sigmas: float = 3.0

    def __post_init__(self) -> None:
        require_ints("dims", self.dims, 1, 10, increasing=True)
        require_ints("sample_sizes", self.sample_sizes, 4, 2**14, min_len=3, increasing=True)
        require_int_range("num_signs", self.num_signs, 2, 10**5)
        require_positive("lipschitz", self.lipschitz)
        require_positive("bound", self.bound)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("bound_sigmas", self.bound_sigmas)


def lipschitz_theory_slope(dim: int, sample_sizes: tuple[int, ...]) -> float:
    """The log-log slope the theory predicts on this grid: -1/2 (d = 1), the least-squares slope
    of sqrt(log n / n) (d = 2), -1/d (d >= 3)."""
    if dim == 1:
        return -0.5
    if dim == 2:
        return fit_power_law(sample_sizes,
                             [math.sqrt(math.log(n) / n) for n in sample_sizes]).slope
    return -1.0 / dim


def run_lipschitz_rademacher(
    config: LipschitzRademacherConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    ns = config.sample_sizes
    total, done = len(ns) * len(config.dims), 0
    series: dict[str, list[float]] = {"sample_sizes": list(map(float, ns))}
    metrics: dict[str, float] = {}
    claims: list[Claim] = []
    worst_ratio, worst_slack = -math.inf, 0.0
    for d in config.dims:
        est, err, bnd = [], [], []
        for n in ns:
            x = torch.rand(n, d, generator=generator, dtype=DTYPE)
            signs = (2 * torch.randint(0, 2, (config.num_signs, n), generator=generator)
                     - 1).to(DTYPE)
            sup = lipschitz_ball_supremum(x, signs, lipschitz=config.lipschitz,
                                          bound=config.bound)
            est.append(float(sup.mean()))
            err.append(float(sup.std() / math.sqrt(config.num_signs)))
            bnd.append(lipschitz_ball_chaining_bound(x, lipschitz=config.lipschitz,
                                                     bound=config.bound))
            done += 1
            progress(done, total)
        fit = fit_power_law(ns, est)
        predicted = lipschitz_theory_slope(d, ns)
        series[f"estimate_d{d}"], series[f"stderr_d{d}"], series[f"bound_d{d}"] = est, err, bnd
        metrics[f"slope_d{d}"] = fit.slope
        metrics[f"slope_stderr_d{d}"] = fit.slope_stderr
        metrics[f"bound_slope_d{d}"] = fit_power_law(ns, bnd).slope
        ratios = [(e - config.bound_sigmas * s) / b for e, s, b in zip(est, err, bnd, strict=True)]
        metrics[f"max_ratio_to_bound_d{d}"] = max(e / b for e, b in zip(est, bnd, strict=True))
        worst_ratio = max(worst_ratio, max(ratios))
        rate = {1: "n^(-1/2)", 2: "sqrt(log n / n)"}.get(d, f"n^(-1/{d})")
        claims.append(Claim(
            name=f"slope-d{d}",
            statement=f"d = {d}: the empirical Rademacher complexity of the Lipschitz ball "
                      f"decays like {rate} (least-squares log-log slope on the grid)",
            reference=LIPSCHITZ_REFERENCE, predicted=predicted, measured=fit.slope,
            tolerance=config.slope_tolerance, kind=ClaimKind.RATE,
        ))
    claims.append(Claim(
        name="below-chaining-bound",
        statement="at every d and n the estimate (minus bound_sigmas standard errors) is at most "
                  "the dyadic chaining bound B/sqrt(n) + (L sqrt(d)/n) sum_j 2^(-j-1) "
                  "sum_C sqrt(n_C) + L sqrt(d) 2^(-J-1) (largest ratio)",
        reference=LIPSCHITZ_REFERENCE, predicted=1.0, measured=worst_ratio,
        tolerance=worst_slack, kind=ClaimKind.UPPER_BOUND,
    ))
    return Result(metrics=metrics, series=series, claims=tuple(claims))


def figure_lipschitz_rademacher(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    ns = s["sample_sizes"]
    dims = sorted(int(k[len("estimate_d"):]) for k in s if k.startswith("estimate_d"))
    fig = Figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for d in dims:
        line = ax1.errorbar(ns, s[f"estimate_d{d}"], yerr=s[f"stderr_d{d}"], fmt="o-", ms=3,
                            lw=1, label=f"d = {d}: slope {mt[f'slope_d{d}']:.3f}")[0]
        ax1.plot(ns, s[f"bound_d{d}"], "--", lw=1, color=line.get_color())
        ax2.plot(ns, [e / b for e, b in zip(s[f"estimate_d{d}"], s[f"bound_d{d}"], strict=True)],
                 "o-", ms=3, lw=1, color=line.get_color(), label=f"d = {d}")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        _log_ticks(ax, [int(n) for n in ns])
        ax.set_xlabel("sample size n")
    ax1.set_yscale("log")
    ax1.set_ylabel("empirical Rademacher complexity")
    ax1.set_title("Lipschitz ball: exact supremum (solid), chaining bound (dashed)")
    ax1.legend(fontsize=7)
    ax2.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax2.set_ylim(0, 1.1)
    ax2.set_ylabel("estimate / bound")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"lipschitz-rademacher": fig}


lipschitz_rademacher = register(Experiment(
    name=f"{TOPIC}/lipschitz-rademacher",
    title="Rademacher complexity of the Lipschitz ball: the cursed rate n^(-1/d)",
    reference=LIPSCHITZ_REFERENCE,
    description=(
        "For points uniform on [0, 1]^d and signs sigma, the supremum of (1/n) sum sigma_i f(x_i) "
        "over {Lip(f) <= L, |f| <= B} is a linear program over the values f_i, solved exactly "
        "through its dual: an optimal assignment of the positive to the negative points with "
        "the cost min(L|x - x'|, 2B) (and B to absorb the imbalance). Monte Carlo over signs "
        "gives the empirical Rademacher complexity, which decays like n^(-1/2) (d = 1), "
        "sqrt(log n / n) (d = 2) and n^(-1/d) (d >= 3), and stays below a dyadic chaining bound "
        "with explicit constants."
    ),
    config_type=LipschitzRademacherConfig,
    # quick: n up to 512, fewer signs: the slopes are fitted over less than a decade, where the
    # pre-asymptotic bend and the sampling error of single point sets weigh more.
    quick=LipschitzRademacherConfig(sample_sizes=(32, 64, 128, 256, 512), num_signs=32,
                                    slope_tolerance=0.1),
    full=LipschitzRademacherConfig(),
    run=run_lipschitz_rademacher,
    figure=figure_lipschitz_rademacher,
))


# =============================================================================================
# Shamir's gradient-variance hardness for an orthonormal family of targets

HARDNESS_REFERENCE = "Shamir 2018, JMLR 19, Thm 1"


@dataclass(frozen=True, kw_only=True)
class GradientHardnessConfig:
    """Parameters of ``generalization/gradient-hardness``.

    dim: d of the torus [0, 1)^d; resolution: K, the grid {0, 1/K, ..., (K-1)/K}^d is the input
        distribution (the cosines with |b_k| < K/2 are exactly orthonormal on it, so Bessel's
        inequality, hence the theorem, holds exactly; for the smooth model the grid averages
        are the torus integrals up to a tiny aliasing error).
    family_sizes: M, nested families of the M lowest half-space frequencies.
    width: hidden width m of the model p(x) = a . tanh(W phi(x) + c) + e on the torus,
        phi(x) = (cos 2 pi x_k, sin 2 pi x_k)_k (periodic, so the gradient's Fourier
        coefficients decay fast; without phi, the jump at x_k = 0 = 1 spreads gradient energy
        as 1/|b|^2 over all frequencies and the variance decays like log(M)/M).
    weight_scale: all parameters i.i.d. N(0, weight_scale^2) (a fixed, untrained theta).
    models: independent draws of theta.
    slope_tolerance: absolute tolerance on the slope of the variance against M (bound: -1).
        M Var = sum_k |g_k|^2 - M |mean g|^2 <= Q grows while the family still captures new
        gradient energy; for a smooth model most of it sits in the lowest frequencies, so the
        slope is -1 + d log(captured energy) / d log M; the tolerance allows the captured
        energy to grow by a factor (M_max / M_min)^tolerance over the grid. The smallest M
        should already hold the model's low frequencies (|b| <~ weight_scale: with M = 4 the
        first step still gains energy and the local slope is about -0.7).
    bound_tolerance: slack of Var <= Q / M (rounding level: the inequality is exact).
    grid_tolerance: relative change of the variances when the grid is refined to 2K. The
        integrands (products of tanh of trigonometric features and cosines) are periodic and
        analytic in a strip |Im x| < a, so the K-point rule errs by O(exp(-2 pi a K))
        (Trefethen & Weideman 2014); 1e-4 allows a half-width a >= 0.05 at K = 32.
    """

    dim: int = 2
    resolution: int = 64
    family_sizes: tuple[int, ...] = (16, 64, 256, 1024)
    width: int = 32
    weight_scale: float = 1.0
    models: int = 5
    slope_tolerance: float = 0.1
    bound_tolerance: float = 1e-9
    grid_tolerance: float = 1e-4

    def __post_init__(self) -> None:
        require_int_range("dim", self.dim, 1, 6)
        require_int_range("resolution", self.resolution, 4, 4096)
        require((2 * self.resolution)**self.dim <= 2**20, "resolution",
                "(2 resolution)^dim <= 2^20 grid points (the refined grid)", self.resolution)
        require_ints("family_sizes", self.family_sizes, 1, 10**6, min_len=3, increasing=True)
        available = ((self.resolution - 1) // 2 * 2 + 1) ** self.dim // 2
        require(self.family_sizes[-1] <= available, "family_sizes",
                f"at most {available} frequencies with |b_k| < resolution / 2",
                self.family_sizes)
        require_int_range("width", self.width, 1, 10_000)
        require_positive("weight_scale", self.weight_scale)
        require_int_range("models", self.models, 1, 1000)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("bound_tolerance", self.bound_tolerance)
        require_positive("grid_tolerance", self.grid_tolerance)


class _TorusEmbedding(torch.nn.Module):
    """x -> (cos 2 pi x, sin 2 pi x): makes the model a smooth function on the torus."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.cos(2 * math.pi * x), torch.sin(2 * math.pi * x)], dim=-1)


def _tanh_network(dim: int, width: int, scale: float, generator: torch.Generator
                  ) -> torch.nn.Module:
    model = torch.nn.Sequential(_TorusEmbedding(), torch.nn.Linear(2 * dim, width),
                                torch.nn.Tanh(), torch.nn.Linear(width, 1)).to(DTYPE)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=generator, dtype=DTYPE))
    return model


def run_gradient_hardness(
    config: GradientHardnessConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    ms = config.family_sizes
    x = torus_grid(config.resolution, config.dim, dtype=DTYPE)
    freqs = half_space_frequencies(ms[-1], config.dim, max_abs=(config.resolution - 1) // 2)
    targets = cosine_family(x, freqs)
    series: dict[str, list[float]] = {"family_sizes": list(map(float, ms))}
    metrics: dict[str, float] = {}
    worst_ratio, slopes, qs = 0.0, [], []
    for k in range(config.models):
        model = _tanh_network(config.dim, config.width, config.weight_scale, generator)
        out, grads = per_example_gradients(model, x)
        q = float((grads * grads).sum(1).mean())
        variances = [gradient_variance(loss_gradients(out, grads, targets[:, :m])) for m in ms]
        worst_ratio = max(worst_ratio, max(v * m / q for v, m in zip(variances, ms, strict=True)))
        slopes.append(fit_power_law(ms, variances).slope)
        qs.append(q)
        series[f"variance_{k}"] = variances
        series[f"bound_{k}"] = [q / m for m in ms]
        progress(k + 1, config.models)
        if k == 0:
            first = model
    # the grid integrates accurately: the first model on the grid of twice the resolution
    fine = torus_grid(2 * config.resolution, config.dim, dtype=DTYPE)
    out, grads = per_example_gradients(first, fine)
    fine_targets = cosine_family(fine, freqs)
    fine_var = [gradient_variance(loss_gradients(out, grads, fine_targets[:, :m])) for m in ms]
    series["fine_grid_variance_0"] = fine_var
    grid_change = max(abs(f / v - 1) for f, v in zip(fine_var, series["variance_0"],
                                                     strict=True))
    worst_slope = max(slopes, key=lambda s: abs(s + 1.0))
    metrics.update({"max_ratio_to_bound": worst_ratio, "worst_slope": worst_slope,
                    "mean_slope": sum(slopes) / len(slopes), "mean_Q": sum(qs) / len(qs),
                    "grid_relative_change": grid_change})
    claims = (
        Claim(
            name="variance-below-Q-over-M",
            statement="for every model and family size, the variance over the target of the "
                      "loss gradient is at most Q(theta) / M, Q = E_x |grad_theta p(x)|^2 "
                      "(largest ratio variance / (Q / M))",
            reference=HARDNESS_REFERENCE, predicted=1.0, measured=worst_ratio,
            tolerance=config.bound_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="variance-rate",
            statement="the variance shrinks like the bound, 1/M: log-log slope against M (the "
                      "model with the largest deviation from -1)",
            reference=HARDNESS_REFERENCE, predicted=-1.0, measured=worst_slope,
            tolerance=config.slope_tolerance, kind=ClaimKind.RATE,
        ),
        Claim(
            name="grid-integrates-accurately",
            statement="the grid averages are the torus integrals: the variances of the first "
                      "model on the grid of resolution 2K differ from those at K by at most "
                      "this relative amount",
            reference="Trefethen & Weideman 2014, SIAM Rev. 56, Thm 3.2 (the trapezoidal "
                      "rule on periodic analytic integrands converges geometrically)",
            predicted=0.0, measured=grid_change, tolerance=config.grid_tolerance,
            kind=ClaimKind.UPPER_BOUND,
        ),
    )
    return Result(metrics=metrics, series=series, claims=claims)


def figure_gradient_hardness(result: Result) -> dict[str, Figure]:
    s = result.series
    ms = s["family_sizes"]
    models = sorted(int(k[len("variance_"):]) for k in s if k.startswith("variance_"))
    fig = Figure(figsize=(6, 4.4))
    ax = fig.subplots()
    for k in models:
        line = ax.loglog(ms, s[f"variance_{k}"], "o-", ms=3, lw=1,
                         label="Var of the loss gradient" if k == 0 else None)[0]
        ax.loglog(ms, s[f"bound_{k}"], "--", lw=1, color=line.get_color(),
                  label="Q(θ) / M" if k == 0 else None)
    _log_ticks(ax, [int(m) for m in ms])
    ax.set_xlabel("family size M")
    ax.set_ylabel("variance over the target")
    ax.set_title(f"cos(2π bᵀx) targets: slope {result.metrics['mean_slope']:.3f} (bound: −1)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {"gradient-hardness": fig}


gradient_hardness = register(Experiment(
    name=f"{TOPIC}/gradient-hardness",
    title="Hardness of gradient-based learning: the loss gradient barely depends on the target",
    reference=HARDNESS_REFERENCE,
    description=(
        "A fixed two-layer tanh network p_theta on the torus (inputs embedded as cos, sin) and "
        "the targets h_b(x) = sqrt(2) cos(2 pi b.x), orthonormal, b among the M lowest "
        "half-space frequencies. The gradient of E(p_theta - h)^2 / 2 depends on h only "
        "through <h, grad p_theta>, so by Bessel its variance over a uniformly random target "
        "is at most Q(theta)/M, "
        "Q = E|grad_theta p_theta(x)|^2. Integrals are exact averages over a grid of the torus, "
        "on which the cosines are exactly orthonormal."
    ),
    config_type=GradientHardnessConfig,
    # quick: a coarser grid (fewer frequencies) and fewer models; same tolerances.
    quick=GradientHardnessConfig(resolution=32, family_sizes=(16, 64, 256), models=3),
    full=GradientHardnessConfig(),
    run=run_gradient_hardness,
    figure=figure_gradient_hardness,
))
