"""One error type per kind of mistake: TypeError for a wrong type, ValueError for a wrong value."""

import math

import pytest

from visionzoo.utils.checks import check_bool, check_choice, check_float, check_int, check_rate


@pytest.mark.parametrize("bad", [True, 1.0, "3", None])
def test_check_int_type(bad):
    with pytest.raises(TypeError, match="n must be an int"):
        check_int("n", bad, 1)


def test_check_int_bounds():
    assert check_int("n", 3, 1, 5) == 3
    with pytest.raises(ValueError, match=">= 1"):
        check_int("n", 0, 1)
    with pytest.raises(ValueError, match="n must be >= 1 and <= 5, got 6"):
        check_int("n", 6, 1, 5)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_check_float_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="finite"):
        check_float("lr", bad, 0.0)


def test_check_float_type_and_bounds():
    with pytest.raises(TypeError):
        check_float("lr", "0.1")
    with pytest.raises(TypeError):
        check_float("lr", False)
    with pytest.raises(ValueError, match="> 0"):
        check_float("lr", 0.0, 0.0, min_inclusive=False)
    assert check_float("lr", 1) == 1.0


def test_check_rate():
    assert check_rate("p", 0.0) == 0.0
    with pytest.raises(ValueError, match="< 1"):
        check_rate("p", 1.0)


def test_check_bool_and_choice():
    with pytest.raises(TypeError):
        check_bool("flag", 1)
    assert check_bool("flag", False) is False
    with pytest.raises(TypeError):
        check_choice("precision", 16, ("fp32", "bf16"))
    with pytest.raises(ValueError, match="'fp32', 'bf16'"):
        check_choice("precision", "fp64", ("fp32", "bf16"))
