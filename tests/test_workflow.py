"""The whole workflow on config/tiny.yaml with real Snakemake, and its tables' contents."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from neuralhull.analysis import read_table
from neuralhull.datasets import load
from neuralhull.spaces import flatten_images, pca_project
from tests.conftest import run_snakemake

pytestmark = pytest.mark.workflow
MODELS = ["mlp", "mlp-short", "mlp-weak"]
SEEDS = [0, 1]
RUNS = [(m, s) for m in MODELS for s in SEEDS]


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
    assert set(latent["latent_size"]) == {1, 2, 3, 4, 6, 8}
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
        assert (
            rows.loc[rows.chosen, "latent_size"].item() == models.loc[(model, seed), "latent_dim"]
        )
    # TwoNN of the training activations, recomputed by brute-force distances (Facco et al.:
    # regression through the origin of -log(1 - F(mu)) on log(mu), top 10 % of mu dropped)
    for model, seed in RUNS:
        with np.load(run_dir(tiny_run, model, seed) / "activations.npz") as f:
            x = np.unique(f["train"].astype(np.float64), axis=0)
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        r = np.sort(d, 1)[:, :2]
        mu = np.sort(r[:, 1] / r[:, 0])
        keep = int(np.floor(len(mu) * 0.9))
        xs, ys = np.log(mu[:keep]), -np.log(1 - np.arange(1, len(mu) + 1)[:keep] / len(mu))
        twonn = models.loc[(model, seed), "twonn"]
        assert twonn == pytest.approx((xs @ ys) / (xs @ xs), rel=1e-6)


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
            rows = pd.read_csv(path, sep="\t", comment="#").merge(
                pred, on="index", validate="one_to_one"
            )
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
    rows = pd.read_csv(tiny_run / "results/digits/input/hull/input-pca2.tsv", sep="\t", comment="#")
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
    rows = pd.read_csv(tiny_run / "results/digits/input/proximity/input.tsv", sep="\t", comment="#")
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


def test_findings_follow_from_their_intervals_and_the_data(tiny_run):
    from scipy.stats import spearmanr

    findings = table(tiny_run, "findings")
    hull, models = table(tiny_run, "hull"), table(tiny_run, "models")
    assert set(findings["verdict"]) <= {"supported", "contradicted", "inconclusive"}
    sources = set(findings["source"])
    assert sources == {"Balestriero et al. 2021", "Bonnasse-Gahot 2022"}
    for _, row in findings.iterrows():
        low, high, t = row["ci_low"], row["ci_high"], row["threshold"]
        assert low <= row["value"] + 1e-12 and row["value"] <= high + 1e-12, row["scope"]
        above = row["rule"].startswith("supported if ci_low >")
        if above:
            expected = "supported" if low > t else "contradicted" if high < t else "inconclusive"
        else:
            expected = "supported" if high < t else "contradicted" if low > t else "inconclusive"
        if "and p < 0.05" in row["rule"] and not row["p_value"] < 0.05:
            expected = "inconclusive"  # a correlation also needs its permutation test
        assert row["verdict"] == expected, row.to_dict()
    by_scope = findings.set_index("scope")
    # pooled fractions recomputed from hull.tsv
    for scope, space in [
        ("pixel space", "input"),
        ("last hidden layer, all runs", "activation"),
        ("intrinsic space, all runs", "intrinsic"),
    ]:
        part = hull[hull.space == space]
        if space == "input":
            part = part.drop_duplicates("space")
        assert by_scope.loc[scope, "value"] == pytest.approx(
            part["inside"].sum() / (part["inside"] + part["outside"]).sum()
        )
        assert by_scope.loc[scope, "n"] == (part["inside"] + part["outside"]).sum()
    # pixels: no test image inside (see the hull table test): almost none, supported
    assert by_scope.loc["pixel space", "verdict"] == "supported"
    # the rank correlation, recomputed from the seed means of models.tsv
    means = models.groupby("model")[["test_accuracy", "latent_dim", "twonn"]].mean()
    for scope, column in [
        ("intrinsic dimension (autoencoder)", "latent_dim"),
        ("intrinsic dimension (TwoNN)", "twonn"),
    ]:
        rho = spearmanr(means["test_accuracy"], means[column]).statistic
        got = by_scope.loc[scope, "value"]
        assert (np.isnan(rho) and np.isnan(got)) or got == pytest.approx(rho)
        assert by_scope.loc[scope, "n"] == len(MODELS)
        # three models: the exact permutation test cannot go below 2/6, so never settled
        assert by_scope.loc[scope, "p_value"] >= 1 / 3 - 1e-12
        assert by_scope.loc[scope, "verdict"] == "inconclusive"
    # every proximity claim names its measure and is a difference of two AUROCs in [-1, 1]
    prox = findings[findings["claim"].str.startswith("proximity")]
    assert set(prox["scope"]) == {
        f"{space} space, {family}"
        for space in ("input", "activation", "intrinsic")
        for family in ("distance", "neighbour labels")
    }
    assert prox["value"].between(-1, 1).all()


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
