r"""Data sets that need no download: 2-D toy shapes generated from code, random Gaussian
mixtures in any dimension, and scikit-learn's 8x8 digits (shipped inside scikit-learn).

**Toy shapes** (:class:`ToyShape`, :func:`sample_toy`). Each shape is a law :math:`q` on
:math:`\mathbb R^2` written in its natural coordinates (below), then standardised by the affine map

.. math::
    x \mapsto \frac{x - m}{c}, \qquad m = \mathbb E_q[x], \qquad
    c = \sqrt{\operatorname{tr}\operatorname{Cov}_q(x) / 2},

with :math:`m` and :math:`c` the *population* moments in closed form (not sample moments), so
that every standardised shape has mean 0 and :math:`\mathbb E|x|^2 = 2`, the second moment of
:math:`\mathcal N(0, I_2)`, the equilibrium of the Ornstein–Uhlenbeck process. The map is a
translation and a dilation: the shapes keep their aspect. With :math:`\theta` uniform on the range
given, :math:`\eta` the noise level and :math:`z \sim \mathcal N(0, I_2)`:

* ``MOONS``: with probability 1/2 each, :math:`(\cos\theta, \sin\theta)` or
  :math:`(1 - \cos\theta, \tfrac12 - \sin\theta)`, :math:`\theta \in [0, \pi]`, plus
  :math:`\eta z`, :math:`\eta = 0.1` (the two half-circles of scikit-learn's ``make_moons``).
  :math:`m = (\tfrac12, \tfrac14)`, :math:`\operatorname{tr}\operatorname{Cov} = \tfrac{21}{16}
  - \tfrac1\pi + 2\eta^2`.
* ``SWISS_ROLL``: :math:`\theta(\cos\theta, \sin\theta) + \eta z`,
  :math:`\theta \in [\tfrac32\pi, \tfrac92\pi]`, :math:`\eta = 0.5` (the 2-D section of
  scikit-learn's ``make_swiss_roll``). :math:`m = (2, \tfrac{2}{3\pi})`,
  :math:`\operatorname{tr}\operatorname{Cov} = \tfrac{39}{4}\pi^2 - 4 - \tfrac{4}{9\pi^2} +
  2\eta^2` (from :math:`\int\theta\cos\theta = \theta\sin\theta + \cos\theta`,
  :math:`\int\theta\sin\theta = \sin\theta - \theta\cos\theta`).
* ``EIGHT_GAUSSIANS``: the mixture :math:`\frac18\sum_{k=0}^{7}\mathcal N(R u_k, s^2 I)`,
  :math:`u_k = (\cos\frac{2\pi k}{8}, \sin\frac{2\pi k}{8})`, :math:`R = 2`, :math:`s = 0.2`;
  :math:`m = 0`, :math:`\operatorname{Cov} = (R^2/2 + s^2) I`. Being exactly a Gaussian mixture,
  it is also given as one (:func:`eight_gaussians`), with its exact score.
* ``CHECKERBOARD``: uniform on the 8 unit squares :math:`[i, i+1]\times[j, j+1]`,
  :math:`i, j \in \{-2, -1, 0, 1\}`, :math:`i + j` even (both marginals are uniform on
  :math:`[-2, 2]`); :math:`m = 0`, :math:`\operatorname{tr}\operatorname{Cov} = \tfrac83`.
* ``RINGS``: with probability 1/3 each, the circle of radius :math:`r \in \{1, 2, 3\}`:
  :math:`r(\cos\theta, \sin\theta) + \eta z`, :math:`\theta \in [0, 2\pi]`, :math:`\eta = 0.1`;
  :math:`m = 0`, :math:`\operatorname{tr}\operatorname{Cov} = \tfrac{14}{3} + 2\eta^2`.

**Digits** (:func:`load_digits`): the 1797 handwritten digits of the UCI "Optical Recognition of
Handwritten Digits" set as shipped by scikit-learn, 8x8 images whose pixels are counts in
:math:`\{0, \dots, 16\}` (on-pixels of 4x4 blocks of a 32x32 bitmap), flattened row by row to
:math:`\mathbb R^{64}` and scaled to :math:`[0, 1]` (:math:`p/16`) or :math:`[-1, 1]`
(:math:`p/8 - 1`, the range of Ho et al. 2020), see :class:`PixelScale`. :func:`held_out_split`
draws a seeded train/held-out partition.

References:
    F. Pedregosa et al., "Scikit-learn: machine learning in Python", JMLR 12 (2011) 2825-2830
    (``make_moons``, ``make_swiss_roll``, ``load_digits``); E. Alpaydin & C. Kaynak, "Optical
    Recognition of Handwritten Digits", UCI Machine Learning Repository (1998); W. Grathwohl et
    al., "FFJORD", ICLR 2019 (the 2-D toy densities: eight Gaussians, checkerboard, rings);
    J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020 (data
    scaled to [-1, 1]).
"""

