"""Claims: the verdict follows from predicted, measured and tolerance, for every kind."""

import math

import pytest

from mathdl.atlas import Claim, ClaimKind, ToleranceKind


def claim(measured, predicted=1.0, tolerance=0.1, kind=ClaimKind.VALUE,
          tolerance_kind=ToleranceKind.ABSOLUTE):
    return Claim(name="c", statement="s", reference="r", predicted=predicted, measured=measured,
                 tolerance=tolerance, kind=kind, tolerance_kind=tolerance_kind)


@pytest.mark.parametrize(("measured", "holds"), [(1.0, True), (1.099, True), (0.901, True),
                                                  (1.101, False), (0.899, False)])
def test_value_absolute(measured, holds):
    assert claim(measured).holds is holds


@pytest.mark.parametrize(("measured", "holds"),
                         [(-2.19, True), (-1.81, True), (-2.21, False), (-1.79, False)])
def test_rate_relative_uses_abs_predicted(measured, holds):
    # 10% of |-2| = 0.2
    c = claim(measured, predicted=-2.0, kind=ClaimKind.RATE, tolerance_kind=ToleranceKind.RELATIVE)
    assert c.holds is holds


@pytest.mark.parametrize(("measured", "holds"), [(-5.0, True), (1.1, True), (1.11, False)])
def test_upper_bound(measured, holds):
    assert claim(measured, kind=ClaimKind.UPPER_BOUND).holds is holds


@pytest.mark.parametrize(("measured", "holds"), [(7.0, True), (0.9, True), (0.89, False)])
def test_lower_bound(measured, holds):
    assert claim(measured, kind=ClaimKind.LOWER_BOUND).holds is holds


@pytest.mark.parametrize("kind", list(ClaimKind))
@pytest.mark.parametrize("measured", [math.nan, math.inf, -math.inf])
def test_non_finite_measurement_never_holds(kind, measured):
    assert not claim(measured, kind=kind, tolerance=1e9).holds


def test_json_roundtrip_with_nan():
    c = claim(math.nan, kind=ClaimKind.RATE, tolerance_kind=ToleranceKind.RELATIVE)
    d = c.to_dict()
    assert d["measured"] is None and d["holds"] is False
    back = Claim.from_dict(d)
    assert math.isnan(back.measured) and back.kind is ClaimKind.RATE
    assert back.tolerance_kind is ToleranceKind.RELATIVE


@pytest.mark.parametrize("bad", [{"tolerance": -1.0}, {"tolerance": math.nan},
                                 {"predicted": math.inf}, {"name": ""}])
def test_invalid_claims_raise(bad):
    kwargs = {"name": "c", "statement": "s", "reference": "r", "predicted": 1.0,
              "measured": 1.0, "tolerance": 0.1} | bad
    with pytest.raises(ValueError):
        Claim(**kwargs)
