r"""A Monte Carlo estimate together with its standard error.

For i.i.d. samples :math:`Z_1, \dots, Z_S` of a square-integrable variable, the estimate is the
sample mean :math:`\bar Z` and its standard error :math:`s / \sqrt S`, with :math:`s^2` the
unbiased sample variance (e.g. Caflisch, *Monte Carlo and quasi-Monte Carlo methods*, Acta
Numerica 7 (1998), §2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["MonteCarloEstimate"]


@dataclass(frozen=True)
class MonteCarloEstimate:
    r"""The sample mean of ``num_samples`` i.i.d. draws and its standard error.

    Attributes:
        mean: :math:`\bar Z = \frac1S \sum_s Z_s`.
        stderr: :math:`\sqrt{\frac{1}{S(S-1)} \sum_s (Z_s - \bar Z)^2}` (``nan`` when
            :math:`S = 1`).
        num_samples: :math:`S`.
    """

    mean: float
    stderr: float
    num_samples: int

    @classmethod
    def from_samples(cls, samples: Tensor) -> MonteCarloEstimate:
        r"""Mean and standard error of a 1-D tensor of i.i.d. samples (computed in float64)."""
        z = samples.detach().reshape(-1).to(torch.float64)
        s = z.shape[0]
        mean = float(z.mean())
        stderr = float(z.std(correction=1) / math.sqrt(s)) if s > 1 else math.nan
        return cls(mean=mean, stderr=stderr, num_samples=s)
