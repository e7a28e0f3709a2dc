"""Theorem checks of the mean-field theory of two-layer networks:

* ``training/propagation-of-chaos``: m-particle mean-field gradient descent converges to its
  m -> infinity limit with O(m^(-1/2)) fluctuations; a wide student with a full-support
  initialisation fits a few-neuron teacher, a too-narrow one stalls (Chizat & Bach 2018; Mei,
  Montanari & Nguyen 2018; Rotskoff & Vanden-Eijnden 2018; Sirignano & Spiliopoulos 2020).
* ``training/alpha-test-error``: under the Chizat-Oyallon-Bach scale alpha the test error rises
  towards the linearised (kernel) model's as alpha grows, and is far below it at small alpha.

Built only on the public primitives of :mod:`mathdl.training`, :mod:`mathdl.stats`;
registered on import by :mod:`mathdl.training.experiments`.
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
    OutputInit,
    Scaling,
    TwoLayerNetwork,
    gaussian_relu_risk,
    initial_particles,
    mean_field_gradient_descent,
    mean_field_output,
    particle_sliced_w2,
    train_gradient_descent,
)

DTYPE = torch.float64
CHAOS_REFERENCE = ("Chizat & Bach, NeurIPS 2018 (§3); Mei, Montanari & Nguyen, PNAS 2018; "
                   "Rotskoff & Vanden-Eijnden 2018; Sirignano & Spiliopoulos, SPA 2020 (CLT)")
ALPHA_REFERENCE = "Chizat, Oyallon & Bach, NeurIPS 2019 (§2, Thm 2.2)"
_CHUNK_ELEMENTS = 2**22  # systems x width x n_train per batched run


def _orthonormal_directions(dim: int, count: int, generator: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=DTYPE))
    return q[:, :count].T.contiguous()


# =============================================================================================
# training/propagation-of-chaos


@dataclass(frozen=True, kw_only=True)
class PropagationOfChaosConfig:
    """Parameters of ``training/propagation-of-chaos``.

    input_dim, teacher_neurons: x ~ N(0, I_d); teacher f*(x) = (1/k) sum_j relu(u_j . x) with k
        orthonormal directions u_j (a mean-field network of k particles (1, u_j)).
    n_train: training points; the training risk is the empirical one, the reported population
        risk is exact (arc-cosine closed form, no Monte Carlo error).
    widths: student widths m for the fluctuation study; systems: independent initialisations
        per width (a_j ~ N(0, 1), w_j ~ N(0, I_d / d): directions cover the sphere).
    step_size: eta, the mean-field time step (time t = k eta, same for every m).
    chaos_time: the fluctuation window (0, chaos_time]; chosen while R(mu_t) is still far from
        its minimum: there the first-order (CLT) fluctuation m^(-1/2) dominates; near the
        minimum the linear term vanishes and the fluctuations fall faster (~1/m, Rotskoff &
        Vanden-Eijnden), which is not what the CLT claim is about.
    projections: random directions of the sliced W2 between two independent systems.
    wide_width, wide_systems, train_time: the wide students trained to convergence.
    The narrow student has 1 neuron (fewer than the teacher's k >= 2): its population risk
    can never go below R*_1, the best 1-neuron risk.
    slope_tolerance: absolute tolerance of the fitted slope of the across-seed std of the risk
        (theory -1/2); the std of a std over S systems is ~1/sqrt(2S) (6% at S = 128), which over
        the width range gives a slope error ~0.04 (quick) / ~0.025 (full): 3 sigma.
    sw_slope_tolerance: absolute tolerance of the slope of SW2 between two independent systems
        (theory -1/2 up to logarithms: the 1-D W2 between empirical measures of a law with
        unbounded support decays like sqrt(log log m / m) to sqrt(log m / m), Bobkov & Ledoux
        2019, which flattens the fitted slope by about 0.05 over 16 <= m <= 2048).
    wide_level: the wide students' final population risk / R(0) (R(0) = E f*^2 / 2, the risk
        of the zero function) must be below this level ("near zero"): 0.02 is ten times below
        the best a 1-neuron student can do (R*_1 / R(0) ~ 0.2 for 3 orthonormal teacher
        neurons). Global convergence has no rate (Chizat & Bach 2018): the risk decays
        algebraically in t (about t^(-0.7) here), to ~0.005 at t = 100 and ~0.003 at t = 200.
    narrow_tolerance: relative tolerance on the lower bound R*_1 (the best 1-neuron population
        risk, computed by minimising the closed-form risk from many starts; allows its
        optimisation error).
    """

    input_dim: int = 5
    teacher_neurons: int = 3
    n_train: int = 200
    widths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048)
    systems: int = 256
    step_size: float = 0.25
    chaos_time: float = 2.0
    projections: int = 128
    wide_width: int = 2048
    wide_systems: int = 4
    train_time: float = 200.0
    slope_tolerance: float = 0.08
    sw_slope_tolerance: float = 0.1
    wide_level: float = 0.02
    narrow_tolerance: float = 1e-3

    def __post_init__(self) -> None:
        require_int_range("input_dim", self.input_dim, 2, 1000)
        require_int_range("teacher_neurons", self.teacher_neurons, 2, self.input_dim)
        require_int_range("n_train", self.n_train, 2, 100_000)
        require_ints("widths", self.widths, 2, 2**16, min_len=3, increasing=True)
        require_int_range("systems", self.systems, 4, 100_000)
        require(self.systems % 2 == 0, "systems", "an even number (pairs for the sliced W2)",
                self.systems)
        require_positive("step_size", self.step_size)
        require(self.step_size <= 1.0, "step_size", "a time step <= 1 (stable Euler scheme)",
                self.step_size)
        require(self.chaos_time >= 2 * self.step_size, "chaos_time",
                "at least two steps (chaos_time >= 2 step_size)", self.chaos_time)
        require_int_range("projections", self.projections, 1, 100_000)
        require_int_range("wide_width", self.wide_width, 2, 2**16)
        require_int_range("wide_systems", self.wide_systems, 1, 1000)
        require(self.train_time >= self.step_size, "train_time", "a time >= step_size",
                self.train_time)
        require_positive("slope_tolerance", self.slope_tolerance)
        require_positive("sw_slope_tolerance", self.sw_slope_tolerance)
        require(0 < self.wide_level < 1, "wide_level", "a level in (0, 1)", self.wide_level)
        require_positive("narrow_tolerance", self.narrow_tolerance)


def _best_single_neuron_risk(teacher: torch.Tensor, generator: torch.Generator,
                             starts: int = 16, iterations: int = 300) -> float:
    """min over 1-particle students (a, w) of the closed-form population risk: gradient
    descent from many random starts on the (smooth away from w = 0) closed form."""
    d = teacher.shape[1] - 1
    theta = initial_particles(1, d, generator=generator, batch=(starts,)).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=0.02)
    for _ in range(iterations):
        opt.zero_grad()
        gaussian_relu_risk(theta, teacher).sum().backward()
        opt.step()
    with torch.no_grad():
        return float(gaussian_relu_risk(theta, teacher).min())


def run_propagation_of_chaos(
    config: PropagationOfChaosConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    d, k = config.input_dim, config.teacher_neurons
    teacher = torch.cat([torch.ones(k, 1, dtype=DTYPE),
                         _orthonormal_directions(d, k, generator)], dim=1)
    x = torch.randn(config.n_train, d, generator=generator, dtype=DTYPE)
    y = mean_field_output(teacher, x)
    zero = torch.zeros(1, 1 + d, dtype=DTYPE)
    risk_zero = float(gaussian_relu_risk(zero, teacher))  # E f*^2 / 2
    eta = config.step_size
    chaos_steps = max(2, round(config.chaos_time / eta))
    total = len(config.widths) + 2
    times = [kk * eta for kk in range(chaos_steps + 1)]
    stds, means, sw = [], [], []
    series: dict[str, list[float]] = {"times": times}
    for i, m in enumerate(config.widths):
        p0 = initial_particles(m, d, generator=generator, batch=(config.systems,))
        # independent systems: train them in chunks of bounded memory (same numbers)
        chunk = max(2, _CHUNK_ELEMENTS // (m * config.n_train))
        runs = [mean_field_gradient_descent(part, x, y, step_size=eta, steps=chaos_steps)
                for part in torch.split(p0, chunk)]
        risk = torch.cat([r.risk for r in runs], dim=1)  # (times, systems)
        final = torch.cat([r.final for r in runs])
        std = risk.std(dim=1)  # across systems, at each time
        stds.append(float(std[1:].square().mean().sqrt()))  # RMS over the window (0, T]
        mean = risk.mean(dim=1)
        means.append(mean)
        series[f"mean_risk_{m}"] = mean.tolist()
        series[f"std_risk_{m}"] = std.tolist()
        pairs = [float(particle_sliced_w2(final[2 * j], final[2 * j + 1],
                                          projections=config.projections,
                                          generator=generator)) ** 2
                 for j in range(config.systems // 2)]
        sw.append(math.sqrt(sum(pairs) / len(pairs)))
        progress(i + 1, total)
    std_fit = fit_power_law(config.widths, stds)
    sw_fit = fit_power_law(config.widths, sw)
    reference_mean = means[-1]
    gap = [float((mu - reference_mean).abs().max()) for mu in means[:-1]]

    # (b) wide full-support students converge; a 1-neuron student stalls above R*_1.
    train_steps = max(1, round(config.train_time / eta))
    records = sorted({0, train_steps} | {int(s) for s in np.unique(np.round(
        np.geomspace(1, train_steps, 40)).astype(int))})
    wide0 = initial_particles(config.wide_width, d, generator=generator,
                              batch=(config.wide_systems,))
    wide = mean_field_gradient_descent(wide0, x, y, step_size=eta, steps=train_steps,
                                       record_steps=records, record_particles=True)
    progress(len(config.widths) + 1, total)
    narrow0 = initial_particles(1, d, generator=generator,
                                batch=(config.wide_systems,))
    narrow = mean_field_gradient_descent(narrow0, x, y, step_size=eta, steps=train_steps,
                                         record_steps=records, record_particles=True)
    assert wide.particles is not None and narrow.particles is not None
    wide_pop = gaussian_relu_risk(wide.particles, teacher) / risk_zero  # (T, systems)
    narrow_pop = gaussian_relu_risk(narrow.particles, teacher) / risk_zero
    best_single = _best_single_neuron_risk(teacher, generator) / risk_zero
    progress(total, total)
    wide_final = float(wide_pop[-1].max())
    narrow_final = float(narrow_pop[-1].min())
    wide_train = float((wide.risk[-1] / wide.risk[0]).max())
    claims = (
        Claim(
            name="fluctuation-rate",
            statement="the across-initialisation std of the training risk R(mu^m_t), RMS over "
                      f"t in (0, {config.chaos_time:g}], decays like m^(-1/2) (log-log slope)",
            reference=CHAOS_REFERENCE, predicted=-0.5, measured=std_fit.slope,
            tolerance=config.slope_tolerance, kind=ClaimKind.RATE,
        ),
        Claim(
            name="sliced-w2-rate",
            statement="the sliced W2 between the particle measures of two independent "
                      f"m-particle runs at t = {chaos_steps * eta:g} decays like m^(-1/2) "
                      "(up to logarithms)",
            reference=CHAOS_REFERENCE + "; Bobkov & Ledoux 2019", predicted=-0.5,
            measured=sw_fit.slope, tolerance=config.sw_slope_tolerance, kind=ClaimKind.RATE,
        ),
        Claim(
            name="wide-student-fits-teacher",
            statement=f"a wide student (m = {config.wide_width}, i.i.d. Gaussian a_j, w_j: "
                      "full support) reaches near-zero population risk on the "
                      f"{k}-neuron teacher: max over {config.wide_systems} runs of "
                      f"R(mu_T) / R(0) at T = {train_steps * eta:g}",
            reference="Chizat & Bach, NeurIPS 2018, §3", predicted=config.wide_level,
            measured=wide_final, tolerance=0.0, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="narrow-student-stalls",
            statement=f"a 1-neuron student (narrower than the {k}-neuron "
                      "teacher) stalls: its population risk / R(0) stays above the best "
                      "1-neuron risk R*_1 / R(0) (min over runs)",
            reference="Chizat & Bach 2018 (width below the teacher's: no global convergence)",
            predicted=best_single, measured=narrow_final, tolerance=config.narrow_tolerance,
            kind=ClaimKind.LOWER_BOUND, tolerance_kind=ToleranceKind.RELATIVE,
        ),
    )
    series.update({
        "widths": [float(m) for m in config.widths],
        "risk_std": stds, "sliced_w2": sw, "mean_gap_to_widest": gap,
        "train_times": [s * eta for s in records],
        "wide_population_risk": wide_pop.mean(dim=1).tolist(),
        "wide_population_risk_max": wide_pop.max(dim=1).values.tolist(),
        "narrow_population_risk": narrow_pop.min(dim=1).values.tolist(),
    })
    return Result(
        metrics={"fluctuation_slope": std_fit.slope, "sliced_w2_slope": sw_fit.slope,
                 "wide_final_relative_risk": wide_final, "wide_final_train_ratio": wide_train,
                 "narrow_final_relative_risk": narrow_final,
                 "best_single_neuron_relative_risk": best_single, "risk_of_zero": risk_zero},
        series=series,
        claims=claims,
    )


def figure_propagation_of_chaos(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    fig = Figure(figsize=(14, 4.2))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    t = np.array(s["times"])
    for m in s["widths"]:
        mean = np.array(s[f"mean_risk_{int(m)}"])
        std = np.array(s[f"std_risk_{int(m)}"])
        line = ax1.plot(t, mean, label=f"m = {int(m)}")[0]
        ax1.fill_between(t, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax1.set_xlabel("mean-field time t")
    ax1.set_ylabel("training risk R(μᵐ_t): mean ± std over inits")
    ax1.set_title("propagation of chaos")
    ax1.legend(fontsize=7)
    w = np.array(s["widths"])
    ax2.loglog(w, s["risk_std"], "o-", label=f"std of R, slope {mt['fluctuation_slope']:.3f}")
    ax2.loglog(w, s["sliced_w2"], "s-",
               label=f"SW₂ of two runs, slope {mt['sliced_w2_slope']:.3f}")
    for key in ("risk_std", "sliced_w2"):
        ax2.loglog(w, s[key][0] * (w / w[0]) ** -0.5, ":", color="grey")
    ax2.set_xticks(w, [str(int(m)) for m in w])
    ax2.minorticks_off()
    ax2.set_xlabel("width m")
    ax2.set_title("fluctuations ~ m^(-1/2) (dotted)")
    ax2.legend(fontsize=8)
    tt = np.array(s["train_times"])
    tt = np.maximum(tt, tt[1] / 2)
    ax3.loglog(tt, s["wide_population_risk"], "-", lw=2, label="wide student (mean)")
    ax3.loglog(tt, s["narrow_population_risk"], "-", lw=2, label="1-neuron student (best run)")
    ax3.axhline(mt["best_single_neuron_relative_risk"], color="grey", ls="--",
                label="best 1-neuron risk R*₁")
    ax3.set_xlabel("mean-field time t")
    ax3.set_ylabel("population risk / R(0)")
    ax3.set_title("full support fits, too narrow stalls")
    ax3.legend(fontsize=8)
    fig.tight_layout()
    return {"propagation-of-chaos": fig}


propagation_of_chaos = register(Experiment(
    name="training/propagation-of-chaos",
    title="Mean-field training: propagation of chaos and global convergence of wide students",
    reference=CHAOS_REFERENCE,
    description=(
        "Trains two-layer ReLU students f = (1/m) sum_j a_j relu(w_j . x) by particle gradient "
        "descent in the mean-field time scale (each particle moves O(1) per unit time: the "
        "Wasserstein gradient flow of the risk) on a k-neuron teacher, from many independent "
        "initialisations at each width. The risk trajectory converges as m grows: its spread "
        "over initialisations shrinks like m^(-1/2), and so does the sliced W2 between the "
        "particle measures of two independent runs. A wide student with a full-support "
        "initialisation drives the population risk (exact, arc-cosine closed form) to near "
        "zero; a 1-neuron student stalls at or above the best 1-neuron risk."
    ),
    config_type=PropagationOfChaosConfig,
    quick=PropagationOfChaosConfig(n_train=100, widths=(16, 32, 64, 128, 256), systems=128,
                                   projections=64, wide_width=256, wide_systems=2,
                                   train_time=100.0, slope_tolerance=0.12,
                                   sw_slope_tolerance=0.12),
    full=PropagationOfChaosConfig(),
    run=run_propagation_of_chaos,
    figure=figure_propagation_of_chaos,
))


# =============================================================================================
# training/alpha-test-error


@dataclass(frozen=True, kw_only=True)
class AlphaTestErrorConfig:
    """Parameters of ``training/alpha-test-error``.

    input_dim, teacher_neurons: x ~ N(0, I_d); teacher f*(x) = sum_j relu(u_j . x), u_j
        orthonormal.
    n_train, n_test: training and test points; test error = mean squared error on the test
        set / variance of the test targets.
    width: m; the network is alpha h, h = m^(-1/2) sum_k a_k relu(w_k . x) with a(0) = 0 so that
        h(w_0) = 0; alpha = m^(-1/2) is the mean-field scaling (learning rate eta m), alpha = 1
        the NTK one, alpha -> infinity the lazy limit.
    alphas: increasing scale factors (the same w_0 for all); each trains alpha^-2 R(alpha h)
        with step eta (i.e. R(alpha h) with step eta / alpha^2).
    learning_rate, steps: eta and the common number of steps K (the same time horizon).
    The kernel predictor is the linearised model at w_0 trained the same way: since a(0) = 0,
    grad_W h(w_0) = 0 and it is the random-feature model m^(-1/2) sum_k u_k relu(w_k(0) . x)
    trained by GD from u = 0 with step eta (independent of alpha: the exact alpha -> infinity
    limit of the dynamics, Chizat, Oyallon & Bach 2019, §2).
    kernel_tolerance: relative tolerance of the test error at the largest alpha against the
        kernel predictor's (the deviation is O(alpha^-2), measured ~0.1% at alpha = 128:
        quick 2%, full 1% leave room for other seeds and teachers).
    rate_from: the lazy-rate fit uses the alphas >= rate_from (where the deviation is small
        enough to be in its asymptotic regime).
    rate_tolerance: absolute tolerance of the fitted slope of |test error - kernel's| against
        alpha (theory -2, see below; quick 0.2, full 0.1: the fit over alpha in [8, 128]
        (quick) still carries the O(alpha^-4) next term, visible as slopes ~ -1.9).
    Why -2: with u = alpha a, f = alpha h = m^(-1/2) sum_k u_k relu(w_k . x) exactly, and GD on
    alpha^-2 R(alpha h) with step eta moves u with step eta and W with step eta / alpha^2: alpha
    only slows the first layer by alpha^-2. At a fixed horizon the predictor is a smooth
    function of eps = alpha^-2 whose eps = 0 value is the linearised model, so its deviation,
    and the test error's, is O(alpha^-2): faster than Chizat, Oyallon & Bach's general
    O(1/alpha) bound (§2), because a(0) = 0 makes grad_W h(w_0) = 0.
    rich_level: the test error at the smallest alpha must be below rich_level x the kernel
        predictor's ("clearly below").
    """

    input_dim: int = 10
    teacher_neurons: int = 2
    n_train: int = 100
    n_test: int = 4000
    width: int = 256
    alphas: tuple[float, ...] = (0.0625, 0.25, 1.0, 4.0, 16.0, 64.0, 256.0)
    learning_rate: float = 1.0
    steps: int = 2000
    kernel_tolerance: float = 0.01
    rate_from: float = 16.0
    rate_tolerance: float = 0.1
    rich_level: float = 0.5

    def __post_init__(self) -> None:
        require_int_range("input_dim", self.input_dim, 2, 1000)
        require_int_range("teacher_neurons", self.teacher_neurons, 1, self.input_dim)
        require_int_range("n_train", self.n_train, 2, 100_000)
        require_int_range("n_test", self.n_test, 10, 10**6)
        require_int_range("width", self.width, 2, 2**16)
        require(len(self.alphas) >= 3 and all(a > 0 for a in self.alphas)
                and all(a < b for a, b in zip(self.alphas, self.alphas[1:], strict=False)),
                "alphas", "at least 3 increasing positive numbers", self.alphas)
        require_positive("learning_rate", self.learning_rate)
        require_int_range("steps", self.steps, 1, 10**6)
        require_positive("kernel_tolerance", self.kernel_tolerance)
        require(sum(a >= self.rate_from for a in self.alphas) >= 2, "rate_from",
                "a value with at least two alphas >= it", self.rate_from)
        require_positive("rate_tolerance", self.rate_tolerance)
        require(0 < self.rich_level < 1, "rich_level", "a level in (0, 1)", self.rich_level)


def run_alpha_test_error(
    config: AlphaTestErrorConfig, *, seed: int, progress: Progress = no_progress
) -> Result:
    generator = torch.Generator().manual_seed(seed)
    d, m = config.input_dim, config.width
    u = _orthonormal_directions(d, config.teacher_neurons, generator)

    def teacher(inputs: torch.Tensor) -> torch.Tensor:
        return torch.relu(inputs @ u.T).sum(dim=1)

    x = torch.randn(config.n_train, d, generator=generator, dtype=DTYPE)
    y = teacher(x)
    x_test = torch.randn(config.n_test, d, generator=generator, dtype=DTYPE)
    y_test = teacher(x_test)
    variance = float(y_test.var(unbiased=False))
    init = torch.Generator().manual_seed(seed + 1)
    state = init.get_state()
    total = len(config.alphas) + 1

    def test_error(net: TwoLayerNetwork) -> tuple[float, torch.Tensor]:
        with torch.no_grad():
            out = net(x_test)
        return float(((out - y_test) ** 2).mean()) / variance, out

    init.set_state(state)
    linear = TwoLayerNetwork(d, m, scaling=Scaling.NTK, output_init=OutputInit.ZERO,
                             generator=init, dtype=DTYPE)
    lin_rec = train_gradient_descent(linear, x, y, learning_rate=config.learning_rate,
                                     steps=config.steps, record_every=config.steps,
                                     trainable=["output"])
    kernel_error, kernel_out = test_error(linear)
    progress(1, total)
    errors, train_losses, distances = [], [], []
    for i, alpha in enumerate(config.alphas):
        init.set_state(state)  # the same w_0 for every alpha
        net = TwoLayerNetwork(d, m, scaling=Scaling.NTK, alpha=alpha,
                              output_init=OutputInit.ZERO, generator=init, dtype=DTYPE)
        rec = train_gradient_descent(net, x, y, learning_rate=config.learning_rate / alpha**2,
                                     steps=config.steps, record_every=config.steps)
        err, out = test_error(net)
        errors.append(err)
        train_losses.append(rec.train_loss[-1])
        distances.append(float((out - kernel_out).norm() / kernel_out.norm()))
        progress(i + 2, total)
    deviation = [abs(e - kernel_error) / kernel_error for e in errors]
    tail = [i for i, a in enumerate(config.alphas) if a >= config.rate_from]
    rate = fit_power_law([config.alphas[i] for i in tail],
                         [max(deviation[i], 1e-300) for i in tail])
    decreases = sum(b < a for a, b in zip(errors, errors[1:], strict=False))
    claims = (
        Claim(
            name="large-alpha-kernel-test-error",
            statement=f"at alpha = {config.alphas[-1]:g} the test error equals the linearised "
                      "(kernel) model's (relative tolerance)",
            reference=ALPHA_REFERENCE, predicted=kernel_error, measured=errors[-1],
            tolerance=config.kernel_tolerance, kind=ClaimKind.VALUE,
            tolerance_kind=ToleranceKind.RELATIVE,
        ),
        Claim(
            name="lazy-deviation-rate",
            statement="|test error(alpha) - kernel test error| decays like alpha^-2 (a(0) = 0: "
                      "alpha only scales the first layer's step by alpha^-2; log-log slope over "
                      f"alpha >= {config.rate_from:g})",
            reference=ALPHA_REFERENCE, predicted=-2.0, measured=rate.slope,
            tolerance=config.rate_tolerance, kind=ClaimKind.RATE,
        ),
        Claim(
            name="small-alpha-beats-kernel",
            statement=f"at alpha = {config.alphas[0]:g} (feature learning) the test error is "
                      f"below {config.rich_level:g} x the kernel predictor's (ratio)",
            reference=ALPHA_REFERENCE + "; Mei, Montanari & Nguyen 2018",
            predicted=config.rich_level, measured=errors[0] / kernel_error, tolerance=0.0,
            kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="test-error-rises-with-alpha",
            statement="the test error is non-decreasing in alpha (number of decreases along "
                      "the alpha grid)",
            reference=ALPHA_REFERENCE, predicted=0.0, measured=float(decreases),
            tolerance=0.0, kind=ClaimKind.UPPER_BOUND,
        ),
    )
    return Result(
        metrics={"kernel_test_error": kernel_error, "kernel_train_loss": lin_rec.train_loss[-1],
                 "small_alpha_test_error": errors[0], "large_alpha_test_error": errors[-1],
                 "deviation_slope": rate.slope, "decreases": float(decreases)},
        series={"alphas": list(config.alphas), "test_error": errors,
                "relative_deviation": deviation, "train_loss": train_losses,
                "function_distance": distances},
        claims=claims,
    )


def figure_alpha_test_error(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    a = np.array(s["alphas"])
    ax1.semilogx(a, s["test_error"], "o-", lw=2, label="trained α h")
    ax1.axhline(mt["kernel_test_error"], color="k", ls=":", label="linearised (kernel) model")
    ax1.set_xlabel("scale α")
    ax1.set_ylabel("test MSE / Var(y)")
    ax1.set_title("test error rises to the kernel's as α grows")
    ax1.legend(fontsize=8)
    dev = np.maximum(np.array(s["relative_deviation"]), 1e-16)
    ax2.loglog(a, dev, "o-", label="|err(α) - err_kernel| / err_kernel")
    ax2.loglog(a, s["function_distance"], "s-", label="|α h - h_lin| / |h_lin| (test set)")
    guide = dev[-1] * (a[-1] / a) ** 2
    keep = guide <= 1
    ax2.loglog(a[keep], guide[keep], ":", color="grey", label="α⁻²")
    ax2.set_xlabel("scale α")
    ax2.set_title(f"lazy limit, deviation slope {mt['deviation_slope']:.2f}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return {"alpha-test-error": fig}


alpha_test_error = register(Experiment(
    name="training/alpha-test-error",
    title="Lazy training: the test error rises to the kernel predictor's as the scale α grows",
    reference=ALPHA_REFERENCE,
    description=(
        "Trains alpha h on alpha^-2 R(alpha h), h a two-layer ReLU network with NTK scaling and a "
        "zero output layer (h(w_0) = 0), from the same w_0 for a range of alpha, on a small "
        "ReLU teacher with few training points. As alpha grows the trained network converges "
        "to the linearised model (here the random-feature model, since grad_W h(w_0) = 0) "
        "trained the same way, and so does its test error; at small alpha (alpha = m^(-1/2) is "
        "the mean-field scaling) the first layer learns the teacher's directions and the test "
        "error is far below the kernel predictor's."
    ),
    config_type=AlphaTestErrorConfig,
    quick=AlphaTestErrorConfig(n_test=2000, width=128,
                               alphas=(0.125, 0.5, 2.0, 8.0, 32.0, 128.0), steps=800,
                               kernel_tolerance=0.02, rate_from=8.0, rate_tolerance=0.2),
    full=AlphaTestErrorConfig(),
    run=run_alpha_test_error,
    figure=figure_alpha_test_error,
))


__all__ = [
    "AlphaTestErrorConfig",
    "PropagationOfChaosConfig",
    "alpha_test_error",
    "propagation_of_chaos",
    "run_alpha_test_error",
    "run_propagation_of_chaos",
]
