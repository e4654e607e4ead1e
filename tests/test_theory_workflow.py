"""The theory branch of config/tiny.yaml with real Snakemake (its targets only), and its tables.

Independent truths: the exact hull probabilities (Kabluchko-Zaporozhets), recomputed here;
the asymptotic ridgeless risk (Hastie et al. 2019); the known fact that digits' test images
leave the training hull as the number of principal components grows; and the config itself
(grid sizes, queries). Slow: about a minute on 2 cores (dataset acquisition + 22 jobs).
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import yaml

from neuralhull.analysis import read_provenance, read_table
from neuralhull.theory import kz_outside_probability, ridgeless_risk_theory
from tests.conftest import ROOT, copy_workflow_profile, run_snakemake

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
        "theory_train_bottleneck",
        "theory_embedding_hull",
        "theory_double_descent",
        "theory_summary_hull_probability",
        "theory_summary_real_dimension",
        "theory_summary_embedding",
        "theory_summary_double_descent",
    }
    for target in TARGETS:
        assert (theory_run / target).stat().st_size > 0


def test_hull_probability_matches_exact_formulas(theory_run):
    cfg = TINY["theory"]["hull_probability"]
    hp = table(theory_run, "hull_probability")
    assert len(hp) == len(cfg["kinds"]) * len(cfg["dimensions"]) * len(cfg["sizes"])
    assert (hp["trials"] == cfg["trials"]).all()
    exact = hp[hp["kind"] != "curve"]
    assert len(exact) > 0 and hp.loc[hp["kind"] == "curve", "theory"].isna().all()
    draws = cfg["trials"] * cfg["queries_per_set"]
    for row in exact.itertuples():
        d = row.d if row.kind == "gaussian" else min(row.d, cfg["rank"])
        truth = 1.0 - kz_outside_probability(row.N, d, 1.0)
        assert row.theory == pytest.approx(truth, rel=1e-9)
        if row.stderr > 0:
            assert abs(row.p_inside - truth) <= 4 * row.stderr, row
        else:
            # every answer agreed: plausible only if the theory makes that likely enough;
            # P(all agree) >= truth^draws (inside) or (1 - truth)^draws (outside)
            agree = truth if row.p_inside == 1 else 1 - truth
            assert agree**draws > 1e-4, row


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
    emb = table(theory_run, "embedding").set_index("k")
    assert sorted(emb.index) == sorted(cfg["sizes"])
    assert (emb["queries"] == TINY["theory"]["real_data"]["max_queries"]).all()
    assert (emb["inside"] + emb["outside"] + emb["undecided"] == emb["queries"]).all()
    assert (emb["rank"] <= emb.index).all()
    assert (emb["rank"] + emb["dead_units"] <= emb.index).all()
    # a CNN on digits with an 8-unit bottleneck is known to exceed 85% test accuracy
    assert emb.loc[max(cfg["sizes"]), "test_accuracy"] > 0.85
    assert emb["test_accuracy"].between(0, 1).all()


def test_double_descent_follows_the_asymptotic_risk_away_from_gamma_one(theory_run):
    cfg = TINY["theory"]["double_descent"]
    dd = table(theory_run, "double_descent")
    assert len(dd) == len(cfg["models"]) * len(cfg["gammas"]) * len(cfg["snrs"]) * len(cfg["seeds"])
    assert not np.isclose(dd["gamma"], 1.0).any()
    iso = dd[dd["model"] == "isotropic"]
    cells = iso.groupby(["gamma", "snr"])["risk"].agg(["mean", "std", "count"]).reset_index()
    checked = 0
    for row in cells.itertuples():
        truth = ridgeless_risk_theory(row.gamma, row.snr * cfg["sigma2"], cfg["sigma2"])
        cell = iso[(iso["gamma"] == row.gamma) & (iso["snr"] == row.snr)]
        assert cell["theory"].to_numpy() == pytest.approx(truth)
        if 0.7 <= row.gamma <= 1.4:
            continue  # finite n is far from the limit near the threshold
        stderr = row.std / np.sqrt(row.count)
        assert abs(row.mean - truth) <= 4 * stderr + 0.1 * truth, row
        checked += 1
    assert checked >= 4
    assert dd.loc[dd["model"] == "relu", "theory"].isna().all()


def planned_rules(run, cfg, tmp_path):
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(run, "-n", *TARGETS, configfile=str(path))
    return set(re.findall(r"^\S*rule (\w+):", proc.stdout, flags=re.M)) - {"all"}


def test_a_config_change_reruns_only_its_experiment(theory_run, tmp_path):
    assert planned_rules(theory_run, TINY, tmp_path) == set()
    cfg = copy.deepcopy(TINY)
    cfg["theory"]["embedding"]["epochs"] += 1
    assert planned_rules(theory_run, cfg, tmp_path) == {
        "theory_train_bottleneck",
        "theory_embedding_hull",
        "theory_summary_embedding",
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
        (lambda c: c["theory"]["real_data"].update(dataset="mnist"), "must also be listed"),
        (lambda c: c["theory"]["hull_probability"].update(kinds=["cube"]), "cube"),
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
