"""One conformance suite over every registered experiment of the atlas.

Each experiment is covered the moment it is registered: its quick preset finishes and its claims
hold, the same seed gives the same numbers, config and result round-trip through JSON, and the
figure is drawn from the stored result alone.
"""

from __future__ import annotations

import json
import math

import pytest

from mathdl.atlas import (
    Experiment,
    Preset,
    Result,
    config_from_dict,
    config_to_dict,
    experiments,
    get_experiment,
)
from mathdl.runner import render_svg

NAMES = [e.name for e in experiments()]
_CACHE: dict[tuple[str, int], Result] = {}


def quick_result(name: str, seed: int = 0) -> Result:
    key = (name, seed)
    if key not in _CACHE:
        exp = get_experiment(name)
        _CACHE[key] = exp.run(exp.quick, seed=seed)
    return _CACHE[key]


def test_atlas_is_not_empty():
    assert len(NAMES) >= 3


@pytest.mark.parametrize("name", NAMES)
def test_metadata(name):
    exp: Experiment = get_experiment(name)
    assert exp.name == name and exp.topic == name.split("/")[0]
    assert exp.title and exp.reference and exp.description
    assert exp.preset(Preset.QUICK) is exp.quick and exp.preset(Preset.FULL) is exp.full


@pytest.mark.parametrize("name", NAMES)
def test_quick_preset_claims_hold(name):
    result = quick_result(name)
    assert result.claims, "an experiment must make at least one claim"
    failing = [(c.name, c.predicted, c.measured, c.tolerance) for c in result.claims
               if not c.holds]
    assert not failing


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_numbers(name):
    exp = get_experiment(name)
    again = exp.run(exp.quick, seed=0)
    assert again.to_dict() == quick_result(name).to_dict()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("preset", list(Preset))
def test_config_roundtrips_through_json(name, preset):
    exp = get_experiment(name)
    config = exp.preset(preset)
    text = json.dumps(config_to_dict(config))
    assert config_from_dict(exp.config_type, json.loads(text)) == config


@pytest.mark.parametrize("name", NAMES)
def test_result_roundtrips_through_json(name):
    result = quick_result(name)
    text = json.dumps(result.to_dict(), allow_nan=False)
    back = Result.from_dict(json.loads(text))
    assert back.to_dict() == result.to_dict()
    for c, b in zip(result.claims, back.claims, strict=True):
        assert b.holds == c.holds
        assert b.measured == c.measured or (math.isnan(b.measured) and math.isnan(c.measured))


@pytest.mark.parametrize("name", NAMES)
def test_figure_is_drawn_from_the_stored_result(name):
    exp = get_experiment(name)
    stored = Result.from_dict(json.loads(json.dumps(quick_result(name).to_dict())))
    figures = exp.figure(stored)
    assert figures
    for fig in figures.values():
        svg = render_svg(fig)
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
