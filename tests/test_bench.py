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
    # the time split adds up to the engine's own measurements
    assert row["engine_s"] == pytest.approx(row["engine_ms"] * row["queries"] / 1e3)
    assert 0 < row["prep_s"] < row["engine_s"]
    assert row["rounds_combo"].size == 100 and row["rounds_combo"].min() >= 1
    bench.print_time_split([row])
    title, header, line = capsys.readouterr().out.strip().splitlines()
    assert header.split()[:4] == ["n", "d", "kind", "wall"]
    fields = line.split()
    assert fields[:2] == [str(n), str(d)]
    assert float(fields[3]) == pytest.approx(row["engine_s"], abs=0.006)
    assert fields[-1] == f"{np.median(row['rounds_combo']):.0f}/{row['rounds_combo'].max()}"


def test_convex_combinations_are_inside():
    rng = np.random.default_rng(2)
    points = rng.standard_normal((50, 3))
    combos = bench._convex_combinations(points, 20, rng)
    from neuralhull.hull import in_hull

    assert in_hull(points, combos).all()


@pytest.mark.parametrize("kind", ["gaussian", "pixels"])
def test_baseline_subsample_always_has_five_fresh_and_five_combinations(small_pixels, kind):
    # a zero time budget: the baseline still runs on exactly the minimum, 5 + 5 queries
    rng = np.random.default_rng(3)
    row = bench._run_case(kind, 600, 5, rng, small_pixels, 0.0, 1)
    assert row["base_q"] == 10
    assert row["base_fresh"] == 5 and row["base_combo"] == 5
    assert row["agree"] == 1.0 and row["undec_engine"] == 0 and row["verified"]
    if kind == "pixels":  # raw pixels: the full dimension, no projection
        assert row["d"] == small_pixels[0].shape[1] and row["kind"] == "synthetic-pixels"


def test_a_baseline_slower_than_the_limit_runs_three_of_each_kind(small_pixels):
    # every LP "takes longer" than the limit (0 s): the minimum drops to 3 + 3, still
    # alternating fresh samples and combinations
    rng = np.random.default_rng(3)
    row = bench._run_case("gaussian", 600, 5, rng, small_pixels, 0.0, 1, slow_baseline_s=0.0)
    assert row["base_q"] == 6
    assert row["base_fresh"] == 3 and row["base_combo"] == 3
    assert row["agree"] == 1.0 and row["verified"]


def test_case_option_parses_and_rejects_bad_cases(monkeypatch, capsys):
    assert bench._parse_case("pixels:10000:784") == ("pixels", 10000, 784)
    assert bench._parse_case("gaussian:2000:5") == ("gaussian", 2000, 5)
    for bad in ("pixels:10000:50", "cifar:10:10", "gaussian:0:5", "gaussian:10", "pca:a:5"):
        with pytest.raises(SystemExit):
            bench.main(["hull", "--case", bad])
        err = capsys.readouterr().err
        assert "bad case" in err or "expected kind:n:d" in err, err
    seen = {}

    def fake(**kw):
        seen.update(kw)
        return [_row(10000, 50.0)], []

    monkeypatch.setattr(bench, "bench_hull", fake)
    assert bench.main(["hull", "--case", "pca:2000:5", "--case", "pixels:10000:784"]) == 0
    assert seen["cases"] == [("pca", 2000, 5), ("pixels", 10000, 784)]


def test_baseline_order_is_seeded_and_puts_both_kinds_first():
    order = bench._baseline_order(100, 100, np.random.default_rng(4))
    assert sorted(order.tolist()) == list(range(200))  # every query exactly once
    head = order[:10]
    assert (head[0::2] < 100).all() and (head[1::2] >= 100).all()
    again = bench._baseline_order(100, 100, np.random.default_rng(4))
    assert (order == again).all()


def _row(n, ratio, agree=1.0, undec=0, verified=True):
    return {
        "n": n,
        "d": 5,
        "kind": "gaussian",
        "ratio": ratio,
        "agree": agree,
        "undec_engine": undec,
        "verified": verified,
    }


def test_verdict_checks_speed_agreement_and_undecided():
    ok, line = bench.verdict([_row(2000, 5.0), _row(10000, 31.0), _row(60000, 400.0)])
    assert ok and line.startswith("VERDICT: PASS")  # slow cases below n=10,000 allowed
    for bad in (
        _row(10000, 29.9),
        _row(60000, 100.0, agree=0.995),
        _row(60000, 100.0, agree=float("nan")),
        _row(2000, 100.0, undec=1),
        _row(2000, 100.0, verified=False),
    ):
        ok, line = bench.verdict([_row(2000, 50.0), bad])
        assert not ok and line.startswith("VERDICT: FAIL"), bad
    ok, line = bench.verdict([_row(10000, 50.0)], [{"case": "big", "undecided": 2, "verified": 1}])
    assert not ok and "big: 2 undecided" in line
    assert not bench.verdict([], [])[0]


def test_main_exit_code_follows_the_verdict(monkeypatch, capsys):
    for rows, code in (([_row(10000, 50.0)], 0), ([_row(10000, 10.0)], 1)):
        monkeypatch.setattr(bench, "bench_hull", lambda rows=rows, **kw: (rows, []))
        assert bench.main(["hull", "--quick"]) == code
        assert capsys.readouterr().out.strip().splitlines()[-1].startswith("VERDICT")


@pytest.mark.parametrize(
    "options, grid_cases, large",
    [
        ({}, 27, True),  # the full grid: 3 n x (4 d x 2 kinds + pixels), then the large cases
        ({"large_only": True}, 0, True),
        ({"quick": True}, 6, False),
        ({"cases": [("pixels", 10000, 784)]}, 1, False),
    ],
)
def test_which_parts_each_mode_runs(monkeypatch, options, grid_cases, large):
    ran, large_ran = [], []
    monkeypatch.setattr(bench, "_mnist_pixels", lambda rng: (None, None, "mnist"))
    monkeypatch.setattr(
        bench, "_run_case", lambda kind, n, d, *a, **k: ran.append((kind, n, d)) or _row(n, 50)
    )
    monkeypatch.setattr(bench, "_print_row", lambda row: None)
    monkeypatch.setattr(bench, "print_time_split", lambda rows: None)
    monkeypatch.setattr(bench, "_large", lambda *a: large_ran.append(True) or [])
    bench.bench_hull(**options)
    assert len(ran) == grid_cases and bool(large_ran) == large
    if not options:
        assert ("pixels", 60000, 784) in ran and ("pca", 60000, 200) in ran
