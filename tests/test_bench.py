"""The hull benchmark's harness: it compares the engine with one LP per query on the same
queries, and its table reports what actually happened (agreement, undecided, inside)."""

import numpy as np
import pytest

from neuralhull import bench


@pytest.fixture(scope="module")
def small_pixels():
    rng = np.random.default_rng(1)
    train = rng.random((3000, 30)) ** 3  # skewed, image-like intensities
    test = rng.random((400, 30)) ** 3
    return train, test, "synthetic"


@pytest.mark.parametrize("kind, n, d", [("gaussian", 400, 4), ("pca", 1500, 6)])
def test_case_compares_every_query_with_the_lp_baseline(small_pixels, kind, n, d, capsys):
    rng = np.random.default_rng(0)
    row = bench._run_case(kind, n, d, rng, small_pixels, 1e9, 1)
    assert row["n"] == n and row["d"] == d
    assert row["queries"] == 200 and row["base_q"] == 200  # unlimited budget: all timed
    assert row["agree"] == 1.0  # the engine and the LP agree on every query
    assert row["undec_engine"] == 0 and row["undec_base"] == 0
    assert row["verified"]  # every certificate re-checked from scratch
    # half the queries are convex combinations of training points: inside by construction
    assert 100 <= row["inside"] < 200
    assert row["ratio"] == pytest.approx(row["base_ms"] / row["engine_ms"])
    bench._print_header()
    bench._print_row(row)
    header, line = capsys.readouterr().out.splitlines()
    assert header.split()[0] == "n" and line.split()[:2] == [str(n), str(d)]
    assert "100.0%" in line


def test_convex_combinations_are_inside():
    rng = np.random.default_rng(2)
    points = rng.standard_normal((50, 3))
    combos = bench._convex_combinations(points, 20, rng)
    from neuralhull.hull import in_hull

    assert in_hull(points, combos).all()
