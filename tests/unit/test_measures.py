"""Analysis tables and figures against independent truths.

Truths used: brute-force pair counting and scikit-learn for the AUROC (also with sample
weights, for the bootstrap's weighted form); a naive loop bootstrap and the Hanley-McNeil
standard error for the bootstrap interval; hand-built constructions with known bins and
accuracies; pandas' qcut; hand counts for the hull table.
"""

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from neuralhull import plots
from neuralhull.io import read_provenance, read_table, write_table
from neuralhull.measures import MEASURES, decile_table, hull_table, measures_table
from neuralhull.stats.auroc import auroc, bootstrap_interval, delong_interval
from neuralhull.stats.deciles import rank_bins
from neuralhull.stats.intervals import weighted_auroc

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
# AUROC


def brute_force_auroc(score, is_error):
    pos = score[is_error]
    neg = score[~is_error]
    total = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return total / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_pair_counting_and_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    score = rng.integers(0, 5, n).astype(float)  # many ties
    is_error = rng.random(n) < 0.4
    is_error[:2] = [True, False]
    expected = brute_force_auroc(score, is_error)
    assert auroc(score, is_error) == pytest.approx(expected, abs=1e-12)
    assert auroc(score, is_error) == pytest.approx(roc_auc_score(is_error, score), abs=1e-12)


def test_auroc_known_values():
    # perfect, perfectly wrong, all tied
    assert auroc([3.0, 4.0, 1.0, 2.0], [True, True, False, False]) == 1.0
    assert auroc([1.0, 2.0, 3.0, 4.0], [True, True, False, False]) == 0.0
    assert auroc([1.0, 1.0, 1.0], [True, False, False]) == 0.5
    # infinite scores rank above everything finite
    assert auroc([np.inf, 0.0, 1.0], [True, False, False]) == 1.0


def test_auroc_undefined_and_bad_input():
    assert np.isnan(auroc([1.0, 2.0], [True, True]))
    assert np.isnan(auroc([1.0, 2.0], [False, False]))
    with pytest.raises(ValueError, match="NaN"):
        auroc([np.nan, 1.0], [True, False])
    with pytest.raises(ValueError, match="shape"):
        auroc([1.0, 2.0], [True])


def test_weighted_auroc_equals_sklearn_with_sample_weight():
    rng = np.random.default_rng(3)
    n = 40
    score = np.sort(rng.integers(0, 8, n).astype(float))
    is_error = rng.random(n) < 0.3
    counts = rng.integers(0, 4, size=(6, n))
    got = weighted_auroc(score, is_error, counts)
    for row, value in zip(counts, got, strict=True):
        expected = roc_auc_score(is_error, score, sample_weight=row)
        assert value == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# bootstrap


def binormal(n, separation, seed):
    rng = np.random.default_rng(seed)
    is_error = rng.random(n) < 0.3
    score = rng.normal(size=n) + separation * is_error
    return score, is_error


def test_bootstrap_interval_agrees_with_naive_bootstrap():
    score, is_error = binormal(300, 1.0, seed=1)
    score = np.round(score, 1)  # ties
    low, high = bootstrap_interval(score, is_error, n_boot=3000, rng=np.random.default_rng(7))
    rng = np.random.default_rng(11)
    naive = []
    for _ in range(3000):
        idx = rng.integers(0, len(score), len(score))
        naive.append(roc_auc_score(is_error[idx], score[idx]))
    naive_low, naive_high = np.quantile(naive, [0.025, 0.975])
    assert low == pytest.approx(naive_low, abs=0.015)
    assert high == pytest.approx(naive_high, abs=0.015)
    assert low < auroc(score, is_error) < high


def test_bootstrap_interval_width_matches_hanley_mcneil():
    score, is_error = binormal(2000, 1.0, seed=2)
    a = auroc(score, is_error)
    n_pos, n_neg = is_error.sum(), (~is_error).sum()
    q1, q2 = a / (2 - a), 2 * a**2 / (1 + a)
    se = np.sqrt(
        (a * (1 - a) + (n_pos - 1) * (q1 - a**2) + (n_neg - 1) * (q2 - a**2)) / (n_pos * n_neg)
    )
    low, high = bootstrap_interval(score, is_error, n_boot=2000, rng=np.random.default_rng(0))
    assert (high - low) == pytest.approx(2 * 1.959964 * se, rel=0.12)
    assert low < a < high


