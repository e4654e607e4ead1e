"""Faults around the run itself: a disk that fills up mid-run, and a second run started in
the same folder. Neither may leave a file that looks finished but is not, and the run that
is allowed to go on must end with the same tables as an undisturbed run."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, copy_workflow_profile, run_snakemake, snakemake_cmd

pytestmark = pytest.mark.workflow

# One model's chain, from the dataset to its scored intrinsic space: every kind of job that
# writes a file the next one trusts (dataset, weights, arrays, tables).
CHAIN = [
    "results/digits/mlp/seed0/hull/intrinsic.tsv",
    "results/digits/mlp/seed0/proximity/intrinsic.tsv",
]


def assert_same_files(run, reference):
    """Every table of ``run`` equals, byte for byte, the same table of ``reference`` (an
    undisturbed run of the same config), and every array file holds the same arrays (JSON
    files are left out: they record how long each job took)."""
    tables = sorted((run / "results").rglob("*.tsv"))
    arrays = sorted((run / "results").rglob("*.npz"))
    assert len(tables) >= 3 and len(arrays) >= 2, (tables, arrays)  # the chain's files
    for path in tables:
        assert path.read_bytes() == (reference / path.relative_to(run)).read_bytes(), path
    for path in arrays:
        with np.load(path) as a, np.load(reference / path.relative_to(run)) as b:
            assert a.files == b.files, path
            assert all(np.array_equal(a[k], b[k]) for k in a.files), path


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs mounted at a fresh folder (root only); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_mid_run_leaves_nothing_finished_looking(small_disk, tiny_run):
    work = small_disk / "run"
    work.mkdir()
    copy_workflow_profile(work)
    # Fill the disk but for 200 KiB: the dataset fits, the chain after it does not.
    ballast = small_disk / "ballast"
    free = shutil.disk_usage(small_disk).free
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * (free - 200 * 1024))
    failed = run_snakemake(work, *CHAIN, "--cores", "2", check=False)
    assert failed.returncode != 0
    logs = "".join(p.read_text(errors="replace") for p in (work / "logs").rglob("*.log"))
    assert "No space left on device" in failed.stdout + failed.stderr + logs
    # The space comes back; the same command (after --unlock, as the README says for any
    # interrupted run) must redo whatever the full disk left unfinished, and trust nothing
    # that was cut short: every file equals an undisturbed run's.
    ballast.unlink()
    run_snakemake(work, "--unlock")
    run_snakemake(work, *CHAIN, "--cores", "2")
    assert_same_files(work, Path(tiny_run))
    assert not list(work.rglob("*.tmp*"))


def test_second_run_in_the_same_folder_is_refused_and_the_first_finishes(tmp_path, tiny_run):
    copy_workflow_profile(tmp_path)
    first = subprocess.Popen(
        snakemake_cmd(tmp_path, *CHAIN, "--cores", "1"),
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The first run holds the folder's lock once its first job has started.
        deadline = time.monotonic() + 300
        while not (tmp_path / "logs/acquire_dataset").exists():
            assert first.poll() is None, first.stdout.read()
            assert time.monotonic() < deadline, "the first run never started a job"
            time.sleep(0.05)
        second = run_snakemake(tmp_path, *CHAIN, "--cores", "1", check=False)
        assert second.returncode != 0
        assert "Directory cannot be locked" in second.stdout + second.stderr
        out, _ = first.communicate(timeout=900)
        assert first.returncode == 0, out[-4000:]
    finally:
        if first.poll() is None:
            first.kill()
    assert_same_files(tmp_path, Path(tiny_run))
