"""Benchmark of the hull engine against one LP per query and a persistent LP model.

Usage (from the repository root)::

    python -m benchmarks hull            # full table (about 35 minutes on 2 cores)
    python -m benchmarks hull --quick    # a small subset (a few minutes)
    python -m benchmarks hull --large    # only n=60,000, d=784 pixels / d=256 ReLU
    python -m benchmarks hull --goals    # only the cases the targets are read from
    python -m benchmarks hull --results results/mnist   # a run's own spaces

``hull`` compares :func:`neuralhull.hull.membership` with two baselines on the same data:
the obvious one, one ``scipy.optimize.linprog(method="highs")`` feasibility LP per query,
and the stronger one a careful user writes, one persistent HiGHS model whose row bounds
change from query to query (:class:`PersistentLP`, its build included in its time).  It
prints, per case: n, d, data kind, queries, baseline ms/query (on a seeded subsample of
the queries when the baseline is slow: ``base_q`` says how many, always at least 5 fresh
samples and 5 convex combinations, or 3 and 3 when the baseline averages over a minute
per query, as at n = 60,000, d >= 200), engine ms/query (all queries, preprocessing
included; a call shorter than :data:`ENGINE_REPEAT_S` is repeated until that much time is
spent, at most 10 times, and its median taken: the baselines too are timed over many
seconds, and a single call of a tenth of a second moves by a quarter with the machine's
jitter), their ratio, agreement on the queries both decided, and how many each left
undecided.  The grid includes raw MNIST pixels (d = 784) at n = 2,000, 10,000 and 60,000.

Data kinds: Gaussian; ``clustered`` (:func:`clustered_data`: six tight clusters with
per-axis scales falling like 1/sqrt(axis), randomly rotated, shaped like trained
activations); MNIST projected on its principal axes (``pca``) or raw (``pixels``); and with
``--results`` the spaces of a workflow run (:func:`real_spaces`).  Queries per case: half
fresh samples (of the same distribution, or test images / test activations), half convex
combinations of 2..d+1 random training points (exactly 3 for clustered data), inside by
construction.  The compiled solver is loaded once before any timing (its one-time cost
is printed, not spread over the queries).

A second table splits each case's engine time (see :func:`print_time_split`); the full
grid then runs the large cases (n = 60,000 pixels and ReLU features, membership and
distance of test samples, and a few convex combinations).

A table of targets follows (:data:`GOALS`: ratios against each baseline on clustered data,
at n = 60,000, d = 10 and on MNIST pixels at n = 10,000), met or not; they are reported,
not enforced.  The last line is a verdict: every compared case with n >= 10,000 at least
30x faster than ``linprog``, 100% agreement with both baselines on the queries they
decided, no query left undecided by the engine, every certificate verified.  The exit code
is 1 if the verdict fails.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from neuralhull.hull import INSIDE, OUTSIDE, UNDECIDED, hull_distance, membership


def _baseline(points: np.ndarray, query: np.ndarray) -> int:
    """One feasibility LP: INSIDE, OUTSIDE or UNDECIDED (HiGHS gave neither)."""
    from scipy.optimize import linprog

    n = points.shape[0]
    res = linprog(
        np.zeros(n),
        A_eq=np.vstack([points.T, np.ones(n)]),
        b_eq=np.append(query, 1.0),
        bounds=(0, None),
        method="highs",
    )
    return {0: INSIDE, 2: OUTSIDE}.get(res.status, UNDECIDED)


class PersistentLP:
    """The stronger baseline: one HiGHS model ``X^T lambda = q, 1.lambda = 1, lambda >= 0``
    built once per point set; each query only changes the row bounds, and the simplex
    starts from the previous query's basis (what a careful user writes instead of one
    ``linprog`` per query).  Independent of the engine's own LP stage.

    A warm start from the basis of an infeasible query can stall (seen on skewed pixel-like
    data: a million iterations), so the basis is kept only after an optimal solve, and a
    solve that reaches its iteration or time limit is retried once from scratch.
    """

    def __init__(self, points: np.ndarray, *, time_limit: float = 120.0):
        import highspy
        from scipy.sparse import csc_matrix

        n, d = points.shape
        self.d = d
        self.time_limit = float(time_limit)
        a = csc_matrix(np.vstack([points.T, np.ones(n)]))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, d + 1
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.full(n, highspy.kHighsInf)
        lp.row_lower_ = np.append(np.zeros(d), 1.0)
        lp.row_upper_ = np.append(np.zeros(d), 1.0)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, d + 1
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data
        self.highs = highspy.Highs()
        self.highs.silent()
        self.highs.setOptionValue("output_flag", False)
        # the fastest of the settings tried on clustered data at n = 10,000, d = 20 (default,
        # presolve off, dual or primal simplex, interior point): no presolve, dual simplex
        self.highs.setOptionValue("presolve", "off")
        self.highs.setOptionValue("simplex_strategy", 1)
        self.highs.setOptionValue("simplex_iteration_limit", int(50 * (n + d + 1)))
        self.highs.passModel(lp)
        status = highspy.HighsModelStatus
        self._optimal = status.kOptimal
        self._answer = {status.kOptimal: INSIDE, status.kInfeasible: OUTSIDE}
        self._warm = False  # is the current basis one to start from
        self.cold_retries = 0

    def _run(self):
        h = self.highs
        h.setOptionValue("time_limit", float(h.getRunTime() + self.time_limit))
        h.run()
        return h.getModelStatus()

    def __call__(self, query: np.ndarray) -> int:
        h = self.highs
        for k in range(self.d):
            h.changeRowBounds(k, float(query[k]), float(query[k]))
        if not self._warm:
            h.clearSolver()
        status = self._run()
        if status not in self._answer and self._warm:  # a stalled warm start: once cold
            self.cold_retries += 1
            h.clearSolver()
            status = self._run()
        self._warm = status == self._optimal
        return self._answer.get(status, UNDECIDED)


@dataclass(frozen=True)
class BaselinePlan:
    """How many queries of a case each baseline answers: at least ``min_each`` fresh samples
    and as many convex combinations (3 and 3 once its LPs average over ``slow_s`` seconds),
    then on until ``budget_s`` seconds are spent."""

    budget_s: float
    min_each: int = 5
    slow_s: float = 60.0


def _run_baseline(solve, queries, order, n_fresh: int, plan: BaselinePlan):
    """Answers of ``solve`` on ``queries`` (the first ``n_fresh`` rows fresh samples, the
    rest convex combinations) in ``order``, as much as ``plan`` says.  Returns
    ({query index: status}, seconds)."""
    n_combos = len(queries) - n_fresh
    must = 2 * min(plan.min_each, n_fresh, n_combos)
    status: dict = {}
    t0 = time.perf_counter()
    for j in order:
        spent = time.perf_counter() - t0
        if status and spent / len(status) > plan.slow_s:
            # minutes per LP (n = 60,000, d >= 200): 3 of each kind, not 5
            must = min(must, 2 * min(3, n_fresh, n_combos))
        if len(status) >= must and spent > plan.budget_s:
            break
        status[int(j)] = solve(queries[j])
    return status, time.perf_counter() - t0


def _compare(status: dict, engine_status: np.ndarray) -> tuple[float, int, np.ndarray]:
    """Agreement on the queries both decided, the baseline's undecided, its query rows."""
    done = np.array(sorted(status), dtype=np.int64)
    base = np.array([status[j] for j in done])
    eng = engine_status[done]
    both = (base != UNDECIDED) & (eng != UNDECIDED)
    agree = float(np.mean(base[both] == eng[both])) if both.any() else float("nan")
    return agree, int(np.sum(base == UNDECIDED)), done


