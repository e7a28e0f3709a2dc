"""The generalization experiments' configs reject bad values, naming the field (the shared
conformance suite in tests/atlas runs their quick presets)."""

from __future__ import annotations

import dataclasses

import pytest

from mathdl.atlas import experiments
from mathdl.generalization import FeatureKind
from mathdl.generalization.experiments import (
    DoubleDescentLinearConfig,
    RademacherConfig,
    RandomFeaturesRateConfig,
)
from mathdl.generalization.experiments_rf import RandomFeaturesDoubleDescentConfig


def test_the_topic_registers_its_checks():
    names = {e.name for e in experiments("generalization")}
    assert {"generalization/random-features-rate", "generalization/rademacher",
            "generalization/double-descent-linear",
            "generalization/random-features-double-descent"} <= names


@pytest.mark.parametrize(("config", "changes", "field"), [
    (RandomFeaturesRateConfig(), {"kinds": ()}, "kinds"),
    (RandomFeaturesRateConfig(), {"kinds": ("relu",)}, "kinds"),
    (RandomFeaturesRateConfig(), {"kinds": (FeatureKind.SIGMOID,)}, "kinds"),
    (RandomFeaturesRateConfig(), {"widths": (16, 8, 32)}, "widths"),
    (RandomFeaturesRateConfig(), {"least_squares_max_width": -1}, "least_squares_max_width"),
    (RademacherConfig(), {"path_norm_dim": 3}, "path_norm_dim"),
    (RademacherConfig(), {"sample_sizes": (64, 128)}, "sample_sizes"),
    (DoubleDescentLinearConfig(), {"ratios": (0.5, 0.7, 0.9, 0.95)}, "ratios"),
    (DoubleDescentLinearConfig(), {"ratios": (0.5, 1.0, 1.5, 2.0)}, "ratios"),
    (DoubleDescentLinearConfig(), {"noise": 0.0}, "noise"),
    (RandomFeaturesDoubleDescentConfig(), {"ratios": (0.5, 0.9, 1.5)}, "ratios"),
    (RandomFeaturesDoubleDescentConfig(), {"ratios": (1.0, 1.5, 2.0)}, "ratios"),
    (RandomFeaturesDoubleDescentConfig(), {"ridges": (0.1, 1e-4)}, "ridges"),
    (RandomFeaturesDoubleDescentConfig(), {"ridges": (0.0, 0.1)}, "ridges"),
    (RandomFeaturesDoubleDescentConfig(), {"ridges": (1e-4,)}, "ridges"),
    (RandomFeaturesDoubleDescentConfig(), {"activation": FeatureKind.FOURIER}, "activation"),
    (RandomFeaturesDoubleDescentConfig(), {"peak_distance": 0.95}, "peak_distance"),
    (RandomFeaturesDoubleDescentConfig(), {"draws": 1}, "draws"),
])
def test_bad_config_names_the_field(config, changes, field):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(config, **changes)
