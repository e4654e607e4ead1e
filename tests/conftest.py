"""Shared fixtures: a real Snakemake run of config/tiny.yaml, made once per test session."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def snakemake_cmd(workdir, *args, configfile="config/tiny.yaml"):
    """Command line running this repository's workflow with its results in ``workdir``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        *args,  # targets first: --configfile takes every word after it
        "--configfile",
        str(ROOT / configfile),
    ]


def run_snakemake(workdir, *args, timeout=900, check=True, **kw):
    """Run Snakemake; on failure, fail the test with its output tail (never hang: timeout)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        snakemake_cmd(workdir, *args, **kw),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            + proc.stdout[-4000:]
            + proc.stderr[-4000:]
        )
    return proc


def kill_mid_training(workdir, target, configfile, log, marker, *, cores, timeout=300):
    """Start Snakemake on ``target`` and SIGKILL its whole process tree, as a power cut
    would, once ``marker`` (e.g. ``"epoch 3/150"``) appears in the job's ``log``."""
    proc = subprocess.Popen(
        snakemake_cmd(workdir, target, "--cores", str(cores), configfile=str(configfile)),
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while marker not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None, "snakemake ended before training started"
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def copy_workflow_profile(workdir):
    """The workflow-specific profile is looked up relative to the working directory."""
    shutil.copytree(ROOT / "profiles", Path(workdir) / "profiles", dirs_exist_ok=True)


def finished_tiny_run(workdir):
    """Run config/tiny.yaml to the end, locally, in ``workdir``; return ``workdir``."""
    copy_workflow_profile(workdir)
    run_snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished local run of config/tiny.yaml; returns its working directory."""
    return finished_tiny_run(tmp_path_factory.mktemp("tiny-local"))


def pytest_collection_modifyitems(config, items):
    """Cluster tests last: their runs start with the session and go on in the background
    (tests/cluster/test_slurm.py), so everything else runs while the scheduler works."""
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)  # stable


@pytest.fixture(scope="session", autouse=True)
def _cluster_runs_in_background(request, tmp_path_factory):
    """Start the SLURM runs at once when selected tests need them (see test_slurm.py); at
    the end, stop any that nobody collected."""
    wanted = any(
        item.get_closest_marker("slurm") and "slurm_runs" in item.fixturenames
        for item in request.session.items
    )
    if wanted:
        from tests.cluster import test_slurm

        test_slurm.start_in_background(tmp_path_factory)
    yield
    if wanted:
        test_slurm.stop_background()