def _mnist_pixels(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """(60000, 784) train and (10000, 784) test pixels in [0, 1], and a description."""
    try:
        from neuralhull.datasets import load_mnist_offline

        x_train, _, x_test, _ = load_mnist_offline()
        return (
            x_train.reshape(len(x_train), -1) / 255.0,
            x_test.reshape(len(x_test), -1) / 255.0,
            "mnist",
        )
    except Exception as exc:  # noqa: BLE001 - any failure: fall back and say so
        from sklearn.datasets import load_digits

        print(f"# MNIST unavailable ({exc}); using sklearn digits + noise instead", flush=True)
        x = load_digits().data / 16.0
        idx = rng.integers(0, len(x), 70000)
        x = np.clip(x[idx] + 0.1 * rng.standard_normal((70000, x.shape[1])), 0, 1)
        return x[:60000], x[60000:], "digits+noise"


def clustered_data(n: int, d: int, m: int, rng: np.random.Generator, clusters: int = 6):
    """Data shaped like trained activations: ``clusters`` tight clusters (one per class, say)
    whose per-axis scales fall like ``1/sqrt(axis)``, in a random orientation.

    Returns (n, d) training points and (m, d) fresh samples of the same distribution.
    """
    scales = 1.0 / np.sqrt(np.arange(1, d + 1))
    centres = 3.0 * rng.standard_normal((clusters, d)) * scales
    labels = rng.integers(0, clusters, n + m)
    x = centres[labels] + 0.3 * rng.standard_normal((n + m, d)) * scales
    rotation = np.linalg.qr(rng.standard_normal((d, d)))[0]
    x = x @ rotation
    return x[:n], x[n:]


def _case_data(kind, n, d, rng, pixels):
    if kind == "gaussian":
        return rng.standard_normal((n, d)), rng.standard_normal((100, d))
    if kind == "clustered":
        return clustered_data(n, d, 100, rng)
    x_train, x_test, _ = pixels
    if kind == "pixels":  # raw pixels, no projection
        train = x_train[np.sort(rng.choice(len(x_train), n, replace=False))]
        return train, x_test[rng.choice(len(x_test), 100, replace=False)]
    train = x_train[rng.choice(len(x_train), n, replace=False)]
    test = x_test[rng.choice(len(x_test), 100, replace=False)]
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train[: min(n, 5000)] - mean, full_matrices=False)
    proj = vt[:d].T
    return (train - mean) @ proj, (test - mean) @ proj


