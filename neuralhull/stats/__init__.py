"""The project's statistics: intervals, trend tests and the simulations that check them.

Every claim of the workflow is a statistic with a 95 % interval, and the data behind it
have a structure that ordinary formulas ignore: every run scores the *same* test images (a
crossed random factor shared by all runs), and runs are seeds nested in models.  This
subpackage owns the methods that respect that structure and the evidence that they do:

* :mod:`neuralhull.stats.auroc`: the AUROC of one score for detecting errors, with DeLong's
  and the percentile bootstrap's intervals over the test samples of one run;
* :mod:`neuralhull.stats.deciles`: quantile bins of a score, ties never split;
* :mod:`neuralhull.stats.intervals`: Wilson, t and BCa intervals for few units, and the
  two-way (images x seeds, images x models) bootstraps for per-model and zoo-level means
  and for paired AUROC differences;
* :mod:`neuralhull.stats.trend`: ordered-trend tests within a lever (Jonckheere-Terpstra,
  Page's L) and their stratified combination across levers;
* :mod:`neuralhull.stats.simulate`: data with the workflow's structure and a known truth;
* :mod:`neuralhull.stats.coverage`: the coverage study of every interval method
  (``python -m neuralhull.stats.coverage``);
* :mod:`neuralhull.stats.power`: the power of the across-zoo correlation and of the
  within-lever trend tests (``python -m neuralhull.stats.power``).

The functions take NumPy arrays (shapes in each docstring) and a seeded
``numpy.random.Generator``; they need only NumPy and SciPy.
"""

from neuralhull.stats.intervals import (
    Interval,
    bca_interval,
    model_auroc_difference_interval,
    model_mean_interval,
    t_interval,
    weighted_auroc,
    wilson_interval,
    zoo_auroc_difference_interval,
    zoo_mean_interval,
)
from neuralhull.stats.trend import (
    TrendResult,
    jonckheere_terpstra,
    page_trend,
    stratified_trend_test,
)

__all__ = [
    "Interval",
    "TrendResult",
    "bca_interval",
    "jonckheere_terpstra",
    "model_auroc_difference_interval",
    "model_mean_interval",
    "page_trend",
    "stratified_trend_test",
    "t_interval",
    "weighted_auroc",
    "wilson_interval",
    "zoo_auroc_difference_interval",
    "zoo_mean_interval",
]
