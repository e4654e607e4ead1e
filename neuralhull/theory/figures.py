"""Figures of the theory branch (PNG).

Each function takes one summary table of the theory branch (see
:func:`neuralhull.theory.summary.collect_parts`) and an output path, and writes one PNG
atomically. As in :mod:`neuralhull.plots`, figures are :class:`matplotlib.figure.Figure`
objects (no pyplot state) and seaborn styles are applied through context managers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from neuralhull.plots import _palette, _require, _save, _style
from neuralhull.stats.intervals import wilson_interval
from neuralhull.theory.formulas import relu_features_risk_theory, ridgeless_risk_theory

__all__ = [
    "FIGURES",
    "plot_double_descent",
    "plot_embedding",
    "plot_hull_probability",
    "plot_real_dimension",
]


def _log2_x(ax, values) -> None:
    """Logarithmic x-axis (base 2, plain tick labels) when values span a factor 4 or more."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() >= 4:
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(LogLocator(base=2))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())


def _undecided_note(df: pd.DataFrame) -> str:
    if "undecided" in df.columns and df["undecided"].sum() > 0:
        return (
            f"undecided: {int(df['undecided'].sum())} of {int(df['queries'].sum())} queries "
            "(left out of the fractions)"
        )
    return ""


def _wilson_yerr(df: pd.DataFrame) -> np.ndarray:
    """(2, n) asymmetric error bars: the 95% Wilson interval of inside / (inside + outside)
    around ``fraction_inside`` (undecided queries left out, as in the fraction)."""
    low, high = wilson_interval(
        df["inside"].to_numpy(dtype=int), (df["inside"] + df["outside"]).to_numpy(dtype=int)
    )
    low, high = np.atleast_1d(low), np.atleast_1d(high)
    fraction = df["fraction_inside"].to_numpy(dtype=float)
    return np.vstack([np.maximum(fraction - low, 0.0), np.maximum(high - fraction, 0.0)])


def _simulated(ax, x, y, stderr, colour) -> None:
    """Simulated values with their standard errors: small points, so that the theory's
    lines drawn over them stay readable."""
    ax.errorbar(x, y, yerr=stderr, fmt="o", ms=3.5, capsize=2, color=colour)


def plot_hull_probability(df: pd.DataFrame, path) -> None:
    """P(new sample inside the hull of N samples) vs N: one panel per kind, a colour per d.

    Monte-Carlo estimates are points with +- 1 standard error bars; the exact probability
    (where a theorem gives it) is a line of the same colour through the table's N; where
    none is known (the curve in d >= 2) a dotted line joins the estimates, and the table's
    ``upper_bound`` (any continuous distribution, any d) is drawn dashed in grey. Undecided
    answers (left out of the estimates) are counted in the title.

    Parameters
    ----------
    df : DataFrame
        Columns kind, d, N, p_inside, stderr, theory.
    path : str or Path
        PNG to write.
    """
    _require(df, ["kind", "d", "N", "p_inside", "stderr", "theory"], "hull probability table")
    kinds = list(dict.fromkeys(df["kind"]))
    dims = sorted(df["d"].unique())
    colours = dict(zip(dims, sns.color_palette("viridis", len(dims)), strict=True))
    with _style():
        fig = Figure(figsize=(4.2 * len(kinds), 3.9))
        axes = np.atleast_1d(fig.subplots(1, len(kinds), sharey=True, squeeze=False)[0])
        for ax, kind in zip(axes, kinds, strict=True):
            data = df[df["kind"] == kind]
            for d in dims:
                cell = data[data["d"] == d].sort_values("N")
                if cell.empty:
                    continue
                _simulated(ax, cell["N"], cell["p_inside"], cell["stderr"], colours[d])
                exact = cell.dropna(subset=["theory"])
                if not exact.empty:
                    ax.plot(exact["N"], exact["theory"], "-", lw=1.2, color=colours[d])
                if len(exact) < len(cell):
                    ax.plot(cell["N"], cell["p_inside"], ":", lw=0.8, color=colours[d])
            unknown = data[data["theory"].isna()]
            if "upper_bound" in data.columns and not unknown.empty:
                bound = unknown.drop_duplicates("N").sort_values("N")
                ax.plot(bound["N"], bound["upper_bound"], "--", lw=1.0, color="grey")
            ax.set_xscale("log")
            ax.set_ylim(-0.03, 1.03)
            ax.set_title(kind)
            ax.set_xlabel("training-set size N")
        axes[0].set_ylabel("P(new sample inside the hull)")
        if "undecided" in df.columns and df["undecided"].sum() > 0:
            fig.suptitle(
                f"undecided: {int(df['undecided'].sum())} answers (left out of the estimates)",
                fontsize="small",
            )
        handles = [Line2D([], [], color=colours[d], lw=2, label=f"d = {d}") for d in dims]
        handles += [
            Line2D([], [], color="grey", marker="o", ls="none", label="Monte Carlo +- 1 s.e."),
            Line2D([], [], color="grey", ls="-", label="exact"),
        ]
        if "upper_bound" in df.columns and df["theory"].isna().any():
            handles.append(Line2D([], [], color="grey", ls="--", label="upper bound (N-1)/(N+1)"))
        axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        _save(fig, path)