def _convex_combinations(points, count, rng, k_max=None):
    """``count`` random convex combinations of 2..d+1 (or exactly ``k_max``) points."""
    n, d = points.shape
    out = np.empty((count, d))
    for i in range(count):
        k = k_max if k_max else int(rng.integers(2, min(n, d + 1) + 1))
        out[i] = rng.dirichlet(np.ones(k)) @ points[rng.choice(n, k, replace=False)]
    return out


def _baseline_order(n_fresh: int, n_combos: int, rng, min_each: int = 5) -> np.ndarray:
    """Seeded order of the queries for the baseline: first ``min_each`` fresh samples
    (rows ``0..n_fresh-1``) and ``min_each`` convex combinations (the rows after),
    alternating, then all the others in random order."""
    fresh = rng.permutation(n_fresh)
    combos = n_fresh + rng.permutation(n_combos)
    k = min(min_each, n_fresh, n_combos)
    head = np.empty(2 * k, dtype=np.int64)
    head[0::2], head[1::2] = fresh[:k], combos[:k]
    tail = np.concatenate([fresh[k:], combos[k:]])
    return np.concatenate([head, rng.permutation(tail)]).astype(np.int64)


def _run_case(kind, n, d, rng, pixels, plan: BaselinePlan, n_jobs):
    """One case of the grid: its data drawn from ``rng``, then :func:`_compare_case`."""
    points, fresh = _case_data(kind, n, d, rng, pixels)
    kinds = {
        "gaussian": "gaussian",
        "clustered": "clustered",
        "pca": f"{pixels[2]}-pca",
        "pixels": f"{pixels[2]}-pixels",
    }
    # clustered data: combinations of 3 training points (its spec); otherwise of 2..d+1
    k_max = 3 if kind == "clustered" else None
    return _compare_case(points, fresh, kinds[kind], rng, plan, n_jobs, k_max=k_max)


