"""Each theory experiment's summary table, collected from the tables of its jobs."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from neuralhull.theory.hull_probability import HULL_PROBABILITY_COLUMNS, SAMPLE_KINDS
from neuralhull.theory.real_dimension import REAL_DIMENSION_METHODS

__all__ = ["collect_parts"]


_SUMMARY_COLUMNS = {
    "hull_probability": list(HULL_PROBABILITY_COLUMNS),
    "real_dimension": [
        "dataset",
        "method",
        "k",
        "dimension",
        "rank",
        "n_train",
        "queries",
        "inside",
        "outside",
        "undecided",
        "fraction_inside",
    ],
    "embedding": [
        "dataset",
        "reading",
        "k",
        "test_accuracy",
        "train_accuracy",
        "rank",
        "dead_units",
        "n_train",
        "queries",
        "inside",
        "outside",
        "undecided",
        "fraction_inside",
    ],
    "double_descent": [
        "model",
        "gamma",
        "snr",
        "r2",
        "sigma2",
        "seed",
        "n",
        "p",
        "n_latent",
        "risk",
        "theory",
        "theory_finite_n",
    ],
}


_DATASET_ORDER = ("digits", "mnist", "fashion_mnist", "cifar10")


def _dataset_order(table: pd.DataFrame) -> pd.Series:
    # a fixed order (simplest first), then any other name alphabetically: the same rows
    # whatever the order of the parts
    others = sorted(set(table["dataset"]) - set(_DATASET_ORDER))
    rank = {d: i for i, d in enumerate((*_DATASET_ORDER, *others))}
    return table["dataset"].map(rank)


def collect_parts(experiment: str, parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One experiment's summary table from the tables of its jobs.

    Concatenates the parts, checks the columns and orders the rows (sample kinds and
    methods in their fixed order, then numerically), so the table does not depend on the
    order in which jobs finished.

    Parameters
    ----------
    experiment : {"hull_probability", "real_dimension", "embedding", "double_descent"}
    parts : sequence of DataFrame

    Returns
    -------
    pandas.DataFrame
    """
    if experiment not in _SUMMARY_COLUMNS:
        raise ValueError(
            f"unknown theory experiment {experiment!r}; expected one of {list(_SUMMARY_COLUMNS)}"
        )
    if not parts:
        raise ValueError(f"{experiment}: no parts to collect")
    columns = _SUMMARY_COLUMNS[experiment]
    for i, part in enumerate(parts):
        missing = [c for c in columns if c not in part.columns]
        if missing:
            raise ValueError(f"{experiment}: part {i} lacks column(s) {missing}")
    table = pd.concat([part[columns] for part in parts], ignore_index=True)
    if experiment == "hull_probability":
        order = table["kind"].map({kind: i for i, kind in enumerate(SAMPLE_KINDS)})
        keys = [order, table["d"], table["N"]]
    elif experiment == "real_dimension":
        order = table["method"].map({m: i for i, m in enumerate(REAL_DIMENSION_METHODS)})
        keys = [_dataset_order(table), order, table["k"]]
    elif experiment == "embedding":
        keys = [_dataset_order(table), table["reading"].map({"linear": 0, "relu": 1}), table["k"]]
    else:
        order = table["model"].map({"isotropic": 0, "relu": 1})
        keys = [order, table["gamma"], table["snr"], table["seed"]]
    sort = pd.DataFrame({f"key{i}": key for i, key in enumerate(keys)})
    return table.loc[sort.sort_values(list(sort.columns), kind="stable").index].reset_index(
        drop=True
    )