def plot_real_dimension(df: pd.DataFrame, path) -> None:
    """Fraction of test samples inside the training hull vs dimension, a line per method.

    One panel per dataset, side by side. Each point carries the 95% Wilson interval of the
    binomial proportion inside / (inside + outside) (the decided queries; undecided ones
    are left out).

    Parameters
    ----------
    df : DataFrame
        Columns method, dimension, fraction_inside, inside, outside (and dataset, queries,
        undecided).
    path : str or Path
        PNG to write.
    """
    _require(
        df,
        ["method", "dimension", "fraction_inside", "inside", "outside"],
        "real dimension table",
    )
    labels = {
        "pca": "first k principal components",
        "crop": "centred crop",
        "smooth": "smoothed + subsampled",
    }
    methods = list(dict.fromkeys(df["method"]))
    colours = _palette(methods)
    markers = dict(zip(methods, ["o", "s", "^", "D", "v", "P", "X"] * 3, strict=False))
    df = df if "dataset" in df.columns else df.assign(dataset="")
    datasets = list(dict.fromkeys(df["dataset"]))
    with _style():
        fig = Figure(figsize=(6.4 * len(datasets), 4.4))
        axes = fig.subplots(1, len(datasets), squeeze=False, sharey=True)[0]
        for ax, dataset in zip(axes, datasets, strict=True):
            rows = df[df["dataset"] == dataset]
            for method in methods:
                data = rows[rows["method"] == method].dropna(subset=["fraction_inside"])
                data = data.sort_values("dimension")
                if data.empty:
                    continue
                ax.errorbar(
                    data["dimension"],
                    data["fraction_inside"],
                    yerr=_wilson_yerr(data),
                    fmt="-",
                    marker=markers[method],
                    ms=5,
                    capsize=2.5,
                    color=colours[method],
                    label=labels.get(method, method),
                )
            _log2_x(ax, rows["dimension"])
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel("dimension")
            title = [f"{dataset}, full training set" if dataset else "full training set"]
            if "queries" in rows.columns:
                title.append(f"{int(rows['queries'].max())} test queries, 95% Wilson intervals")
            note = _undecided_note(rows)
            if note:
                title.append(note)
            ax.set_title("; ".join(title), fontsize="small")
            ax.legend(title=None, loc="upper right", frameon=False)
        axes[0].set_ylabel("fraction of test samples inside the hull")
        _save(fig, path)