# engine calls shorter than this are repeated (the same work each time: the engine keeps
# nothing between calls) until this much time is spent, and their median is reported
ENGINE_REPEAT_S = 1.0


def _time_engine(call) -> tuple[float, object]:
    """(median seconds, first result) of ``call()``, repeated while the calls so far took
    under :data:`ENGINE_REPEAT_S` in all, at most 10 times."""
    times: list = []
    first = None
    while len(times) < 10 and (not times or sum(times) < ENGINE_REPEAT_S):
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
        first = result if first is None else first
    return float(np.median(times)), first


def _compare_case(points, fresh, label, rng, plan: BaselinePlan, n_jobs, *, k_max=None):
    """Engine against both baselines on ``fresh`` queries plus 100 convex combinations."""
    queries = np.vstack([fresh, _convex_combinations(points, 100, rng, k_max=k_max)])
    engine_s, result = _time_engine(lambda: membership(points, queries, n_jobs=n_jobs))
    baselines = _time_baselines(points, queries, len(fresh), rng, plan)
    return _case_row(points, queries, len(fresh), label, (engine_s, result), baselines)


def _time_baselines(points, queries, n_fresh, rng, plan: BaselinePlan):
    """Both baselines on a seeded order of the queries (:func:`_baseline_order`): ({query
    index: status}, seconds) of ``linprog`` and of the persistent model, its build
    included."""
    order = _baseline_order(n_fresh, len(queries) - n_fresh, rng, plan.min_each)
    linprog_run = _run_baseline(lambda q: _baseline(points, q), queries, order, n_fresh, plan)
    t0 = time.perf_counter()
    persistent = PersistentLP(points)
    build_s = time.perf_counter() - t0
    status, seconds = _run_baseline(persistent, queries, order, n_fresh, plan)
    return linprog_run, (status, build_s + seconds)


def _case_row(points, queries, n_fresh, label, engine, baselines) -> dict:
    """One row of the table: ``engine`` = (median seconds, its result), ``baselines`` as
    :func:`_time_baselines` returns them."""
    engine_s, result = engine
    (base_status, base_s), (pers_status, pers_s) = baselines
    agree, undec_base, done = _compare(base_status, result.status)
    agree_p, undec_p, done_p = _compare(pers_status, result.status)
    base_ms = 1e3 * base_s / len(done)
    pers_ms = 1e3 * pers_s / len(done_p)
    engine_ms = 1e3 * engine_s / len(queries)
    return {
        "n": points.shape[0],
        "d": points.shape[1],
        "kind": label,
        "queries": len(queries),
        "base_q": len(done),
        "base_fresh": int(np.sum(done < n_fresh)),
        "base_combo": int(np.sum(done >= n_fresh)),
        "base_ms": base_ms,
        "pers_q": len(done_p),
        "pers_ms": pers_ms,
        "engine_ms": engine_ms,
        "ratio": base_ms / engine_ms,
        "ratio_pers": pers_ms / engine_ms,
        "agree": agree,
        "agree_pers": agree_p,
        "undec_base": undec_base,
        "undec_pers": undec_p,
        "undec_engine": result.n_undecided,
        "inside": int(result.inside.sum()),
        "verified": bool(result.verify(points, queries).all()),
        # where the engine's time went (the split table printed after the main one)
        "engine_s": engine_s,
        "prep_s": float(result.stats["preprocess_s"]),
        "cpu_s": {k: float(v) for k, v in result.stats["seconds"].items()},
        "lp_solves": int(result.stats["lp_solves"]),
        "rounds_fresh": result.rounds[:n_fresh],
        "rounds_combo": result.rounds[n_fresh:],
    }


