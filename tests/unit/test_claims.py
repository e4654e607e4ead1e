"""The claim registry and the findings table: Holm against its definition, the p-values
against the tests their intervals invert, the verdict rule, and every row of a table built
from synthetic runs with a known answer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from neuralhull.claims import registry
from neuralhull.claims.table import COLUMNS, claim_rows, findings_table, sensitivity_table
from neuralhull.stats import intervals as iv
from neuralhull.stats.multiplicity import holm

SETTINGS = {
    "almost_none": 0.05,
    "most": 0.5,
    "low_dimensional": 0.5,
    "n_boot": 400,
    "n_perm": 2000,
    "seed": 0,
}


# ---------------------------------------------------------------------------------------------
# Holm


def _holm_by_definition(p):
    """max over j <= i of min(1, (m - j + 1) p_(j)), written as loops over the ranks."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for rank, i in enumerate(order):
        out[i] = max(min(1.0, (m - j) * p[order[j]]) for j in range(rank + 1))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_holm_matches_its_definition(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=rng.integers(1, 12))
    assert np.allclose(holm(p), _holm_by_definition(list(p)), rtol=0, atol=1e-15)


def test_holm_leaves_nan_out_of_the_family():
    got = holm([0.01, np.nan, 0.04])
    assert np.isnan(got[1])
    assert got[[0, 2]] == pytest.approx([0.02, 0.04])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


# ---------------------------------------------------------------------------------------------
# p-values of intervals


