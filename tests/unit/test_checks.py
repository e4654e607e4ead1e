"""The shared input checks: what each accepts, what it refuses and the message it gives."""

import numpy as np
import pandas as pd
import pytest

from neuralhull.checks import (
    as_bool,
    as_score,
    check_count,
    check_fraction,
    check_generator,
    check_level,
    check_positive,
    one_of,
    require_columns,
)


def test_one_of_returns_a_choice_and_names_the_others():
    assert one_of("exact", ("auto", "exact"), "method") == "exact"
    with pytest.raises(ValueError, match=r"^method must be one of \('auto', 'exact'\), got 'x'$"):
        one_of("x", ("auto", "exact"), "method")


def test_require_columns_lists_the_missing_in_the_given_order():
    frame = pd.DataFrame({"b": [1], "d": [2]})
    assert require_columns(frame, ["b"], "t") is frame
    with pytest.raises(ValueError, match=r"^t lacks column\(s\) \['c', 'a'\]$"):
        require_columns(frame, ["c", "b", "a"], "t")
    with pytest.raises(ValueError, match="^t must be a DataFrame, got dict$"):
        require_columns({"b": [1]}, ["b"], "t")


def test_require_columns_refuses_an_empty_table_only_when_asked():
    empty = pd.DataFrame({"a": []})
    assert require_columns(empty, ["a"], "t") is empty
    with pytest.raises(ValueError, match="^t has no rows to plot$"):
        require_columns(empty, ["a"], "t", nonempty="to plot")


def test_check_count_takes_integers_only():
    assert check_count(np.int64(3), "n") == 3
    assert check_count(0, "n", minimum=0) == 0
    with pytest.raises(ValueError, match="^n must be at least 1, got 0$"):
        check_count(0, "n")
    with pytest.raises(ValueError, match="^n must be an integer, got 2.0$"):
        check_count(2.0, "n")
    with pytest.raises(ValueError, match="^n must be an integer, got a bool$"):
        check_count(True, "n")


def test_fractions_and_levels_lie_strictly_between_0_and_1():
    assert check_fraction("0.25", "test_fraction") == 0.25
    assert check_level(0.95) == 0.95
    for bad in (0, 1, -0.5, 1.5):
        with pytest.raises(ValueError, match=r"^level must lie in \(0, 1\), got "):
            check_level(bad)
    with pytest.raises(ValueError, match=r"^test_fraction must lie in \(0, 1\), got 1.0$"):
        check_fraction(1, "test_fraction")


def test_check_positive_takes_finite_numbers_above_zero_or_at_it_when_asked():
    assert check_positive(np.float32(0.5), "tol") == 0.5
    assert check_positive(0, "r2", zero=True) == 0.0
    assert check_positive([0.5, 2.0], "gammas").tolist() == [0.5, 2.0]
    for bad in (0, -1.0, np.nan, np.inf, [1.0, 0.0]):
        with pytest.raises(ValueError, match=r"^gamma must be finite and > 0, got "):
            check_positive(bad, "gamma")
    for bad in (-1e-300, np.nan, -np.inf, [0.0, -2.0]):
        with pytest.raises(ValueError, match=r"^r2 must be finite and >= 0, got "):
            check_positive(bad, "r2", zero=True)


def test_check_generator_refuses_a_seed():
    rng = np.random.default_rng(0)
    assert check_generator(rng) is rng
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        check_generator(0)


def test_as_score_allows_inf_but_not_nan_or_a_matrix():
    assert as_score([1, np.inf]).dtype == float
    with pytest.raises(ValueError, match=r"^score must be one-dimensional, got shape \(1, 2\)$"):
        as_score([[1.0, 2.0]])
    with pytest.raises(ValueError, match="^d contains NaN; drop samples without a value first$"):
        as_score([1.0, np.nan], "d")


def test_as_bool_accepts_bools_and_0_1_and_refuses_anything_else():
    expected = np.array([True, False, True])
    for values in ([True, False, True], [1, 0, 1], [1.0, 0.0, 1.0], np.array([1, 0, True], object)):
        out = as_bool(values, "correct", 3)
        assert out.dtype == bool and np.array_equal(out, expected)
    with pytest.raises(ValueError, match=r"^correct must have shape \(2,\), got \(3,\)$"):
        as_bool([1, 0, 1], "correct", 2)
    with pytest.raises(ValueError, match="^correct must be boolean"):
        as_bool([0, 2], "correct", 2)
    with pytest.raises(ValueError, match="^correct must be boolean"):
        as_bool(["yes", "no"], "correct", 2)
