"""Figures of the analysis tables (PNG).

Every function takes a table from :mod:`neuralhull.measures` (or the workflow's model and
latent tables) and an output path, and writes one PNG atomically. Figures are built as
:class:`matplotlib.figure.Figure` objects, never through ``pyplot``: nothing is registered
in pyplot's global figure list, no backend is switched, and PNG output is rendered by Agg.
Seaborn styles are applied through context managers, so global rcParams stay untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from neuralhull.checks import require_columns
from neuralhull.io import atomic_path
from neuralhull.measures import MEASURES

DPI = 150

# Ratio of largest to smallest value from which an axis is drawn logarithmic.
_LOG_SPAN = 10.0


@contextlib.contextmanager
def _style() -> Iterator[None]:
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        yield


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """A figure's table: a DataFrame with ``columns`` and at least one row."""
    require_columns(df, columns, name, nonempty="to plot")


def _save(fig: Figure, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")


def _palette(names) -> dict:
    """One distinct colour per name: the colour-blind palette while it lasts (10 colours),
    evenly spaced hues beyond, so no two spaces or models ever share a colour."""
    names = list(dict.fromkeys(names))
    scheme = "colorblind" if len(names) <= 10 else "husl"
    return dict(zip(names, sns.color_palette(scheme, len(names)), strict=True))


def over_seeds(df: pd.DataFrame, keys: Sequence[str], column: str) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1; 0 for a single seed) and count of ``column`` over the
    seeds of every ``keys`` group, in first-seen order."""
    grouped = df.groupby(list(keys), sort=False)[column]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def model_order(df: pd.DataFrame, accuracy: pd.DataFrame | None = None) -> list:
    """Models by increasing mean test accuracy when known, else in first-seen order."""
    models = list(dict.fromkeys(df["model"]))
    if accuracy is not None and {"model", "test_accuracy"} <= set(accuracy.columns):
        mean = accuracy.groupby("model")["test_accuracy"].mean()
        models.sort(key=lambda m: mean.get(m, np.inf))
    return models


def deciles_over_seeds(deciles: pd.DataFrame) -> pd.DataFrame:
    """The per-run decile table summarised over seeds, for :func:`plot_accuracy_by_decile`:
    ``accuracy`` the mean over seeds, ``accuracy_sd`` their standard deviation, ``n`` the
    samples of every seed together."""
    keys = ["model", "space", "measure", "bin"]
    stats = over_seeds(deciles.dropna(subset=["accuracy"]), keys, "accuracy")
    counts = deciles.groupby(keys, sort=False)["n"].sum().reset_index()
    return stats.rename(columns={"mean": "accuracy", "std": "accuracy_sd"}).merge(counts, on=keys)


def aurocs_over_seeds(measures: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """The per-run measures table summarised over seeds, for :func:`plot_auroc`: ``auroc``
    the mean over seeds, ``low`` / ``high`` one standard deviation either side; models in
    ``order``."""
    stats = over_seeds(measures.dropna(subset=["auroc"]), ["model", "space", "measure"], "auroc")
    stats = stats.assign(
        model=stats["model"].astype(str),
        auroc=stats["mean"],
        low=stats["mean"] - stats["std"],
        high=stats["mean"] + stats["std"],
    )
    return stats.sort_values("model", key=lambda m: m.map(list(order).index), kind="stable")


def plot_fraction_inside(hull_df: pd.DataFrame, path, *, models_df=None) -> None:
    """Fraction of decided test samples inside the training hull, per model and space.

    x = model (by increasing test accuracy when ``models_df`` is given), colour = space
    (reading order: pixels, activations, intrinsic space, then the scored sizes); a point is
    the mean over the model's seeds, its bar the standard deviation over seeds, small dots
    the seeds themselves. Undecided samples are not in the fractions; their total is stated.

    Parameters
    ----------
    hull_df : DataFrame
        Hull table: model, seed (optional), space, fraction_inside, queries, undecided.
    path : str or Path
        PNG to write.
    models_df : DataFrame, optional
        Models table (model, test_accuracy) that orders the x-axis.
    """
    _require(hull_df, ["model", "space", "fraction_inside"], "hull table")
    data = hull_df.dropna(subset=["fraction_inside"])
    order = model_order(hull_df, models_df)
    space_order = _space_order(hull_df["space"])
    palette = _palette(space_order)
    width = 0.8 / max(1, len(space_order))
    with _style():
        fig = Figure(figsize=(max(6.4, 0.9 * len(order) + 2.5), 4.4))
        ax = fig.subplots()
        for k, space in enumerate(space_order):
            rows = data[data["space"] == space]
            if rows.empty:
                continue
            stats = over_seeds(rows, ["model"], "fraction_inside")
            offset = (k - (len(space_order) - 1) / 2) * width
            x = np.array([order.index(m) for m in stats["model"]], dtype=float) + offset
            ax.errorbar(
                x,
                stats["mean"],
                yerr=stats["std"],
                fmt="o",
                markersize=5,
                capsize=3,
                color=palette[space],
                label=space,
            )
            xs = np.array([order.index(m) for m in rows["model"]], dtype=float) + offset
            ax.scatter(xs, rows["fraction_inside"], s=8, color=palette[space], alpha=0.5)
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels(order, rotation=30, ha="right", fontsize="small")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("model (by increasing test accuracy)")
        ax.set_ylabel("fraction of test samples inside the hull")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        notes = []
        if {"undecided", "queries"} <= set(data.columns) and data["undecided"].sum() > 0:
            notes.append(
                f"undecided: {int(data['undecided'].sum())} of {int(data['queries'].sum())} "
                "queries (left out of the fractions)"
            )
        n_missing = len(hull_df) - len(data)
        if n_missing:
            notes.append(f"{n_missing} run/space pair(s) with nothing decided not shown")
        if notes:
            ax.set_title("; ".join(notes), fontsize="small")
        _save(fig, path)


def plot_reconstruction(latent_df: pd.DataFrame, path, *, thresholds=(), threshold=None) -> None:
    """Held-out reconstruction R² of the autoencoder vs latent size, per model.

    The thick line is the median over the model's seeds, the thin lines the seeds (a seed
    whose R² falls below the axis has outliers in its held-out activations).
    Horizontal lines mark the R² thresholds (solid: the one that chooses the intrinsic
    dimension; dotted: the reported ones); where a model's mean curve first reaches a
    threshold is where that threshold puts its intrinsic dimension.

    Parameters
    ----------
    latent_df : DataFrame
        Columns model, latent_size, r2 and optionally seed.
    path : str or Path
        PNG to write.
    thresholds : sequence of float
        Reported thresholds; ``threshold`` the one that chooses.
    """
    _require(latent_df, ["model", "latent_size", "r2"], "latent table")
    stats = over_seeds(latent_df, ["model", "latent_size"], "r2").sort_values(
        ["model", "latent_size"], kind="stable"
    )
    palette = _palette(dict.fromkeys(latent_df["model"]))
    with _style():
        fig = Figure(figsize=(6.8, 4.6))
        ax = fig.subplots()
        runs = ["model", "seed"] if "seed" in latent_df.columns else ["model"]
        for key, run in latent_df.sort_values("latent_size").groupby(runs, sort=False):
            model = key[0] if isinstance(key, tuple) else key
            ax.plot(run["latent_size"], run["r2"], color=palette[model], alpha=0.35, lw=0.8)
        median = latent_df.groupby(["model", "latent_size"], sort=False)["r2"].median()
        for model in palette:
            y = median.loc[model].sort_index()
            ax.plot(y.index, y.values, marker="o", markersize=3, color=palette[model], label=model)
        for t in sorted(set(thresholds) | ({threshold} if threshold is not None else set())):
            ax.axhline(
                t,
                color="black",
                linewidth=1.0 if t == threshold else 0.8,
                linestyle="-" if t == threshold else ":",
            )
            ax.annotate(
                f"R² = {t:g}",
                (1.0, t),
                xycoords=("axes fraction", "data"),
                fontsize="x-small",
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
            )
        # the sweep runs from 1 to the layer's width, finely at small sizes: a log axis
        sizes = np.unique(latent_df["latent_size"].to_numpy(dtype=float))
        if sizes.max() / sizes.min() >= _LOG_SPAN:
            ax.set_xscale("log", base=2)
            powers = 2.0 ** np.arange(np.ceil(np.log2(sizes.min())), np.log2(sizes.max()) + 1)
            ax.set_xticks(np.union1d(powers, sizes[-1:]))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("latent size")
        ax.set_ylabel("held-out reconstruction R² (median and seeds)")
        low = float(np.nanmin(stats["mean"] - stats["std"]))
        ax.set_ylim(max(-0.05, min(0.5, low - 0.02)), 1.01)
        ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), frameon=False)
        _save(fig, path)


def plot_intrinsic_vs_accuracy(
    models_df: pd.DataFrame,
    path,
    *,
    latent_column: str = "latent_dim",
    twonn_column: str = "twonn",
) -> None:
    """Intrinsic dimension of the last hidden layer vs test accuracy, across models.

    Left: the latent size chosen from the autoencoder fits; right: the TwoNN estimate (when
    the column exists). A point is a model's mean over its seeds, the bars the standard
    deviation over seeds on both axes; colour = the model's lever (or architecture).

    Parameters
    ----------
    models_df : DataFrame
        Columns model, arch, test_accuracy, ``latent_column`` and optionally
        ``twonn_column``, ``lever``, ``seed``.
    path : str or Path
        PNG to write.
    """
    _require(models_df, ["model", "arch", "test_accuracy", latent_column], "models table")
    if "lever" in models_df:  # an empty lever (the default) is read back from a table as NaN
        models_df = models_df.assign(lever=models_df["lever"].fillna("").astype(str))
    group_column = (
        "lever" if "lever" in models_df and models_df["lever"].astype(bool).any() else "arch"
    )
    columns = [c for c in (latent_column, twonn_column) if c in models_df.columns]
    palette = _palette(models_df[group_column])
    with _style():
        fig = Figure(figsize=(5.0 * len(columns) + 1.5, 4.4))
        axes = np.atleast_1d(fig.subplots(1, len(columns), squeeze=False).ravel())
        for ax, column in zip(axes, columns, strict=True):
            for model, group in models_df.groupby("model", sort=False):
                acc = pd.to_numeric(group["test_accuracy"], errors="coerce")
                dim = pd.to_numeric(group[column], errors="coerce")
                colour = palette[group[group_column].iloc[0]]
                ax.errorbar(
                    acc.mean(),
                    dim.mean(),
                    xerr=acc.std(ddof=1) if len(group) > 1 else 0.0,
                    yerr=dim.std(ddof=1) if len(group) > 1 else 0.0,
                    fmt="o",
                    markersize=6,
                    capsize=3,
                    color=colour,
                )
                ax.annotate(
                    str(model),
                    (acc.mean(), dim.mean()),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize="x-small",
                )
            ax.margins(x=0.12, y=0.12)
            ax.set_xlabel("test accuracy (mean ± sd over seeds)")
            ax.set_ylabel(
                "autoencoder intrinsic dimension" if column == latent_column else "TwoNN estimate"
            )
        handles = [
            Line2D([], [], marker="o", linestyle="", color=palette[g], label=str(g))
            for g in palette
        ]
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.0, 0.95),
            frameon=False,
            title=group_column,
        )
        fig.tight_layout()
        _save(fig, path)


_SPACE_KINDS = ("input", "input-pca", "activation", "activation-pca", "intrinsic", "latent")


def _space_order(values) -> list:
    """Spaces in reading order: pixels, their PCA, activations, their PCA, latent codes,
    each by increasing size (so ``latent16`` follows ``latent8``); unknown names last."""

    def key(space: str):
        kind, size = space.rstrip("0123456789"), space[len(space.rstrip("0123456789")) :]
        rank = _SPACE_KINDS.index(kind) if kind in _SPACE_KINDS else len(_SPACE_KINDS)
        return (rank, int(size) if size else -1, space)

    return sorted(dict.fromkeys(values), key=key)


def _ordered(values, reference) -> list:
    present = list(dict.fromkeys(values))
    known = [v for v in reference if v in present]
    return known + [v for v in present if v not in known]


def plot_accuracy_by_decile(decile_df: pd.DataFrame, path, *, models=None) -> None:
    """Accuracy within deciles of every measure: rows = models, columns = measures.

    Bins are ordered by risk as in :func:`neuralhull.measures.decile_table` (1 = least
    error-prone by the measure), colour = space. The dashed line is the model's accuracy
    over all binned samples of the panel. All models are shown by default because the
    question is how the relation changes with model quality; pass ``models`` to restrict.

    Parameters
    ----------
    decile_df : DataFrame
        :func:`neuralhull.measures.decile_table` output.
    path : str or Path
        PNG to write.
    models : sequence of str, optional
        Models to show, in this order.
    """
    _require(decile_df, ["model", "space", "measure", "bin", "n", "accuracy"], "decile table")
    data = decile_df
    if models is not None:
        unknown = set(models) - set(data["model"])
        if unknown:
            raise ValueError(f"models not in the decile table: {sorted(unknown)}")
        data = data[data["model"].isin(models)]
    model_order = list(models) if models is not None else list(dict.fromkeys(data["model"]))
    measure_order = _ordered(data["measure"], list(MEASURES))
    palette = _palette(_space_order(data["space"]))
    n_rows, n_cols = len(model_order), len(measure_order)
    with _style():
        fig = Figure(figsize=(2.5 * n_cols + 1.6, 2.2 * n_rows + 0.6))
        axes = np.atleast_2d(fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False))
        for i, model in enumerate(model_order):
            for j, measure in enumerate(measure_order):
                ax = axes[i, j]
                panel = data[(data["model"] == model) & (data["measure"] == measure)]
                shown = panel[panel["n"] > 0].dropna(subset=["accuracy"])
                for space, group in shown.groupby("space", sort=False):
                    ax.errorbar(
                        group["bin"],
                        group["accuracy"],
                        yerr=group["accuracy_sd"] if "accuracy_sd" in group else None,
                        marker="o",
                        markersize=3.5,
                        capsize=1.5,
                        color=palette[space],
                        label=space,
                    )
                if shown["n"].sum() > 0:
                    overall = np.average(shown["accuracy"], weights=shown["n"])
                    ax.axhline(overall, color="grey", linestyle="--", linewidth=1)
                if i == 0:
                    ax.set_title(measure, fontsize="small")
                if j == 0:
                    ax.set_ylabel(f"{model}\naccuracy", fontsize="small")
                if i == n_rows - 1:
                    ax.set_xlabel("bin (1 = least error-prone)", fontsize="small")
        n_bins = int(data["bin"].max())
        axes[0, 0].set_xticks(range(1, n_bins + 1, max(1, n_bins // 5)))
        handles = [Line2D([], [], marker="o", color=palette[s], label=s) for s in palette]
        handles.append(Line2D([], [], color="grey", linestyle="--", label="overall accuracy"))
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=False)
        fig.tight_layout()
        _save(fig, path)


def plot_auroc(measures_df: pd.DataFrame, path) -> None:
    """Oriented AUROC of every measure for detecting errors, with bootstrap intervals.

    One panel per model; x = measure, colour = space (dodged), bars = bootstrap interval,
    dashed line = chance (0.5). Rows without an AUROC (one class empty) are not drawn.

    Parameters
    ----------
    measures_df : DataFrame
        :func:`neuralhull.measures.measures_table` output.
    path : str or Path
        PNG to write.
    """
    _require(measures_df, ["model", "space", "measure", "auroc", "low", "high"], "measures table")
    data = measures_df.dropna(subset=["auroc"])
    model_order = list(dict.fromkeys(measures_df["model"]))
    measure_order = _ordered(measures_df["measure"], list(MEASURES))
    space_order = _space_order(measures_df["space"])
    palette = _palette(space_order)
    width = 0.8 / max(1, len(space_order))
    n_cols = min(3, len(model_order))
    n_rows = -(-len(model_order) // n_cols)
    with _style():
        fig = Figure(figsize=(0.75 * len(measure_order) * n_cols + 2.0, 3.4 * n_rows + 0.8))
        axes = fig.subplots(n_rows, n_cols, sharey=True, squeeze=False).ravel()
        for ax, model in zip(axes, model_order, strict=False):
            panel = data[data["model"] == model]
            for k, space in enumerate(space_order):
                rows = panel[panel["space"] == space]
                if rows.empty:
                    continue
                x = np.array([measure_order.index(m) for m in rows["measure"]], dtype=float)
                x += (k - (len(space_order) - 1) / 2) * width
                y = rows["auroc"].to_numpy(dtype=float)
                below = np.clip(y - rows["low"].to_numpy(dtype=float), 0, None)
                above = np.clip(rows["high"].to_numpy(dtype=float) - y, 0, None)
                ax.errorbar(
                    x,
                    y,
                    yerr=np.nan_to_num(np.vstack([below, above])),
                    fmt="o",
                    markersize=4,
                    capsize=2,
                    color=palette[space],
                    label=space,
                )
            ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
            ax.grid(axis="x", visible=False)
            ax.set_xticks(range(len(measure_order)))
            ax.set_xticklabels(measure_order, rotation=40, ha="right", fontsize="small")
            ax.set_xlim(-0.6, len(measure_order) - 0.4)
            ax.set_title(str(model), fontsize="small")
        for ax in axes[len(model_order) :]:
            ax.set_visible(False)
        for ax in axes[::n_cols]:
            ax.set_ylabel("AUROC for errors (0.5 = chance)")
        handles = [
            Line2D([], [], marker="o", linestyle="", color=palette[s], label=s) for s in space_order
        ]
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=False)
        fig.tight_layout()
        _save(fig, path)


_VERDICT_COLOURS = {
    "supported": "#1b7837",
    "contradicted": "#b2182b",
    "inconclusive": "#7f7f7f",
    "not testable": "#8a6d00",
}


def plot_findings(findings_df: pd.DataFrame, path) -> None:
    """Every claim of the findings table as its statistic with its 95% interval.

    One panel per kind of statistic (fractions inside, dimension / width, rank
    correlations, AUROC differences); a row per claim and scope, the dashed line its
    threshold, colour = verdict (green supported, red contradicted, grey inconclusive).

    Parameters
    ----------
    findings_df : DataFrame
        Columns claim, scope, statistic, value, ci_low, ci_high, threshold, verdict.
    path : str or Path
        PNG to write.
    """
    _require(
        findings_df,
        ["claim", "scope", "statistic", "value", "ci_low", "ci_high", "threshold", "verdict"],
        "findings table",
    )
    data = findings_df.copy()
    family = np.select(
        [
            data["statistic"].str.contains("fraction"),
            data["statistic"].str.contains("/ width"),
            data["statistic"].str.startswith(("Spearman", "Kendall")),
            data["statistic"].str.startswith(("dimension per unit", "combined z")),
        ],
        [
            "fraction inside the training hull",
            "intrinsic dimension / width",
            "rank correlations (Spearman, Kendall)",
            "slope and combined trend z",
        ],
        default="AUROC(proximity) - AUROC(outside hull)",
    )
    data["family"] = family
    families = list(dict.fromkeys(data["family"]))
    heights = [max(1, (data["family"] == f).sum()) for f in families]
    with _style():
        fig = Figure(figsize=(8.0, 0.42 * sum(heights) + 1.2 * len(families)))
        axes = fig.subplots(len(families), 1, squeeze=False, height_ratios=heights).ravel()
        for ax, fam in zip(axes, families, strict=True):
            rows = data[data["family"] == fam].reset_index(drop=True)
            y = np.arange(len(rows))[::-1]
            for yi, (_, row) in zip(y, rows.iterrows(), strict=True):
                colour = _VERDICT_COLOURS.get(row["verdict"], "black")
                value, low, high = (float(row[c]) for c in ("value", "ci_low", "ci_high"))
                if np.isfinite(value):
                    err = [[max(0.0, value - low)], [max(0.0, high - value)]]
                    ax.errorbar(
                        value, yi, xerr=np.nan_to_num(err), fmt="o", color=colour, capsize=3
                    )
                ax.plot(
                    [row["threshold"]] * 2,
                    [yi - 0.4, yi + 0.4],
                    color="black",
                    linestyle="--",
                    linewidth=1,
                )
            ax.set_yticks(y)
            labels = [f"{r.source.split()[0]}: {r.scope} [{r.verdict}]" for r in rows.itertuples()]
            ax.set_yticklabels(labels, fontsize="x-small")
            ax.set_title(fam, fontsize="small")
            ax.set_ylim(-0.6, len(rows) - 0.4)
        handles = [
            Line2D([], [], marker="o", linestyle="", color=c, label=v)
            for v, c in _VERDICT_COLOURS.items()
        ]
        handles.append(Line2D([], [], color="black", linestyle="--", label="threshold"))
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.98), frameon=False)
        fig.tight_layout()
        _save(fig, path)