def plot_embedding(df: pd.DataFrame, path) -> None:
    """Bottleneck CNNs: fraction of test embeddings inside the hull beside test accuracy.

    One panel per reading of the bottleneck (``linear``: before its ReLU; ``relu``: after
    it), side by side when the table has both: fraction inside vs the bottleneck size k,
    with the 95% Wilson interval of inside / (inside + outside) where the table has those
    counts, and each size whose training embeddings span fewer than k dimensions labelled
    with that rank (dead ReLU units lower the rank of the relu reading). Last panel: test
    accuracy vs k (one network per k, so the same for both readings). A row per dataset.

    Parameters
    ----------
    df : DataFrame
        Columns k, fraction_inside, test_accuracy (and reading, inside, outside, rank,
        dataset, queries, undecided).
    path : str or Path
        PNG to write.
    """
    _require(df, ["k", "fraction_inside", "test_accuracy"], "embedding table")
    df = df if "reading" in df.columns else df.assign(reading="relu")
    df = df if "dataset" in df.columns else df.assign(dataset="")
    readings = [r for r in ("linear", "relu") if r in set(df["reading"])]
    datasets = list(dict.fromkeys(df["dataset"]))
    colour = sns.color_palette("colorblind", 3)
    with _style():
        fig = Figure(figsize=(4.8 * (len(readings) + 1), 3.9 * len(datasets)), layout="constrained")
        grid = fig.subplots(len(datasets), len(readings) + 1, squeeze=False)
        for axes, dataset in zip(grid, datasets, strict=True):
            rows = df[df["dataset"] == dataset]
            prefix = f"{dataset}: " if dataset else ""
            for ax, reading, c in zip(axes, readings, colour, strict=False):
                data = rows[rows["reading"] == reading].sort_values("k")
                has_counts = {"inside", "outside"} <= set(data.columns)
                yerr = _wilson_yerr(data) if has_counts else None
                ax.errorbar(
                    data["k"], data["fraction_inside"], yerr=yerr, fmt="o-", capsize=2.5, color=c
                )
                if "rank" in data.columns:
                    low = data[data["rank"] < data["k"]]
                    for i, (_, row) in enumerate(low.iterrows()):
                        ax.annotate(  # staggered: neighbours on the floor do not overlap
                            f"rank {int(row['rank'])}",
                            (row["k"], row["fraction_inside"]),
                            textcoords="offset points",
                            xytext=(
                                2,
                                (5 + 11 * (i % 3)) * (1 if row["fraction_inside"] < 0.8 else -1.6),
                            ),
                            fontsize="x-small",
                        )
                ax.set_ylim(-0.03, 1.03)
                ax.set_xlabel("bottleneck size k")
                where = "before its ReLU" if reading == "linear" else "after its ReLU"
                ax.set_title(f"{prefix}{reading} reading ({where})", fontsize="medium")
                ax.set_ylabel("fraction of test embeddings inside the hull")
                _log2_x(ax, data["k"])
            right = axes[-1]
            accuracy = rows.sort_values("k").drop_duplicates("k")
            right.plot(accuracy["k"], accuracy["test_accuracy"], "s-", color=colour[2])
            right.set_xlabel("bottleneck size k")
            right.set_ylabel("test accuracy")
            right.set_title(f"{prefix}test accuracy of each network", fontsize="medium")
            _log2_x(right, accuracy["k"])
        title = []
        if "queries" in df.columns:
            title.append(f"{int(df['queries'].max())} test queries")
        note = _undecided_note(df)
        if note:
            title.append(note)
        if title:
            fig.suptitle("; ".join(title), fontsize="small")
        _save(fig, path)


