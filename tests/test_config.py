from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from zoo.config import apply_overrides, describe, from_dict, option, to_dict
from zoo.errors import UsageError


@dataclass(frozen=True)
class Example:
    width: int = option(64, "channels")
    lr: float = option(2e-4, "learning rate")
    ema: bool = option(False, "average weights")
    loss: Literal["hinge", "bce"] = option("bce", "loss")
    beta: float | None = option(None, "optional weight")
    sizes: tuple[int, ...] = option((16, 32), "sizes")
    name: str = option("x", "a name")

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be at least 1, got {self.width}")


def test_overrides_convert_to_each_field_type():
    config = apply_overrides(
        Example(), ["width=8", "lr=1e-3", "ema=true", "loss=hinge", "beta=0.5", "sizes=8,16,64", "name=a=b"]
    )
    assert config == Example(width=8, lr=1e-3, ema=True, loss="hinge", beta=0.5, sizes=(8, 16, 64), name="a=b")
    assert apply_overrides(config, ["beta=none", "ema=0"]).beta is None


def test_unknown_key_lists_the_valid_keys():
    with pytest.raises(UsageError, match=r"unknown config key 'depth'; valid keys: width, lr, ema, loss, beta, sizes, name"):
        apply_overrides(Example(), ["depth=3"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("width=abc", "bad value for width: 'abc' is not an integer"),
        ("width=2.5", "bad value for width"),
        ("lr=fast", "bad value for lr: 'fast' is not a number"),
        ("ema=maybe", "not a boolean"),
        ("loss=wasserstein", "'wasserstein' is not one of hinge, bce"),
        ("width", "--set expects key=value"),
        ("width=0", "invalid config: width must be at least 1"),
    ],
)
def test_bad_values_are_usage_errors(override, message):
    with pytest.raises(UsageError, match=message):
        apply_overrides(Example(), [override])


def test_round_trip_through_json_values():
    config = Example(width=3, sizes=(1, 2), beta=0.1)
    assert from_dict(Example, to_dict(config)) == config
    assert to_dict(config)["sizes"] == [1, 2]


def test_describe_gives_type_default_and_help():
    fields = {f.name: f for f in describe(Example)}
    assert fields["width"].type == "int" and fields["width"].default == 64 and fields["width"].help == "channels"
    assert fields["loss"].type == "hinge|bce"
    assert fields["beta"].type == "float | NoneType"
