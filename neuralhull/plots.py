"""Figures of the analysis tables (PNG).

Every function takes a table from :mod:`neuralhull.analysis` (or the workflow's model and
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

from neuralhull.analysis import MEASURES
from neuralhull.io import atomic_path

DPI = 150

# Ratio of largest to smallest value from which an axis is drawn logarithmic.
_LOG_SPAN = 10.0


@contextlib.contextmanager
def _style() -> Iterator[None]:
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        yield


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}")
    if df.empty:
        raise ValueError(f"{name} has no rows to plot")


def _save(fig: Figure, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")


def _palette(names) -> dict:
    """One distinct colour per name: the colour-blind palette while it lasts (10 colours),
    evenly spaced hues beyond, so no two spaces or models ever share a colour."""
    names = list(dict.fromkeys(names))
    scheme = "colorblind" if len(names) <= 10 else "husl"
    return dict(zip(names, sns.color_palette(scheme, len(names)), strict=True))


def _maybe_log_x(ax, values, base: float = 10) -> None:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() >= _LOG_SPAN:
        ax.set_xscale("log", base=base)
        if base == 2:
            ticks = np.unique(values)
            ax.set_xticks(ticks)
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())


def plot_fraction_inside(hull_df: pd.DataFrame, path) -> None:
    """Fraction of decided test samples inside the training hull vs the space's dimension.

    One line per (space kind, model): colour = kind, line style and marker = model. The
    x-axis is logarithmic when dimensions span a decade or more. Undecided samples are not
    in the fractions; their total is stated on the figure.

    Parameters
    ----------
    hull_df : DataFrame
        :func:`neuralhull.analysis.hull_table` output (model, kind, dimension,
        fraction_inside, queries, undecided).
    path : str or Path
        PNG to write.
    """
    _require(hull_df, ["model", "kind", "dimension", "fraction_inside"], "hull table")
    data = hull_df.sort_values(["kind", "model", "dimension"])
    with _style():
        fig = Figure(figsize=(6.4, 4.4))
        ax = fig.subplots()
        plotted = data.dropna(subset=["fraction_inside"])
        if not plotted.empty:
            sns.lineplot(
                data=plotted,
                x="dimension",
                y="fraction_inside",
                hue="kind",
                style="model",
                markers=True,
                estimator=None,
                sort=True,
                palette=_palette(data["kind"]),
                ax=ax,
            )
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        _maybe_log_x(ax, data["dimension"])
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("dimension of the space")
        ax.set_ylabel("fraction of test samples inside the hull")
        notes = []
        if {"undecided", "queries"} <= set(data.columns) and data["undecided"].sum() > 0:
            notes.append(
                f"undecided: {int(data['undecided'].sum())} of {int(data['queries'].sum())} "
                "queries (left out of the fractions)"
            )
        n_missing = len(data) - len(plotted)
        if n_missing:
            notes.append(f"{n_missing} model/space pair(s) with nothing decided not shown")
        if notes:
            ax.set_title("; ".join(notes), fontsize="small")
        _save(fig, path)


def plot_reconstruction(latent_df: pd.DataFrame, path) -> None:
    """Held-out reconstruction R² of the autoencoder vs latent size, per model.

    The chosen latent size of every model is marked with a star.

    Parameters
    ----------
    latent_df : DataFrame
        Columns model, latent_size, r2, chosen (bool).
    path : str or Path
        PNG to write.
    """
    _require(latent_df, ["model", "latent_size", "r2", "chosen"], "latent table")
    data = latent_df.sort_values(["model", "latent_size"])
    palette = _palette(data["model"])
    with _style():
        fig = Figure(figsize=(6.4, 4.4))
        ax = fig.subplots()
        sns.lineplot(
            data=data,
            x="latent_size",
            y="r2",
            hue="model",
            marker="o",
            estimator=None,
            palette=palette,
            ax=ax,
        )
        chosen = data[data["chosen"].astype(bool)]
        ax.scatter(
            chosen["latent_size"],
            chosen["r2"],
            marker="*",
            s=220,
            c=[palette[m] for m in chosen["model"]],
            edgecolors="black",
            linewidths=0.8,
            zorder=5,
            label="chosen size",
        )
        _maybe_log_x(ax, data["latent_size"], base=2)
        ax.set_xlabel("latent size")
        ax.set_ylabel("held-out reconstruction R²")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        _save(fig, path)


def plot_intrinsic_vs_accuracy(
    models_df: pd.DataFrame,
    path,
    *,
    latent_column: str = "latent_dim",
    twonn_column: str = "twonn",
) -> None:
    """Intrinsic dimension of the activations vs test accuracy, across models.

    Circles: latent size chosen from the autoencoder fits; crosses: TwoNN estimate (when
    the column exists). Colour = architecture; every model is labelled.

    Parameters
    ----------
    models_df : DataFrame
        Columns model, arch, test_accuracy, ``latent_column`` and optionally
        ``twonn_column``.
    path : str or Path
        PNG to write.
    latent_column, twonn_column : str
        Names of the chosen-latent-size and TwoNN columns.
    """
    _require(models_df, ["model", "arch", "test_accuracy", latent_column], "models table")
    palette = _palette(models_df["arch"])
    with _style():
        fig = Figure(figsize=(6.4, 4.4))
        ax = fig.subplots()
        for arch, group in models_df.groupby("arch", sort=False):
            ax.scatter(
                group["test_accuracy"],
                group[latent_column],
                marker="o",
                s=50,
                color=palette[arch],
                label=f"{arch}: autoencoder latent size",
            )
            if twonn_column in group.columns:
                ax.scatter(
                    group["test_accuracy"],
                    group[twonn_column],
                    marker="x",
                    s=50,
                    color=palette[arch],
                    label=f"{arch}: TwoNN",
                )
                for _, row in group.iterrows():
                    ax.plot(
                        [row["test_accuracy"]] * 2,
                        [row[latent_column], row[twonn_column]],
                        color=palette[arch],
                        alpha=0.35,
                        linewidth=1,
                    )
        for _, row in models_df.iterrows():
            ax.annotate(
                str(row["model"]),
                (row["test_accuracy"], row[latent_column]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="x-small",
            )
        ax.margins(x=0.12, y=0.1)
        ax.set_xlabel("test accuracy")
        ax.set_ylabel("intrinsic dimension of the last hidden layer")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        _save(fig, path)


_SPACE_KINDS = ("input", "input-pca", "activation", "activation-pca", "latent")


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

    Bins are ordered by risk as in :func:`neuralhull.analysis.decile_table` (1 = least
    error-prone by the measure), colour = space. The dashed line is the model's accuracy
    over all binned samples of the panel. All models are shown by default because the
    question is how the relation changes with model quality; pass ``models`` to restrict.

    Parameters
    ----------
    decile_df : DataFrame
        :func:`neuralhull.analysis.decile_table` output.
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
                    ax.plot(
                        group["bin"],
                        group["accuracy"],
                        marker="o",
                        markersize=3.5,
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
        :func:`neuralhull.analysis.measures_table` output.
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