from __future__ import annotations

import enum
import math

import torch
from torch import Tensor

from mathdl._validation import check_positive_int, check_real
from mathdl.generative._mixtures import GaussianMixture

__all__ = [
    "PixelScale",
    "ToyShape",
    "eight_gaussians",
    "held_out_split",
    "load_digits",
    "random_gaussian_mixture",
    "sample_toy",
    "toy_standardisation",
]

_F64 = torch.float64
_MOONS_NOISE = 0.1
_SWISS_ROLL_NOISE = 0.5
_RINGS_NOISE = 0.1
_RING_RADII = (1.0, 2.0, 3.0)
_EIGHT_RADIUS = 2.0
_EIGHT_STD = 0.2


class ToyShape(enum.Enum):
    """A 2-D toy law (definitions and moments in the module docstring)."""

    MOONS = "moons"
    SWISS_ROLL = "swiss_roll"
    EIGHT_GAUSSIANS = "eight_gaussians"
    CHECKERBOARD = "checkerboard"
    RINGS = "rings"


class PixelScale(enum.Enum):
    r"""How :func:`load_digits` maps the pixel counts :math:`p \in \{0, \dots, 16\}`.

    ``UNIT_INTERVAL``: :math:`p / 16 \in [0, 1]` (e.g. for a Bernoulli decoder).
    ``SYMMETRIC``: :math:`p / 8 - 1 \in [-1, 1]` (the usual range of diffusion models).
    """

    UNIT_INTERVAL = "unit_interval"
    SYMMETRIC = "symmetric"


def toy_standardisation(shape: ToyShape) -> tuple[tuple[float, float], float]:
    r"""The population mean :math:`m` and scale :math:`c = \sqrt{\operatorname{tr}
    \operatorname{Cov}/2}` of the raw ``shape`` (module docstring); :func:`sample_toy` returns
    :math:`(x - m)/c`.

    Returns:
        ``((m_1, m_2), c)``.

    Raises:
        ValueError: if ``shape`` is not a :class:`ToyShape`.
    """
    if not isinstance(shape, ToyShape):
        raise ValueError(f"shape: expected a ToyShape, got {shape!r}")
    if shape is ToyShape.MOONS:
        mean, trace = (0.5, 0.25), 21 / 16 - 1 / math.pi + 2 * _MOONS_NOISE**2
    elif shape is ToyShape.SWISS_ROLL:
        mean = (2.0, 2 / (3 * math.pi))
        trace = 39 / 4 * math.pi**2 - 4 - 4 / (9 * math.pi**2) + 2 * _SWISS_ROLL_NOISE**2
    elif shape is ToyShape.EIGHT_GAUSSIANS:
        mean, trace = (0.0, 0.0), 2 * (_EIGHT_RADIUS**2 / 2 + _EIGHT_STD**2)
    elif shape is ToyShape.CHECKERBOARD:
        mean, trace = (0.0, 0.0), 8 / 3
    else:
        radii = _RING_RADII
        mean = (0.0, 0.0)
        trace = sum(r * r for r in radii) / len(radii) + 2 * _RINGS_NOISE**2
    return mean, math.sqrt(trace / 2)


def eight_gaussians(*, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None) -> GaussianMixture:
    r"""The standardised ``EIGHT_GAUSSIANS`` toy as a :class:`GaussianMixture`:

    .. math::
        \frac18\sum_{k=0}^{7}\mathcal N\Big(\frac{R}{c} u_k,\ \frac{s^2}{c^2} I\Big), \qquad
        u_k = \big(\cos\tfrac{2\pi k}{8}, \sin\tfrac{2\pi k}{8}\big),\quad
        c^2 = \frac{R^2}{2} + s^2,

    :math:`R = 2`, :math:`s = 0.2`: mean 0 and covariance exactly :math:`I_2`. Its exact score
    under any forward process is :func:`exact_score` of it; :func:`sample_toy` draws from it.
    """
    _, c = toy_standardisation(ToyShape.EIGHT_GAUSSIANS)
    angles = 2 * math.pi * torch.arange(8, dtype=_F64) / 8
    means = (_EIGHT_RADIUS / c) * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    variances = torch.full((8,), (_EIGHT_STD / c) ** 2, dtype=_F64)
    weights = torch.full((8,), 1 / 8, dtype=_F64)
    return GaussianMixture(weights.to(dtype=dtype, device=device),
                           means.to(dtype=dtype, device=device),
                           variances.to(dtype=dtype, device=device))


