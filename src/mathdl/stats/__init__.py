"""Statistics used to state and check claims: convergence rates fitted on log scales."""

from mathdl.stats._rates import RateFit, RateModel, fit_exponential_rate, fit_power_law

__all__ = ["RateFit", "RateModel", "fit_exponential_rate", "fit_power_law"]
