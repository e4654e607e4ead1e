"""The claims the workflow tests, each declared once, with the rule that turns its numbers
into a verdict.

Every row of ``findings.tsv`` belongs to a claim of :data:`CLAIMS` and to a *family* of
tests (:data:`FAMILIES`).  Its text columns (claim, source, unit, rule) and its verdict are
generated here from the claim's declaration, never typed beside the computation.

Verdicts
--------
A test row has a statistic, a 95 % interval (or none, for permutation tests), a two-sided
p-value of "the statistic equals the threshold" and that p-value Holm-adjusted within its
family (:func:`neuralhull.stats.multiplicity.holm`).  With the claim "the statistic is below
the threshold" (``side="below"``; ``"above"`` is the mirror image) the row is

* ``supported`` when the interval lies wholly below the threshold and the adjusted p-value
  is below :data:`ALPHA`;
* ``contradicted`` when the interval lies wholly above it and the adjusted p-value is below
  :data:`ALPHA`;
* ``inconclusive`` otherwise (touching the threshold counts as containing it);
* ``not testable`` when the data of this scope cannot decide it whatever its value: the
  compared quantity cannot vary (every query outside the hull, or every one inside), or a
  lever did not order its models by accuracy as declared.  The detail column says which.

Rows without an interval (permutation and trend tests) use the estimate's side instead of
the interval's.  For t and Wilson intervals an interval that excludes the threshold is the
same as an unadjusted p-value below 0.05, so the adjusted p-value only adds the family's
correction.

Summary rows ("every model") are no tests: they read the family's per-model verdicts, as
the claims are general statements about trained networks: ``supported`` when every model's
row is supported, ``contradicted`` when any model's row is contradicted (a counterexample),
``inconclusive`` otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.05
VERDICTS = ("supported", "contradicted", "inconclusive", "not testable")


@dataclass(frozen=True)
class Claim:
    """One claim of the papers, as the findings test it.

    Attributes
    ----------
    id : int
        Its number in the findings table, the report and the figures.
    text, source : str
    side : {"below", "above"}
        The claim says the statistic lies below (above) the threshold.
    threshold : str or float
        A key of the ``findings:`` settings (e.g. ``"almost_none"``), or a fixed value.
    rationale : str
        Why this threshold (shown in docs/statistics.md).
    """

    id: int
    text: str
    source: str
    side: str
    threshold: str | float
    rationale: str

    def threshold_value(self, settings) -> float:
        """The threshold under the given ``findings:`` settings."""
        if isinstance(self.threshold, str):
            return float(settings[self.threshold])
        return float(self.threshold)

    def rule(self, threshold: float, *, with_interval: bool = True) -> str:
        """The rule text of a test row."""
        t = f"{threshold:g}"
        lo, hi = ("ci_high <", "ci_low >") if self.side == "below" else ("ci_low >", "ci_high <")
        if not with_interval:
            lo, hi = (
                ("statistic <", "statistic >")
                if self.side == "below"
                else ("statistic >", "statistic <")
            )
        adj = f"Holm-adjusted p < {ALPHA:g}"
        return f"supported if {lo} {t} and {adj}; contradicted if {hi} {t} and {adj}"

    def verdict(self, row: dict) -> str:
        """The verdict of a test row with keys value, ci_low, ci_high, p_holm, threshold,
        testable."""
        if not row.get("testable", True):
            return "not testable"
        t = float(row["threshold"])
        p = float(row["p_holm"])
        if not math.isfinite(p) or p >= ALPHA:
            return "inconclusive"
        low, high = float(row["ci_low"]), float(row["ci_high"])
        if math.isnan(low) and math.isnan(high):  # a test without an interval
            low = high = float(row["value"])
        if math.isnan(low) or math.isnan(high):
            return "inconclusive"
        below, above = high < t, low > t
        if self.side == "above":
            below, above = above, below
        if below:
            return "supported"
        if above:
            return "contradicted"
        return "inconclusive"


SUMMARY_RULE = (
    "supported if every model's row is supported; contradicted if any model's row is "
    "contradicted; else inconclusive"
)


def summary_verdict(verdicts) -> str:
    """The verdict of an "every model" row from its models' verdicts."""
    verdicts = [v for v in verdicts if v != "not testable"]
    if not verdicts:
        return "not testable"
    if any(v == "contradicted" for v in verdicts):
        return "contradicted"
    if all(v == "supported" for v in verdicts):
        return "supported"
    return "inconclusive"


