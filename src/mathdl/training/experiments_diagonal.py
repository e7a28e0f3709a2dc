"""Theorem check ``training/diagonal-linear-networks``: the implicit bias of gradient descent on
a diagonal linear network interpolates between the minimum-l2 and minimum-l1 interpolants as the
initialisation scale alpha goes from large to small (Woodworth et al., COLT 2020, Thm 1).

Built only on the public primitives of :mod:`mathdl.training`; registered on import by
:mod:`mathdl.training.experiments`.
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
    no_progress,
    register,
    require,
    require_int_range,
    require_positive,
)
from mathdl.training import (
    diagonal_network_gradient_descent,
    diagonal_network_step_size,
    min_l1_interpolant,
    min_l2_interpolant,
    min_woodworth_interpolant,
)

DTYPE = torch.float64
REFERENCE = ("Woodworth, Gunasekar, Lee, Moroshko, Savarese, Golan, Soudry, Srebro, 'Kernel and "
             "rich regimes in overparametrized models', COLT 2020, Thm 1")


@dataclass(frozen=True, kw_only=True)
class DiagonalNetworkConfig:
    """Parameters of ``training/diagonal-linear-networks``.

    n_samples, n_features, sparsity: Gaussian design X (n x p, p > n) and a planted
        ``sparsity``-sparse beta* with entries +-1; y = X beta* (noiseless).
    alphas: initialisation scales, increasing; the smallest must be in the rich regime and the
        largest in the kernel regime for the last two claims to be meaningful.
    step_safety: the gradient-descent step as a fraction of the stability limit (see
        ``diagonal_network_step_size``); gradient descent follows the flow up to O(eta), so the
        distance to the flow's limit (the Q_alpha minimiser) is proportional to it.
    max_steps: cap on gradient steps per alpha (small alpha needs ~log(1/alpha^2) / eta).
    q_tolerance: bound on |beta_GD - beta_Q| / |beta_Q| over all alphas: at step_safety 0.1
        the O(eta) discretisation error is about 1e-3 to 1e-2 on these problems.
    l2_tolerance: bound on the relative distance to the minimum-l2 interpolant at the largest
        alpha, where Q_alpha = |beta|^2 / (4 alpha^2) (1 + O(|beta|^2 / alpha^4)).
    l1_fraction: at the smallest alpha, the GD limit must have covered at least 1 - l1_fraction
        of the way from the minimum-l2 to the minimum-l1 interpolant (distance ratio).
    """

    n_samples: int = 20
    n_features: int = 60
    sparsity: int = 3
    alphas: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
    step_safety: float = 0.1
    max_steps: int = 5_000_000
    q_tolerance: float = 0.02
    l2_tolerance: float = 1e-3
    l1_fraction: float = 0.1

    def __post_init__(self) -> None:
        require_int_range("n_samples", self.n_samples, 2, 10_000)
        require_int_range("n_features", self.n_features, self.n_samples + 1, 100_000)
        require_int_range("sparsity", self.sparsity, 1, self.n_samples // 2)
        require(len(self.alphas) >= 3 and all(a > 0 for a in self.alphas)
                and list(self.alphas) == sorted(set(self.alphas)), "alphas",
                "at least 3 increasing positive numbers", self.alphas)
        require(0 < self.step_safety <= 0.5, "step_safety", "a number in (0, 0.5]",
                self.step_safety)
        require_int_range("max_steps", self.max_steps, 1, 10**9)
        require_positive("q_tolerance", self.q_tolerance)
        require_positive("l2_tolerance", self.l2_tolerance)
        require(0 < self.l1_fraction < 1, "l1_fraction", "a number in (0, 1)", self.l1_fraction)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def run_diagonal_networks(config: DiagonalNetworkConfig, *, seed: int,
                          progress: Progress = no_progress) -> Result:
    generator = torch.Generator().manual_seed(seed)
    n, p, k = config.n_samples, config.n_features, config.sparsity
    x = torch.randn(n, p, generator=generator, dtype=DTYPE)
    support = torch.randperm(p, generator=generator)[:k]
    signs = torch.randint(0, 2, (k,), generator=generator).to(DTYPE) * 2 - 1
    planted = torch.zeros(p, dtype=DTYPE)
    planted[support] = signs
    y = x @ planted
    l1, l2 = min_l1_interpolant(x, y), min_l2_interpolant(x, y)
    to_q, to_l1, to_l2, q_to_l1, steps = [], [], [], [], []
    final_beta = None
    for i, alpha in enumerate(config.alphas):
        target = min_woodworth_interpolant(x, y, alpha)
        eta = diagonal_network_step_size(x, alpha, float(target.abs().max()),
                                         safety=config.step_safety)
        fit = diagonal_network_gradient_descent(x, y, alpha=alpha, learning_rate=eta,
                                                max_steps=config.max_steps, tol=1e-11,
                                                record_every=config.max_steps)
        if not fit.converged:
            raise RuntimeError(f"alpha = {alpha}: gradient descent did not fit the data in "
                               f"max_steps = {config.max_steps} steps; raise max_steps")
        to_q.append(_relative(fit.beta, target))
        to_l1.append(_relative(fit.beta, l1))
        to_l2.append(_relative(fit.beta, l2))
        q_to_l1.append(_relative(target, l1))
        steps.append(float(fit.steps))
        if i == 0:
            final_beta = fit.beta
        progress(i + 1, len(config.alphas))
    assert final_beta is not None
    gap = _relative(l2, l1)
    top = set(torch.topk(final_beta.abs(), k).indices.tolist())
    recovered = len(top & set(support.tolist())) / k
    decreasing = sum(1 for a, b in zip(to_l1, to_l1[1:], strict=False) if a > b + 1e-12)
    claims = (
        Claim(
            name="gd-limit-is-q-alpha-minimiser",
            statement="for every alpha the gradient-descent limit equals argmin {Q_alpha(beta) : "
                      "X beta = y} (largest relative distance over alphas; GD follows the flow "
                      "up to O(eta))",
            reference=REFERENCE, predicted=0.0, measured=max(to_q),
            tolerance=config.q_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="kernel-regime-min-l2",
            statement=f"at the largest alpha = {config.alphas[-1]:g} the limit is the minimum-l2 "
                      "interpolant (relative distance)",
            reference=REFERENCE, predicted=0.0, measured=to_l2[-1],
            tolerance=config.l2_tolerance, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="rich-regime-towards-min-l1",
            statement=f"at the smallest alpha = {config.alphas[0]:g} the limit has covered most of "
                      "the way from the minimum-l2 to the minimum-l1 interpolant: |beta - "
                      "beta_l1| / |beta_l2 - beta_l1|",
            reference=REFERENCE, predicted=0.0, measured=to_l1[0] / gap,
            tolerance=config.l1_fraction, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="l1-distance-monotone-in-alpha",
            statement="the distance of the limit to the minimum-l1 interpolant grows with alpha "
                      "(number of decreases along the increasing alphas)",
            reference=REFERENCE, predicted=0.0, measured=float(decreasing), tolerance=0.0,
            kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="sparse-support-recovered",
            statement=f"at the smallest alpha the {k} largest entries of the limit sit on the "
                      "planted support (fraction recovered)",
            reference=REFERENCE + "; basis pursuit recovery (Candes & Tao 2005)",
            predicted=1.0, measured=recovered, tolerance=0.0, kind=ClaimKind.LOWER_BOUND,
        ),
    )
    # the theory curves: Q_alpha minimisers on a fine grid of alpha (the flow's limits)
    fine = np.geomspace(config.alphas[0], config.alphas[-1], 25).tolist()
    fine_l1, fine_l2 = [], []
    for alpha in fine:
        target = min_woodworth_interpolant(x, y, alpha)
        fine_l1.append(_relative(target, l1))
        fine_l2.append(_relative(target, l2))
    return Result(
        metrics={"max_distance_to_q_minimiser": max(to_q),
                 "distance_to_l2_at_largest_alpha": to_l2[-1],
                 "distance_to_l1_at_smallest_alpha": to_l1[0],
                 "l1_l2_gap": gap, "planted_support_recovered": recovered,
                 "planted_is_min_l1": _relative(l1, planted)},
        series={"alphas": list(config.alphas), "distance_to_q": to_q,
                "distance_to_l1": to_l1, "distance_to_l2": to_l2, "steps": steps,
                "fine_alphas": fine, "q_distance_to_l1": fine_l1, "q_distance_to_l2": fine_l2},
        claims=claims,
    )


def figure_diagonal_networks(result: Result) -> dict[str, Figure]:
    s = result.series
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.semilogx(s["fine_alphas"], s["q_distance_to_l1"], "-", color="C0",
                 label="argmin Q_alpha: to min-l1")
    ax1.semilogx(s["fine_alphas"], s["q_distance_to_l2"], "-", color="C1",
                 label="argmin Q_alpha: to min-l2")
    ax1.semilogx(s["alphas"], s["distance_to_l1"], "o", color="C0", label="GD limit: to min-l1")
    ax1.semilogx(s["alphas"], s["distance_to_l2"], "s", color="C1", label="GD limit: to min-l2")
    ax1.set_xlabel("initialisation scale alpha")
    ax1.set_ylabel("relative distance")
    ax1.set_title("rich (small alpha) to kernel (large alpha) regime")
    ax1.legend(fontsize=7)
    ax2.loglog(s["alphas"], [max(v, 1e-16) for v in s["distance_to_q"]], "o-")
    ax2.set_xlabel("alpha")
    ax2.set_ylabel("|beta_GD - argmin Q_alpha| / |argmin Q_alpha|")
    ax2.set_title(f"GD limit vs Woodworth potential (max {max(s['distance_to_q']):.2g})")
    fig.tight_layout()
    return {"diagonal-networks": fig}


diagonal_linear_networks = register(Experiment(
    name="training/diagonal-linear-networks",
    title="Diagonal linear networks: the initialisation scale selects the implicit bias",
    reference=REFERENCE,
    description=(
        "Gradient descent on beta = w_+^2 - w_-^2 from w_+- = alpha 1 fits an underdetermined "
        "noiseless regression with a planted sparse beta*. Theory: the limit minimises "
        "Q_alpha(beta) = alpha^2 sum q(beta_i / alpha^2), q(z) = 2 - sqrt(4 + z^2) + z "
        "arcsinh(z / 2), under X beta = y; it is the minimum-l2 interpolant as alpha grows and "
        "tends to the minimum-l1 (sparse) one as alpha shrinks. Measured: the distance of the "
        "GD limit to the Q_alpha minimiser (Newton on the dual) and to both interpolants."
    ),
    config_type=DiagonalNetworkConfig,
    # quick: a 1-sparse target (basis pursuit recovers it from 16 samples with high probability)
    # and alpha down to 0.1 only: smaller alpha costs ~log(1/alpha^2)/eta steps. At alpha = 0.1
    # the limit is part of the way to min-l1 (distance ratio 0.13-0.38 over seeds 0-7): 0.5 is
    # the bar.
    quick=DiagonalNetworkConfig(n_samples=16, n_features=32, sparsity=1,
                                alphas=(0.1, 0.2, 0.5, 1.0, 3.0), max_steps=400_000,
                                l2_tolerance=1e-2, l1_fraction=0.5),
    full=DiagonalNetworkConfig(),
    run=run_diagonal_networks,
    figure=figure_diagonal_networks,
))


__all__ = ["DiagonalNetworkConfig", "diagonal_linear_networks", "run_diagonal_networks"]
