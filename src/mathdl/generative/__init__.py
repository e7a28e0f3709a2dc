"""Generative models read through PDEs: forward noising processes, exact scores of Gaussian
mixtures and of empirical measures, reverse-SDE and probability-flow samplers, the distances that
measure what they produce, and the speciation transition."""

from mathdl.generative._collapse import collapse_time, excess_entropy, posterior_weights
from mathdl.generative._distances import (
    gaussian_kl,
    gaussian_w2,
    mixture_kl,
    mixture_mmd2,
    mmd2_unbiased,
    sliced_w2,
)
from mathdl.generative._mixtures import (
    GaussianMixture,
    ScoreFunction,
    empirical_score,
    exact_score,
    forward_marginal,
)
from mathdl.generative._processes import (
    ForwardProcess,
    HeatFlow,
    OrnsteinUhlenbeck,
    VariancePreserving,
    sample_forward,
    sample_prior,
)
from mathdl.generative._samplers import (
    Sampler,
    TimeSpacing,
    gaussian_sampler_law,
    probability_flow_drift,
    reverse_sde_drift,
    sample,
    sampler_step,
    time_grid,
)
from mathdl.generative._speciation import (
    class_agreement,
    clone_agreement,
    speciation_time,
    two_class_agreement,
)

__all__ = [
    "ForwardProcess",
    "GaussianMixture",
    "HeatFlow",
    "OrnsteinUhlenbeck",
    "Sampler",
    "ScoreFunction",
    "TimeSpacing",
    "VariancePreserving",
    "class_agreement",
    "clone_agreement",
    "collapse_time",
    "empirical_score",
    "exact_score",
    "excess_entropy",
    "forward_marginal",
    "gaussian_kl",
    "gaussian_sampler_law",
    "gaussian_w2",
    "mixture_kl",
    "mixture_mmd2",
    "mmd2_unbiased",
    "posterior_weights",
    "probability_flow_drift",
    "reverse_sde_drift",
    "sample",
    "sample_forward",
    "sample_prior",
    "sampler_step",
    "sliced_w2",
    "speciation_time",
    "time_grid",
    "two_class_agreement",
]
