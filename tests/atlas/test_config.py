"""Configs: JSON round trip and ``key=value`` overrides parsed from the field types."""

import enum
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mathdl.atlas import (
    ConfigError,
    apply_overrides,
    config_fields,
    config_from_dict,
    config_to_dict,
    require_int_range,
    require_positive,
)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, kw_only=True)
class Toy:
    width: int = 4
    scale: float = 1.0
    flag: bool = False
    label: str = "x"
    colour: Colour = Colour.RED
    sizes: tuple[int, ...] = (1, 2)

    def __post_init__(self):
        require_int_range("width", self.width, 1, 100)
        require_positive("scale", self.scale)


def test_overrides_parse_by_type():
    c = apply_overrides(Toy(), ["width=7", "scale=2.5", "flag=true", "label=a=b",
                                "colour=blue", "sizes=3,4,5"])
    assert c == Toy(width=7, scale=2.5, flag=True, label="a=b", colour=Colour.BLUE,
                    sizes=(3, 4, 5))


@pytest.mark.parametrize(("item", "message"), [
    ("nope=1", "unknown config key 'nope'"),
    ("width=abc", "--set width: expected integer"),
    ("width=2.5", "--set width: expected integer"),
    ("scale=nan", "--set scale: expected number"),
    ("colour=green", "--set colour: expected one of red, blue"),
    ("sizes=", "--set sizes: expected comma-separated list of integer"),
    ("width", "expected key=value"),
    ("width=0", "width: expected an integer between 1 and 100"),
    ("scale=-1", "scale: expected a finite number > 0"),
])
def test_bad_overrides_raise_config_error(item, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        apply_overrides(Toy(), [item])


@given(width=st.integers(1, 100), scale=st.floats(1e-6, 1e6), flag=st.booleans(),
       label=st.text(max_size=20), colour=st.sampled_from(Colour),
       sizes=st.lists(st.integers(-5, 5), max_size=5).map(tuple))
def test_json_roundtrip(width, scale, flag, label, colour, sizes):
    c = Toy(width=width, scale=scale, flag=flag, label=label, colour=colour, sizes=sizes)
    assert config_from_dict(Toy, config_to_dict(c)) == c


def test_from_dict_rejects_wrong_types():
    with pytest.raises(ConfigError, match="config key 'width'"):
        config_from_dict(Toy, {"width": "4"})
    with pytest.raises(ConfigError, match="unknown config key"):
        config_from_dict(Toy, {"depth": 4})


def test_config_fields_lists_defaults():
    names = [(n, d) for n, _, d in config_fields(Toy)]
    assert names[0] == ("width", 4) and names[-1] == ("sizes", (1, 2))