def test_bootstrap_interval_degenerate_cases():
    assert bootstrap_interval([1.0, 2.0, 3.0, 4.0], [False, False, True, True], rng=0) == (
        1.0,
        1.0,
    )
    low, high = bootstrap_interval([1.0, 2.0], [True, True], rng=0)
    assert np.isnan(low) and np.isnan(high)
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([1.0, 2.0], [True, False], level=1.5, rng=0)


# ---------------------------------------------------------------------------------------------
# rank bins and accuracy by decile


def test_rank_bins_equal_sizes_without_ties_and_match_qcut():
    rng = np.random.default_rng(0)
    score = rng.permutation(200).astype(float)
    bins = rank_bins(score, 10)
    assert np.bincount(bins, minlength=11)[1:].tolist() == [20] * 10
    assert np.array_equal(bins, pd.qcut(score, 10, labels=False) + 1)
    # uneven n: sizes differ by at most one, order of bins follows order of scores
    score = rng.normal(size=105)
    bins = rank_bins(score, 10)
    sizes = np.bincount(bins, minlength=11)[1:]
    assert sizes.sum() == 105 and sizes.max() - sizes.min() <= 1
    order = np.argsort(score)
    assert np.all(np.diff(bins[order]) >= 0)


def test_rank_bins_keep_ties_together_and_ignore_input_order():
    score = np.r_[np.zeros(30), np.ones(70)]
    bins = rank_bins(score, 10)
    # zeros have mid-rank 15.5 -> bin ceil(1.55) = 2; ones mid-rank 65.5 -> bin 7
    assert set(bins[:30]) == {2} and set(bins[30:]) == {7}
    perm = np.random.default_rng(1).permutation(100)
    assert np.array_equal(rank_bins(score[perm], 10), bins[perm])


def accuracy_by_decile(score, correct):
    """The deciles table of one run and space whose only measure is ``score``."""
    frame = pd.DataFrame(
        {"correct": correct, "status": "inside", "nn_distance": np.asarray(score, float)}
    )
    table = decile_table({("m", "s"): frame}, measures={"nn_distance": +1})
    return table.drop(columns=["model", "space", "measure"])


def test_accuracy_by_decile_known_construction():
    rng = np.random.default_rng(4)
    score = rng.permutation(100).astype(float)
    correct = score < 50
    table = accuracy_by_decile(score, correct)
    assert table["bin"].tolist() == list(range(1, 11))
    assert table["n"].tolist() == [10] * 10
    assert table["accuracy"].tolist() == [1.0] * 5 + [0.0] * 5
    assert table["low"].tolist() == [10.0 * b for b in range(10)]
    assert table["high"].tolist() == [10.0 * b + 9 for b in range(10)]


def test_accuracy_by_decile_ties_give_empty_bins():
    score = np.r_[np.zeros(30), np.ones(70)]
    correct = np.r_[np.ones(30, bool), np.arange(70) < 35]
    table = accuracy_by_decile(score, correct).set_index("bin")
    assert table.loc[2, "n"] == 30 and table.loc[2, "accuracy"] == 1.0
    assert table.loc[7, "n"] == 70 and table.loc[7, "accuracy"] == 0.5
    empty = table.drop(index=[2, 7])
    assert (empty["n"] == 0).all() and empty["accuracy"].isna().all()


# ---------------------------------------------------------------------------------------------
# summary tables


def scores_frame(status, correct, **measures):
    frame = pd.DataFrame({"index": np.arange(len(status)), "correct": correct, "status": status})
    for name, values in measures.items():
        frame[name] = values
    return frame


