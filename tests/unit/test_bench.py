"""The benchmarks' harnesses: the hull benchmark compares the engine with one LP per query on
the same queries, and its table reports what actually happened (agreement, undecided,
inside); the command line reaches each benchmark; the training benchmark adds up a job."""

import numpy as np
import pytest

from benchmarks import hull as bench


@pytest.fixture(scope="module")
def small_pixels():
    rng = np.random.default_rng(1)
    train = rng.random((3000, 30)) ** 3  # skewed, image-like intensities
    test = rng.random((400, 30)) ** 3
    return train, test, "synthetic"


@pytest.mark.parametrize("kind, n, d", [("gaussian", 400, 4), ("pca", 1500, 6)])
def test_case_compares_every_query_with_the_lp_baseline(small_pixels, kind, n, d, capsys):
    rng = np.random.default_rng(0)
    row = bench._run_case(kind, n, d, rng, small_pixels, bench.BaselinePlan(1e9), 1)
    assert row["n"] == n and row["d"] == d
    assert row["queries"] == 200 and row["base_q"] == 200  # unlimited budget: all timed
    assert row["agree"] == 1.0  # the engine and the LP agree on every query
    assert row["undec_engine"] == 0 and row["undec_base"] == 0
    assert row["verified"]  # every certificate re-checked from scratch
    # half the queries are convex combinations of training points: inside by construction
    assert 100 <= row["inside"] < 200
    assert row["ratio"] == pytest.approx(row["base_ms"] / row["engine_ms"])
    # the persistent HiGHS model answers the same queries, and agrees on every one
    assert row["pers_q"] == 200 and row["agree_pers"] == 1.0 and row["undec_pers"] == 0
    assert row["ratio_pers"] == pytest.approx(row["pers_ms"] / row["engine_ms"])
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
    row = bench._run_case(kind, 600, 5, rng, small_pixels, bench.BaselinePlan(0.0), 1)
    assert row["base_q"] == 10
    assert row["base_fresh"] == 5 and row["base_combo"] == 5
    assert row["agree"] == 1.0 and row["undec_engine"] == 0 and row["verified"]
    if kind == "pixels":  # raw pixels: the full dimension, no projection
        assert row["d"] == small_pixels[0].shape[1] and row["kind"] == "synthetic-pixels"


def test_a_baseline_slower_than_the_limit_runs_three_of_each_kind(small_pixels):
    # every LP "takes longer" than the limit (0 s): the minimum drops to 3 + 3, still
    # alternating fresh samples and combinations
    rng = np.random.default_rng(3)
    plan = bench.BaselinePlan(0.0, slow_s=0.0)
    row = bench._run_case("gaussian", 600, 5, rng, small_pixels, plan, 1)
    assert row["base_q"] == 6
    assert row["base_fresh"] == 3 and row["base_combo"] == 3
    assert row["agree"] == 1.0 and row["verified"]


def test_case_option_parses_and_rejects_bad_cases(monkeypatch, capsys):
    assert bench._parse_case("pixels:10000:784") == ("pixels", 10000, 784)
    assert bench._parse_case("gaussian:2000:5") == ("gaussian", 2000, 5)
    for bad in ("pixels:10000:50", "cifar:10:10", "gaussian:0:5", "gaussian:10", "pca:a:5"):
        with pytest.raises(SystemExit):
            bench.main(["--case", bad])
        err = capsys.readouterr().err
        assert "bad case" in err or "expected kind:n:d" in err, err
    seen = {}

    def fake(**kw):
        seen.update(kw)
        return [_row(10000, 50.0)], []

    monkeypatch.setattr(bench, "bench_hull", fake)
    assert bench.main(["--case", "pca:2000:5", "--case", "pixels:10000:784"]) == 0
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
        assert bench.main(["--quick"]) == code
        assert capsys.readouterr().out.strip().splitlines()[-1].startswith("VERDICT")