def plot_double_descent(df: pd.DataFrame, path) -> None:
    """Test risk of min-norm least squares vs gamma = p / n, one panel per feature model.

    Simulations: mean over seeds +- 1 standard error, a colour per SNR; the asymptotic
    theory as lines (isotropic features: Hastie et al. Theorem 1; ReLU features:
    :func:`~neuralhull.theory.formulas.relu_features_risk_theory` at psi = n_latent / n), the exact
    expected risk at this finite n (column ``theory_finite_n``, where the table has it and
    it is finite) as crosses; the
    interpolation threshold gamma = 1 dashed. Both axes are logarithmic.

    Parameters
    ----------
    df : DataFrame
        Columns model, gamma, snr, r2, sigma2, seed, risk, theory.
    path : str or Path
        PNG to write.
    """
    _require(df, ["model", "gamma", "snr", "r2", "sigma2", "risk"], "double descent table")
    models = list(dict.fromkeys(df["model"]))
    snrs = sorted(df["snr"].unique())
    colours = _palette(snrs)
    summary = (
        df.groupby(["model", "snr", "gamma"])["risk"]
        .agg(mean="mean", sd="std", count="count")
        .reset_index()
    )
    summary["stderr"] = summary["sd"].fillna(0.0) / np.sqrt(summary["count"])
    with _style():
        fig = Figure(figsize=(4.6 * len(models), 4.0))
        axes = np.atleast_1d(fig.subplots(1, len(models), sharey=True, squeeze=False)[0])
        for ax, model in zip(axes, models, strict=True):
            for snr in snrs:
                cell = summary[(summary["model"] == model) & (summary["snr"] == snr)]
                if cell.empty:
                    continue
                _simulated(ax, cell["gamma"], cell["mean"], cell["stderr"], colours[snr])
                rows = df[(df["model"] == model) & (df["snr"] == snr)]
                _plot_risk_theory(
                    ax, model, rows, (df["gamma"].min(), df["gamma"].max()), colours[snr]
                )
            ax.axvline(1.0, color="black", ls="--", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{model} features")
            ax.set_xlabel("gamma = p / n")
        axes[0].set_ylabel("excess test risk")
        handles = [Line2D([], [], color=colours[s], lw=2, label=f"SNR {s:g}") for s in snrs]
        handles += [
            Line2D([], [], color="grey", marker="o", ls="none", label="simulation +- 1 s.e."),
            Line2D([], [], color="grey", ls="-", label="theory, n -> inf"),
            Line2D([], [], color="grey", marker="x", ls="none", label="exact at this n"),
            Line2D([], [], color="black", ls="--", lw=0.8, label="gamma = 1"),
        ]
        axes[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        _save(fig, path)


def _plot_risk_theory(ax, model: str, rows: pd.DataFrame, gamma_range, colour) -> None:
    """The theory of one model and SNR: the asymptotic risk as lines on either side of
    gamma = 1 (where it diverges), and for isotropic features the exact finite-n risk."""
    r2, sigma2 = float(rows["r2"].iloc[0]), float(rows["sigma2"].iloc[0])
    lo, hi = gamma_range
    segments = [np.geomspace(lo, 0.99, 200), np.geomspace(1.01, hi, 200)]
    segments = [g[(g >= lo) & (g <= hi)] for g in segments]
    if model == "relu" and "n_latent" in rows.columns:
        psi = float(rows["n_latent"].iloc[0]) / float(rows["n"].iloc[0])
        for segment in segments:
            if segment.size and np.isfinite(psi):
                theory = relu_features_risk_theory(segment, psi, r2, sigma2)
                ax.plot(segment, theory, "-", lw=1.2, color=colour)
    if model == "isotropic":
        if "theory_finite_n" in rows.columns:
            exact = rows.groupby("gamma")["theory_finite_n"].first()
            exact = exact[np.isfinite(exact.to_numpy(dtype=float))]
            ax.plot(exact.index, exact.to_numpy(), "x", ms=5, mew=1.2, color=colour)
        for segment in segments:
            if segment.size:
                ax.plot(
                    segment, ridgeless_risk_theory(segment, r2, sigma2), "-", lw=1.2, color=colour
                )


FIGURES = {
    "hull_probability": plot_hull_probability,
    "real_dimension": plot_real_dimension,
    "embedding": plot_embedding,
    "double_descent": plot_double_descent,
}
"""The figure of each theory experiment, by name."""