def test_hull_table_hand_counts():
    a = scores_frame(
        ["inside", "inside", "outside", "undecided", "outside"],
        [True, False, False, True, True],
        # one outside distance whose solver stopped before its bounds met (NaN); NaN of an
        # undecided sample is not such a case
        hull_distance=[0.0, 0.0, np.nan, np.nan, 2.5],
    )
    b = scores_frame(["undecided", "undecided"], [True, False])
    spaces = pd.DataFrame(
        {
            "model": ["m1", "m1"],
            "space": ["input", "activation"],
            "kind": ["input", "activation"],
            "dimension": [784, 64],
        }
    )
    table = hull_table({("m1", "input"): a, ("m1", "activation"): b}, spaces)
    first, second = table.iloc[0], table.iloc[1]
    assert (first["queries"], first["inside"], first["outside"], first["undecided"]) == (
        5,
        2,
        2,
        1,
    )
    assert first["fraction_inside"] == 0.5
    assert first["accuracy_inside"] == 0.5 and first["accuracy_outside"] == 0.5
    assert first["kind"] == "input" and first["dimension"] == 784
    assert first["distance_unconverged"] == 1 and second["distance_unconverged"] == 0
    assert second["undecided"] == 2 and np.isnan(second["fraction_inside"])
    assert np.isnan(second["accuracy_inside"]) and np.isnan(second["accuracy_outside"])


def test_tables_reject_bad_input():
    spaces = pd.DataFrame({"space": ["input"], "kind": ["input"], "dimension": [4]})
    bad = scores_frame(["inside", "maybe"], [True, False])
    with pytest.raises(ValueError, match="status"):
        hull_table({("m", "input"): bad}, spaces)
    with pytest.raises(ValueError, match="no entry"):
        hull_table({("m", "latent8"): scores_frame(["inside"], [True])}, spaces)
    duplicated = scores_frame(["inside", "inside"], [True, False]).assign(index=[3, 3])
    with pytest.raises(ValueError, match="duplicated"):
        measures_table({("m", "input"): duplicated}, n_boot=10)
    with pytest.raises(ValueError, match="correct"):
        measures_table({("m", "input"): scores_frame(["inside"], [0.5])}, n_boot=10)


def test_measures_table_orientation_and_missing_values():
    n = 200
    rng = np.random.default_rng(5)
    correct = rng.random(n) < 0.7
    is_error = ~correct
    status = np.where(rng.random(n) < 0.5, "inside", "outside").astype(object)
    status[:20] = "undecided"
    agreement = np.where(correct, 0.8, 0.2) + rng.uniform(-0.1, 0.1, n)  # high = right
    distance = rng.normal(size=n) + is_error
    distance[:10] = np.nan
    frame = scores_frame(status, correct, knn_label_agreement=agreement, nn_distance=distance)
    table = measures_table({("m", "input"): frame}, n_boot=200).set_index("measure")
    assert set(table.index) == {"outside_hull", "knn_label_agreement", "nn_distance"}
    # agreement separates perfectly, in the error direction after orientation
    assert table.loc["knn_label_agreement", "auroc"] == 1.0
    # NaN distances left out and counted
    known = ~np.isnan(distance)
    assert table.loc["nn_distance", "n"] == known.sum()
    assert table.loc["nn_distance", "auroc"] == pytest.approx(
        roc_auc_score(is_error[known], distance[known])
    )
    # a 0/1 score: AUROC = (TPR - FPR + 1) / 2 over decided samples only
    decided = status != "undecided"
    outside = status == "outside"
    tpr = outside[decided & is_error].mean()
    fpr = outside[decided & correct].mean()
    assert table.loc["outside_hull", "n"] == decided.sum()
    assert table.loc["outside_hull", "n_errors"] == (decided & is_error).sum()
    assert table.loc["outside_hull", "auroc"] == pytest.approx((tpr - fpr + 1) / 2)
    for _, row in table.iterrows():
        assert row["low"] <= row["auroc"] <= row["high"]


def test_measures_table_accepts_long_frame():
    frame = scores_frame(["inside", "outside"] * 5, [True, False] * 5)
    long = pd.concat([frame.assign(model="m", space="input"), frame.assign(model="m", space="a")])
    table = measures_table(long, n_boot=10)
    assert table[["model", "space"]].drop_duplicates().values.tolist() == [
        ["m", "input"],
        ["m", "a"],
    ]
    assert (table["auroc"] == 1.0).all()


