"""The workflow benchmark's reading of Snakemake's log and benchmark files."""

import textwrap
from pathlib import Path

import pytest

from benchmarks.workflow import critical_path, parse_log, per_rule, read_benchmarks, report

LOG = textwrap.dedent(
    """\
    Building DAG of jobs...
    [Tue Dec  1 10:00:00 2026]
    rule a:
        output: x.txt
        jobid: 2
        benchmark: benchmarks/a.tsv
        reason: Missing output files: x.txt
        resources: tmpdir=/tmp
    [Tue Dec  1 10:00:00 2026]
    rule b:
        output: y.txt
        jobid: 3
        wildcards: k=1
        resources: tmpdir=/tmp
    [Tue Dec  1 10:00:05 2026]
    Finished jobid: 3 (Rule: b)
    [Tue Dec  1 10:00:09 2026]
    Finished jobid: 2 (Rule: a)
    [Tue Dec  1 10:00:09 2026]
    rule c:
        input: x.txt, y.txt
        output: z.txt
        jobid: 1
        resources: tmpdir=/tmp
    [Tue Dec  1 10:00:12 2026]
    Finished jobid: 1 (Rule: c)
    [Tue Dec  1 10:00:12 2026]
    localrule all:
        input: z.txt
        jobid: 0
        resources: tmpdir=/tmp
    [Tue Dec  1 10:00:12 2026]
    Finished jobid: 0 (Rule: all)
    """
)


def test_parse_log_and_critical_path_on_a_known_dag(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(LOG)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks/a.tsv").write_text("s\th:m:s\tmax_rss\n8.5\t0:00:08\t120.5\n")
    jobs = parse_log(log)
    assert sorted(jobs) == [0, 1, 2, 3]
    assert jobs[3].wildcards == "k=1" and jobs[1].inputs == ["x.txt", "y.txt"]
    assert jobs[2].end - jobs[2].start == 9 and jobs[3].end - jobs[3].start == 5
    read_benchmarks(tmp_path, jobs)
    assert jobs[2].seconds == 8.5 and jobs[2].max_rss == 120.5 and jobs[3].seconds is None
    # c waited for a (finished at +9 s), not for b (+5 s); the target rule is no job
    assert [j.rule for j in critical_path(jobs)] == ["a", "c"]
    rules = per_rule(jobs)
    assert rules["a"] == {"jobs": 1, "seconds": 8.5, "slowest": ("", 8.5), "peak_mb": 120.5}
    assert "all" not in rules


@pytest.mark.workflow
def test_reads_a_real_run(tiny_run):
    logs = sorted(Path(tiny_run, ".snakemake/log").glob("*.snakemake.log"))
    jobs = parse_log(logs[0])
    read_benchmarks(Path(tiny_run), jobs)
    benchmarks = list(Path(tiny_run, "benchmarks").rglob("*.tsv"))
    assert sum(j.seconds is not None for j in jobs.values()) == len(benchmarks)
    rules = per_rule(jobs)
    assert rules["train_model"]["jobs"] == 6 and rules["summarise"]["jobs"] == 1
    path = critical_path(jobs)
    # a chain: every job consumed an output of the one before; it ends the run
    for before, after in zip(path, path[1:], strict=False):
        assert set(before.outputs) & set(after.inputs), (before.name, after.name)
    # it ends with the last job to finish (the target rule ``all`` runs nothing and may
    # finish a clock second later: it is not a job of the path)
    ends = [j.end for j in jobs.values() if j.end is not None and j.rule != "all"]
    assert path[-1].end == max(ends)
    assert path[-1].rule != "all"
    assert path[0].rule == "acquire_dataset"
    text = report([type("R", (), {"label": "tiny", "wall": 1.0, "jobs": jobs})()])
    assert "| train_model | 6 |" in text and "critical path [tiny]" in text


@pytest.mark.workflow
def test_rerun_times_one_rule_on_a_finished_run_and_leaves_it_intact(tiny_run, tmp_path):
    from benchmarks.workflow import run_checkout

    here = Path(__file__).resolve().parents[2]
    source = Path(tiny_run)
    findings = source / "results/digits/summary/findings.tsv"
    before = (findings.read_bytes(), findings.stat().st_mtime_ns)
    result = run_checkout(
        here, tmp_path / "rerun", "config/tiny.yaml", 1, "this", rerun="summarise", source=source
    )
    assert [j.rule for j in result.jobs.values()] == ["summarise"]
    job = next(iter(result.jobs.values()))
    assert job.seconds is not None and job.seconds > 0
    rewritten = tmp_path / "rerun/results/digits/summary/findings.tsv"
    assert rewritten.stat().st_ino != findings.stat().st_ino  # a new file, not the link
    assert (findings.read_bytes(), findings.stat().st_mtime_ns) == before
    with pytest.raises(ValueError, match="--from"):
        run_checkout(here, tmp_path / "x", "config/tiny.yaml", 1, "this", rerun="summarise")
