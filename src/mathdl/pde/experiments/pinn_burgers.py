"""``pde/pinn-burgers``: a physics-informed network solves Burgers' equation and identifies its
viscosity, measured against the exact Cole–Hopf solution (Raissi, Perdikaris, Karniadakis 2019).

Built only on the public primitives of :mod:`mathdl.pde`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from mathdl.atlas import (
    Claim,
    ClaimKind,
    ComputeDevice,
    Experiment,
    Progress,
    Result,
    ToleranceKind,
    no_progress,
    register,
    require,
    require_device,
    require_int_range,
    require_positive,
)
from mathdl.pde import (
    PINN,
    ColeHopfQuadrature,
    MultilayerPerceptron,
    burgers_cole_hopf,
    burgers_residual,
    burgers_training_data,
)
from mathdl.pde.experiments import TOPIC

DTYPE = torch.float64
PROFILE_TIMES = (0.25, 0.5, 0.75)


@dataclass(frozen=True, kw_only=True)
class PinnBurgersConfig:
    """Parameters of ``pde/pinn-burgers``.

    viscosity_scale: nu = viscosity_scale / pi (0.01 in Raissi et al. 2019 and Basdevant et al.
        1986: a shock of width ~nu forms at x = 0 from t ~ 1/pi). The quick preset uses 0.1: the
        front is then ten times wider, so a small network resolves it within seconds; the
        check is the same (PINN vs the exact Cole–Hopf solution of that equation).
    width, hidden_layers: the tanh network (Raissi: 8 hidden layers of 20, "9 layers").
    n_observed: N_u initial/boundary observations (100 in the paper).
    n_collocation: N_f collocation points (10000 in the paper).
    adam_steps, adam_lr, lbfgs_steps: Adam then L-BFGS for the forward problem (the paper:
        L-BFGS only, to convergence, at most 50000 iterations; L-BFGS stops earlier when a step
        no longer changes the loss). The full preset costs ~0.1 s per L-BFGS evaluation on one
        CPU core (N_f = 10000, float64); on an H100 (``--set device=cuda``) its 27,250
        evaluations took 482 s and reached a relative L2 error of 4.0e-4 (the paper: 6.7e-4) and
        a viscosity error of 0.65% (the paper: 0.8% with 1% noise).
    inverse_adam_steps, inverse_lbfgs_steps: the same for the inverse problem (an Adam
        warm-up keeps the first L-BFGS steps from throwing log nu far off).
    inverse_observations: N noisy observations of the exact solution at uniform random
        (t, x) for the inverse problem (2000 in the paper, §4.1.1), also its collocation points.
    noise: observation noise, noise * std(u) * N(0, 1) (1% in the paper).
    initial_viscosity: the inverse problem's initial guess for nu (learned as log nu).
    grid_t, grid_x: the evaluation grid t = 0..0.99 (grid_t points) x 256 points in [-1, 1] of
        the paper's data set; the relative L2 error is over this grid.
    forward_tolerance: the relative L2 error must be at most this (Raissi et al. report 6.7e-4
        for N_u = 100, N_f = 10000; the quick preset's budget of a few hundred L-BFGS steps
        reaches about 1e-2 at nu = 0.1/pi).
    viscosity_tolerance: relative error allowed on the identified nu (the paper: 0.1% with
        clean data, 0.8% with 1% noise; in the quick preset, with 300 observations and
        ~300 L-BFGS steps, a few percent).
    quadrature_tolerance: the Gauss–Hermite and trapezoidal Cole–Hopf values must agree to
        this on the grid (both converge spectrally; measured ~3e-15).
    device: where the networks train (``--set device=cuda`` for the full preset; the data are
        drawn on the CPU from the seed either way, and the exact solution is computed there).
    """

    viscosity_scale: float = 0.01
    width: int = 20
    hidden_layers: int = 8
    n_observed: int = 100
    n_collocation: int = 10000
    adam_steps: int = 0
    adam_lr: float = 1e-3
    lbfgs_steps: int = 12000
    inverse_adam_steps: int = 1000
    inverse_lbfgs_steps: int = 9000
    inverse_observations: int = 2000
    noise: float = 0.01
    initial_viscosity: float = math.exp(-6.0)
    grid_t: int = 100
    grid_x: int = 256
    forward_tolerance: float = 5e-3
    viscosity_tolerance: float = 0.02
    quadrature_tolerance: float = 1e-10
    device: ComputeDevice = ComputeDevice.CPU

    def __post_init__(self) -> None:
        require_positive("viscosity_scale", self.viscosity_scale)
        require(self.viscosity_scale >= 0.005, "viscosity_scale",
                "at least 0.005 (thinner shocks need finer quadrature and networks)",
                self.viscosity_scale)
        require_int_range("width", self.width, 2, 512)
        require_int_range("hidden_layers", self.hidden_layers, 1, 32)
        require_int_range("n_observed", self.n_observed, 2)
        require_int_range("n_collocation", self.n_collocation, 1)
        require_int_range("adam_steps", self.adam_steps, 0)
        require_positive("adam_lr", self.adam_lr)
        require_int_range("lbfgs_steps", self.lbfgs_steps, 0)
        require(self.adam_steps + self.lbfgs_steps > 0, "lbfgs_steps",
                "adam_steps + lbfgs_steps > 0", self.lbfgs_steps)
        require_int_range("inverse_adam_steps", self.inverse_adam_steps, 0)
        require_int_range("inverse_lbfgs_steps", self.inverse_lbfgs_steps, 0)
        require(self.inverse_adam_steps + self.inverse_lbfgs_steps > 0, "inverse_lbfgs_steps",
                "inverse_adam_steps + inverse_lbfgs_steps > 0", self.inverse_lbfgs_steps)
        require_int_range("inverse_observations", self.inverse_observations, 2)
        require(isinstance(self.noise, int | float) and 0 <= self.noise < 1, "noise",
                "a number in [0, 1)", self.noise)
        require_positive("initial_viscosity", self.initial_viscosity)
        require_int_range("grid_t", self.grid_t, 2)
        require_int_range("grid_x", self.grid_x, 3)
        require_positive("forward_tolerance", self.forward_tolerance)
        require_positive("viscosity_tolerance", self.viscosity_tolerance)
        require_positive("quadrature_tolerance", self.quadrature_tolerance)
        require_device("device", self.device)


def _network(config: PinnBurgersConfig, generator: torch.Generator) -> MultilayerPerceptron:
    net = MultilayerPerceptron(2, config.width, config.hidden_layers, lower=(0.0, -1.0),
                               upper=(1.0, 1.0), generator=generator, dtype=DTYPE)
    return net.to(config.device.torch_device())


def _grid(config: PinnBurgersConfig) -> torch.Tensor:
    t = torch.linspace(0, 0.99, config.grid_t, dtype=DTYPE)
    x = torch.linspace(-1, 1, config.grid_x, dtype=DTYPE)
    tt, xx = torch.meshgrid(t, x, indexing="ij")
    return torch.stack([tt.reshape(-1), xx.reshape(-1)], dim=1)


def run_pinn_burgers(config: PinnBurgersConfig, *, seed: int,
                     progress: Progress = no_progress) -> Result:
    generator = torch.Generator().manual_seed(seed)
    nu = config.viscosity_scale / math.pi
    grid = _grid(config)
    exact = burgers_cole_hopf(grid[:, 0], grid[:, 1], viscosity=nu)
    exact_trapezoid = burgers_cole_hopf(grid[:, 0], grid[:, 1], viscosity=nu,
                                        quadrature=ColeHopfQuadrature.TRAPEZOID)
    quadrature_gap = float((exact - exact_trapezoid).abs().max())
    steps = config.adam_steps + (config.lbfgs_steps * 5) // 4
    total = steps + config.inverse_adam_steps + (config.inverse_lbfgs_steps * 5) // 4

    def stage(offset: int):
        return lambda done, _: progress(offset + done, total)

    # forward problem: initial/boundary data + residual
    device = config.device.torch_device()
    collocation, observed_z, observed_u = (t.to(device) for t in burgers_training_data(
        config.n_observed, config.n_collocation, generator=generator, dtype=DTYPE))
    forward = PINN(_network(config, generator), burgers_residual,
                   coefficients={"viscosity": nu}, adam_steps=config.adam_steps,
                   adam_lr=config.adam_lr, lbfgs_steps=config.lbfgs_steps, second=(1,))
    forward.fit(collocation, observed_z, observed_u, progress=stage(0))
    predicted = forward.predict(grid.to(device)).cpu()
    l2 = float((predicted - exact).norm() / exact.norm())

    # inverse problem: noisy interior observations, nu unknown
    n = config.inverse_observations
    points = torch.rand(n, 2, generator=generator, dtype=DTYPE)
    points = torch.stack([points[:, 0], 2 * points[:, 1] - 1], dim=1)
    clean = burgers_cole_hopf(points[:, 0], points[:, 1], viscosity=nu)
    noisy = clean + config.noise * clean.std() * torch.randn(n, generator=generator, dtype=DTYPE)
    inverse = PINN(_network(config, generator), burgers_residual,
                   unknowns={"viscosity": config.initial_viscosity},
                   adam_steps=config.inverse_adam_steps, adam_lr=config.adam_lr,
                   lbfgs_steps=config.inverse_lbfgs_steps, second=(1,))
    inverse.fit(points.to(device), points.to(device), noisy.to(device), progress=stage(steps))
    nu_hat = inverse.coefficients_["viscosity"]
    progress(total, total)

    series: dict[str, list[float]] = {"x": grid[:config.grid_x, 1].tolist()}
    for t in PROFILE_TIMES:
        k = min(range(config.grid_t), key=lambda i: abs(float(grid[i * config.grid_x, 0]) - t))
        rows = slice(k * config.grid_x, (k + 1) * config.grid_x)
        series[f"exact_t{t:g}"] = exact[rows].tolist()
        series[f"pinn_t{t:g}"] = predicted[rows].tolist()
    series["forward_loss"] = forward.history_
    series["inverse_loss"] = inverse.history_
    series["error_by_time"] = ((predicted - exact).reshape(config.grid_t, -1).norm(dim=1)
                              / exact.reshape(config.grid_t, -1).norm(dim=1).clamp_min(1e-300)
                              ).tolist()
    series["t"] = grid[::config.grid_x, 0].tolist()
    metrics = {"viscosity": nu, "forward_relative_l2": l2, "forward_final_loss": forward.loss_,
               "forward_evaluations": forward.evaluations_, "identified_viscosity": nu_hat,
               "viscosity_relative_error": abs(nu_hat - nu) / nu,
               "inverse_final_loss": inverse.loss_, "inverse_evaluations": inverse.evaluations_,
               "quadrature_gap": quadrature_gap}
    reference = ("Raissi, Perdikaris, Karniadakis 2019, J. Comput. Phys. 378 (§3.1.1 and "
                 "Table 1; §4.1.1); exact solution: Cole-Hopf (Basdevant et al. 1986)")
    claims = (
        Claim(name="cole-hopf-quadratures-agree",
              statement="the exact solution by Gauss-Hermite and by trapezoidal quadrature of the "
                        "Cole-Hopf integrals agree on the whole grid (max abs difference)",
              reference="Cole 1951; Hopf 1950; Basdevant et al. 1986, eq. 3",
              predicted=0.0, measured=quadrature_gap, tolerance=config.quadrature_tolerance,
              kind=ClaimKind.UPPER_BOUND),
        Claim(name="forward-relative-l2",
              statement=f"the PINN trained on {config.n_observed} initial/boundary points and "
                        f"{config.n_collocation} collocation points solves Burgers' equation "
                        f"(nu = {config.viscosity_scale:g}/pi) with relative L2 error vs "
                        "Cole-Hopf at most the tolerance",
              reference=reference, predicted=0.0, measured=l2,
              tolerance=config.forward_tolerance, kind=ClaimKind.UPPER_BOUND),
        Claim(name="inverse-viscosity",
              statement=f"the viscosity identified from {n} observations with "
                        f"{100 * config.noise:g}% noise equals nu = {nu:.6g}",
              reference=reference, predicted=nu, measured=nu_hat,
              tolerance=config.viscosity_tolerance, tolerance_kind=ToleranceKind.RELATIVE),
    )
    return Result(metrics=metrics, series=series, claims=claims)


def figure_pinn_burgers(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    fig = Figure(figsize=(13, 4.0))
    axes = fig.subplots(1, 3)
    x = s["x"]
    for t in PROFILE_TIMES:
        line = axes[0].plot(x, s[f"exact_t{t:g}"], "-", lw=1.2, label=f"Cole-Hopf t = {t:g}")[0]
        axes[0].plot(x, s[f"pinn_t{t:g}"], "--", lw=1.2, color=line.get_color(),
                     label=f"PINN t = {t:g}")
    axes[0].set_xlabel("x")
    axes[0].set_ylabel("u(t, x)")
    axes[0].set_title(f"nu = {mt['viscosity']:.4g}: rel. L2 error "
                      f"{mt['forward_relative_l2']:.2e}")
    axes[0].legend(fontsize=7)
    axes[1].semilogy(s["t"], [max(v, 1e-16) for v in s["error_by_time"]], "o-", ms=2)
    axes[1].set_xlabel("t")
    axes[1].set_ylabel("relative L2 error at time t")
    axes[1].set_title("forward problem: error over time")
    axes[2].semilogy([max(v, 1e-300) for v in s["forward_loss"]], lw=1, label="forward")
    axes[2].semilogy([max(v, 1e-300) for v in s["inverse_loss"]], lw=1,
                     label=f"inverse: nu error {100 * mt['viscosity_relative_error']:.2f}%")
    axes[2].set_xlabel("loss evaluation (Adam steps, then L-BFGS)")
    axes[2].set_ylabel("PINN loss")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return {"pinn-burgers": fig}


pinn_burgers = register(Experiment(
    name=f"{TOPIC}/pinn-burgers",
    title="A physics-informed network solves Burgers' equation and identifies its viscosity",
    reference="Raissi, Perdikaris, Karniadakis 2019, J. Comput. Phys. 378, §3.1.1 and §4.1.1",
    description=(
        "Burgers' equation u_t + u u_x = nu u_xx on [-1, 1] x [0, 1] with u(0, x) = -sin(pi x) "
        "and u(t, +-1) = 0. Forward problem: a tanh network trained (L-BFGS) on the mean squared "
        "initial/boundary misfit plus the mean squared PDE residual at collocation points "
        "(derivatives by Taylor-mode propagation); its relative L2 error on the 100 x 256 grid "
        "of the paper's data is measured against the exact Cole-Hopf solution (log-sum-exp "
        "Gauss-Hermite quadrature, checked against the trapezoidal rule). Inverse problem: nu "
        "is learned with the network from noisy observations of the exact solution."
    ),
    config_type=PinnBurgersConfig,
    quick=PinnBurgersConfig(viscosity_scale=0.1, width=20, hidden_layers=3, n_observed=100,
                            n_collocation=500, lbfgs_steps=400, inverse_adam_steps=300,
                            adam_lr=3e-3, inverse_lbfgs_steps=300, inverse_observations=500,
                            initial_viscosity=math.exp(-3.0), grid_t=50, grid_x=128,
                            forward_tolerance=0.05, viscosity_tolerance=0.1),
    full=PinnBurgersConfig(),
    run=run_pinn_burgers,
    figure=figure_pinn_burgers,
))