CLAIMS = {
    1: Claim(
        1,
        "almost no test sample is inside the training hull",
        "Balestriero et al. 2021",
        "below",
        "almost_none",
        "'almost no' read as fewer than 1 in 20 test samples; the sensitivity table also "
        "gives 1 in 10",
    ),
    2: Claim(
        2,
        "the intrinsic space is low-dimensional",
        "Bonnasse-Gahot 2022",
        "below",
        "low_dimensional",
        "'low-dimensional' relative to the layer: an autoencoder needs fewer than half of "
        "its units to reconstruct it (the sweep reaches the width, so the ratio can reach 1)",
    ),
    3: Claim(
        3,
        "the better the model, the lower the intrinsic dimension",
        "Bonnasse-Gahot 2022",
        "below",
        0.0,
        "a negative association of accuracy and dimension, of any size",
    ),
    4: Claim(
        4,
        "in the intrinsic space most test samples are inside the training hull",
        "Bonnasse-Gahot 2022",
        "above",
        "most",
        "'most' read literally: more than half",
    ),
    5: Claim(
        5,
        "proximity to the training set relates to errors better than hull membership",
        "Bonnasse-Gahot 2022",
        "above",
        0.0,
        "any AUROC advantage of the proximity measure over the hull measure",
    ),
}


@dataclass(frozen=True)
class Family:
    """Tests that share one Holm adjustment, and the rows' unit."""

    name: str
    claim: int
    unit: str
    description: str


FAMILIES = {
    f.name: f
    for f in (
        Family(
            "1: per model",
            1,
            "test images (crossed) x seeds (replicates)",
            "the fraction of test images inside the training hull, in pixel space (one "
            "hull for every model) and in each model's last hidden layer",
        ),
        Family(
            "2: zoo",
            2,
            "models",
            "intrinsic dimension over the layer's width, seed means, mean over models",
        ),
        Family(
            "3: primary",
            3,
            "models (seed means)",
            "the one test named in advance: Spearman of accuracy and the autoencoder "
            "dimension across the zoo",
        ),
        Family(
            "3: secondary",
            3,
            "models (seed means)",
            "the slope of dimension on accuracy across the zoo, and the within-lever "
            "trends combined over the levers",
        ),
        Family(
            "3: levers",
            3,
            "models of one lever (seed means)",
            "the ordered trend of the dimension along each lever, worst model to best",
        ),
        Family(
            "3: TwoNN cross-check",
            3,
            "models (seed means)",
            "Spearman of accuracy and the TwoNN dimension",
        ),
        Family(
            "4: per model",
            4,
            "test images (crossed) x seeds (replicates)",
            "the fraction of test images inside the training hull in each model's intrinsic space",
        ),
        Family(
            "5: zoo",
            5,
            "models (seeds within), test images paired",
            "AUROC of a proximity measure minus AUROC of a hull measure for detecting errors, "
            "per space, hull measure and proximity family",
        ),
    )
}

#: The proximity measure of each family, fixed in advance (not chosen on the scored
#: images): the distance to the nearest training point, and the share of the 10 nearest
#: training points whose label agrees with the model's prediction.
PROXIMITY = {"distance": "nn_distance", "neighbour labels": "knn_pred_agreement"}
#: The hull measures proximity is compared with: membership, and the graded distance.
HULL_MEASURES = ("outside_hull", "hull_distance")