@pytest.mark.parametrize(
    "options, grid_cases, large",
    [
        # the full grid: 3 n x (4 d x 2 kinds + 3 clustered + pixels), then the large cases;
        # slow: it draws every case's data (about 15 s), though no case runs
        pytest.param({}, 36, True, marks=pytest.mark.slow),
        ({"large_only": True}, 0, True),
        ({"quick": True}, 7, False),
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
    monkeypatch.setattr(bench, "print_goals", lambda rows: None)
    monkeypatch.setattr(bench, "_large", lambda *a: large_ran.append(True) or [])
    bench.bench_hull(**options)
    assert len(ran) == grid_cases and bool(large_ran) == large
    if not options:
        assert ("pixels", 60000, 784) in ran and ("pca", 60000, 200) in ran
        assert set(bench.GOAL_CASES) - set(ran) <= {("gaussian", 60000, 10), ("pca", 60000, 10)}


def test_persistent_model_agrees_with_linprog_and_with_geometry():
    # 2-D: the truth is a Delaunay triangulation of the points; queries kept away from the
    # boundary so that no tolerance decides them.  One model answers all, in any order.
    from scipy.spatial import ConvexHull, Delaunay

    rng = np.random.default_rng(5)
    points = rng.standard_normal((60, 2))
    queries = rng.standard_normal((80, 2)) * 1.5
    hull = ConvexHull(points)
    depth = (queries @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1)
    queries = queries[np.abs(depth) > 1e-3]
    truth = np.where(Delaunay(points).find_simplex(queries) >= 0, bench.INSIDE, bench.OUTSIDE)
    model = bench.PersistentLP(points)
    assert [model(q) for q in queries] == truth.tolist()
    assert [model(q) for q in queries[::-1]] == truth[::-1].tolist()
    assert [bench._baseline(points, q) for q in queries] == truth.tolist()
    assert (truth == bench.INSIDE).any() and (truth == bench.OUTSIDE).any()


def test_clustered_data_has_tight_clusters_and_falling_scales():
    rng = np.random.default_rng(6)
    train, fresh = bench.clustered_data(6000, 20, 300, rng)
    assert train.shape == (6000, 20) and fresh.shape == (300, 20)
    # undo nothing: the spectrum of the covariance falls like 1/axis (variances ~ 1/axis)
    evals = np.sort(np.linalg.eigvalsh(np.cov(train.T)))[::-1]
    assert evals[0] > 5 * evals[9] > 0 and evals[9] > evals[-1]
    # a few tight clusters: the nearest neighbour is far closer than a typical pair
    from scipy.spatial import cKDTree

    nn = cKDTree(train).query(train[:200], k=2)[0][:, 1]
    pair = np.linalg.norm(train[:200] - train[200:400], axis=1)
    assert np.median(nn) < 0.5 * np.median(pair)
    # its combinations are of exactly 3 points in the case runner
    row = bench._run_case("clustered", 800, 6, rng, (None, None, "x"), bench.BaselinePlan(1e9), 1)
    assert row["kind"] == "clustered" and row["agree"] == 1.0 and row["agree_pers"] == 1.0
    assert row["inside"] >= 100 and row["verified"]


def test_goals_read_their_rows_and_say_what_was_not_run():
    rows = [
        {"kind": "clustered", "n": 10_000, "d": 20, "ratio": 250.0, "ratio_pers": 40.0},
        {"kind": "gaussian", "n": 60_000, "d": 10, "ratio": 310.0, "ratio_pers": 9.0},
        {"kind": "clustered", "n": 60_000, "d": 10, "ratio": 290.0, "ratio_pers": 9.0},
    ]
    got = {text.split(" >=")[0]: (shown, met) for text, shown, met in bench.goals(rows)}
    assert got["clustered n=10,000 d=20 vs linprog"] == ("250x", True)
    assert got["clustered n=10,000 d=20 vs persistent HiGHS"] == ("40x", False)
    assert got["n=60,000 d=10 vs linprog"] == ("310x, 290x", False)  # the slowest decides
    assert got["MNIST pixels n=10,000 vs linprog"] == ("not run", None)


def test_real_spaces_picks_the_best_and_worst_model(tmp_path):
    import json

    rng = np.random.default_rng(7)
    for name, acc in (("good", 0.99), ("bad", 0.7), ("mid", 0.9)):
        base = tmp_path / name / "seed0"
        (base / "latent").mkdir(parents=True)
        np.savez(base / "activations.npz", train=rng.random((50, 8)), test=rng.random((20, 8)))
        (base / "train_metrics.json").write_text(json.dumps({"final_test_accuracy": acc}))
        np.savez(
            base / "latent" / "codes.npz", train3=rng.random((50, 3)), test3=rng.random((20, 3))
        )
        (base / "intrinsic_dimension.json").write_text(json.dumps({"chosen_latent_size": 3}))
    spaces = bench.real_spaces(str(tmp_path))
    assert [label for label, _, _ in spaces] == [
        "good-act",
        "good-intrinsic",
        "bad-act",
        "bad-intrinsic",
    ]
    assert spaces[0][1].shape == (50, 8) and spaces[1][2].shape == (20, 3)
    with pytest.raises(SystemExit, match="run the workflow first"):
        bench.real_spaces(str(tmp_path / "none"))


def test_goals_and_results_options_reach_the_benchmark(monkeypatch):
    seen = {}

    def fake(**kw):
        seen.update(kw)
        return [_row(10000, 50.0)], []

    monkeypatch.setattr(bench, "bench_hull", fake)
    assert bench.main(["--goals", "--results", "results/mnist"]) == 0
    assert seen["cases"] == bench.GOAL_CASES and seen["results"] == "results/mnist"


@pytest.mark.slow  # two LP solvers on each of 40 queries
def test_persistent_model_starts_warm_only_from_an_optimal_basis(small_pixels):
    # skewed pixel-like data, where a warm start from an infeasible query's basis stalled
    # for a million iterations: the basis is dropped after every outside answer, and the
    # answers agree with one linprog per query
    rng = np.random.default_rng(3)
    points, fresh = bench._case_data("pixels", 600, 5, rng, small_pixels)
    combos = bench._convex_combinations(points, 20, rng)
    model = bench.PersistentLP(points)
    for q in np.vstack([fresh[:20], combos])[rng.permutation(40)]:
        answer = model(q)
        assert answer == bench._baseline(points, q)
        assert model._warm == (answer == bench.INSIDE)


@pytest.mark.parametrize(
    "durations, calls, median",
    [
        ([0.5, 0.2, 0.4, 9.0], 3, 0.4),  # repeated until a second is spent: 3 calls
        ([2.0, 9.0], 1, 2.0),  # a long call is timed once
        ([0.01] * 12, 10, 0.01),  # a short one at most 10 times
    ],
)
def test_short_engine_calls_are_timed_by_the_median_of_repeats(
    monkeypatch, durations, calls, median
):
    clock = iter(np.cumsum([x for d in durations for x in (0.0, d)]).tolist())
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    made = []
    seconds, first = bench._time_engine(lambda: made.append(len(made)) or len(made))
    assert len(made) == calls
    assert seconds == pytest.approx(median)
    assert first == 1  # the first call's result is the one reported and verified


def test_the_command_line_reaches_each_benchmark(monkeypatch, capsys):
    import benchmarks.__main__ as cli

    seen = []
    for name in cli.COMMANDS:
        module = __import__(cli.COMMANDS[name], fromlist=["main"])
        monkeypatch.setattr(module, "main", lambda argv, name=name: seen.append((name, argv)) or 0)
    assert cli.main(["hull", "--quick"]) == 0 and cli.main(["train"]) == 0
    assert seen == [("hull", ["--quick"]), ("train", [])]
    assert cli.main(["nothing"]) == 2 and "hull|workflow|train" in capsys.readouterr().err


def test_training_benchmark_adds_up_a_job():
    from benchmarks import train

    entry = {"arch": "mlp", "width": 8, "depth": 1, "epochs": 2, "batch_size": 64}
    rows = train.bench_train([{**entry, "name": "a"}, {**entry, "name": "b"}], min_seconds=0.01)
    assert len(rows) == 1 and rows[0]["models"] == ["a", "b"]  # one network, measured once
    row = rows[0]
    # 2 epochs of 60,000 images, then one pass over train and test
    expected = 2 * 60_000 / row["train"] + 70_000 / row["eval"]
    assert row["job_s"] == pytest.approx(expected)