def sample_toy(shape: ToyShape, n: int, *, generator: torch.Generator,
               dtype: torch.dtype = torch.float64,
               device: torch.device | str | None = None) -> Tensor:
    r"""Draw ``n`` points of the standardised 2-D toy law ``shape`` (mean 0,
    :math:`\mathbb E|x|^2 = 2`; definitions in the module docstring).

    The points are drawn in float64 on the generator's device and then converted, so one seed
    gives the same points (up to rounding) in every dtype.

    Args:
        shape: :class:`ToyShape`.
        n: number of points.
        generator: the source of randomness.
        dtype, device: of the result.

    Returns:
        ``(n, 2)`` points.

    Raises:
        ValueError: on a bad shape or size.
    """
    mean, c = toy_standardisation(shape)
    n = check_positive_int(n, "n")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator: expected a torch.Generator")
    on = {"generator": generator, "dtype": _F64, "device": generator.device}
    if shape is ToyShape.EIGHT_GAUSSIANS:
        return eight_gaussians(device=generator.device).sample(n, generator=generator).to(
            dtype=dtype, device=device)
    if shape is ToyShape.MOONS:
        theta = math.pi * torch.rand(n, **on)
        lower = torch.rand(n, **on) < 0.5
        upper_pts = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
        lower_pts = torch.stack([1 - torch.cos(theta), 0.5 - torch.sin(theta)], dim=1)
        raw = torch.where(lower[:, None], lower_pts, upper_pts)
        raw = raw + _MOONS_NOISE * torch.randn(n, 2, **on)
    elif shape is ToyShape.SWISS_ROLL:
        theta = 1.5 * math.pi * (1 + 2 * torch.rand(n, **on))
        raw = theta[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
        raw = raw + _SWISS_ROLL_NOISE * torch.randn(n, 2, **on)
    elif shape is ToyShape.CHECKERBOARD:
        x1 = 4 * torch.rand(n, **on) - 2
        column = torch.floor(x1)
        # the two rows j with column + j even: j in {-2, 0} (even column) or {-1, 1} (odd)
        row = 2 * torch.randint(0, 2, (n,), generator=generator, device=generator.device) - 2
        row = row.to(_F64) + torch.remainder(column, 2)
        x2 = row + torch.rand(n, **on)
        raw = torch.stack([x1, x2], dim=1)
    else:
        radius = torch.tensor(_RING_RADII, dtype=_F64, device=generator.device)[
            torch.randint(0, len(_RING_RADII), (n,), generator=generator,
                          device=generator.device)]
        theta = 2 * math.pi * torch.rand(n, **on)
        raw = radius[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
        raw = raw + _RINGS_NOISE * torch.randn(n, 2, **on)
    shift = torch.tensor(mean, dtype=_F64, device=generator.device)
    return ((raw - shift) / c).to(dtype=dtype, device=device)


def random_gaussian_mixture(d: int, k: int, *, generator: torch.Generator, spread: float = 2.0,
                            variances: tuple[float, float] = (0.1, 1.0),
                            isotropic: bool = False, dtype: torch.dtype = torch.float64,
                            device: torch.device | str | None = None) -> GaussianMixture:
    r"""A random Gaussian mixture :math:`\sum_{j=1}^{k} w_j \mathcal N(\mu_j, \Sigma_j)` in
    :math:`\mathbb R^d`:

    .. math::
        w_j \propto \tfrac12 + U_j, \qquad \mu_j \sim \mathcal N(0, \text{spread}^2 I_d),
        \qquad \Sigma_j = Q_j \operatorname{diag}(\lambda_{j1}, \dots, \lambda_{jd}) Q_j^\top,

    with :math:`U_j` uniform on :math:`[0, 1]` (so :math:`\max w / \min w \le 3`), :math:`Q_j`
    the orthogonal factor of the QR decomposition of a standard Gaussian matrix (Haar-distributed
    up to column signs, which :math:`\Sigma_j` does not see) and the eigenvalues
    :math:`\lambda_{ji}` log-uniform in ``variances``. With ``isotropic=True``,
    :math:`\Sigma_j = v_j I` with one log-uniform :math:`v_j` per component. Mean distances
    :math:`|\mu_i - \mu_j| \approx \text{spread}\sqrt{2d}` and component radii
    :math:`\approx \sqrt{\operatorname{tr}\Sigma_j}` grow alike with :math:`d`.

    Args:
        d: dimension; k: number of components.
        generator: the source of randomness.
        spread: standard deviation of the means (> 0).
        variances: ``(low, high)``, ``0 < low <= high``: the range of the covariances'
            eigenvalues.
        isotropic: draw :math:`\Sigma_j = v_j I`.
        dtype, device: of the mixture (drawn in float64 on the generator's device, then
            converted).

    Returns:
        A :class:`GaussianMixture` (``(k,)`` isotropic variances or ``(k, d, d)``
        covariances).

    Raises:
        ValueError: on bad sizes, spread or variances.
    """
    d, k = check_positive_int(d, "d"), check_positive_int(k, "k")
    spread = check_real(spread, "spread", positive=True)
    if not (isinstance(variances, tuple) and len(variances) == 2):
        raise ValueError(f"variances: expected a tuple (low, high), got {variances!r}")
    low = check_real(variances[0], "variances", positive=True)
    high = check_real(variances[1], "variances", positive=True)
    if low > high:
        raise ValueError(f"variances: expected low <= high, got {variances!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator: expected a torch.Generator")
    on = {"generator": generator, "dtype": _F64, "device": generator.device}
    weights = 0.5 + torch.rand(k, **on)
    weights = weights / weights.sum()
    means = spread * torch.randn(k, d, **on)
    log_low, log_high = math.log(low), math.log(high)
    if isotropic:
        cov = torch.exp(log_low + (log_high - log_low) * torch.rand(k, **on))
    else:
        q, _ = torch.linalg.qr(torch.randn(k, d, d, **on))
        lam = torch.exp(log_low + (log_high - log_low) * torch.rand(k, d, **on))
        cov = (q * lam[:, None, :]) @ q.transpose(-1, -2)
        cov = 0.5 * (cov + cov.transpose(-1, -2))
    return GaussianMixture(weights.to(dtype=dtype, device=device),
                           means.to(dtype=dtype, device=device),
                           cov.to(dtype=dtype, device=device))


def load_digits(*, scale: PixelScale = PixelScale.SYMMETRIC, dtype: torch.dtype = torch.float64,
                device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    r"""scikit-learn's 8x8 handwritten digits (1797 images, no download: the file ships inside
    scikit-learn), as tensors.

    Pixel counts :math:`p \in \{0, \dots, 16\}` are scaled by ``scale``: :math:`p/16 \in [0, 1]`
    or :math:`p/8 - 1 \in [-1, 1]` (:class:`PixelScale`); image row :math:`r`, column :math:`c`
    is coordinate :math:`8r + c`.

    Returns:
        ``(x, labels)``: ``(1797, 64)`` images and ``(1797,)`` int64 digit labels in
        :math:`\{0, \dots, 9\}`.

    Raises:
        ValueError: if ``scale`` is not a :class:`PixelScale`.
    """
    if not isinstance(scale, PixelScale):
        raise ValueError(f"scale: expected a PixelScale, got {scale!r}")
    from sklearn.datasets import load_digits as _sklearn_load_digits

    bunch = _sklearn_load_digits()
    counts = torch.as_tensor(bunch.data, dtype=_F64)
    x = counts / 16 if scale is PixelScale.UNIT_INTERVAL else counts / 8 - 1
    labels = torch.as_tensor(bunch.target, dtype=torch.int64, device=device)
    return x.to(dtype=dtype, device=device), labels


def held_out_split(n: int, *, fraction: float = 0.2, generator: torch.Generator
                   ) -> tuple[Tensor, Tensor]:
    r"""A seeded random partition of :math:`\{0, \dots, n-1\}` into training and held-out
    indices: a uniformly random permutation (``torch.randperm``) whose first
    :math:`n_{\rm held} = \operatorname{round}(\text{fraction}\cdot n)` entries are held out.

    Args:
        n: number of points (>= 2).
        fraction: held-out fraction in :math:`(0, 1)`; :math:`1 \le n_{\rm held} \le n - 1` is
            required.
        generator: the source of randomness.

    Returns:
        ``(train, held_out)``: sorted int64 index tensors of sizes :math:`n - n_{\rm held}` and
        :math:`n_{\rm held}` (e.g. ``x[train]``, ``x[held_out]``).

    Raises:
        ValueError: on a bad ``n`` or ``fraction``.
    """
    n = check_positive_int(n, "n", minimum=2)
    fraction = check_real(fraction, "fraction", positive=True)
    held = round(fraction * n)
    if not (fraction < 1 and 1 <= held <= n - 1):
        raise ValueError(f"fraction: expected a fraction in (0, 1) leaving at least one point "
                         f"on each side of n = {n}, got {fraction!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator: expected a torch.Generator")
    perm = torch.randperm(n, generator=generator, device=generator.device)
    return torch.sort(perm[held:]).values, torch.sort(perm[:held]).values