def test_decile_table_orders_bins_by_risk():
    n = 100
    agreement = np.arange(n) / n  # larger = less error-prone
    distance = np.arange(n, dtype=float)  # larger = more error-prone
    frame = scores_frame(["inside"] * n, np.ones(n, bool), knn_label_agreement=agreement)
    frame["nn_distance"] = distance
    table = decile_table({("m", "input"): frame})
    agree = table[table["measure"] == "knn_label_agreement"].set_index("bin")
    dist = table[table["measure"] == "nn_distance"].set_index("bin")
    # bin 1 = least error-prone: highest agreement, smallest distance
    assert agree.loc[1, "low"] == pytest.approx(0.90) and agree.loc[1, "high"] == 0.99
    assert dist.loc[1, "low"] == 0.0 and dist.loc[1, "high"] == 9.0
    assert (table.groupby("measure")["n"].sum() == n).all()
    assert set(table["measure"]) == {"outside_hull", "knn_label_agreement", "nn_distance"}


# ---------------------------------------------------------------------------------------------
# table files


def test_write_read_table_round_trip(tmp_path):
    df = pd.DataFrame(
        {
            "model": ["mlp#1", "cnn"],
            "auroc": [0.625, np.nan],
            "n": [10, 20],
            "chosen": [True, False],
        }
    )
    path = tmp_path / "sub" / "table.tsv"
    provenance = {"numpy": np.__version__, "config_sha256": "abc123", "seed": 0}
    write_table(df, path, provenance)
    text = path.read_text()
    assert text.startswith("# numpy: ")
    assert read_provenance(path) == {k: str(v) for k, v in provenance.items()}
    back = read_table(path)
    pd.testing.assert_frame_equal(back, df)
    assert list(path.parent.iterdir()) == [path]  # no temporary left


def test_write_table_failure_leaves_nothing(tmp_path):
    path = tmp_path / "table.tsv"
    with pytest.raises(ValueError, match="line break"):
        write_table(pd.DataFrame({"a": [1]}), path, {"note": "two\nlines"})
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# figures


@pytest.fixture
def synthetic_tables():
    rng = np.random.default_rng(0)
    frames = {}
    for model, quality in [("mlp-small", 0.3), ("cnn", 1.5)]:
        for space in ["input", "activation", "latent8"]:
            n = 120
            correct = rng.random(n) < 0.6 + 0.2 * (quality > 1)
            status = rng.choice(["inside", "outside", "undecided"], n, p=[0.3, 0.65, 0.05])
            frames[(model, space)] = scores_frame(
                status,
                correct,
                nn_distance=rng.normal(size=n) + quality * ~correct,
                knn_mean_distance=rng.normal(size=n),
                knn_label_agreement=rng.integers(0, 11, n) / 10,
                knn_pred_agreement=rng.integers(0, 11, n) / 10,
                hull_distance=np.where(status == "outside", rng.random(n), 0.0),
            )
    spaces = pd.DataFrame(
        {
            "space": ["input", "activation", "latent8"],
            "kind": ["input", "activation", "latent"],
            "dimension": [784, 128, 8],
        }
    )
    latent = pd.DataFrame(
        {
            "model": ["mlp-small"] * 4 + ["cnn"] * 4,
            "latent_size": [2, 4, 8, 16] * 2,
            "r2": [0.3, 0.6, 0.8, 0.85, 0.4, 0.7, 0.9, 0.92],
            "mse": [0.1] * 8,
            "chosen": [False, False, True, False, False, False, True, False],
        }
    )
    models = pd.DataFrame(
        {
            "model": ["mlp-small", "cnn"],
            "arch": ["mlp", "cnn"],
            "test_accuracy": [0.62, 0.81],
            "train_accuracy": [0.7, 0.99],
            "latent_dim": [8, 8],
            "twonn": [6.3, 9.1],
        }
    )
    return {
        "hull": hull_table(frames, spaces),
        "measures": measures_table(frames, n_boot=50),
        "deciles": decile_table(frames),
        "latent": latent,
        "models": models,
    }


