"""Benchmark of the whole workflow: run a config from empty results, read every job's
``benchmark:`` file and Snakemake's log, and say where the time went.

Usage::

    python -m benchmarks workflow                          # this checkout, default config
    python -m benchmarks workflow --against main           # and a git ref, side by side
    python -m benchmarks workflow --configfile config/tiny.yaml --cores 2
    python -m benchmarks workflow --against 8137cb5 --rerun summarise --from RUN_DIR

With ``--rerun RULE --from DIR`` nothing runs from empty results: each checkout gets the
finished run in ``DIR`` (its ``results/``, hard-linked, so nothing in ``DIR`` changes) and
reruns only that rule's jobs (``--forcerun RULE --until RULE --rerun-triggers mtime``;
an error if any other rule had to run): one rule of two checkouts timed on the same
inputs.  The ref must plan that rule on those files (same config, same file layout), or
Snakemake says which input it misses; a rule without inputs (a theory experiment) can be
timed on each checkout's own finished run (``--against-from``).

Each checkout runs in a fresh folder (``--workdir``, default a temporary one) from empty
``results/``, with its own ``Snakefile`` and its own copy of the config file named by
``--configfile`` (a path inside each checkout). A ref given by ``--against`` is exported
with ``git archive`` into a scratch folder; the same Python environment runs both. The ref
runs first, then this checkout; run both in one session on one machine, as machines of
one kind differ by 2x or more in speed.

Printed: per rule the jobs, total job-seconds, the slowest job and the peak memory of any
of its jobs (``max_rss`` of the benchmark files); the wall time; and the critical path: the
chain of jobs, each started by the latest-finishing job it waited for, that ends with the
last job to finish, so it decided the wall time. With ``--against``, every number is shown
for both checkouts with the ratio (ref / this checkout).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+)")


@dataclass
class Job:
    """One job of a run, from Snakemake's log and its benchmark file."""

    jobid: int
    rule: str
    wildcards: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    benchmark: str | None = None
    start: float | None = None
    end: float | None = None
    seconds: float | None = None  # from the benchmark file (s)
    max_rss: float | None = None  # MB

    @property
    def name(self) -> str:
        return f"{self.rule}[{self.wildcards}]" if self.wildcards else self.rule


def _files(text: str) -> list[str]:
    return [f.strip() for f in text.split(",") if f.strip()]


def parse_log(path: Path) -> dict[int, Job]:
    """Jobs of a Snakemake log: rule, wildcards, files, start and end (seconds since epoch).

    Start is the time stamp above a job's ``rule`` block, end the one above its
    ``Finished jobid`` line (Snakemake writes both to the second).
    """
    jobs: dict[int, Job] = {}
    stamp, current = None, None
    for line in path.read_text().splitlines():
        if m := _STAMP.match(line):
            stamp = datetime.strptime(" ".join(m[1].split()), "%a %b %d %H:%M:%S %Y").timestamp()
            current = None
            continue
        if m := _RULE.match(line):
            current = {"rule": m[1], "start": stamp}
            continue
        if current is not None and (m := _FIELD.match(line)):
            key, value = m[1], m[2]
            if key == "jobid":
                job = Job(int(value), current["rule"], start=current["start"])
                job.inputs, job.outputs = current.get("input", []), current.get("output", [])
                job.benchmark = current.get("benchmark")
                job.wildcards = current.get("wildcards", "")
                jobs[job.jobid] = job
                current["job"] = job
            elif key in ("input", "output"):
                current[key] = _files(value)
                if "job" in current:
                    setattr(current["job"], key + "s", current[key])
            elif key in ("benchmark", "wildcards"):
                current[key] = value
                if "job" in current:
                    setattr(current["job"], key, value)
            continue
        if (m := _FINISHED.match(line)) and int(m[1]) in jobs:
            jobs[int(m[1])].end = stamp
    return jobs


def read_benchmarks(workdir: Path, jobs: dict[int, Job]) -> None:
    """Fill every job's seconds and peak memory from its benchmark file."""
    for job in jobs.values():
        if job.benchmark and (workdir / job.benchmark).exists():
            with open(workdir / job.benchmark) as fh:
                row = next(csv.DictReader(fh, delimiter="\t"))
            job.seconds = float(row["s"])
            job.max_rss = float(row["max_rss"]) if row["max_rss"] not in ("", "NA") else None