# (column, header, width, format)
_COLUMNS = (
    ("n", "n", 6, "{:>6}"),
    ("d", "d", 4, "{:>4}"),
    ("kind", "kind", 22, "{:>22}"),
    ("queries", "queries", 7, "{:>7}"),
    ("base_q", "base_q", 6, "{:>6}"),
    ("base_ms", "linprog_ms", 10, "{:>10.1f}"),
    ("pers_q", "pers_q", 6, "{:>6}"),
    ("pers_ms", "persist_ms", 10, "{:>10.2f}"),
    ("engine_ms", "engine_ms", 9, "{:>9.2f}"),
    ("ratio", "x_linprog", 9, "{:>8.0f}x"),
    ("ratio_pers", "x_persist", 9, "{:>8.1f}x"),
    ("agree", "agree", 6, "{:>6.1%}"),
    ("agree_pers", "agree_p", 7, "{:>7.1%}"),
    ("undec_base", "undec_lp", 8, "{:>8}"),
    ("undec_pers", "undec_p", 7, "{:>7}"),
    ("undec_engine", "undec_engine", 12, "{:>12}"),
    ("inside", "inside", 6, "{:>6}"),
    ("verified", "verified", 8, "{!s:>8}"),
)


def _print_header():
    print(" ".join(f"{head:>{w}}" for _, head, w, _ in _COLUMNS))


def _print_row(row):
    print(" ".join(fmt.format(row[name]) for name, _, _, fmt in _COLUMNS), flush=True)


def print_time_split(rows) -> None:
    """Where the engine's time went, per compared case: wall seconds of the whole call, of
    preprocessing (duplicates, centring, affine hull), CPU seconds summed over workers in
    the working-set solves (nnls), pricing all points (pricing) and picking candidates
    (select), fallback LP solves, and column-generation rounds per query (median / max)
    for the fresh samples and the convex combinations."""
    print("\n# where the engine's time goes (wall s; cpu s summed over workers)")
    print(
        f"{'n':>6} {'d':>4} {'kind':>15} {'wall s':>7} {'prep s':>7} {'nnls':>7} "
        f"{'pricing':>7} {'select':>7} {'LPs':>4} {'rounds fresh':>12} {'rounds combo':>12}"
    )
    for row in rows:
        cpu = row["cpu_s"]
        rf, rc = row["rounds_fresh"], row["rounds_combo"]
        fresh = f"{np.median(rf):.0f}/{rf.max()}" if rf.size else "-"
        combo = f"{np.median(rc):.0f}/{rc.max()}" if rc.size else "-"
        print(
            f"{row['n']:>6} {row['d']:>4} {row['kind']:>15} {row['engine_s']:>7.2f} "
            f"{row['prep_s']:>7.2f} {cpu['nnls']:>7.2f} {cpu['pricing']:>7.2f} "
            f"{cpu['select']:>7.2f} {row['lp_solves']:>4} {fresh:>12} {combo:>12}",
            flush=True,
        )


def _relu_features(pixels, d, rng):
    """Activation-like data: ReLU of a random layer on MNIST pixels (many exact zeros)."""
    x_train, x_test, _ = pixels
    weights = rng.standard_normal((x_train.shape[1], d)) / np.sqrt(x_train.shape[1])
    bias = -0.5 * rng.random(d)
    return np.maximum(x_train @ weights + bias, 0), np.maximum(x_test @ weights + bias, 0)


