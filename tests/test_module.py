"""The workflow deployed as a Snakemake module from a foreign folder, as a user would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.workflow

USER_SNAKEFILE = """\
configfile: "config/config.yaml"


module neuralhull:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from neuralhull
"""


def snakemake_in(project, *args, timeout=900):
    """Snakemake run in the user's folder as a user would: no PYTHONPATH, so the workflow's
    scripts must find the library by themselves."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(
        cmd, cwd=project, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_module_deployment_runs_in_the_users_folder(tmp_path):
    project = tmp_path / "my-project"
    (project / "config").mkdir(parents=True)
    (project / "Snakefile").write_text(USER_SNAKEFILE.format(snakefile=ROOT / "Snakefile"))
    cfg = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
    cfg["theory"]["enabled"] = False  # the main pipeline; the theory branch runs elsewhere
    cfg["seeds"] = [0]
    (project / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    before = {p for p in ROOT.rglob("*") if ".git" not in p.parts}
    proc = snakemake_in(project, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = project / "results/digits/summary"
    for table in ("findings", "zoo", "models", "hull", "measures"):
        assert (summary / f"{table}.tsv").stat().st_size > 0, table
    assert (project / "results/digits/figures/findings.png").exists()
    assert list((project / "logs").rglob("*.log")) and list((project / "benchmarks").rglob("*"))
    # nothing landed in the repository
    after = {p for p in ROOT.rglob("*") if ".git" not in p.parts}
    new = {
        p
        for p in after - before
        if "__pycache__" not in p.parts and not p.name.endswith((".pyc", ".nbi", ".nbc"))
    }
    assert not new, sorted(map(str, new))[:20]
    for folder in ("results", "resources", "logs", "benchmarks", "checkpoints"):
        assert not (ROOT / folder / "digits").exists() or (ROOT / folder) in before
    report = snakemake_in(project, "--report", "report.html", timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    assert Path(project / "report.html").stat().st_size > 100_000
