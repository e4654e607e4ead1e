"""The whole workflow on config/tiny.yaml with real Snakemake, and its tables' contents."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from neuralhull.analysis import read_table
from neuralhull.datasets import load
from neuralhull.spaces import flatten_images, pca_project
from tests.conftest import run_snakemake

pytestmark = pytest.mark.workflow
MODELS = ["mlp", "mlp-weak"]


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
    models = table(tiny_run, "models").set_index("model")
    assert sorted(models.index) == MODELS
    # a 16-unit MLP on digits is known to exceed 90%; the 3-unit, one-epoch one is far worse
    assert models.loc["mlp", "test_accuracy"] > 0.9
    assert models.loc["mlp-weak", "test_accuracy"] < models.loc["mlp", "test_accuracy"] - 0.2
    # the chosen size follows the documented rule, recomputed from the latent table: the
    # smallest swept size whose held-out R2 reaches the threshold, else the largest
    latent = table(tiny_run, "latent")
    for model, rows in latent.groupby("model"):
        good = rows.loc[rows.r2 >= 0.9, "latent_size"]
        expected = good.min() if len(good) else rows.latent_size.max()
        assert models.loc[model, "latent_dim"] == expected, model
        assert models.loc[model, "threshold_reached"] == bool(len(good))
        assert rows.chosen.sum() == 1 and rows.loc[rows.chosen, "latent_size"].item() == expected
    # TwoNN of the training activations, recomputed by brute-force distances (Facco et al.:
    # regression through the origin of -log(1 - F(mu)) on log(mu), top 10 % of mu dropped)
    for model in MODELS:
        with np.load(tiny_run / f"results/digits/{model}/activations.npz") as f:
            x = np.unique(f["train"].astype(np.float64), axis=0)
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        r = np.sort(d, 1)[:, :2]
        mu = np.sort(r[:, 1] / r[:, 0])
        keep = int(np.floor(len(mu) * 0.9))
        xs, ys = np.log(mu[:keep]), -np.log(1 - np.arange(1, len(mu) + 1)[:keep] / len(mu))
        assert models.loc[model, "twonn"] == pytest.approx((xs @ ys) / (xs @ xs), rel=1e-6)


def test_hull_table_counts_and_science(tiny_run):
    hull = table(tiny_run, "hull")
    expected = {
        "mlp": {"activation", "activation-pca2", "activation-pca4", "latent2", "latent4"},
        "mlp-weak": {"activation", "activation-pca2", "latent2"},
    }
    for model, spaces in expected.items():
        got = set(hull.loc[hull.model == model, "space"])
        assert got == spaces | {"input", "input-pca2", "input-pca4"}
    assert (hull["inside"] + hull["outside"] + hull["undecided"] == hull["queries"]).all()
    assert (hull["queries"] == 120).all() and (hull["undecided"] == 0).all()
    frac = hull.groupby("space")["fraction_inside"].first()
    # 64-d pixels, 1,347 training images: test images are outside the hull (extrapolation),
    # while in 2 principal dimensions almost all are inside
    assert frac["input"] == 0.0
    assert frac["input-pca2"] > 0.9
    assert (hull.loc[hull.space == "input", "dimension"] == 64).all()


def test_accuracy_inside_and_outside_recomputed_from_the_per_sample_files(tiny_run):
    hull = table(tiny_run, "hull").set_index(["model", "space"])
    for model in MODELS:
        pred = pd.read_csv(tiny_run / f"results/digits/{model}/predictions.tsv", sep="\t")
        for space, owner in [("activation", model), ("latent2", model), ("input", "input")]:
            rows = pd.read_csv(
                tiny_run / f"results/digits/{owner}/hull/{space}.tsv", sep="\t", comment="#"
            ).merge(pred, on="index", validate="one_to_one")
            row = hull.loc[(model, space)]
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
    tr4, te4 = pca_project(train, test, 4)
    rows = pd.read_csv(tiny_run / "results/digits/input/hull/input-pca4.tsv", sep="\t", comment="#")
    assert len(rows) == 120
    for _, row in rows.iloc[::8].iterrows():
        assert lp_inside(tr4, te4[row["index"]]) == (row["status"] == "inside")
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
    row = m[(m.model == "mlp") & (m.space == "activation") & (m.measure == "knn_label_agreement")]
    assert row["auroc"].item() > 0.8
    d = table(tiny_run, "deciles")
    assert set(d["bin"]) == set(range(1, 11))


def test_tables_record_provenance(tiny_run):
    import importlib.metadata

    versions = {p: importlib.metadata.version(p) for p in ("torch", "highspy", "numpy")}
    for name in ("models", "latent", "hull", "measures", "deciles"):
        text = (tiny_run / f"results/digits/summary/{name}.tsv").read_text()
        for package, version in versions.items():
            assert f"# {package}: {version}\n" in text, (name, package)
        for key in ("# config_sha256: ", "# model_seeds: ", "# hull_seed: 0", "# split_seed: "):
            assert key in text, (name, key)


def test_report_is_self_contained(tiny_run):
    run_snakemake(tiny_run, "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    assert len(html) > 100_000
    for fig in ("fraction_inside.png", "auroc.png", "accuracy_by_decile.png"):
        assert fig in html


def test_nothing_to_do_after_a_finished_run(tiny_run):
    proc = run_snakemake(tiny_run, "-n", "--cores", "1")
    assert "Nothing to be done" in proc.stdout + proc.stderr
