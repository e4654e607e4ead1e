"""The theory branch of config/tiny.yaml with real Snakemake (its targets only), and its tables.

Independent truths: the exact hull probabilities (Kabluchko-Zaporozhets), recomputed here;
the asymptotic ridgeless risk (Hastie et al. 2019) and the exact finite-n expected risk of
Gaussian least squares (inverse Wishart moments, tests/unit/test_theory.py); the known fact that
digits' test images leave the training hull as the number of principal components grows;
and the config itself (grid sizes, queries). Slow: about a minute on 2 cores (dataset
acquisition + 22 jobs).
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import yaml

from neuralhull.io import read_provenance, read_table
from neuralhull.learn.training import load_model
from neuralhull.theory.formulas import (
    kz_outside_probability,
    relu_features_risk_theory,
    ridgeless_risk_theory,
)
from neuralhull.theory.hull_probability import hull_probability_outliers
from tests.conftest import ROOT, copy_workflow_profile, run_snakemake
from tests.unit.test_theory import exact_finite_n_risk
from tests.workflow.test_reruns import jobs_in

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

TINY = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
EXPERIMENTS = ["hull_probability", "real_dimension", "embedding", "double_descent"]
TARGETS = [f"results/theory/{e}.tsv" for e in EXPERIMENTS] + [
    f"results/theory/figures/{e}.png" for e in EXPERIMENTS
]


@pytest.fixture(scope="module")
def theory_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny-theory")
    copy_workflow_profile(workdir)
    run_snakemake(workdir, "--cores", "2", *TARGETS)
    return workdir


def table(run, name):
    return read_table(run / f"results/theory/{name}.tsv")


def test_only_theory_and_its_dataset_ran(theory_run):
    ran = {p.name for p in (theory_run / "logs").iterdir()}
    assert ran == {
        "acquire_dataset",
        "theory_hull_probability",
        "theory_real_dimension",
        "theory_train_bottlenecks",  # shared_trunk: every k in one job
        "theory_embedding_hull",
        "theory_double_descent",
        "theory_summary",  # one job per experiment
    }
    for target in TARGETS:
        assert (theory_run / target).stat().st_size > 0


def test_hull_probability_matches_exact_formulas(theory_run):
    cfg = TINY["theory"]["hull_probability"]
    hp = table(theory_run, "hull_probability")
    low_rank_dims = [d for d in cfg["dimensions"] if d >= cfg["rank"]]
    assert len(hp) == len(cfg["sizes"]) * sum(
        len(low_rank_dims if kind == "low-rank-gaussian" else cfg["dimensions"])
        for kind in cfg["kinds"]
    )
    assert (hp["trials"] == cfg["trials"]).all()
    exact = hp[hp["kind"] != "curve"]
    assert len(exact) > 0 and hp.loc[hp["kind"] == "curve", "theory"].isna().all()
    draws = cfg["trials"] * cfg["queries_per_set"]
    for row in exact.itertuples():
        d = row.d if row.kind == "gaussian" else min(row.d, cfg["rank"])
        truth = 1.0 - kz_outside_probability(row.N, d, 1.0)
        assert row.theory == pytest.approx(truth, rel=1e-9)
        if row.stderr > 0:
            assert abs(row.p_inside - truth) <= 3 * row.stderr, row
        else:
            # every answer agreed: plausible only if the theory makes that likely enough;
            # P(all agree) >= truth^draws (inside) or (1 - truth)^draws (outside)
            agree = truth if row.p_inside == 1 else 1 - truth
            assert agree**draws > 1e-4, row


def test_low_rank_curve_does_not_move_with_d(theory_run):
    # Balestriero et al. Fig. 1: every d >= rank gives the same curve, KZ in dimension rank
    cfg = TINY["theory"]["hull_probability"]
    hp = table(theory_run, "hull_probability")
    low = hp[hp["kind"] == "low-rank-gaussian"]
    assert sorted(low["d"].unique()) == [d for d in sorted(cfg["dimensions"]) if d >= cfg["rank"]]
    assert low["d"].nunique() >= 2  # the comparison across d is real
    for row in low.itertuples():
        truth = 1.0 - kz_outside_probability(row.N, cfg["rank"], 1.0)
        assert row.theory == pytest.approx(truth, rel=1e-12)
        assert row.stderr > 0 and abs(row.p_inside - truth) <= 3 * row.stderr, row


def test_the_summary_logs_the_cells_beyond_three_standard_errors(theory_run):
    hp = table(theory_run, "hull_probability")
    outliers, cells = hull_probability_outliers(hp)
    assert cells == hp["theory"].notna().sum()  # every exact cell has a positive stderr here
    log = (theory_run / "logs/theory_summary/hull_probability.log").read_text()
    assert f"{outliers} of {cells} cells with an exact value have |z| > 3" in log
    provenance = read_provenance(theory_run / "results/theory/hull_probability.tsv")
    cfg = TINY["theory"]["hull_probability"]
    assert provenance["curve_seed"] == str(cfg["curve_seed"])
    assert provenance["map_seed"] == str(cfg["map_seed"])


def test_real_dimension_table(theory_run):
    cfg = TINY["theory"]["real_data"]
    real = table(theory_run, "real_dimension")
    assert len(real) == len(cfg["methods"]) * len(cfg["dimensions"])
    assert (real["queries"] == cfg["max_queries"]).all()
    assert (real["inside"] + real["outside"] + real["undecided"] == real["queries"]).all()
    assert (real["n_train"] == 1347).all()  # every training image of digits (75% of 1,797)
    pca = real[real["method"] == "pca"].sort_values("k")
    assert (pca["dimension"] == pca["k"]).all()
    # fewer test samples inside as the number of principal components grows
    assert np.diff(pca["fraction_inside"]).mean() < 0
    assert pca["fraction_inside"].iloc[0] > 0.9 and pca["fraction_inside"].iloc[-1] < 0.1
    pixels = real[real["method"] != "pca"]
    side = np.clip(np.round(np.sqrt(pixels["k"])), 1, 8)
    assert (pixels["dimension"] == side**2).all()
    provenance = read_provenance(theory_run / "results/theory/real_dimension.tsv")
    assert provenance["subsample_seed"] == str(cfg["seed"])
    assert "config_sha256" in provenance and "numpy" in provenance


def test_embedding_table(theory_run):
    cfg = TINY["theory"]["embedding"]
    both = table(theory_run, "embedding")
    assert list(both["reading"].unique()) == ["linear", "relu"] == cfg["readings"]
    for _reading, emb in both.groupby("reading"):
        emb = emb.set_index("k")
        assert sorted(emb.index) == sorted(cfg["sizes"])
        assert (emb["queries"] == TINY["theory"]["real_data"]["max_queries"]).all()
        assert (emb["inside"] + emb["outside"] + emb["undecided"] == emb["queries"]).all()
        assert (emb["rank"] <= emb.index).all()
        # a CNN on digits with an 8-unit bottleneck is known to exceed 85% test accuracy
        assert emb.loc[max(cfg["sizes"]), "test_accuracy"] > 0.85
        assert emb["test_accuracy"].between(0, 1).all()
    linear = both[both["reading"] == "linear"].set_index("k")
    relu = both[both["reading"] == "relu"].set_index("k")
    # one network per k read twice: the same accuracy and dead units; dead units lower the
    # rank of the relu reading only
    assert (linear["test_accuracy"] == relu["test_accuracy"]).all()
    assert (linear["dead_units"] == relu["dead_units"]).all()
    assert (relu["rank"] + relu["dead_units"] <= relu.index).all()
    assert (linear["rank"] >= relu["rank"]).all()
    # the saved readings agree with the network: relu(linear) is the relu reading
    for k in cfg["sizes"]:
        with np.load(theory_run / f"results/theory/embedding/digits/{k}/embeddings.npz") as f:
            assert np.array_equal(np.maximum(f["train_linear"], 0), f["train"])
            assert np.array_equal(np.maximum(f["test_linear"], 0), f["test"])
        # each network's weights match the sha256 its metrics file records
        _, spec, _ = load_model(str(theory_run / f"results/theory/embedding/digits/{k}/model.pt"))
        assert spec.width == k


def test_double_descent_matches_the_exact_finite_n_risk(theory_run):
    cfg = TINY["theory"]["double_descent"]
    dd = table(theory_run, "double_descent")
    assert len(dd) == len(cfg["models"]) * len(cfg["gammas"]) * len(cfg["snrs"]) * len(cfg["seeds"])
    assert not np.isclose(dd["gamma"], 1.0).any()
    iso = dd[dd["model"] == "isotropic"]
    cells = iso.groupby(["p", "snr"])
    checked = 0
    for (p, snr), cell in cells:
        r2, sigma2, n = snr * cfg["sigma2"], cfg["sigma2"], cfg["n"]
        assert cell["theory"].to_numpy() == pytest.approx(ridgeless_risk_theory(p / n, r2, sigma2))
        exact = exact_finite_n_risk(n, int(p), r2, sigma2) if abs(p - n) > 1 else np.inf
        assert cell["theory_finite_n"].to_numpy() == pytest.approx(exact, rel=1e-12)
        if not np.isfinite(exact):
            continue  # n - 1 <= p <= n + 1: the expected risk is infinite, nothing to compare
        # the simulated mean estimates exactly this expectation: 3 standard errors, no slack
        stderr = cell["risk"].std(ddof=1) / np.sqrt(len(cell))
        assert abs(cell["risk"].mean() - exact) <= 3 * stderr, (p, snr, cell["risk"].mean(), exact)
        checked += 1
    assert checked == cells.ngroups == len(cfg["gammas"]) * len(cfg["snrs"])
    relu = dd[dd["model"] == "relu"]
    latent = cfg["n_latent"] or cfg["n"] // 4
    assert (relu["n_latent"] == latent).all()
    for row in relu.itertuples():
        expected = relu_features_risk_theory(row.p / row.n, latent / row.n, row.r2, row.sigma2)
        assert row.theory == pytest.approx(expected, rel=1e-12)
    assert relu["theory_finite_n"].isna().all()


def planned_jobs(run, cfg, tmp_path):
    """(rule, experiment wildcard) of every job a dry run of the theory targets with ``cfg``
    would execute."""
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(run, "-n", *TARGETS, configfile=str(path))
    return {(rule, w.get("experiment")) for rule, w in jobs_in(proc)}


def test_a_config_change_reruns_only_its_experiment(theory_run, tmp_path):
    assert planned_jobs(theory_run, TINY, tmp_path) == set()
    cfg = copy.deepcopy(TINY)
    cfg["theory"]["embedding"]["epochs"] += 1
    assert planned_jobs(theory_run, cfg, tmp_path) == {
        ("theory_train_bottlenecks", None),  # shared_trunk: every k in one job
        ("theory_embedding_hull", None),
        ("theory_summary", "embedding"),
    }
    cfg = copy.deepcopy(TINY)
    cfg["theory"]["hull_probability"]["rank"] += 1  # matters to the low-rank kind only
    (tmp_path / "edited.yaml").write_text(yaml.safe_dump(cfg))
    planned = run_snakemake(theory_run, "-n", *TARGETS, configfile=str(tmp_path / "edited.yaml"))
    assert re.findall(r"wildcards: kind=(\S+)", planned.stdout) == ["low-rank-gaussian"]


def test_theory_config_errors_are_caught_before_any_job(tmp_path):
    copy_workflow_profile(tmp_path)
    cases = [
        (lambda c: c["theory"]["double_descent"].update(gammas=[0.5, 1.0]), "gamma = 1"),
        (lambda c: c["theory"]["real_data"].update(dimensions=[2, 65]), "exceed the dimension"),
        (
            lambda c: c["theory"]["real_data"].update(datasets=["digits", "mnist"]),
            "theory.real_data.datasets ['mnist'] must also be listed",
        ),
        (lambda c: c["theory"]["real_data"].update(dataset="digits"), "'dataset' was unexpected"),
        (lambda c: c["theory"]["hull_probability"].update(kinds=["cube"]), "cube"),
        (
            lambda c: c["theory"]["hull_probability"].update(rank=9),
            "theory.hull_probability.rank 9 exceeds every dimension",
        ),
        (
            lambda c: c["theory"]["hull_probability"].update(curve_frequencies=[24.0, 4.0]),
            "theory.hull_probability.curve_frequencies",
        ),
        (lambda c: c["theory"]["double_descent"].update(seeds=[0]), "['double_descent']['seeds']"),
        (lambda c: c["theory"].update(extra=1), "extra"),
    ]
    for edit, words in cases:
        cfg = copy.deepcopy(TINY)
        edit(cfg)
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(cfg))
        proc = run_snakemake(tmp_path, "-n", check=False, configfile=str(path))
        assert proc.returncode != 0
        assert words in proc.stdout + proc.stderr, (words, (proc.stdout + proc.stderr)[-2000:])


def test_every_theory_dataset_gets_the_real_data_experiments(tmp_path):
    # two datasets (digits and MNIST): both real-data experiments are planned for each,
    # one table per experiment collects them (dry run: no data needed)
    copy_workflow_profile(tmp_path)
    cfg = copy.deepcopy(TINY)
    cfg["datasets"].append({"name": "mnist", "models": ["mlp"]})
    cfg["theory"]["real_data"]["datasets"] = ["digits", "mnist"]
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(cfg))
    plan = run_snakemake(tmp_path, "-n", *TARGETS, configfile=str(path)).stdout
    for dataset in ("digits", "mnist"):
        for method in cfg["theory"]["real_data"]["methods"]:
            assert f"results/theory/real_dimension/{dataset}/{method}/2.tsv" in plan
        for reading in cfg["theory"]["embedding"]["readings"]:
            assert f"results/theory/embedding/{dataset}/8/{reading}.tsv" in plan