@pytest.mark.parametrize("seed", range(10))
def test_t_interval_p_value_inverts_the_interval(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(0.3, 1.0, size=rng.integers(3, 12))
    res = iv.t_interval(values)
    for value in np.linspace(res.low - 1, res.high + 1, 41):
        p = res.p_value(value)
        assert (p < 0.05) == (not res.covers(value)) or math.isclose(p, 0.05, abs_tol=1e-9)
    # and it is scipy's one-sample t test
    assert res.p_value(0.1) == pytest.approx(sps.ttest_1samp(values, 0.1).pvalue, rel=1e-10)


@pytest.mark.parametrize(
    ("k", "n", "p0"),
    [(0, 1000, 0.05), (30, 1000, 0.05), (7, 60, 0.2), (55, 100, 0.5), (99, 100, 0.9)],
)
def test_wilson_p_value_is_the_score_test(k, n, p0):
    low, high = iv.wilson_interval(k, n)
    res = iv.Interval(k / n, low, high, 0.95, "Wilson", score_n=n)
    chi2 = sps.chisquare([k, n - k], [n * p0, n * (1 - p0)])  # Pearson's X^2 = the score z^2
    assert res.p_value(p0) == pytest.approx(chi2.pvalue, rel=1e-9)
    assert (res.p_value(p0) < 0.05) == (not low <= p0 <= high)


def test_two_way_interval_p_value_agrees_with_its_bounds():
    rng = np.random.default_rng(3)
    y = (rng.random((3, 400)) < np.array([[0.3], [0.35], [0.4]])).astype(float)
    res = iv.model_mean_interval(y, rng=np.random.default_rng(0), n_boot=400)
    assert np.isfinite(res.se) and res.df > 1
    for value in (0.2, res.low - 1e-6, res.low + 1e-6, 0.35, res.high + 1e-6, 0.5):
        assert (res.p_value(value) < 0.05) == (not res.covers(value))


# ---------------------------------------------------------------------------------------------
# the verdict rule


@pytest.mark.parametrize(
    ("side", "low", "high", "p", "expected"),
    [
        ("below", 0.01, 0.04, 0.001, "supported"),
        ("below", 0.06, 0.09, 0.001, "contradicted"),
        ("below", 0.01, 0.06, 0.001, "inconclusive"),  # interval holds the threshold
        ("below", 0.01, 0.04, 0.2, "inconclusive"),  # the family's correction says no
        ("below", 0.01, 0.05, 0.001, "inconclusive"),  # touching counts as containing
        ("above", 0.6, 0.9, 0.001, "supported"),
        ("above", 0.1, 0.4, 0.001, "contradicted"),
        ("above", np.nan, np.nan, 0.001, "inconclusive"),
    ],
)
def test_verdict_rule(side, low, high, p, expected):
    threshold = 0.05 if side == "below" else 0.5
    claim = registry.Claim(9, "x", "y", side, threshold, "")
    row = {
        "value": (low + high) / 2,
        "ci_low": low,
        "ci_high": high,
        "p_holm": p,
        "threshold": threshold,
    }
    assert claim.verdict(row) == expected
    assert claim.verdict({**row, "testable": False}) == "not testable"


def test_rows_without_interval_use_the_estimate():
    claim = registry.CLAIMS[3]
    row = {"value": -0.4, "ci_low": np.nan, "ci_high": np.nan, "p_holm": 0.01, "threshold": 0.0}
    assert claim.verdict(row) == "supported"
    assert claim.verdict({**row, "value": 0.4}) == "contradicted"
    assert "statistic <" in claim.rule(0.0, with_interval=False)


def test_summary_verdict_needs_every_model():
    assert registry.summary_verdict(["supported"] * 3) == "supported"
    assert registry.summary_verdict(["supported", "contradicted"]) == "contradicted"
    assert registry.summary_verdict(["supported", "inconclusive"]) == "inconclusive"
    assert registry.summary_verdict(["not testable"]) == "not testable"


# ---------------------------------------------------------------------------------------------
# a zoo with a known answer


def _zoo(n_images=300, seeds=(0, 1, 2)):
    """Four models on the same images.  "collapsed" has half its test images inside the
    last hidden layer's hull, the others none; in the intrinsic space every model has most
    inside; the nearest distance flags errors, hull membership carries no information.
    Dimension falls with accuracy along the lever a < b < c."""
    rng = np.random.default_rng(1)
    accuracy = {"a": 0.7, "b": 0.8, "c": 0.9, "collapsed": 0.6}
    dimension = {"a": 9, "b": 7, "c": 4, "collapsed": 12}
    subset, models = {}, []
    for model, seed in itertools.product(accuracy, seeds):
        correct = rng.random(n_images) < accuracy[model]
        nn = np.where(correct, rng.exponential(1.0, n_images), rng.exponential(3.0, n_images))
        for space, inside_p in (
            ("activation", 0.5 if model == "collapsed" else 0.0),
            ("intrinsic", 0.9),
            ("input", 0.0),
        ):
            status = np.where(rng.random(n_images) < inside_p, "inside", "outside")
            hull_distance = np.where(status == "inside", 0.0, rng.exponential(1.0, n_images))
            subset[(f"{model}/seed{seed}", space)] = pd.DataFrame(
                {
                    "index": np.arange(n_images),
                    "correct": correct,
                    "status": status,
                    "hull_distance": hull_distance,
                    "nn_distance": nn,
                    "knn_pred_agreement": np.where(correct, 0.9, 0.4)
                    + rng.normal(0, 0.05, n_images),
                }
            )
        models.append(
            {
                "model": model,
                "seed": seed,
                "width": 32,
                "test_accuracy": accuracy[model] + rng.normal(0, 0.005),
                "latent_dim": dimension[model] + (seed == 1),
                "latent_dim_r2_0.8": dimension[model] - 1,
                "twonn": dimension[model] + rng.normal(0, 0.3),
            }
        )
    return pd.DataFrame(models), subset


@pytest.fixture(scope="module")
def zoo_table():
    models, subset = _zoo()
    levers = {"quality": ["a", "b", "c"]}
    return findings_table(models, subset, SETTINGS, levers), models, subset, levers


def _row(table, scope):
    rows = table[table["scope"] == scope]
    assert len(rows) == 1, (scope, table["scope"].tolist())
    return rows.iloc[0]


def test_findings_columns_and_claims(zoo_table):
    table = zoo_table[0]
    assert list(table.columns) == COLUMNS
    assert set(table["claim_id"]) == {1, 2, 3, 4, 5}
    assert set(table["verdict"]) <= set(registry.VERDICTS)
    for _, row in table.iterrows():  # text from the registry, never typed beside a number
        claim = registry.CLAIMS[row["claim_id"]]
        assert row["claim"] == claim.text and row["source"] == claim.source
        assert row["unit"] in {f.unit for f in registry.FAMILIES.values()} | {"models"}


def test_claim_1_per_model_and_every_model(zoo_table):
    table = zoo_table[0]
    assert _row(table, "last hidden layer, collapsed")["verdict"] == "contradicted"
    for model in "abc":
        row = _row(table, f"last hidden layer, {model}")
        assert row["verdict"] == "supported" and row["value"] == 0
        assert row["ci_high"] == pytest.approx(iv.wilson_interval(0, 300)[1])  # 300 images, not 900
    every = _row(table, "last hidden layer, every model")
    assert every["verdict"] == "contradicted" and "1 contradicted" in every["detail"]
    assert _row(table, "pixel space")["verdict"] == "supported"


def test_claim_4_and_holm_within_the_family(zoo_table):
    table = zoo_table[0]
    family = table[(table["family"] == "4: per model") & (table["role"] == "test")]
    assert len(family) == 4 and (family["verdict"] == "supported").all()
    assert np.allclose(family["p_holm"], holm(family["p_value"].to_numpy()))
    assert _row(table, "intrinsic space, every model")["verdict"] == "supported"


def test_claim_5_is_not_testable_where_membership_cannot_vary(zoo_table):
    table = zoo_table[0]
    row = _row(table, "pixel space, distance vs outside_hull")
    assert row["verdict"] == "not testable" and "constant" in row["detail"]
    # in the last hidden layer only the collapsed model has points inside: one model left
    assert _row(table, "last hidden layer, distance vs outside_hull")["verdict"] == "not testable"
    # the graded distance varies everywhere; the nearest distance carries the errors
    row = _row(table, "pixel space, distance vs hull_distance")
    assert row["verdict"] == "supported" and row["value"] > 0.1
    row = _row(table, "intrinsic space, neighbour labels vs outside_hull")
    assert row["verdict"] == "supported"


def test_claim_3_levers_and_primary_tests(zoo_table):
    table = zoo_table[0]
    lever = _row(table, "lever quality: a < b < c")
    assert lever["value"] == -1.0  # dimension falls at every step
    assert lever["verdict"] == "not testable"  # 3 levels: accuracy's trend p >= 1/6
    spearman = _row(table, "across the zoo (autoencoder)")
    assert spearman["value"] == pytest.approx(-1.0)
    assert spearman["verdict"] == "inconclusive"  # 4 models: exact p = 2/24 > 0.05
    slope = _row(table, "slope of dimension on accuracy across models")
    means = zoo_table[1].groupby("model")[["test_accuracy", "latent_dim"]].mean()
    fit = np.polyfit(means["test_accuracy"], means["latent_dim"], 1, cov=True)
    assert slope["value"] == pytest.approx(fit[0][0])
    half = sps.t.ppf(0.975, 2) * math.sqrt(fit[1][0, 0])
    assert slope["ci_high"] == pytest.approx(fit[0][0] + half)


def test_sensitivity_reports_each_threshold(zoo_table):
    findings, models, subset, levers = zoo_table
    table = sensitivity_table(models, subset, SETTINGS, levers, [0.8, 0.9], findings)
    configured = table[table["value_of_setting"] == SETTINGS["almost_none"]]
    merged = configured.merge(findings, on="scope", suffixes=("", "_findings"))
    assert len(merged) == len(configured)  # every row at the configured threshold ...
    assert (merged["verdict"] == merged["verdict_findings"]).all()  # ... as in the findings
    assert (merged["value"] == merged["value_findings"]).all()
    assert set(table["setting"]) == {"findings.almost_none", "autoencoder.r2_threshold"}
    assert set(table.loc[table["setting"] == "findings.almost_none", "value_of_setting"]) == {
        0.05,
        0.10,
    }
    ratio = table[(table["claim_id"] == 2) & (table["value_of_setting"] == 0.8)].iloc[0]
    assert ratio["value"] == pytest.approx(
        models.groupby("model")["latent_dim_r2_0.8"].mean().mean() / 32
    )


def test_leaving_claims_out_changes_no_other_row():
    models, subset = _zoo(n_images=120)
    levers = {"quality": ["a", "b", "c"]}
    every = pd.DataFrame(claim_rows(models, subset, SETTINGS, levers))
    some = pd.DataFrame(claim_rows(models, subset, SETTINGS, levers, claims={1, 3}))
    assert set(some["claim_id"]) == {1, 3}
    pd.testing.assert_frame_equal(
        every[every["claim_id"].isin({1, 3})].reset_index(drop=True), some
    )


def test_rows_are_reproducible_and_independent_of_each_other():
    models, subset = _zoo(n_images=120)
    one = pd.DataFrame(claim_rows(models, subset, SETTINGS, {"quality": ["a", "b", "c"]}))
    two = pd.DataFrame(claim_rows(models, subset, SETTINGS, None))
    same = one[one["family"] != "3: levers"].merge(two, on=["scope", "family"])
    pd.testing.assert_series_equal(same["ci_low_x"], same["ci_low_y"], check_names=False)


def test_compare_verdicts_across_datasets():
    from neuralhull.claims.compare import compare_verdicts

    def findings(rows):
        return pd.DataFrame(
            [
                {
                    "claim_id": c,
                    "claim": f"claim {c}",
                    "family": f,
                    "scope": s,
                    "value": 0.1,
                    "verdict": v,
                }
                for c, f, s, v in rows
            ]
        )

    a = findings(
        [
            (1, "1: per model", "last hidden layer, mlp", "supported"),
            (1, "1: per model", "last hidden layer, cnn", "supported"),
            (3, "3: primary", "across the zoo", "inconclusive"),
        ]
    )
    b = findings(
        [
            (1, "1: per model", "last hidden layer, mlp", "contradicted"),
            (3, "3: primary", "across the zoo", "inconclusive"),
        ]
    )
    table = compare_verdicts({"mnist": a, "fashion_mnist": b}).set_index(["claim_id", "scope"])
    assert table.loc[(1, "last hidden layer, mlp"), "agree"] == "no"
    assert table.loc[(1, "last hidden layer, cnn"), "agree"] == "n/a"  # one zoo only
    assert pd.isna(table.loc[(1, "last hidden layer, cnn"), "verdict_fashion_mnist"])
    assert table.loc[(1, "claim overall"), "agree"] == "no"
    assert table.loc[(3, "claim overall"), "agree"] == "yes"
