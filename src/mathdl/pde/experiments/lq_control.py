"""``pde/lq-control``: stochastic control as a residual network (Han & E 2016) on a
linear-quadratic problem, against the Riccati optimum.

The learned feedback u_n = N_n(X_n) is trained by minimising the sampled cost of the controlled
Euler scheme; its cost, estimated on fresh paths, is compared with the exact optimum of the same
discretised problem (discrete Riccati recursion): it can only be larger (up to Monte Carlo error),
and the gap is the claim. The discrete optimum converges to the continuous Riccati value at rate
O(Δt), also claimed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    require_int_range,
    require_ints,
    require_positive,
)
from mathdl.pde import (
    FeedbackControlOptions,
    FeedbackControlSolver,
    LinearQuadraticProblem,
    continuous_riccati_value,
    discrete_riccati,
    estimate_cost,
    riccati_policy,
)
from mathdl.pde.experiments import TOPIC
from mathdl.stats import fit_power_law

REFERENCE = ("Han & E 2016 (deep learning for stochastic control, NIPS Deep RL workshop); "
             "discrete and continuous Riccati equations (Bertsekas 2005 §4.1; Fleming & Rishel "
             "1975 §VI.5)")


@dataclass(frozen=True, kw_only=True)
class LQControlConfig:
    """Parameters of ``pde/lq-control``.

    dim, control_dim: state and control dimensions m, k (A = 0.3 x Gaussian, B Gaussian, drawn
        from the seed; σ = noise I, Q = R = G = I, x0 = (1, ..., 1), T = 1).
    n_steps: Euler steps N of the controlled problem.
    noise: σ.
    hidden_width, batch_size, iterations, learning_rate, final_learning_rate: the training of the
        per-step feedback networks (two hidden layers and an affine skip).
    eval_paths: fresh paths for the Monte Carlo costs (standard error ~ 1e-3 relative at 2e4).
    gap_tolerance: allowed relative gap of the learned cost above the optimum.
    se_factor: Monte Carlo slack, in standard errors, of the lower-bound and simulator claims.
    riccati_steps: N for the discrete -> continuous convergence (rate 1 claimed).
    rate_tolerance: absolute tolerance on that fitted rate.
    """

    dim: int = 4
    control_dim: int = 2
    n_steps: int = 20
    noise: float = 0.5
    hidden_width: int = 16
    batch_size: int = 512
    iterations: int = 1000
    learning_rate: float = 1e-2
    final_learning_rate: float = 1e-4
    eval_paths: int = 200_000
    gap_tolerance: float = 0.005
    se_factor: float = 4.0
    riccati_steps: tuple[int, ...] = (20, 40, 80, 160, 320, 640)
    rate_tolerance: float = 0.05

    def __post_init__(self) -> None:
        require_int_range("dim", self.dim, 1, 64)
        require_int_range("control_dim", self.control_dim, 1, 64)
        require_int_range("n_steps", self.n_steps, 1, 1000)
        require_positive("noise", self.noise)
        require_int_range("hidden_width", self.hidden_width, 1, 4096)
        require_int_range("batch_size", self.batch_size, 2, 1 << 16)
        require_int_range("iterations", self.iterations, 1, 1_000_000)
        require_positive("learning_rate", self.learning_rate)
        require_positive("final_learning_rate", self.final_learning_rate)
        require_int_range("eval_paths", self.eval_paths, 100, 1 << 24)
        require_positive("gap_tolerance", self.gap_tolerance)
        require_positive("se_factor", self.se_factor)
        require_ints("riccati_steps", self.riccati_steps, 1, 1 << 20, min_len=3, increasing=True)
        require_positive("rate_tolerance", self.rate_tolerance)


def run_lq_control(config: LQControlConfig, *, seed: int,
                   progress: Progress = no_progress) -> Result:
    generator = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    m, k = config.dim, config.control_dim
    eye = torch.eye(m, dtype=f64)
    problem = LinearQuadraticProblem(
        a=0.3 * torch.randn(m, m, generator=generator, dtype=f64),
        b=torch.randn(m, k, generator=generator, dtype=f64), sigma=config.noise * eye,
        q=eye, r=torch.eye(k, dtype=f64), g=eye, x0=torch.ones(m, dtype=f64),
        horizon=1.0, n_steps=config.n_steps)
    optimum = discrete_riccati(problem).value
    continuous = continuous_riccati_value(problem)
    solver = FeedbackControlSolver(problem, FeedbackControlOptions(
        hidden=(config.hidden_width, config.hidden_width), batch_size=config.batch_size,
        iterations=config.iterations, learning_rate=config.learning_rate,
        final_learning_rate=config.final_learning_rate)).fit(generator=generator,
                                                             progress=progress)
    # both policies on the same fresh paths (common random numbers): the paired difference
    # learned - Riccati has a far smaller standard error than either cost
    eval_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    learned, learned_se = estimate_cost(problem, solver.policy, n_paths=config.eval_paths,
                                        generator=torch.Generator().manual_seed(eval_seed))
    riccati_mc, riccati_se = estimate_cost(problem, riccati_policy(discrete_riccati(problem)),
                                           n_paths=config.eval_paths,
                                           generator=torch.Generator().manual_seed(eval_seed))
    paired = optimum + (learned - riccati_mc)  # control-variate estimate of the learned cost
    steps = list(config.riccati_steps)
    discrete_values = [discrete_riccati(replace(problem, n_steps=n)).value for n in steps]
    gaps = [abs(v - continuous) for v in discrete_values]
    fit = fit_power_law([1.0 / n for n in steps], gaps)
    metrics = {
        "optimal_cost_discrete": optimum, "optimal_cost_continuous": continuous,
        "learned_cost": learned, "learned_cost_std_error": learned_se,
        "learned_cost_paired": paired, "relative_gap": (paired - optimum) / optimum,
        "riccati_policy_cost": riccati_mc,
        "riccati_policy_std_error": riccati_se, "discretisation_rate": fit.slope,
    }
    claims = (
        Claim(name="learned_cost_above_optimum",
              statement="the learned feedback's cost is not below the discrete Riccati optimum "
                        f"(up to {config.se_factor:g} Monte Carlo standard errors)",
              reference=REFERENCE, predicted=optimum, measured=learned,
              tolerance=config.se_factor * learned_se, kind=ClaimKind.LOWER_BOUND),
        Claim(name="learned_cost_gap",
              statement=f"the learned feedback's cost (paired with the Riccati feedback on common "
                        f"paths) is within {100 * config.gap_tolerance:g}% of the discrete "
                        "Riccati optimum",
              reference=REFERENCE, predicted=optimum, measured=paired,
              tolerance=config.gap_tolerance, tolerance_kind=ToleranceKind.RELATIVE),
        Claim(name="riccati_feedback_cost",
              statement="the simulated cost of the Riccati feedback u = -K_n x equals the discrete "
                        f"Riccati value (within {config.se_factor:g} standard errors)",
              reference=REFERENCE, predicted=optimum, measured=riccati_mc,
              tolerance=config.se_factor * riccati_se),
        Claim(name="discrete_to_continuous_rate",
              statement="the discrete Riccati optimum converges to the continuous one at rate "
                        "O(Δt)",
              reference=REFERENCE, predicted=1.0, measured=fit.slope,
              tolerance=config.rate_tolerance, kind=ClaimKind.RATE),
    )
    series = {"training_cost": solver.cost_history_, "riccati_steps": [float(n) for n in steps],
              "riccati_gap": gaps}
    progress(config.iterations, config.iterations)
    return Result(metrics=metrics, series=series, claims=claims)


def figure_lq_control(result: Result) -> dict[str, Figure]:
    s, m = result.series, result.metrics
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    cost = s["training_cost"]
    ax1.plot(range(1, len(cost) + 1), cost, lw=0.8, label="sampled cost (batch)")
    ax1.axhline(m["optimal_cost_discrete"], color="k", lw=1, label="discrete Riccati optimum")
    ax1.axhline(m["learned_cost_paired"], color="tab:red", ls="--", lw=1,
                label=f"learned feedback, gap {100 * m['relative_gap']:.2f}%")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("cost")
    lo = m["optimal_cost_discrete"]
    ax1.set_ylim(0.95 * lo, 1.3 * lo)
    ax1.set_title("feedback control as a ResNet")
    ax1.legend(fontsize=8)
    n = s["riccati_steps"]
    ax2.loglog(n, s["riccati_gap"], "o-", ms=4,
               label=f"fitted rate {m['discretisation_rate']:.3f}")
    ax2.loglog(n, [s["riccati_gap"][0] * n[0] / v for v in n], "k:", lw=1, label="O(1/N)")
    ax2.set_xlabel("steps N")
    ax2.set_ylabel("|discrete - continuous optimum|")
    ax2.set_title("discrete Riccati → continuous")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return {"lq-control": fig}


lq_control = register(Experiment(
    name=f"{TOPIC}/lq-control",
    title="Stochastic control as a ResNet reaches the Riccati optimum of an LQ problem",
    reference=REFERENCE,
    description=(
        "Learns a feedback u_n = N_n(X_n) (one network per step) for dX = (AX + Bu)dt + σdW with "
        "quadratic cost by minimising the sampled cost of the controlled Euler scheme (a residual "
        "network, Han & E 2016) and compares its Monte Carlo cost with the exact optimum of the "
        "same discretised problem (discrete Riccati recursion): not below it, and within a stated "
        "gap. Also checks the simulator (Riccati feedback cost = Riccati value) and that the "
        "discrete optimum tends to the continuous Riccati value x0'P(0)x0 + ∫tr(σσ'P) at rate 1."
    ),
    config_type=LQControlConfig,
    quick=LQControlConfig(batch_size=256, iterations=150, eval_paths=20_000,
                          gap_tolerance=0.02),
    full=LQControlConfig(),
    run=run_lq_control,
    figure=figure_lq_control,
))
