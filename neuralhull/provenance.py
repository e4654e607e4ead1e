"""Logging for the workflow's jobs, and the provenance recorded with every summary table."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata

TRACKED_PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "torch",
    "highspy",
    "numba",
    "pandas",
    "snakemake",
)


def job_log(path: str) -> Callable[[str], None]:
    """Send this process's stderr to ``path`` (line-buffered) and return a ``log(msg)``
    function that writes time-stamped progress lines there."""
    fh = open(path, "a", buffering=1)  # noqa: SIM115 - kept open for the job's lifetime
    sys.stderr = fh
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        fh.write(f"[{time.strftime('%H:%M:%S')} +{time.perf_counter() - t0:7.1f}s] {msg}\n")

    return log


def progress_logger(log: Callable[[str], None], what: str, every: float = 10.0):
    """A ``progress(done, total)`` callback logging ``what`` done, rate and ETA at most every
    ``every`` seconds (and at the end)."""
    t0 = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter() - t0
        if done < total and now - last[0] < every:
            return
        last[0] = now
        rate = done / now if now > 0 else float("inf")
        eta = (total - done) / rate if rate > 0 else float("inf")
        log(f"{what}: {done}/{total} done, {rate:.1f}/s, about {eta:.0f} s left")

    return progress


def merge_versions(recorded: list[dict[str, str]]) -> dict[str, str]:
    """One version string per package from the versions several jobs recorded.

    Jobs may run in different environments (``--sdm conda`` gives each kind of step its
    own), so a package absent from one job may have shaped another's result. Per package:
    the distinct versions seen, sorted and joined by ``" + "`` (one entry when all jobs
    agree), or ``"absent"`` when no job had it.
    """
    names = sorted({name for versions in recorded for name in versions})
    out = {}
    for name in names:
        seen = sorted({v[name] for v in recorded if v.get(name, "absent") != "absent"})
        out[name] = " + ".join(seen) if seen else "absent"
    return out


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out
