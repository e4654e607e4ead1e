"""Atomic outputs under a real crash: a process killed (SIGKILL, no cleanup runs) while writing
through ``neuralhull.io.atomic_path`` leaves no file under the final name."""

import os
import signal
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from neuralhull.io import atomic_path

    target, how = sys.argv[1], sys.argv[2]
    with atomic_path(target) as tmp, open(tmp, "w") as fh:
        fh.write("half of the output\\n" * 1000)
        fh.flush()
        os.fsync(fh.fileno())
        if how == "crash":
            os.kill(os.getpid(), signal.SIGKILL)  # no finally, no atexit: a power cut
        fh.write("the end\\n")
    """
)


def _write(target, how):
    return subprocess.run(
        [sys.executable, "-c", WRITER, str(target), how],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_killed_writer_leaves_no_file_under_the_final_name(tmp_path):
    target = tmp_path / "out" / "table.tsv"
    proc = _write(target, "crash")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not target.exists()
    # what is left is the flushed temporary file, under a name no rule asks for
    left = list(target.parent.iterdir())
    assert len(left) == 1, left
    assert left[0].name.startswith(".table.tsv.") and ".tmp" in left[0].name, left
    assert left[0].stat().st_size > 0  # the data was written: only the rename was missing


def test_completed_writer_creates_the_file(tmp_path):
    target = tmp_path / "out" / "table.tsv"
    proc = _write(target, "finish")
    assert proc.returncode == 0, proc.stderr
    text = target.read_text()
    assert text.startswith("half of the output\n") and text.endswith("the end\n")
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind
