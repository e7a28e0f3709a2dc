"""Theorem check ``training/sgd-rates``: SGD on a strongly convex problem, with a constant step
(a noise floor proportional to the step) and a decaying step c/k (the O(1/k) rate), against the
exact second-moment theory of least-squares SGD with Gaussian inputs.

Built only on the public primitives of :mod:`mathdl.training` and :mod:`mathdl.stats`;
registered on import by :mod:`mathdl.training.experiments`.
"""

from __future__ import annotations

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
    require_positive,
)
from mathdl.stats import fit_power_law
from mathdl.training import (
    StepSchedule,
    least_squares_sgd,
    lms_decaying_step_constant,
    lms_noise_floor,
)

DTYPE = torch.float64
REFERENCE = ("Robbins & Monro 1951; Bach & Moulines, NeurIPS 2011 and 2013; Defossez & Bach, "
             "AISTATS 2015 (exact second moments of least-squares SGD)")


@dataclass(frozen=True, kw_only=True)
class SGDRatesConfig:
    """Parameters of ``training/sgd-rates``.

    dim, h_min, h_max: input covariance H = diag(h), h evenly spaced in [h_min, h_max]
        (strong convexity mu = h_min).
    noise_std: sigma, the label noise (the source of the floor).
    steps_constant: constant steps eta, decreasing; the floor is averaged over the second half
        of ``constant_horizon`` steps (several mixing times 1/(eta h_min) for every eta).
    constant_horizon: steps per constant-step run.
    decay_c, decay_offset: eta_k = c / (k + k0); needs 2 c h_min > 1 for the 1/k rate.
    decay_steps: steps of the decaying-step run; the rate is fitted on [decay_steps/20, end].
    runs: independent runs averaged (standard errors over runs).
    floor_tolerance: relative tolerance of the measured floor against the exact formula (the
        Monte Carlo error of the time-and-run average is about 1-2% at the quick size).
    slope_tolerance: absolute tolerance on the fitted slopes (floor vs eta: 1; risk vs k: -1).
    constant_tolerance: relative tolerance on k E(w_k) against the asymptotic constant C (the
        1/k law holds up to O(1/k^2) terms and Monte Carlo error).
    """

    dim: int = 10
    h_min: float = 0.5
    h_max: float = 2.0
    noise_std: float = 1.0
    steps_constant: tuple[float, ...] = (0.02, 0.01, 0.005, 0.0025)
    constant_horizon: int = 40_000
    decay_c: float = 2.0
    decay_offset: float = 10.0
    decay_steps: int = 100_000
    runs: int = 2000
    floor_tolerance: float = 0.03
    slope_tolerance: float = 0.08
    constant_tolerance: float = 0.05

    def __post_init__(self) -> None:
        require_int_range("dim", self.dim, 1, 10_000)
        require_positive("h_min", self.h_min)
        require(self.h_max >= self.h_min, "h_max", "a number >= h_min", self.h_max)
        require_positive("noise_std", self.noise_std)
        require(len(self.steps_constant) >= 2 and all(s > 0 for s in self.steps_constant)
                and list(self.steps_constant) == sorted(set(self.steps_constant), reverse=True),
                "steps_constant", "at least 2 decreasing positive steps", self.steps_constant)
        require(self.steps_constant[0] * self.h_max < 1, "steps_constant",
                "steps below 1 / h_max", self.steps_constant)
        require_int_range("constant_horizon", self.constant_horizon, 100, 10**8)
        require(2 * self.decay_c * self.h_min > 1, "decay_c", "c with 2 c h_min > 1",
                self.decay_c)
        require(self.decay_offset >= 1, "decay_offset", "a number >= 1", self.decay_offset)
        require_int_range("decay_steps", self.decay_steps, 200, 10**8)
        require_int_range("runs", self.runs, 2, 10**7)
        require_positive("floor_tolerance", self.floor_tolerance)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("constant_tolerance", self.constant_tolerance)


def run_sgd_rates(config: SGDRatesConfig, *, seed: int, progress: Progress = no_progress
                  ) -> Result:
    generator = torch.Generator().manual_seed(seed)
    h = torch.linspace(config.h_min, config.h_max, config.dim, dtype=DTYPE)
    w_star = torch.randn(config.dim, generator=generator, dtype=DTYPE)
    sigma2 = config.noise_std**2
    total = len(config.steps_constant) + 1
    horizon = config.constant_horizon
    window = np.unique(np.linspace(horizon // 2, horizon, 41).astype(int)).tolist()
    curve_steps = np.unique(np.geomspace(1, horizon, 40).astype(int)).tolist()
    floors, predicted, curves = [], [], {}
    for i, eta in enumerate(config.steps_constant):
        traj = least_squares_sgd(h, w_star, noise_std=config.noise_std,
                                 schedule=StepSchedule.CONSTANT, step=eta, steps=horizon,
                                 record_steps=sorted(set(window) | set(curve_steps)),
                                 runs=config.runs, generator=generator)
        risk = dict(zip(traj.steps, traj.excess_risk.tolist(), strict=True))
        floors.append(float(np.mean([risk[k] for k in window])))
        predicted.append(lms_noise_floor(h, eta, sigma2))
        curves[eta] = [risk[k] for k in curve_steps]
        progress(i + 1, total)
    k_decay = np.unique(np.geomspace(1, config.decay_steps, 50).astype(int)).tolist()
    decay = least_squares_sgd(h, w_star, noise_std=config.noise_std,
                              schedule=StepSchedule.INVERSE_TIME, step=config.decay_c,
                              steps=config.decay_steps, record_steps=k_decay, runs=config.runs,
                              generator=generator, offset=config.decay_offset)
    progress(total, total)
    decay_risk = decay.excess_risk.tolist()
    fit_from = config.decay_steps // 20
    tail = [(k, r) for k, r in zip(k_decay, decay_risk, strict=True) if k >= fit_from]
    rate = fit_power_law([k for k, _ in tail], [r for _, r in tail])
    c_theory = lms_decaying_step_constant(h, config.decay_c, sigma2)
    late = [k * r for k, r in tail if k >= config.decay_steps // 4]
    c_measured = sum(late) / len(late)
    floor_fit = fit_power_law(list(config.steps_constant), floors)
    exact_slope = fit_power_law(list(config.steps_constant), predicted).slope
    worst = max(abs(f / p - 1) for f, p in zip(floors, predicted, strict=True))
    claims = (
        Claim(
            name="noise-floor-exact",
            statement="with a constant step the excess risk settles at sigma^2 A / (2 (1 - A)), "
                      "A = sum eta h_i / (2 (1 - eta h_i)) (largest relative deviation over "
                      "the steps)",
            reference=REFERENCE, predicted=0.0, measured=worst,
            tolerance=config.floor_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="noise-floor-proportional-to-step",
            statement="the noise floor is proportional to the step: log-log slope of the "
                      "measured floor against eta (first-order theory eta sigma^2 tr H / 4; "
                      f"the exact formula's slope over these steps is {exact_slope:.3f})",
            reference=REFERENCE, predicted=1.0, measured=floor_fit.slope,
            tolerance=config.slope_tolerance, kind=ClaimKind.RATE,
        ),
        Claim(
            name="inverse-time-rate",
            statement="with eta_k = c / (k + k0), 2 c mu > 1, the excess risk decays like 1/k "
                      "(log-log slope on the last decades)",
            reference=REFERENCE, predicted=-1.0, measured=rate.slope,
            tolerance=config.slope_tolerance, kind=ClaimKind.RATE,
        ),
        Claim(
            name="inverse-time-constant",
            statement="k E(w_k) -> (c^2 sigma^2 / 2) sum h_i^2 / (2 c h_i - 1) (k E(w_k) averaged "
                      "over the recorded k in the last three quarters of the run)",
            reference=REFERENCE, predicted=c_theory, measured=c_measured,
            tolerance=config.constant_tolerance, kind=ClaimKind.VALUE,
            tolerance_kind=ToleranceKind.RELATIVE,
        ),
    )
    series = {"constant_steps": list(config.steps_constant), "floors": floors,
              "floors_predicted": predicted, "curve_steps": [float(k) for k in curve_steps],
              "decay_steps": [float(k) for k in k_decay], "decay_risk": decay_risk}
    for i, eta in enumerate(config.steps_constant):
        series[f"curve_{i}"] = curves[eta]
    return Result(
        metrics={"floor_slope": floor_fit.slope, "floor_max_relative_error": worst,
                 "decay_slope": rate.slope, "decay_constant_measured": c_measured,
                 "decay_constant_predicted": c_theory},
        series=series, claims=claims,
    )


def figure_sgd_rates(result: Result) -> dict[str, Figure]:
    s = result.series
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    for i, (eta, floor) in enumerate(zip(s["constant_steps"], s["floors_predicted"],
                                         strict=True)):
        line = ax1.loglog(s["curve_steps"], s[f"curve_{i}"], label=f"eta = {eta:g}")[0]
        ax1.axhline(floor, color=line.get_color(), ls=":", lw=1)
    ax1.set_xlabel("step k")
    ax1.set_ylabel("excess risk (mean over runs)")
    ax1.set_title("constant step: floors (dotted: exact theory)")
    ax1.legend(fontsize=7)
    k = s["decay_steps"]
    c = result.metrics["decay_constant_predicted"]
    ax2.loglog(k, s["decay_risk"], "o", ms=3, label="eta_k = c / (k + k0)")
    ax2.loglog(k, [c / kk for kk in k], "-", label="C / k (theory)")
    ax2.set_xlabel("step k")
    ax2.set_title(f"decaying step: slope {result.metrics['decay_slope']:.3f}")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"sgd-rates": fig}


sgd_rates = register(Experiment(
    name="training/sgd-rates",
    title="SGD: a noise floor proportional to a constant step, O(1/k) with a c/k step",
    reference=REFERENCE,
    description=(
        "Online least squares with Gaussian inputs x ~ N(0, H) and label noise sigma: one fresh "
        "sample per step, many independent runs. The Gaussian fourth moment closes the "
        "second-moment recursion, so the theory is exact: with a constant step eta the excess "
        "risk settles at sigma^2 A / (2 (1 - A)), A = sum eta h_i / (2 (1 - eta h_i)), "
        "proportional to eta to first order; with eta_k = c / (k + k0) and 2 c h_min > 1 it "
        "decays like C / k with C = (c^2 sigma^2 / 2) sum h_i^2 / (2 c h_i - 1)."
    ),
    config_type=SGDRatesConfig,
    # quick: fewer runs and shorter horizons (mixing time 1/(eta h_min) = 800 steps at the
    # smallest step); Monte Carlo error ~3%, hence the looser floor and constant tolerances.
    quick=SGDRatesConfig(dim=5, steps_constant=(0.02, 0.01, 0.005), constant_horizon=8000,
                         decay_steps=20_000, runs=400, floor_tolerance=0.08,
                         slope_tolerance=0.12, constant_tolerance=0.12),
    full=SGDRatesConfig(),
    run=run_sgd_rates,
    figure=figure_sgd_rates,
))


__all__ = ["SGDRatesConfig", "run_sgd_rates", "sgd_rates"]