def critical_path(jobs: dict[int, Job]) -> list[Job]:
    """The chain of jobs that decided the wall time, first job first.

    From the last job to finish, step to the job producing one of its inputs that finished
    last (the one it waited for), until a job with no producing job in the run. The target
    rule ``all`` runs nothing and is left out. A gap between one job's end and the next
    one's start is time the next job waited for a free core.
    """
    done = [j for j in jobs.values() if j.end is not None and j.rule != "all"]
    if not done:
        return []
    producer = {out: j for j in done for out in j.outputs}
    path = [max(done, key=lambda j: (j.end, j.jobid))]
    while True:
        waits = [producer[f] for f in path[-1].inputs if f in producer]
        if not waits:
            break
        path.append(max(waits, key=lambda j: (j.end, j.jobid)))
    return path[::-1]


def per_rule(jobs: dict[int, Job]) -> dict[str, dict]:
    """Per rule: jobs, total job-seconds, slowest job (name, seconds), peak MB."""
    out: dict[str, dict] = {}
    for job in jobs.values():
        if job.rule == "all":
            continue
        row = out.setdefault(
            job.rule, {"jobs": 0, "seconds": 0.0, "slowest": ("", 0.0), "peak_mb": 0.0}
        )
        row["jobs"] += 1
        row["seconds"] += job.seconds or 0.0
        if (job.seconds or 0.0) >= row["slowest"][1]:
            row["slowest"] = (job.wildcards, job.seconds or 0.0)
        row["peak_mb"] = max(row["peak_mb"], job.max_rss or 0.0)
    return out


@dataclass
class RunResult:
    label: str
    wall: float
    jobs: dict[int, Job]


