"""A dataset file damaged on disk after a finished run: the next job that reads it stops
with an error naming the file and what to do, and trusts nothing of it."""

import os
import shutil

import pytest

from tests.conftest import run_snakemake

pytestmark = pytest.mark.workflow


def test_truncated_dataset_stops_the_job_that_reads_it(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, copy_function=shutil.copy2)  # keeps every file's time
    data = run / "resources/data/digits.npz"
    stat = data.stat()
    raw = data.read_bytes()
    data.write_bytes(raw[: len(raw) // 2])
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # looks as finished as before
    target = "results/digits/mlp/seed0/model.pt"
    proc = run_snakemake(run, target, "--cores", "1", "--force", check=False)
    assert proc.returncode != 0
    log = (run / "logs/train_model/digits/mlp/seed0.log").read_text()
    assert "DatasetIntegrityError" in log and str(data.relative_to(run)) in log, log[-2000:]
    assert "delete the file and rerun" in log
    # The failed job left no output that looks finished.
    assert not (run / target).exists()
    assert not (run / "results/digits/mlp/seed0/train_metrics.json").exists()
