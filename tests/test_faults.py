"""Faults: a run killed mid-job leaves no output that looks finished, and a restart finishes."""

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import ROOT, copy_workflow_profile, run_snakemake, snakemake_cmd

pytestmark = pytest.mark.workflow


def test_killed_run_leaves_no_finished_looking_output_and_restarts(tmp_path):
    copy_workflow_profile(tmp_path)
    target = "results/digits/mlp/model.pt"
    log = tmp_path / "logs/train_model/digits/mlp.log"
    proc = subprocess.Popen(
        snakemake_cmd(tmp_path, target, "--cores", "2"),
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while "epoch 1/" not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None, "snakemake ended before training started"
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole job tree, as a power cut would
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    model_dir = tmp_path / "results/digits/mlp"
    assert not (model_dir / "model.pt").exists()
    assert not (model_dir / "train_metrics.json").exists()
    # a killed Snakemake leaves its lock; the documented restart is --unlock, then rerun,
    # which must redo the job (the profile says rerun-incomplete) and finish
    run_snakemake(tmp_path, "--unlock")
    run_snakemake(tmp_path, target, "--cores", "2")
    assert (model_dir / "model.pt").stat().st_size > 0
    assert not [p for p in model_dir.iterdir() if ".tmp" in p.name]