def run_checkout(
    checkout: Path,
    workdir: Path,
    configfile: str,
    cores: int,
    label: str,
    *,
    rerun: str | None = None,
    source: Path | None = None,
) -> RunResult:
    """Run ``checkout``'s workflow on its ``configfile`` from empty results in ``workdir``;
    or, with ``rerun`` and ``source``, rerun only the rule ``rerun`` on the finished
    results of ``source`` (hard-linked into ``workdir``)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    if (checkout / "profiles").exists():
        shutil.copytree(checkout / "profiles", workdir / "profiles")
    extra = []
    if rerun is not None:
        if source is None or not (source / "results").is_dir():
            raise ValueError(
                f"--rerun needs --from: a finished run's folder (no results/ in {source})"
            )
        # Snakemake unlinks an output before its job writes it: the links in source stay
        # intact. The datasets too: rule all asks for every file a job writes.
        for folder in ("results", "resources"):
            if (source / folder).is_dir():
                shutil.copytree(source / folder, workdir / folder, copy_function=os.link)
        extra = [
            "--forcerun",
            rerun,
            "--until",
            rerun,
            "--rerun-triggers",
            "mtime",
        ]
    # the catalog layout (workflow/Snakefile), or a ref from before the move (./Snakefile)
    snakefile = checkout / "workflow/Snakefile"
    if not snakefile.exists():
        snakefile = checkout / "Snakefile"
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        "--configfile",
        str(checkout / configfile),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    print(f"[{label}] running {checkout} on {configfile} in {workdir} ...", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"[{label}] snakemake failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        raise RuntimeError(f"[{label}] no Snakemake log in {workdir}/.snakemake/log")
    jobs = parse_log(logs[-1])
    read_benchmarks(workdir, jobs)
    others = sorted({j.rule for j in jobs.values()} - {rerun}) if rerun else []
    if others:
        raise RuntimeError(
            f"[{label}] --rerun {rerun} also ran {others}: the results in {source} are not a "
            "finished run of this checkout's workflow (missing or older inputs)"
        )
    print(f"[{label}] {len(jobs)} jobs in {wall:.0f} s", flush=True)
    return RunResult(label, wall, jobs)


def export_ref(repo: Path, ref: str, dest: Path) -> Path:
    """The tree of ``ref`` as plain files in ``dest`` (``git archive``)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", ref],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def report(results: list[RunResult]) -> str:
    """The printed tables: per rule, wall time, critical path (per run)."""
    lines = []
    tables = [per_rule(r.jobs) for r in results]
    rules = sorted(
        set().union(*tables), key=lambda r: -max(t.get(r, {}).get("seconds", 0) for t in tables)
    )
    head = ["rule"]
    for r in results:
        head += [
            f"{r.label} jobs",
            f"{r.label} job-s",
            f"{r.label} slowest s",
            f"{r.label} peak MB",
        ]
    if len(results) == 2:
        head.append("job-s ratio")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for rule in rules:
        cells = [rule]
        for t in tables:
            row = t.get(rule)
            if row is None:
                cells += ["-", "-", "-", "-"]
            else:
                cells += [
                    str(row["jobs"]),
                    f"{row['seconds']:.1f}",
                    f"{row['slowest'][1]:.1f}",
                    f"{row['peak_mb']:.0f}",
                ]
        if len(results) == 2:
            a = tables[0].get(rule, {}).get("seconds", 0)
            b = tables[1].get(rule, {}).get("seconds", 0)
            cells.append(_ratio(a, b))
        lines.append("| " + " | ".join(cells) + " |")
    totals = ["**total**"]
    for t in tables:
        totals += [
            str(sum(r["jobs"] for r in t.values())),
            f"{sum(r['seconds'] for r in t.values()):.1f}",
            "",
            f"{max((r['peak_mb'] for r in t.values()), default=0):.0f}",
        ]
    if len(results) == 2:
        totals.append(
            _ratio(
                sum(r["seconds"] for r in tables[0].values()),
                sum(r["seconds"] for r in tables[1].values()),
            )
        )
    lines.append("| " + " | ".join(totals) + " |")
    lines.append("")
    for r in results:
        lines.append(f"wall time [{r.label}]: {r.wall:.1f} s")
    if len(results) == 2:
        lines.append(
            f"wall time ratio ({results[0].label} / {results[1].label}): "
            f"{_ratio(results[0].wall, results[1].wall)}"
        )
    for r in results:
        path = critical_path(r.jobs)
        t0 = min((j.start for j in r.jobs.values() if j.start is not None), default=0)
        lines.append("")
        lines.append(f"critical path [{r.label}] ({len(path)} jobs):")
        for job in path:
            lines.append(
                f"  +{job.start - t0:6.0f} s .. +{job.end - t0:6.0f} s  {job.name}"
                + (f"  ({job.seconds:.1f} s)" if job.seconds is not None else "")
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks workflow",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--configfile",
        default="config/config.yaml",
        help="config inside each checkout (default: config/config.yaml)",
    )
    parser.add_argument("--against", metavar="REF", help="git ref run first, side by side")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, help="folder for the runs (default: temporary)")
    parser.add_argument(
        "--ref", metavar="REF", help="run this git ref instead of the working tree (exported)"
    )
    parser.add_argument(
        "--rerun", metavar="RULE", help="rerun only this rule on the results of --from"
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        metavar="DIR",
        help="a finished run's folder (holding results/) for --rerun",
    )
    parser.add_argument(
        "--against-from",
        type=Path,
        metavar="DIR",
        help="the ref's finished run for --rerun, where its file layout differs (default: --from)",
    )
    args = parser.parse_args(argv)
    if (args.rerun is None) != (args.source is None):
        parser.error("--rerun and --from go together")
    rerun = {"rerun": args.rerun, "source": args.source}
    here = Path(__file__).resolve().parents[1]
    scratch = Path(args.workdir or tempfile.mkdtemp(prefix="neuralhull-bench-"))
    results = []
    if args.against:
        ref_tree = export_ref(here, args.against, scratch / "ref-checkout")
        results.append(
            run_checkout(
                ref_tree,
                scratch / "ref-run",
                args.configfile,
                args.cores,
                args.against,
                **{**rerun, "source": args.against_from or args.source},
            )
        )
    this = here
    if args.ref:  # a fixed commit, so that editing the tree during the run changes nothing
        this = export_ref(here, args.ref, scratch / "this-checkout")
    label = args.ref or "this"
    results.append(run_checkout(this, scratch / "run", args.configfile, args.cores, label, **rerun))
    print(report(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
