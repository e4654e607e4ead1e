"""The package as others install it: a wheel with every subpackage, whose hull engine runs in
a fresh environment that has only the engine's own dependencies (no torch, no Snakemake)."""

import json
import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from scipy.optimize import linprog

import neuralhull
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ENGINE_DEPENDENCIES = {"numpy", "scipy", "highspy", "numba", "llvmlite", "threadpoolctl"}

# Run inside the fresh environment: membership of a few queries, printed as JSON, plus which
# of the workflow's heavy dependencies that environment can import (it must import none).
ENGINE_SCRIPT = """
import importlib.util, json, sys
import numpy as np
import neuralhull
from neuralhull.hull import in_hull
points = np.array(json.loads(sys.argv[1]))
queries = np.array(json.loads(sys.argv[2]))
print(json.dumps({
    "inside": in_hull(points, queries).tolist(),
    "file": neuralhull.__file__,
    "version": neuralhull.__version__,
    "heavy": [m for m in ("torch", "snakemake", "pandas")
              if importlib.util.find_spec(m) is not None],
}))
"""


def pinned(names):
    """requirements.txt's exact pins of ``names`` (the versions the project is tested with)."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if m and m.group(1).lower() in names:
            pins[m.group(1).lower()] = line.strip()
    assert set(pins) == names, sorted(names - set(pins))
    return sorted(pins.values())


def lp_inside(points, q):
    """Independent answer: is there lambda >= 0, sum 1, points^T lambda = q? (HiGHS via scipy)"""
    n = len(points)
    a_eq = np.vstack([points.T, np.ones(n)])
    b_eq = np.append(q, 1.0)
    res = linprog(np.zeros(n), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    assert res.status in (0, 2), res.message
    return res.status == 0


def test_version_has_one_home():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    citation = (ROOT / "CITATION.cff").read_text()
    assert f"\nversion: {neuralhull.__version__}\n" in citation
    assert re.search(
        rf"^## .*{re.escape(neuralhull.__version__)}", (ROOT / "CHANGELOG.md").read_text(), re.M
    )


def test_wheel_installs_the_engine_without_the_workflow_stack(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("neuralhull-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    on_disk = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "neuralhull").rglob("__init__.py")}
    assert packages == on_disk and "neuralhull/hull" in packages, (packages, on_disk)
    assert not [n for n in names if n.startswith("benchmarks/")]  # run from a checkout only

    venv = tmp_path / "venv"  # outside the repository: nothing of the checkout on its path
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin/python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel), *pinned(ENGINE_DEPENDENCIES)],
        check=True,
        capture_output=True,
    )
    rng = np.random.default_rng(3)
    points = rng.normal(size=(40, 3))
    queries = np.vstack([points[:5].mean(axis=0), 3 * rng.normal(size=(6, 3)), points[7]])
    out = subprocess.run(
        [python, "-c", ENGINE_SCRIPT, json.dumps(points.tolist()), json.dumps(queries.tolist())],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["file"].startswith(str(venv)), got["file"]
    assert got["version"] == neuralhull.__version__
    assert got["heavy"] == [], got["heavy"]
    expected = [lp_inside(points, q) for q in queries]
    assert True in expected and False in expected  # the case tells both answers apart
    assert got["inside"] == expected