def verdict(rows, large=(), *, min_ratio: float = 30.0, min_n: int = 10_000):
    """(passed, one line): every compared case with ``n >= min_n`` at least ``min_ratio``
    times faster than the baseline, 100% agreement on the queries both decided, no query
    left undecided by the engine and every certificate verified (also in ``large``)."""
    problems = []
    for row in rows:
        case = f"n={row['n']} d={row['d']} {row['kind']}"
        if row["n"] >= min_n and not row["ratio"] >= min_ratio:
            problems.append(f"{case}: {row['ratio']:.1f}x < {min_ratio:.0f}x")
        if not row["agree"] == 1.0:  # NaN (nothing compared) fails too
            problems.append(f"{case}: agreement {row['agree']:.1%}")
        if not row.get("agree_pers", 1.0) == 1.0:
            problems.append(f"{case}: agreement with the persistent LP {row['agree_pers']:.1%}")
        if row["undec_engine"]:
            problems.append(f"{case}: {row['undec_engine']} undecided")
        if not row["verified"]:
            problems.append(f"{case}: a certificate failed verification")
    for row in large:
        if row["undecided"]:
            problems.append(f"{row['case']}: {row['undecided']} undecided")
        if not row["verified"]:
            problems.append(f"{row['case']}: a certificate failed verification")
    if not rows and not large:
        problems.append("no case run")
    fast = [r["ratio"] for r in rows if r["n"] >= min_n]
    summary = (
        f"{len(rows)} compared cases, {len(large)} large cases; "
        f"slowest ratio at n >= {min_n:,}: "
        + (f"{min(fast):.0f}x" if fast and all(map(math.isfinite, fast)) else "n/a")
    )
    if problems:
        return False, f"VERDICT: FAIL ({summary}): " + "; ".join(problems)
    speed = f">= {min_ratio:.0f}x at every n >= {min_n:,}" if rows else "speed not compared"
    return True, (
        f"VERDICT: PASS ({summary}): {speed}, 100% agreement, 0 undecided, "
        "all certificates verified"
    )


# The engine's targets, each a ratio read off one row of the table:
# (description, row filter, column, least ratio)
GOALS = (
    (
        "clustered n=10,000 d=20 vs linprog",
        lambda r: r["kind"] == "clustered" and r["n"] == 10_000 and r["d"] == 20,
        "ratio",
        200.0,
    ),
    (
        "clustered n=10,000 d=20 vs persistent HiGHS",
        lambda r: r["kind"] == "clustered" and r["n"] == 10_000 and r["d"] == 20,
        "ratio_pers",
        60.0,
    ),
    ("n=60,000 d=10 vs linprog", lambda r: r["n"] == 60_000 and r["d"] == 10, "ratio", 300.0),
    (
        "MNIST pixels n=10,000 vs linprog",
        lambda r: r["kind"].endswith("-pixels") and r["n"] == 10_000,
        "ratio",
        200.0,
    ),
)
GOAL_CASES = [
    ("clustered", 10_000, 20),
    ("gaussian", 60_000, 10),
    ("clustered", 60_000, 10),
    ("pca", 60_000, 10),
    ("pixels", 10_000, 784),
]


def goals(rows) -> list[tuple[str, str, bool | None]]:
    """Each goal of :data:`GOALS` against the rows that match it: (goal, ratios, met);
    ``met`` is None when no row matches (the case was not run)."""
    out = []
    for text, match, column, least in GOALS:
        ratios = [r[column] for r in rows if match(r)]
        if not ratios:
            out.append((f"{text} >= {least:.0f}x", "not run", None))
            continue
        shown = ", ".join(f"{x:.0f}x" if x >= 10 else f"{x:.1f}x" for x in ratios)
        out.append((f"{text} >= {least:.0f}x", shown, min(ratios) >= least))
    return out


def print_goals(rows) -> None:
    print("\n# targets (ratios from the table above; not part of the verdict)")
    for text, shown, met in goals(rows):
        mark = "not run" if met is None else ("met" if met else "NOT MET")
        print(f"{text:<52} {shown:>24}  {mark}")


