"""A lost file is rebuilt by the next `make run`: every file the workflow writes is a target.

Snakemake looks for missing files only among its targets and the inputs of jobs that run
anyway, so an intermediate that is not a target of `rule all` stays lost once its readers
are up to date, and `snakemake --report` then stops on the missing file.
"""

import re
import shutil

import numpy as np
import pytest

from tests.conftest import run_snakemake
from tests.workflow.test_reruns import TINY, jobs_in, planned_jobs

pytestmark = pytest.mark.workflow


def written_and_requested(workdir, configfile):
    """(every file some job writes, every file rule ``all`` requests) of a config, read from
    a forced dry run's plan (logs and benchmarks are listed apart from outputs there)."""
    proc = run_snakemake(workdir, "-n", "--forceall", configfile=configfile)
    written, requested = [], []
    for block in re.split(r"\n(?=\S*rule \w+:)", proc.stdout):
        m = re.match(r"\S*rule (\w+):", block.strip())
        if not m:
            continue
        field = "input" if m.group(1) == "all" else "output"
        files = re.search(rf"^\s*{field}: (.*)$", block, flags=re.M)
        (requested if field == "input" else written).extend(files.group(1).split(", "))
    return written, requested


@pytest.mark.parametrize(
    "configfile", ["config/tiny.yaml", "config/config.yaml", "config/paper.yaml"]
)
def test_every_file_a_job_writes_is_a_target(tmp_path, configfile):
    written, requested = written_and_requested(tmp_path, configfile)
    assert len(written) == len(set(written)) > 50
    assert sorted(set(requested)) == sorted(written)


def job_keys(jobs):
    return {(rule, tuple(sorted(w.items()))) for rule, w in jobs}


def job(rule, **wildcards):
    return rule, tuple(sorted({"dataset": "digits", **wildcards}.items()))


# A per-run hull table, and the autoencoder codes of another run, which two of its scored
# spaces read (the intrinsic space and the latent space of config/tiny.yaml's scored size).
LOST = [
    "results/digits/mlp/seed1/hull/activation.tsv",
    "results/digits/mlp/seed0/latent/codes.npz",
]
REBUILT = {
    job("score", model="mlp", seed="1", space="activation"),
    job("fit_autoencoder", model="mlp", seed="0"),
    job("intrinsic_dimension", model="mlp", seed="0"),
    *(
        job("score", model="mlp", seed="0", space=space)
        for space in ["intrinsic"] + [f"latent{k}" for k in TINY["hull"]["scored_sizes"]]
    ),
    job("summarise"),
    job("figures"),
}


@pytest.fixture
def finished_copy(tiny_run, tmp_path):
    """A copy of the finished tiny run that a test may damage (times kept: copy2)."""
    return shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)


def test_lost_files_are_rebuilt_by_make_run(finished_copy, tmp_path):
    run = finished_copy
    tables = {p: p.read_bytes() for p in (run / "results").rglob("*.tsv")}
    codes = dict(np.load(run / LOST[1]))
    for path in LOST:
        (run / path).unlink()

    assert job_keys(planned_jobs(run, TINY, tmp_path)) == REBUILT
    # make run: the workflow, then the report
    ran = run_snakemake(run, "--cores", "2")
    assert job_keys(jobs_in(ran)) == REBUILT
    run_snakemake(run, "--report", "results/report.html")
    assert (run / "results/report.html").stat().st_size > 0

    assert planned_jobs(run, TINY, tmp_path) == []
    for path, content in tables.items():
        assert path.read_bytes() == content, path
    rebuilt = np.load(run / LOST[1])
    assert sorted(rebuilt.files) == sorted(codes)
    for key, array in codes.items():
        assert np.array_equal(rebuilt[key], array), key
