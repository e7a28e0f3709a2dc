"""Generative models read through PDEs: forward noising processes, exact scores of Gaussian
mixtures and of empirical measures, learned scores by denoising score matching, reverse-SDE and
probability-flow samplers, the distances that measure what they produce, and the speciation
transition; next to them VAEs, GANs and an autoencoder family for tabular data (with latent export),
and data sets that need no download (2-D toy shapes, scikit-learn's digits)."""

from mathdl._monitor import TrainingDivergedError
from mathdl.generative._autoencoders import (
    AutoencoderKind,
    NumericTable,
    TabularAutoencoder,
    optimal_linear_autoencoder,
    read_numeric_csv,
    write_latents_csv,
)
from mathdl.generative._collapse import collapse_time, excess_entropy, posterior_weights
from mathdl.generative._datasets import (
    PixelScale,
    ToyShape,
    eight_gaussians,
    held_out_split,
    load_digits,
    random_gaussian_mixture,
    sample_toy,
    toy_standardisation,
)
from mathdl.generative._distances import (
    gaussian_kl,
    gaussian_w2,
    mixture_kl,
    mixture_mmd2,
    mmd2_unbiased,
    sliced_w2,
)
from mathdl.generative._gan import (
    GAN,
    GANLoss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    optimal_discriminator,
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
from mathdl.generative._score_model import (
    DenoisingScoreMatching,
    ScoreMLP,
    denoising_score_matching_loss,
)
from mathdl.generative._speciation import (
    class_agreement,
    clone_agreement,
    speciation_time,
    two_class_agreement,
)
from mathdl.generative._vae import (
    VAE,
    DecoderLikelihood,
    kl_to_standard_normal,
    ppca_log_likelihood,
    ppca_maximum_likelihood,
    reparameterise,
)

__all__ = [
    "AutoencoderKind",
    "DecoderLikelihood",
    "DenoisingScoreMatching",
    "ForwardProcess",
    "GAN",
    "GANLoss",
    "GaussianMixture",
    "HeatFlow",
    "NumericTable",
    "OrnsteinUhlenbeck",
    "PixelScale",
    "Sampler",
    "ScoreFunction",
    "ScoreMLP",
    "TabularAutoencoder",
    "TimeSpacing",
    "TrainingDivergedError",
    "ToyShape",
    "VAE",
    "VariancePreserving",
    "class_agreement",
    "clone_agreement",
    "collapse_time",
    "denoising_score_matching_loss",
    "discriminator_loss",
    "eight_gaussians",
    "empirical_score",
    "exact_score",
    "excess_entropy",
    "forward_marginal",
    "gaussian_kl",
    "gaussian_sampler_law",
    "gaussian_w2",
    "generator_loss",
    "gradient_penalty",
    "held_out_split",
    "kl_to_standard_normal",
    "load_digits",
    "mixture_kl",
    "mixture_mmd2",
    "mmd2_unbiased",
    "optimal_discriminator",
    "optimal_linear_autoencoder",
    "posterior_weights",
    "ppca_log_likelihood",
    "ppca_maximum_likelihood",
    "probability_flow_drift",
    "random_gaussian_mixture",
    "read_numeric_csv",
    "reparameterise",
    "reverse_sde_drift",
    "sample",
    "sample_forward",
    "sample_prior",
    "sample_toy",
    "sampler_step",
    "sliced_w2",
    "speciation_time",
    "time_grid",
    "toy_standardisation",
    "two_class_agreement",
    "write_latents_csv",
]