def _large(pixels, rng, n_jobs, n_combinations=5):
    """n=60,000: raw pixels (d=784) and ReLU activation-like features (d=256).

    200 test samples (what the workflow scores) for membership and distance, then a few
    convex combinations of up to d+1 training points: inside with a large support, the
    engine's worst case in high dimension.
    """
    x_train, x_test, name = pixels
    feats_train, feats_test = _relu_features(pixels, 256, rng)
    summary = []
    print(f"\n# large cases, n=60000, {name}; 200 test samples unless said otherwise")
    print(
        f"{'case':>28} {'rank':>5} {'inside':>6} {'undec':>5} {'member ms/q':>11} {'dist ms/q':>9}"
    )
    for label, train, test in (
        ("pixels d=784", x_train, x_test),
        ("relu d=256", feats_train, feats_test),
    ):
        queries = test[rng.choice(len(test), 200, replace=False)]
        t0 = time.perf_counter()
        result = membership(train, queries, n_jobs=n_jobs)
        member_ms = 1e3 * (time.perf_counter() - t0) / len(queries)
        summary.append(
            {
                "case": label,
                "undecided": result.n_undecided,
                "verified": bool(result.verify(train, queries).all()),
            }
        )
        t0 = time.perf_counter()
        dist = hull_distance(train, queries, n_jobs=n_jobs, full_output=True)
        dist_ms = 1e3 * (time.perf_counter() - t0) / len(queries)
        print(
            f"{label:>28} {result.stats['rank']:>5} {int(result.inside.sum()):>6} "
            f"{result.n_undecided:>5} {member_ms:>11.1f} {dist_ms:>9.1f}"
            f"   (distance converged {int(dist.converged.sum())}/{len(queries)}, "
            f"preprocessing {result.stats['preprocess_s']:.1f} s of each call)",
            flush=True,
        )
        combos = _convex_combinations(train, n_combinations, rng)
        t0 = time.perf_counter()
        result = membership(train, combos, n_jobs=n_jobs)
        member_ms = 1e3 * (time.perf_counter() - t0) / len(combos)
        summary.append(
            {
                "case": f"{label} convex combos",
                "undecided": result.n_undecided,
                "verified": bool(result.verify(train, combos).all()),
            }
        )
        print(
            f"{label + f' {n_combinations} convex combos':>28} {result.stats['rank']:>5} "
            f"{int(result.inside.sum()):>6} {result.n_undecided:>5} {member_ms:>11.1f} {'':>9}"
            f"   (rounds {result.rounds.min()}..{result.rounds.max()})",
            flush=True,
        )
    return summary


def real_spaces(results: str, max_models: int = 2) -> list:
    """The default run's own spaces: (label, train, test) for the last hidden layer and the
    chosen intrinsic latent space of up to ``max_models`` trained models (seed 0, the best
    and the worst by test accuracy) under ``results`` (a dataset folder, results/mnist)."""
    import json
    from pathlib import Path

    from neuralhull.spaces import load_space

    root = Path(results)
    models = []
    for act in sorted(root.glob("*/seed0/activations.npz")):
        base = act.parent
        metrics = base / "train_metrics.json"
        acc = (
            json.loads(metrics.read_text()).get("final_test_accuracy") if metrics.exists() else None
        )
        models.append((acc if acc is not None else float("nan"), base))
    if not models:
        raise SystemExit(f"no */seed0/activations.npz under {results}: run the workflow first")
    models.sort(key=lambda t: (math.isnan(t[0]), t[0]))
    picked = [models[-1], models[0]][: min(max_models, len(models))]
    spaces = []
    for _, base in dict.fromkeys(picked):
        name = base.parent.name
        train, test = load_space("activation", activations=str(base / "activations.npz"))
        spaces.append((f"{name}-act", train, test))
        codes, intrinsic = base / "latent" / "codes.npz", base / "intrinsic_dimension.json"
        if codes.exists() and intrinsic.exists():
            train, test = load_space("intrinsic", codes=str(codes), intrinsic=str(intrinsic))
            spaces.append((f"{name}-intrinsic", train, test))
    return spaces


def _parse_case(text: str) -> tuple[str, int, int]:
    """``kind:n:d`` (kind gaussian, pca or pixels; pixels needs d=784)."""
    try:
        kind, n, d = text.split(":")
        n, d = int(n), int(d)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected kind:n:d, got {text!r}") from None
    if kind not in ("gaussian", "clustered", "pca", "pixels") or n < 1 or d < 1:
        raise argparse.ArgumentTypeError(
            f"bad case {text!r}: kind gaussian|clustered|pca|pixels, n, d >= 1"
        )
    if kind == "pixels" and d != 784:
        raise argparse.ArgumentTypeError(f"bad case {text!r}: pixels have d=784")
    return kind, n, d


