"""Theorem check ``training/feature-learning``: a two-layer network in the mean-field (rich)
regime learns the relevant subspace of a multi-index teacher, beats the kernel (lazy) predictor
at equal sample size, and satisfies the neural feature ansatz.

Built only on the public primitives of :mod:`mathdl.training` and :mod:`mathdl.kernels`;
registered when :mod:`mathdl.training.experiments` is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

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
from mathdl.kernels import kernel_ridge, ntk_kernel
from mathdl.training import (
    MatrixSimilarity,
    Nonlinearity,
    Scaling,
    TwoLayerNetwork,
    average_gradient_outer_product,
    feature_ansatz_correlation,
    psd_matrix_power,
    subspace_alignment,
    train_gradient_descent,
)

TOPIC = "training"
DTYPE = torch.float64
REF_MEAN_FIELD = ("Mei, Montanari, Nguyen 2018; Chizat, Bach 2018; Ba, Erdogdu, Suzuki, Wang, "
                  "Wu, Yang 2022; Damian, Lee, Soltanolkotabi 2022")
REF_KERNEL = ("Ghorbani, Mei, Misiakiewicz, Montanari, 'Linearized two-layers neural networks in "
              "high dimension', Ann. Statist. 2021")
REF_NFA = ("Radhakrishnan, Beaglehole, Pandit, Belkin, 'Mechanism for feature learning in neural "
           "networks and backpropagation-free machine learning models', Science 2024")


@dataclass(frozen=True, kw_only=True)
class FeatureLearningConfig:
    """Parameters of ``training/feature-learning``.

    input_dim: d; x ~ N(0, I_d). teacher_directions: k orthonormal directions u_1..u_k (random);
        y = k^(-1/2) sum_j g(u_j.x) with g(z) = z + (z^2 - 1)/sqrt(2) = He_1 + He_2/sqrt(2) (half
        of the variance of g is of degree 2).
    sample_sizes: training-set sizes n (the claims use the largest). Each must be at most
        d(d+1)/4, half the number of quadratic monomials: there a rotation-invariant kernel
        learns the degree-<=1 part but not the degree-2 part (Ghorbani et al. 2021: kernel and
        random-feature ridge regression with n << d^2 samples fit only degree <= 1), while the
        network needs n of order d up to logarithms (Ba et al. 2022; Damian et al. 2022).
    n_test: test points (relative test error = MSE / Var(y)).
    width, learning_rate, steps: a ReLU network with biases in mean-field scaling,
        f(x) = (1/m) sum_k a_k relu(w_k.x + b_k), w_k ~ N(0, I/d), a_k ~ N(0, 1), b_k = 0,
        trained by full-batch gradient descent on R = 1/(2n) sum (f - y)^2 with step
        learning_rate * m (the mean-field time scale: each neuron moves O(1)).
    ridges: kernel ridge regression with the analytic ReLU NTK (the infinite-width lazy
        predictor of the same architecture) for ridge lambda = r tr(K)/n, r in ridges; the
        kernel's error is the best over the grid on the test set (an oracle tuning that favours
        the kernel, so the comparison is conservative).
    alignment_level: claim (1/k)|U^T V_k|_F^2 >= alignment_level, V_k the top-k right singular
        vectors of the trained W. A random k-subspace has mean k/d (0.03 for d = 32); learning
        the direction from n samples leaves an estimation error of order d/n in squared angle,
        so 0.9 is reached once n is a few times d.
    improvement_factor: claim network error <= kernel error / improvement_factor. With half of
        Var(g) in degree 2, theory puts the kernel's relative error near 1/2 (above it for
        noise in the degree-1 fit, below it as n approaches d^2/2) and the network's near 0:
        a factor 2 leaves room for both finite-size effects.
    nfa_power, nfa_level: claim Pearson corr(W^T W, AGOP^nfa_power) >= nfa_level. The power 1/2
        is exact for balanced two-layer linear networks (AGOP = (W^T W)^2); Radhakrishnan et al.
        report correlations above 0.9 for trained fully-connected networks. The correlation
        with the AGOP itself (power 1, the paper's statement) is reported as a metric.
    """

    input_dim: int = 64
    teacher_directions: int = 2
    sample_sizes: tuple[int, ...] = (128, 256, 512, 1024)
    n_test: int = 4000
    width: int = 512
    learning_rate: float = 0.5
    steps: int = 2000
    ridges: tuple[float, ...] = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    alignment_level: float = 0.9
    improvement_factor: float = 2.0
    nfa_power: float = 0.5
    nfa_level: float = 0.9

    def __post_init__(self) -> None:
        require_int_range("input_dim", self.input_dim, 2, 10_000)
        require_int_range("teacher_directions", self.teacher_directions, 1, self.input_dim - 1)
        limit = self.input_dim * (self.input_dim + 1) // 4
        require_ints("sample_sizes", self.sample_sizes, 2, limit, increasing=True)
        require_int_range("n_test", self.n_test, 10, 10**7)
        require_int_range("width", self.width, self.teacher_directions, 10**6)
        require_positive("learning_rate", self.learning_rate)
        require_int_range("steps", self.steps, 1, 10**7)
        require(isinstance(self.ridges, tuple) and len(self.ridges) >= 1
                and all(isinstance(r, int | float) and not isinstance(r, bool) and r > 0
                        for r in self.ridges), "ridges", "a non-empty tuple of numbers > 0",
                self.ridges)
        require(0 < self.alignment_level <= 1, "alignment_level", "a number in (0, 1]",
                self.alignment_level)
        require_positive("improvement_factor", self.improvement_factor)
        require_positive("nfa_power", self.nfa_power)
        require(0 < self.nfa_level <= 1, "nfa_level", "a number in (0, 1]", self.nfa_level)


def _link(z: torch.Tensor) -> torch.Tensor:
    return z + (z**2 - 1) / math.sqrt(2)


def _teacher(x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    return _link(x @ directions.T).sum(dim=1) / math.sqrt(directions.shape[0])


def _kernel_error(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                  ridges: tuple[float, ...]) -> float:
    k_train = ntk_kernel(x, depth=1)
    k_test = ntk_kernel(x_test, x, depth=1)
    scale = float(torch.trace(k_train)) / x.shape[0]
    var = float(torch.mean((y_test - y_test.mean()) ** 2))
    errors = [float(torch.mean((kernel_ridge(k_train, k_test, y, ridge=r * scale) - y_test) ** 2))
              / var for r in ridges]
    return min(errors)


def run_feature_learning(config: FeatureLearningConfig, *, seed: int,
                         progress: Progress = no_progress) -> Result:
    generator = torch.Generator().manual_seed(seed)
    d, k = config.input_dim, config.teacher_directions
    q, _ = torch.linalg.qr(torch.randn(d, k, generator=generator, dtype=DTYPE))
    directions = q.T  # (k, d), orthonormal rows
    n_max = config.sample_sizes[-1]
    x_all = torch.randn(n_max, d, generator=generator, dtype=DTYPE)
    y_all = _teacher(x_all, directions)
    x_test = torch.randn(config.n_test, d, generator=generator, dtype=DTYPE)
    y_test = _teacher(x_test, directions)
    var = float(torch.mean((y_test - y_test.mean()) ** 2))
    init_state = generator.get_state()
    rows: dict[str, list[float]] = {key: [] for key in (
        "network_error", "kernel_error", "alignment", "initial_alignment", "nfa_correlation",
        "nfa_correlation_power1", "nfa_cosine", "train_loss")}
    progress(0, len(config.sample_sizes))
    for i, n in enumerate(config.sample_sizes):
        x, y = x_all[:n], y_all[:n]  # nested training sets
        generator.set_state(init_state)  # the same initial network for every n
        net = TwoLayerNetwork(d, config.width, scaling=Scaling.MEAN_FIELD,
                              activation=Nonlinearity.RELU, bias=True, generator=generator,
                              dtype=DTYPE)
        rows["initial_alignment"].append(subspace_alignment(net.weight.detach(), directions))
        rec = train_gradient_descent(net, x, y, learning_rate=config.learning_rate * config.width,
                                     steps=config.steps, record_every=config.steps)
        with torch.no_grad():
            pred = net(x_test)
        weight = net.weight.detach()
        agop = average_gradient_outer_product(net, x)
        rows["network_error"].append(float(torch.mean((pred - y_test) ** 2)) / var)
        rows["kernel_error"].append(_kernel_error(x, y, x_test, y_test, config.ridges))
        rows["alignment"].append(subspace_alignment(weight, directions))
        rows["nfa_correlation"].append(feature_ansatz_correlation(weight, agop,
                                                                  power=config.nfa_power))
        rows["nfa_correlation_power1"].append(feature_ansatz_correlation(weight, agop, power=1.0))
        rows["nfa_cosine"].append(feature_ansatz_correlation(
            weight, agop, power=config.nfa_power, similarity=MatrixSimilarity.COSINE))
        rows["train_loss"].append(rec.train_loss[-1])
        progress(i + 1, len(config.sample_sizes))
    gram = weight.T @ weight
    agop_root = psd_matrix_power(agop, config.nfa_power)
    net_err, ker_err = rows["network_error"][-1], rows["kernel_error"][-1]
    tag = f"n={n_max}, d={d}, k={k}"
    claims = (
        Claim(
            name="subspace-alignment",
            statement=f"mean-field training ({tag}): the top-{k} right singular subspace of the "
                      "first layer W aligns with the teacher's span, (1/k)|U^T V_k|_F^2 >= "
                      f"{config.alignment_level:g} (random subspace: k/d = {k / d:.3f})",
            reference=REF_MEAN_FIELD,
            predicted=config.alignment_level, measured=rows["alignment"][-1], tolerance=0.0,
            kind=ClaimKind.LOWER_BOUND,
        ),
        Claim(
            name="beats-kernel",
            statement=f"at equal n ({tag}) the network's relative test error is at most 1/"
                      f"{config.improvement_factor:g} of the NTK ridge predictor's (best ridge): "
                      "ratio <= 1",
            reference=REF_KERNEL + "; " + REF_MEAN_FIELD,
            predicted=1.0, measured=net_err * config.improvement_factor / ker_err,
            tolerance=0.0, kind=ClaimKind.UPPER_BOUND,
        ),
        Claim(
            name="neural-feature-ansatz",
            statement=f"({tag}) Pearson correlation of the entries of W^T W and "
                      f"AGOP^{config.nfa_power:g} of the trained network >= "
                      f"{config.nfa_level:g}",
            reference=REF_NFA,
            predicted=config.nfa_level, measured=rows["nfa_correlation"][-1], tolerance=0.0,
            kind=ClaimKind.LOWER_BOUND,
        ),
    )
    metrics = {
        "network_error": net_err, "kernel_error": ker_err, "error_ratio": net_err / ker_err,
        "alignment": rows["alignment"][-1], "initial_alignment": rows["initial_alignment"][-1],
        "random_alignment": k / d, "nfa_correlation": rows["nfa_correlation"][-1],
        "nfa_correlation_power1": rows["nfa_correlation_power1"][-1],
        "nfa_cosine": rows["nfa_cosine"][-1], "final_train_loss": rows["train_loss"][-1],
        "nfa_power": config.nfa_power,
    }
    series = {"sample_sizes": [float(n) for n in config.sample_sizes], **rows,
              "gram": gram.reshape(-1).tolist(), "agop_power": agop_root.reshape(-1).tolist(),
              "directions": directions.reshape(-1).tolist()}
    return Result(metrics=metrics, series=series, claims=claims)


def figure_feature_learning(result: Result) -> dict[str, Figure]:
    s, mt = result.series, result.metrics
    fig = Figure(figsize=(14, 4.2))
    ax1, ax2, ax3, ax4 = fig.subplots(1, 4)
    n = np.array(s["sample_sizes"])
    ax1.loglog(n, s["network_error"], "o-", label="network, mean-field (rich)")
    ax1.loglog(n, s["kernel_error"], "s-", label="NTK ridge (lazy limit), best λ")
    ax1.axhline(0.5, color="grey", ls=":", lw=1, label="degree-2 share of Var(y)")
    ax1.set_xlabel("training samples n")
    ax1.set_ylabel("test MSE / Var(y)")
    ax1.set_title("rich network beats the kernel")
    ax1.legend(fontsize=7)
    ax2.semilogx(n, s["alignment"], "o-", label="trained W")
    ax2.semilogx(n, s["initial_alignment"], "x:", label="W at initialisation")
    ax2.axhline(mt["random_alignment"], color="grey", ls=":", lw=1, label="random: k/d")
    ax2.set_ylim(0, 1.05)
    for ax in (ax1, ax2):
        ax.set_xticks(n, [str(int(v)) for v in n])
        ax.xaxis.set_minor_locator(NullLocator())
    ax2.set_xlabel("training samples n")
    ax2.set_title("(1/k)|Uᵀ V_k|²: subspace alignment")
    ax2.legend(fontsize=7)
    d = int(round(math.sqrt(len(s["gram"]))))
    power = f"{mt['nfa_power']:g}"
    for ax, key, title in ((ax3, "gram", "WᵀW (trained, largest n)"),
                           (ax4, "agop_power", f"AGOP^{power}")):
        mat = np.array(s[key]).reshape(d, d)
        ax.imshow(mat, cmap="viridis")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title)
    ax4.set_xlabel(f"Pearson corr = {mt['nfa_correlation']:.3f}")
    fig.tight_layout()
    return {"feature-learning": fig}


feature_learning = register(Experiment(
    name=f"{TOPIC}/feature-learning",
    title="Feature learning: a rich two-layer network finds the teacher's subspace and beats "
          "the kernel",
    reference=REF_NFA + "; " + REF_KERNEL + "; " + REF_MEAN_FIELD,
    description=(
        "Trains a two-layer ReLU network in mean-field scaling by full-batch gradient descent "
        "on a single- (or few-) index teacher y = g(u.x) in dimension d with n below d^2/4 "
        "samples. The first layer's top right singular vectors align with the teacher's "
        "directions; the network's test error is far below that of kernel ridge regression "
        "with the network's infinite-width NTK (which cannot fit the degree-2 part of g with "
        "n << d^2 samples); and the Gram matrix W^T W of the first layer correlates with the "
        "square root of the average gradient outer product (the neural feature ansatz)."
    ),
    config_type=FeatureLearningConfig,
    quick=FeatureLearningConfig(input_dim=32, teacher_directions=1, sample_sizes=(64, 256),
                                n_test=2000, width=128, steps=800),
    full=FeatureLearningConfig(),
    run=run_feature_learning,
    figure=figure_feature_learning,
))
