"""The workflow deployed as a Snakemake module from a git source, as a remote user would:
``gitfile(...)`` over a local repository takes the same source-cache code path as
``github(...)``, so this runs offline what ``github("<owner>/neuralhull", path=
"workflow/Snakefile", tag="v...")`` does."""

import os
import shutil
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
        gitfile("{repo}", path="workflow/Snakefile", tag="{tag}")
    config:
        config


use rule * from neuralhull
"""


def tagged_repository(folder, tag):
    """A git repository in ``folder`` holding this checkout's files as they are now (tracked,
    and untracked but not ignored), committed and tagged ``tag``."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            dst = folder / name.decode()
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", tag]):
        subprocess.run([*git, *args], cwd=folder, check=True, capture_output=True)
    return folder


def snakemake_in(project, *args, timeout=900):
    """Snakemake run in the user's folder as a user would: no PYTHONPATH, so the workflow's
    scripts must find the library by themselves."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(
        cmd, cwd=project, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_module_deployment_from_git_runs_in_the_users_folder(tmp_path):
    repo = tagged_repository(tmp_path / "neuralhull-release", "v0.1.0")
    project = tmp_path / "my-project"
    (project / "config").mkdir(parents=True)
    snakefile = USER_SNAKEFILE.format(repo=repo, tag="v0.1.0")
    (project / "Snakefile").write_text(snakefile)
    cfg = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
    cfg["theory"]["enabled"] = False  # the main pipeline; the theory branch runs elsewhere
    cfg["seeds"] = [0]
    (project / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    before = {p for p in ROOT.rglob("*") if ".git" not in p.parts}
    # Snakemake 9.27's LocalGitFile.join (gitfile only; github()'s join formats the path)
    # fails on a script path while checking the `code` rerun trigger: every other trigger on.
    triggers = ["--rerun-triggers", "mtime", "params", "input", "software-env"]
    proc = snakemake_in(project, "--cores", "2", *triggers)
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
    # nor in the deployed release: every output is in the user's folder
    for folder in ("results", "resources", "logs", "checkpoints", ".snakemake"):
        assert not (repo / folder).exists(), folder
    assert not [p for p in (repo / "benchmarks").iterdir() if p.is_dir()]  # only its scripts
    report = snakemake_in(project, "--report", "report.html", *triggers, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    assert Path(project / "report.html").stat().st_size > 100_000