def bench_hull(
    quick: bool = False,
    large_only: bool = False,
    n_jobs: int | None = None,
    cases: list | None = None,
    results: str | None = None,
) -> tuple[list, list]:
    """Run the benchmark, print its tables; returns (compared rows, large-case rows).

    ``cases``: (kind, n, d) triples to run instead of the grid (no large cases then).
    ``results``: a dataset folder of a workflow run (results/mnist): its models' last hidden
    layers and intrinsic latent spaces are compared too.
    """
    from neuralhull.hull import warm_nnls

    t0 = time.perf_counter()
    warm_nnls.warm_up()  # once per process: not a per-query cost
    print(
        f"# warm solver: {'numba' if warm_nnls.AVAILABLE else 'absent (scipy NNLS)'}, "
        f"compiled or loaded in {time.perf_counter() - t0:.1f} s before timing"
    )
    rng = np.random.default_rng(0)
    pixels = _mnist_pixels(rng)
    rows: list = []
    large: list = []
    # the full grid ends with the large cases; --case, --goals, --quick and --results skip them
    run_large = large_only or not (cases or quick or results)
    budget = 20.0
    if cases is None and not large_only and not results:
        if quick:
            cases = [(k, n, d) for k in ("gaussian", "pca") for n, d in ((2000, 5), (10000, 20))]
            cases += [("clustered", 10000, 20), ("pca", 10000, 50), ("pixels", 2000, 784)]
            budget = 4.0
        else:
            cases = [
                (k, n, d)
                for n in (2000, 10000, 60000)
                for k, d in [(k, d) for d in (5, 20, 50, 200) for k in ("gaussian", "pca")]
                + [("clustered", d) for d in (10, 20, 50)]
                + [("pixels", 784)]
            ]
    if cases or results:
        print(
            f"# hull membership: engine (n_jobs={n_jobs or 'all cores'}) vs one linprog(highs) "
            "per query and vs one persistent HiGHS model whose row bounds change per query; "
            f"baseline budget {budget:.0f} s per case and baseline (at least 5 fresh + 5 "
            "combinations)"
        )
        _print_header()
    for kind, n, d in cases or ():
        row = _run_case(kind, n, d, rng, pixels, BaselinePlan(budget), n_jobs)
        _print_row(row)
        rows.append(row)
    if results:
        for label, train, test in real_spaces(results):
            fresh = test[np.sort(rng.choice(len(test), min(100, len(test)), replace=False))]
            row = _compare_case(train, fresh, label, rng, BaselinePlan(20.0), n_jobs)
            _print_row(row)
            rows.append(row)
    if rows:
        print_time_split(rows)
        print_goals(rows)
    if run_large:
        large = _large(pixels, rng, n_jobs)
    return rows, large


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks hull",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small subset, under 2 minutes")
    parser.add_argument("--large", action="store_true", help="only the n=60,000 large cases")
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="engine worker processes (default: all cores)"
    )
    parser.add_argument(
        "--case",
        type=_parse_case,
        action="append",
        metavar="KIND:N:D",
        help="run only this case (repeatable), e.g. pixels:10000:784 or gaussian:60000:200",
    )
    parser.add_argument(
        "--goals",
        action="store_true",
        help="only the cases the engine's targets are read from (see GOALS)",
    )
    parser.add_argument(
        "--results",
        metavar="DIR",
        help="also compare in a workflow run's own spaces (e.g. results/mnist): the last "
        "hidden layer and intrinsic latent space of its best and worst model",
    )
    args = parser.parse_args(argv)
    cases = (args.case or []) + (GOAL_CASES if args.goals else []) or None
    rows, large = bench_hull(
        quick=args.quick,
        large_only=args.large,
        n_jobs=args.n_jobs,
        cases=cases,
        results=args.results,
    )
    passed, line = verdict(rows, large)
    print(line, flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
