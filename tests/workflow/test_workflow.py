"""The whole workflow on config/tiny.yaml with real Snakemake, and its tables' contents."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from scipy.optimize import linprog

from neuralhull.datasets import load
from neuralhull.io import read_table
from neuralhull.spaces import flatten_images, pca_project
from tests.conftest import run_snakemake

pytestmark = pytest.mark.workflow
MODELS = ["mlp", "mlp-short", "mlp-weak"]
SEEDS = [0, 1]
RUNS = [(m, s) for m in MODELS for s in SEEDS]
ROOT = Path(__file__).resolve().parents[2]
GRID = sorted(
    yaml.safe_load((ROOT / "config/tiny.yaml").read_text())["autoencoder"]["latent_sizes"]
)


def run_dir(run, model, seed):
    return run / f"results/digits/{model}/seed{seed}"


def table(run, name):
    return read_table(run / f"results/digits/summary/{name}.tsv")


def lp_inside(points, q):
    """Independent truth: feasibility of lambda >= 0, sum = 1, points^T lambda = q."""
    n = len(points)
    a_eq = np.vstack([points.T, np.ones(n)])
    res = linprog(np.zeros(n), A_eq=a_eq, b_eq=np.append(q, 1.0), bounds=(0, None), method="highs")
    assert res.status in (0, 2), res.message
    return res.status == 0


def test_models_table(tiny_run):
    models = table(tiny_run, "models").set_index(["model", "seed"])
    assert sorted(models.index) == sorted(RUNS)
    for seed in SEEDS:
        # a 16-unit MLP on digits is known to exceed 90%; 5 optimiser steps are far worse
        assert models.loc[("mlp", seed), "test_accuracy"] > 0.9
        weak = models.loc[("mlp-weak", seed), "test_accuracy"]
        assert weak < models.loc[("mlp", seed), "test_accuracy"] - 0.2
    # the seeds give different models (their accuracies on 450 test images may tie)
    acts = [np.load(run_dir(tiny_run, "mlp", s) / "activations.npz")["train"] for s in SEEDS]
    assert not np.array_equal(acts[0], acts[1])
    # the chosen size follows the documented rule, recomputed from the latent table: the
    # smallest swept size whose held-out R2 reaches the threshold, else the largest; the
    # same at every reported threshold
    latent = table(tiny_run, "latent")
    # each run sweeps the configured sizes below its width, then the width itself
    for (model, seed), rows in latent.groupby(["model", "seed"]):
        width = models.loc[(model, seed), "width"]
        assert sorted(rows.latent_size) == [k for k in GRID if k < width] + [width]
        # a code as wide as the layer compresses nothing: the trained layers' reconstruction
        # there is near perfect and at least that of every narrower code
        at_width = rows.loc[rows.latent_size == width, "r2"].item()
        if model != "mlp-weak":
            assert at_width > 0.95, (model, seed, at_width)
        assert at_width >= rows.r2.max() - 0.01, (model, seed)
    for (model, seed), rows in latent.groupby(["model", "seed"]):
        for threshold, column in [
            (0.9, "latent_dim"),
            (0.8, "latent_dim_r2_0.8"),
            (0.95, "latent_dim_r2_0.95"),
        ]:
            good = rows.loc[rows.r2 >= threshold, "latent_size"]
            expected = good.min() if len(good) else rows.latent_size.max()
            assert models.loc[(model, seed), column] == expected, (model, seed, threshold)
        assert models.loc[(model, seed), "threshold_reached"] == bool((rows.r2 >= 0.9).any())
        assert rows.chosen.sum() == 1
        # the continuous size: where the straight lines through (0, 0) and the (size, R2)
        # points first reach the threshold, found by a dense scan; the largest size if none
        grid = np.linspace(0, rows.latent_size.max(), 200_001)
        curve = np.interp(grid, np.r_[0, rows.latent_size], np.r_[0.0, rows.r2])
        for threshold, column in [
            (0.9, "latent_dim_continuous"),
            (0.8, "latent_dim_continuous_r2_0.8"),
            (0.95, "latent_dim_continuous_r2_0.95"),
        ]:
            hit = curve >= threshold
            expected = grid[np.argmax(hit)] if hit.any() else rows.latent_size.max()
            got = models.loc[(model, seed), column]
            assert got == pytest.approx(expected, abs=grid[1]), (model, seed, column)
        assert (
            rows.loc[rows.chosen, "latent_size"].item() == models.loc[(model, seed), "latent_dim"]
        )
    # TwoNN of the training activations, recomputed by brute-force distances (Facco et al.:
    # regression through the origin of -log(1 - F(mu)) on log(mu), top 10 % of mu dropped) on
    # each of 5 disjoint blocks of the distinct points (one seeded shuffle, seed 0); the
    # column is their mean, with a Student-t interval
    for model, seed in RUNS:
        with np.load(run_dir(tiny_run, model, seed) / "activations.npz") as f:
            distinct = np.unique(f["train"].astype(np.float64), axis=0)
        m = len(distinct) // 5
        perm = np.random.default_rng(0).permutation(len(distinct))
        estimates = []
        for i in range(5):
            x = distinct[perm[i * m : (i + 1) * m]]
            d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
            np.fill_diagonal(d, np.inf)
            r = np.sort(d, 1)[:, :2]
            r = r[r[:, 0] > 0]
            mu = np.sort(r[:, 1] / r[:, 0])
            keep = int(np.floor(len(mu) * 0.9))
            xs, ys = np.log(mu[:keep]), -np.log(1 - np.arange(1, len(mu) + 1)[:keep] / len(mu))
            estimates.append((xs @ ys) / (xs @ xs))
        row = models.loc[(model, seed)]
        low, high = stats.t.interval(0.95, 4, loc=np.mean(estimates), scale=stats.sem(estimates))
        assert (row["twonn"], row["twonn_low"], row["twonn_high"]) == pytest.approx(
            (np.mean(estimates), low, high), rel=1e-6
        )


def test_zoo_table_summarises_the_seeds(tiny_run):
    models, zoo = table(tiny_run, "models"), table(tiny_run, "zoo").set_index("model")
    assert sorted(zoo.index) == MODELS and (zoo["seeds"] == len(SEEDS)).all()
    for model, rows in models.groupby("model"):
        for column in ("test_accuracy", "latent_dim", "twonn"):
            assert zoo.loc[model, f"{column}_mean"] == pytest.approx(rows[column].mean())
            assert zoo.loc[model, f"{column}_sd"] == pytest.approx(rows[column].std(ddof=1))
            assert zoo.loc[model, f"{column}_min"] == pytest.approx(rows[column].min())
    # rows go from the weakest model to the strongest
    assert zoo["test_accuracy_mean"].is_monotonic_increasing
    measures = table(tiny_run, "measures")
    for model in MODELS:
        rows = measures[
            (measures.model == model)
            & (measures.space == "intrinsic")
            & (measures.measure == "outside_hull")
        ]
        assert len(rows) == len(SEEDS)
        got = zoo.loc[model, "auroc_outside_hull_intrinsic_mean"]
        assert got == pytest.approx(rows["auroc"].mean(), nan_ok=True)
    # the findings number their claims as the report's figures do
    findings = table(tiny_run, "findings")
    assert sorted(set(findings["claim_id"])) == [1, 2, 3, 4, 5]


def test_hull_table_counts_and_science(tiny_run):
    hull, models = table(tiny_run, "hull"), table(tiny_run, "models")
    for model, seed in RUNS:
        got = set(hull.loc[(hull.model == model) & (hull.seed == seed), "space"])
        assert got == {
            "activation",
            "intrinsic",
            "activation-pca2",
            "latent2",
            "input",
            "input-pca2",
        }
    assert (hull["inside"] + hull["outside"] + hull["undecided"] == hull["queries"]).all()
    assert (hull["queries"] == 120).all() and (hull["undecided"] == 0).all()
    frac = hull.groupby("space")["fraction_inside"].first()
    # 64-d pixels, 1,347 training images: test images are outside the hull (extrapolation),
    # while in 2 principal dimensions almost all are inside
    assert frac["input"] == 0.0
    assert frac["input-pca2"] > 0.9
    assert (hull.loc[hull.space == "input", "dimension"] == 64).all()
    # the intrinsic space has each run's chosen latent size as its dimension
    chosen = models.set_index(["model", "seed"])["latent_dim"]
    for _, row in hull[hull.space == "intrinsic"].iterrows():
        assert row["dimension"] == chosen[(row["model"], row["seed"])]
    # Wilson intervals, recomputed from their formula
    n = hull["inside"] + hull["outside"]
    p, z = hull["inside"] / n, 1.959963984540054
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    np.testing.assert_allclose(hull["fraction_inside_low"], np.maximum(0, centre - half), atol=1e-9)
    np.testing.assert_allclose(
        hull["fraction_inside_high"], np.minimum(1, centre + half), atol=1e-9
    )


def test_accuracy_inside_and_outside_recomputed_from_the_per_sample_files(tiny_run):
    hull = table(tiny_run, "hull").set_index(["model", "seed", "space"])
    for model, seed in RUNS:
        base = run_dir(tiny_run, model, seed)
        pred = pd.read_csv(base / "predictions.tsv", sep="\t")
        for space in ("activation", "intrinsic", "latent2", "input"):
            path = (
                tiny_run / f"results/digits/input/hull/{space}.tsv"
                if space == "input"
                else base / f"hull/{space}.tsv"
            )
            rows = read_table(path).merge(pred, on="index", validate="one_to_one")
            row = hull.loc[(model, seed, space)]
            for status in ("inside", "outside"):
                group = rows.loc[rows.status == status, "correct"]
                assert row[status] == len(group), (model, space, status)
                got = row[f"accuracy_{status}"]
                if len(group):
                    assert got == pytest.approx(group.mean()), (model, space, status)
                else:
                    assert np.isnan(got)


def test_hull_rows_agree_with_an_independent_lp(tiny_run):
    ds = load(tiny_run / "resources/data/digits.npz")
    train, test = flatten_images(ds.x_train), flatten_images(ds.x_test)
    tr2, te2 = pca_project(train, test, 2)
    rows = read_table(tiny_run / "results/digits/input/hull/input-pca2.tsv")
    assert len(rows) == 120
    for _, row in rows.iloc[::8].iterrows():
        assert lp_inside(tr2, te2[row["index"]]) == (row["status"] == "inside")
        if row["status"] == "inside":
            assert row["hull_distance"] == 0
        else:
            assert row["hull_distance"] > 0


def test_proximity_rows_agree_with_brute_force(tiny_run):
    ds = load(tiny_run / "resources/data/digits.npz")
    train, test = flatten_images(ds.x_train), flatten_images(ds.x_test)
    rows = read_table(tiny_run / "results/digits/input/proximity/input.tsv")
    assert len(rows) == len(test)
    d = np.sqrt(((test[:50, None, :] - train[None, :, :]) ** 2).sum(-1))
    ratio = d.min(1) / rows["nn_distance"].to_numpy()[:50]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)  # one distance unit per space
    nn = np.argsort(d, 1)[:, :5]
    agree = (ds.y_train[nn] == ds.y_test[:50, None]).mean(1)
    np.testing.assert_allclose(rows["knn_label_agreement"].to_numpy()[:50], agree)


def test_measures_and_deciles(tiny_run):
    m = table(tiny_run, "measures")
    assert set(m["measure"]) == {
        "outside_hull",
        "hull_distance",
        "nn_distance",
        "knn_mean_distance",
        "knn_label_agreement",
        "knn_pred_agreement",
    }
    ok = m.dropna(subset=["auroc"])
    assert ((ok.low <= ok.auroc + 1e-12) & (ok.auroc <= ok.high + 1e-12)).all()
    assert ((ok.auroc >= 0) & (ok.auroc <= 1)).all()
    # on the good model, label agreement of the neighbours in its activation space flags
    # errors far better than chance
    rows = m[(m.model == "mlp") & (m.space == "activation") & (m.measure == "knn_label_agreement")]
    assert len(rows) == len(SEEDS) and (rows["auroc"] > 0.8).all()
    d = table(tiny_run, "deciles")
    assert set(d["bin"]) == set(range(1, 11))


def test_findings_recompute_from_the_per_run_tables(tiny_run):
    """The findings' statistics, recomputed from hull.tsv and models.tsv: per-model
    fractions inside (mean over seeds of each run's fraction on the same images), the
    dimension over width, the rank correlations; claim 5's rows name both hull measures."""
    from scipy.stats import spearmanr

    findings = table(tiny_run, "findings")
    hull, models = table(tiny_run, "hull"), table(tiny_run, "models")
    assert set(findings["source"]) == {"Balestriero et al. 2021", "Bonnasse-Gahot 2022"}
    for _, row in findings[findings["ci_low"].notna()].iterrows():
        assert row["ci_low"] <= row["value"] + 1e-12 <= row["ci_high"] + 2e-12, row["scope"]
    by_scope = findings.set_index("scope")
    pixels = hull[hull.space == "input"].drop_duplicates("space").iloc[0]
    assert by_scope.loc["pixel space", "value"] == pytest.approx(pixels["fraction_inside"])
    assert by_scope.loc["pixel space", "n"] == pixels["inside"] + pixels["outside"]
    assert by_scope.loc["pixel space", "verdict"] == "supported"  # no test image inside
    for space, name in (("activation", "last hidden layer"), ("intrinsic", "intrinsic space")):
        for model, part in hull[hull.space == space].groupby("model"):
            assert (part["undecided"] == 0).all()
            row = by_scope.loc[f"{name}, {model}"]
            assert row["value"] == pytest.approx(part["fraction_inside"].mean())
            assert row["n"] == part["queries"].iloc[0]  # the images, not images x seeds
    dim = "latent_dim_continuous"
    ratio = (models[dim] / models["width"]).groupby(models["model"]).mean().mean()
    assert by_scope.loc["intrinsic dimension / width, mean over models", "value"] == (
        pytest.approx(ratio)
    )
    means = models.groupby("model")[["test_accuracy", dim, "twonn"]].mean()
    for scope, column in [
        ("across the zoo (autoencoder)", dim),
        ("across the zoo (TwoNN)", "twonn"),
    ]:
        rho = spearmanr(means["test_accuracy"], means[column]).statistic
        assert by_scope.loc[scope, "value"] == pytest.approx(rho)
        assert by_scope.loc[scope, "n"] == len(MODELS)
        # three models: the exact permutation test cannot go below 2/6, so never settled
        assert by_scope.loc[scope, "p_value"] >= 1 / 3 - 1e-12
        assert by_scope.loc[scope, "verdict"] == "inconclusive"
    prox = findings[findings["claim_id"] == 5]
    assert set(prox["scope"]) == {
        f"{space}, {family} vs {measure}"
        for space in ("pixel space", "last hidden layer", "intrinsic space")
        for family in ("distance", "neighbour labels")
        for measure in ("outside_hull", "hull_distance")
    }
    assert prox["value"].dropna().between(-1, 1).all()
    # nothing is inside in pixel space: membership cannot rank errors there
    assert by_scope.loc["pixel space, distance vs outside_hull", "verdict"] == "not testable"


def test_tables_record_provenance(tiny_run):
    import importlib.metadata

    versions = {p: importlib.metadata.version(p) for p in ("torch", "highspy", "numpy")}
    for name in ("findings", "zoo", "models", "latent", "hull", "measures", "deciles"):
        text = (tiny_run / f"results/digits/summary/{name}.tsv").read_text()
        for package, version in versions.items():
            assert f"# {package}: {version}\n" in text, (name, package)
        for key in ("# config_sha256: ", "# model_seeds: ", "# hull_seed: 0", "# split_seed: "):
            assert key in text, (name, key)


def test_report_is_self_contained(tiny_run):
    proc = run_snakemake(tiny_run, "--report", "report.html")
    # every caption is valid RST: docutils reports problems as "(LEVEL/n)" messages
    messages = re.findall(r"\((?:INFO|WARNING|ERROR|SEVERE)/\d\).*", proc.stdout + proc.stderr)
    assert not messages, messages
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert len(html) > 100_000
    for fig in ("findings.png", "fraction_inside.png", "auroc.png", "accuracy_by_decile.png"):
        assert fig in html
    # the findings come first: the front page points at them, their category sorts first
    assert "Start with" in html and "1. Findings" in html
    # every run's per-sample hull table is an item labelled by what a reader filters on
    labelled = re.findall(
        r'"labels": \{"dataset": "[^"]+", "model": "[^"]+", "seed": "\d+", "space": "[^"]+"\}',
        html,
    )
    runs = list((tiny_run / "results").glob("*/*/seed*/hull/*.tsv"))
    assert runs and len(labelled) == len(runs), (len(labelled), len(runs))


def test_nothing_to_do_after_a_finished_run(tiny_run):
    proc = run_snakemake(tiny_run, "-n", "--cores", "1")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _holm(p):
    """Holm's adjustment written from its definition (max over j <= i of (m - j + 1) p_(j))."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    out = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


RULE = re.compile(
    r"supported if (ci_high|ci_low|statistic) ([<>]) (\S+) and Holm-adjusted p < (\S+); "
    r"contradicted if (ci_high|ci_low|statistic) ([<>]) (\S+) and Holm-adjusted p < (\S+)$"
)


def _holds(row, column, op, threshold):
    value = row["value" if column == "statistic" else column]
    return value < float(threshold) if op == "<" else value > float(threshold)


def test_findings_verdicts_follow_from_their_own_columns(tiny_run):
    """Every verdict of the findings table, recomputed from the table's own columns by the
    rule its ``rule`` column states: Holm within each family, then the rule's inequalities."""
    findings = table(tiny_run, "findings")
    tests = findings[findings["role"] == "test"]
    assert set(findings["verdict"]) <= {"supported", "contradicted", "inconclusive", "not testable"}
    for _family, rows in tests.groupby("family"):
        testable = rows[(rows["verdict"] != "not testable") & rows["p_value"].notna()]
        if len(testable):
            np.testing.assert_allclose(testable["p_holm"], _holm(testable["p_value"].to_numpy()))
    for _, row in tests.iterrows():
        if row["verdict"] == "not testable":
            assert row["detail"], row["scope"]
            continue
        m = RULE.match(row["rule"])
        assert m, row["rule"]
        alpha = float(m.group(4))
        significant = np.isfinite(row["p_holm"]) and row["p_holm"] < alpha
        if significant and _holds(row, *m.group(1, 2, 3)):
            expected = "supported"
        elif significant and _holds(row, *m.group(5, 6, 7)):
            expected = "contradicted"
        else:
            expected = "inconclusive"
        assert row["verdict"] == expected, (row["scope"], row["rule"], row["p_holm"])
    for _, row in findings[findings["role"] == "summary"].iterrows():
        models = tests[tests["family"] == row["family"]]
        models = models[models["scope"] != "pixel space"]["verdict"]
        models = models[models != "not testable"]
        expected = (
            "contradicted"
            if (models == "contradicted").any()
            else "supported"
            if (models == "supported").all()
            else "inconclusive"
        )
        assert row["verdict"] == expected, row["scope"]
    sensitivity = table(tiny_run, "sensitivity")
    configured = findings.set_index(["scope"])["verdict"]
    for _, row in sensitivity.iterrows():
        assert row["verdict_as_configured"] == configured[row["scope"]]