@pytest.mark.parametrize(
    ("function", "table"),
    [
        (plots.plot_fraction_inside, "hull"),
        (plots.plot_reconstruction, "latent"),
        (plots.plot_intrinsic_vs_accuracy, "models"),
        (plots.plot_accuracy_by_decile, "deciles"),
        (plots.plot_auroc, "measures"),
    ],
)
def test_figures_write_valid_png_and_leave_no_open_figure(
    tmp_path, synthetic_tables, function, table
):
    before = plt.get_fignums()
    path = tmp_path / f"{function.__name__}.png"
    function(synthetic_tables[table], path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert plt.get_fignums() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("count", [1, 4, 10, 11, 17, 30])
def test_palette_gives_every_name_its_own_colour(count):
    # The default run has 17 spaces per model: colours must not cycle.
    names = [f"space{i}" for i in range(count)] + ["space0"]
    palette = plots._palette(names)
    assert list(palette) == [f"space{i}" for i in range(count)]
    colours = {tuple(round(c, 6) for c in colour) for colour in palette.values()}
    assert len(colours) == count


def test_spaces_are_shown_in_reading_order():
    spaces = [
        "latent16",
        "input",
        "activation-pca16",
        "latent8",
        "activation",
        "other",
        "input-pca4",
        "activation-pca2",
        "latent8",
    ]
    assert plots._space_order(spaces) == [
        "input",
        "input-pca4",
        "activation",
        "activation-pca2",
        "activation-pca16",
        "latent8",
        "latent16",
        "other",
    ]


def test_figures_reject_missing_columns(tmp_path):
    with pytest.raises(ValueError, match="fraction_inside"):
        plots.plot_fraction_inside(pd.DataFrame({"model": ["m"]}), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no rows"):
        plots.plot_auroc(
            pd.DataFrame(columns=["model", "space", "measure", "auroc", "low", "high"]),
            tmp_path / "y.png",
        )
    assert not list(tmp_path.iterdir())


def test_measures_cover_every_score_column():
    expected = {
        "outside_hull",
        "hull_distance",
        "nn_distance",
        "knn_mean_distance",
        "knn_label_agreement",
        "knn_pred_agreement",
    }
    assert set(MEASURES) == expected
    assert all(MEASURES[m] == -1 for m in ("knn_label_agreement", "knn_pred_agreement"))


def test_merge_versions_keeps_every_environment():
    """Under --sdm conda each kind of step has its own env: the summary must record what each
    recorded, not only what the summary's own env holds."""
    from neuralhull.provenance import merge_versions

    summary_env = {"numpy": "2.4.6", "torch": "absent", "highspy": "absent"}
    torch_env = {"numpy": "2.4.6", "torch": "2.14.1", "highspy": "absent"}
    hull_env = {"numpy": "2.4.5", "torch": "absent", "highspy": "1.12.0"}
    merged = merge_versions([summary_env, torch_env, hull_env, {}])
    assert merged == {"highspy": "1.12.0", "numpy": "2.4.5 + 2.4.6", "torch": "2.14.1"}
    assert merge_versions([{"seaborn": "absent"}]) == {"seaborn": "absent"}


def _delong_brute_force(score, is_error, level=0.95):
    """DeLong's variance from the psi matrix itself (every error against every correct)."""
    from scipy.stats import norm

    x, y = score[is_error], score[~is_error]
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    area = psi.mean()
    v10, v01 = psi.mean(1), psi.mean(0)
    var = v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(y)
    half = norm.ppf(0.5 + level / 2) * np.sqrt(var)
    return area, max(0.0, area - half), min(1.0, area + half)


@pytest.mark.parametrize("seed", range(4))
def test_delong_interval_against_the_psi_matrix(seed):
    rng = np.random.default_rng(seed)
    n = 300
    is_error = rng.random(n) < 0.2
    score = np.round(rng.normal(size=n) + is_error, 1)  # ties
    area, low, high = _delong_brute_force(score, is_error)
    assert auroc(score, is_error) == pytest.approx(area)
    assert delong_interval(score, is_error) == pytest.approx((low, high), abs=1e-12)


def test_delong_and_bootstrap_intervals_agree_at_the_workflows_sizes():
    """The summary's DeLong intervals replaced percentile bootstraps: at the workflow's
    sizes (1,000 to 10,000 test samples) the two differ by well under 0.01."""
    rng = np.random.default_rng(0)
    for n, p_err in [(1000, 0.1), (10000, 0.03)]:
        is_error = rng.random(n) < p_err
        score = rng.normal(size=n) + 1.2 * is_error
        boot = bootstrap_interval(score, is_error, n_boot=2000, rng=1)
        assert np.max(np.abs(np.subtract(delong_interval(score, is_error), boot))) < 0.01


def test_delong_interval_of_a_constant_score_and_of_one_class():
    assert delong_interval(np.zeros(50), np.arange(50) < 5) == (0.5, 0.5)
    assert all(np.isnan(delong_interval(np.arange(5.0), np.zeros(5, bool))))
