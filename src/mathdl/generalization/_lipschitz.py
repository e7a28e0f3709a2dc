r"""The Rademacher complexity of the Lipschitz ball: an exact supremum (a linear program solved as
an assignment problem) and a chaining bound over dyadic cubes.

For the class :math:`\mathcal F_{L,B} = \{f : [0,1]^d \to \mathbb R,\ |f(x) - f(x')| \le
L|x - x'|_2,\ |f| \le B\}` only the values :math:`f_i = f(x_i)` on the sample matter: a vector
:math:`(f_i)` extends to a member of :math:`\mathcal F_{L,B}` iff :math:`f_i - f_j \le L|x_i - x_j|`
and :math:`|f_i| \le B` (McShane's extension :math:`\min_i (f_i + L|x - x_i|)` clipped to
:math:`[-B, B]`). So, given signs, the supremum is the linear program

.. math::
    \sup_{f \in \mathcal F_{L,B}} \frac1n\sum_i \sigma_i f(x_i) = \max\Big\{\frac1n\sigma^\top f :
    f_i - f_j \le L|x_i - x_j|\ \forall i \ne j,\ -B \le f_i \le B\Big\}.

Adding a node :math:`0` with :math:`f_0 = 0` turns the bounds into edges of length :math:`B`;
the LP dual is then a min-cost flow sending one unit from every point with :math:`\sigma_i = +1`
to the points with :math:`\sigma_j = -1` or to node 0 (which also absorbs the imbalance
:math:`|n_+ - n_-|`), with the shortest-path costs :math:`c_{ij} = \min(L|x_i - x_j|, 2B)` and
:math:`c_{i0} = B`. Unit supplies make the transportation polytope integral, so

.. math::
    \sup = \frac1n \min_{\pi}\sum_{i:\sigma_i = s} c_{i\pi(i)},

an assignment of the larger sign class :math:`s` to the smaller one padded with
:math:`|n_+ - n_-|` copies of node 0 (:func:`lipschitz_ball_supremum`; Kantorovich-Rubinstein
duality in the truncated metric). Its mean over signs decays like :math:`n^{-1/2}` for
:math:`d = 1`, :math:`\sqrt{\log n/n}` for :math:`d = 2` (Ajtai, Komlós, Tusnády 1984: optimal
matchings) and :math:`n^{-1/d}` for :math:`d \ge 3` (von Luxburg & Bousquet 2004, Thm 18;
Dudley 1969): the curse of dimensionality.

**Chaining bound** (:func:`lipschitz_ball_chaining_bound`). Let :math:`c_j(x)` be the centre of
the dyadic cube of side :math:`2^{-j}` containing :math:`x` (:math:`c_0` the centre of
:math:`[0,1]^d`). Telescoping :math:`f(x_i) = f(c_0) + \sum_{j=1}^J (f(c_j(x_i)) - f(c_{j-1}(x_i)))
+ (f(x_i) - f(c_J(x_i)))`, with :math:`|c_j - c_{j-1}| = \sqrt d\,2^{-j-1}` and
:math:`|x - c_J(x)| \le \sqrt d\,2^{-J-1}`, and summing the signs :math:`S_C = \sum_{x_i\in C}
\sigma_i` cube by cube (:math:`\mathbb E|S_C| \le \sqrt{n_C}`, Jensen):

.. math::
    \widehat{\mathrm{Rad}}_n(\mathcal F_{L,B}) \le \min_{J \ge 0}\Big(\frac{B}{\sqrt n}
    + \frac{L\sqrt d}{n}\sum_{j=1}^J 2^{-j-1}\sum_{|C| = 2^{-j}}\sqrt{n_C}
    + L\sqrt d\,2^{-J-1}\Big).

By Cauchy-Schwarz :math:`\sum_C\sqrt{n_C} \le \sqrt{2^{jd} n}`, so level :math:`j` contributes at
most :math:`L\sqrt d\,2^{j(d/2 - 1) - 1}/\sqrt n`: the bound is :math:`O(n^{-1/2})` for
:math:`d = 1`, :math:`O(n^{-1/2}\log n)` for :math:`d = 2` and :math:`O(n^{-1/d})` for
:math:`d \ge 3` (the choice :math:`2^J \approx n^{1/d}`): Dudley's entropy integral, discretised
on dyadic scales with explicit constants.

References:
    U. von Luxburg & O. Bousquet, "Distance-based classification with Lipschitz functions", JMLR 5
    (2004) 669-695, Thms 17-18; R. M. Dudley, "The speed of mean Glivenko-Cantelli convergence",
    Ann. Math. Stat. 40 (1969) 40-50; M. Ajtai, J. Komlós & G. Tusnády, "On optimal matchings",
    Combinatorica 4 (1984) 259-264; C. Villani, *Optimal transport*, Springer 2009, ch. 5-6.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mathdl.generalization._checks import check_positive_int, check_real, check_tensor

__all__ = [
    "lipschitz_ball_chaining_bound",
    "lipschitz_ball_supremum",
]


def _check_points(x: object) -> np.ndarray:
    x = check_tensor(x, "x", 2)
    if x.shape[0] < 1 or bool(((x < 0) | (x > 1)).any()):
        raise ValueError("x: expected at least one point, all in the unit cube [0, 1]^d")
    return x.detach().to("cpu", torch.float64).numpy()


def lipschitz_ball_supremum(x: Tensor, signs: Tensor, *, lipschitz: float = 1.0,
                            bound: float = 1.0) -> Tensor:
    r""":math:`\sup\{\frac1n\sum_i\sigma_i f(x_i) : \mathrm{Lip}(f) \le L,\ |f| \le B\}` for
    each row of ``signs``: the exact value of the linear program over the values :math:`f_i`,
    computed through its dual assignment problem (module docstring) with
    ``scipy.optimize.linear_sum_assignment``.

    Euclidean distances; the points may lie anywhere (the cube only matters for the bound).

    Args:
        x: ``(n, d)`` points; signs: ``(S, n)`` with entries :math:`\pm1`;
        lipschitz: :math:`L > 0`; bound: :math:`B > 0`.

    Returns:
        ``(S,)`` float64 suprema (on the CPU).
    """
    x = check_tensor(x, "x", 2)
    s = check_tensor(signs, "signs", 2)
    lip = check_real(lipschitz, "lipschitz", positive=True)
    b = check_real(bound, "bound", positive=True)
    n = x.shape[0]
    if s.shape[1] != n:
        raise ValueError(f"signs: expected {n} columns (one per point), got shape "
                         f"{tuple(s.shape)}")
    if not bool(((s == 1) | (s == -1)).all()):
        raise ValueError("signs: expected entries +1 or -1")
    pts = x.detach().to("cpu", torch.float64).numpy()
    sg = s.detach().to("cpu").numpy() > 0
    out = np.empty(sg.shape[0])
    for k, positive in enumerate(sg):
        big, small = pts[positive], pts[~positive]
        if big.shape[0] < small.shape[0]:
            big, small = small, big
        diff = big[:, None, :] - small[None, :, :]
        cost = np.minimum(lip * np.sqrt((diff * diff).sum(-1)), 2 * b)
        cost = np.concatenate([cost, np.full((big.shape[0], big.shape[0] - small.shape[0]), b)],
                              axis=1)
        rows, cols = linear_sum_assignment(cost)
        out[k] = cost[rows, cols].sum() / n
    return torch.from_numpy(out)


def lipschitz_ball_chaining_bound(x: Tensor, *, lipschitz: float = 1.0, bound: float = 1.0,
                                  max_level: int = 30) -> float:
    r"""The dyadic chaining bound on :math:`\widehat{\mathrm{Rad}}_n(\mathcal F_{L,B})` at the
    points ``x`` in :math:`[0,1]^d` (module docstring):

    .. math::
        \min_{0 \le J \le J_{\max}}\Big(\frac{B}{\sqrt n} + \frac{L\sqrt d}{n}\sum_{j=1}^J
        2^{-j-1}\sum_{|C| = 2^{-j}}\sqrt{n_C} + L\sqrt d\,2^{-J-1}\Big),

    :math:`n_C` the number of points in the dyadic cube :math:`C` (half-open cells; the face
    :math:`x_k = 1` belongs to the last cell).

    Args:
        x: ``(n, d)`` points in :math:`[0,1]^d`; lipschitz: :math:`L`; bound: :math:`B`;
        max_level: :math:`J_{\max}` (levels past :math:`\log_2 n` only add terms).

    Returns:
        The bound (a float).
    """
    pts = _check_points(x)
    lip = check_real(lipschitz, "lipschitz", positive=True)
    b = check_real(bound, "bound", positive=True)
    check_positive_int(max_level, "max_level", minimum=0)
    n, d = pts.shape
    root = math.sqrt(d)
    best = b / math.sqrt(n) + lip * root / 2
    chain = 0.0
    for j in range(1, max_level + 1):
        cells = np.minimum(np.floor(pts * 2**j), 2**j - 1).astype(np.int64)
        if j * d < 62:                   # one integer key per cube: a fast 1-D count
            keys = cells @ (np.int64(2) ** (j * np.arange(d, dtype=np.int64)))
            _, counts = np.unique(keys, return_counts=True)
        else:
            _, counts = np.unique(cells, axis=0, return_counts=True)
        chain += 2.0 ** (-j - 1) * float(np.sqrt(counts).sum())
        best = min(best, b / math.sqrt(n) + lip * root * chain / n + lip * root * 2.0**(-j - 1))
    return best
