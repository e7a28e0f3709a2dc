"""The theorem atlas: the experiment protocol, the registry, presets and claims.

No mathematics lives here: experiments are defined in each topic's ``experiments.py``.
"""

from ._claims import Claim, ClaimKind, ToleranceKind
from ._config import (
    ComputeDevice,
    ConfigError,
    apply_overrides,
    config_fields,
    config_from_dict,
    config_to_dict,
    describe_type,
    require,
    require_device,
    require_int_range,
    require_ints,
    require_positive,
)
from ._protocol import (
    Experiment,
    Preset,
    Progress,
    Result,
    SweepClaims,
    SweepObservation,
    group_observations,
    no_progress,
)
from ._registry import UnknownExperimentError, experiments, get_experiment, register

__all__ = [
    "Claim",
    "ClaimKind",
    "ComputeDevice",
    "ConfigError",
    "Experiment",
    "Preset",
    "Progress",
    "Result",
    "SweepClaims",
    "SweepObservation",
    "ToleranceKind",
    "UnknownExperimentError",
    "apply_overrides",
    "config_fields",
    "config_from_dict",
    "config_to_dict",
    "describe_type",
    "experiments",
    "get_experiment",
    "group_observations",
    "no_progress",
    "register",
    "require",
    "require_device",
    "require_int_range",
    "require_ints",
    "require_positive",
]
