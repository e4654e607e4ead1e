"""The fast tier stays fast: every test that runs Snakemake carries the ``workflow`` (or
``slurm``) marker and every test that builds a wheel or a virtual environment the ``slow``
one, so that ``make test-fast`` (``pytest -m "not workflow and not slurm and not slow"``)
never starts them.

Read from the source with ``ast``: a test runs Snakemake when it calls one of the helpers
below or spells a command line with ``"snakemake"`` in it, itself or through the functions
and fixtures of tests/ it uses (a helper imported from another test file counts, and a
fixture resolves as pytest resolves it: the test's own file first, then the nearest
conftest.py). A test's markers are its decorators and its file's ``pytestmark``.
"""

import ast
import functools
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Calls that run Snakemake: as a subprocess (tests/conftest.py; the workflow benchmark's run
# of a checkout), or its job graph built in-process (neuralhull.plan.build_plan).
RUNS_SNAKEMAKE = {
    "run_snakemake",
    "snakemake_cmd",
    "finished_tiny_run",
    "kill_mid_training",
    "build_plan",
    "run_checkout",
}
WORKFLOW_MARKERS = {"workflow", "slurm"}
# Consecutive command-line words that build a wheel or create a virtual environment.
BUILDS_ENVIRONMENTS = {("-m", "venv"), ("pip", "wheel")}


def markers_of(node):
    """Names X of the ``pytest.mark.X`` in a decorator list or a ``pytestmark`` value."""
    return {
        sub.attr
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute)
        and isinstance(sub.value, ast.Attribute)
        and sub.value.attr == "mark"
    }


def module_markers(tree):
    names = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets
        ):
            names |= markers_of(stmt.value)
    return names


def command_words(func):
    """The string constants of each list or tuple in ``func``."""
    for sub in ast.walk(func):
        if isinstance(sub, ast.List | ast.Tuple):
            yield [e.value for e in sub.elts if isinstance(e, ast.Constant)]


def runs_snakemake(func):
    return calls_by_name(RUNS_SNAKEMAKE)(func) or any(
        "snakemake" in words for words in command_words(func)
    )


def builds_an_environment(func):
    return any(
        set(zip(words, words[1:], strict=False)) & BUILDS_ENVIRONMENTS
        for words in command_words(func)
    )


def functions(tree):
    return [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def is_fixture(func):
    for deco in func.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Attribute | ast.Name) and "fixture" in ast.unparse(target):
            return True
    return False


def parameters(func):
    args = func.args
    return {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}


def module_path(dotted):
    """tests/x/y.py for ``tests.x.y``, when it is a file of tests/."""
    path = TESTS.parent.joinpath(*dotted.split(".")).with_suffix(".py")
    return path if path.is_file() else None


class Module:
    """One file of tests/: its top-level functions and what its names refer to."""

    def __init__(self, path):
        self.path = path
        self.tree = ast.parse(path.read_text(), filename=str(path))
        self.functions = {f.name: f for f in functions(self.tree)}
        self.names = {name: (path, name) for name in self.functions}  # name -> (file, function)
        self.modules = {}  # name -> file, for `from tests import test_x`
        for node in ast.walk(self.tree):  # imports inside functions too
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    as_module = module_path(f"{node.module}.{alias.name}")
                    source = module_path(node.module)
                    if as_module:
                        self.modules[alias.asname or alias.name] = as_module
                    elif source:
                        self.names[alias.asname or alias.name] = (source, alias.name)
        conftests = [d / "conftest.py" for d in [path.parent, *path.parent.parents]]
        self.conftests = [c for c in conftests if c.is_file() and c.is_relative_to(TESTS)]

    def uses(self, func, modules):
        """The functions of tests/ that ``func`` calls, reads or takes as fixtures."""
        used = set()
        for sub in ast.walk(func):
            if isinstance(sub, ast.Name) and sub.id in self.names:
                used.add(self.names[sub.id])
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                if sub.value.id in self.modules:
                    used.add((self.modules[sub.value.id], sub.attr))
        for name in parameters(func):  # fixtures: this file's own, else the nearest conftest's
            for path in [self.path, *self.conftests]:
                found = modules[path].functions.get(name)
                if found is not None and is_fixture(found):
                    used.add((path, name))
                    break
        return used


@functools.cache
def parsed_files():
    return {path: Module(path) for path in sorted(TESTS.rglob("*.py"))}


def calls_by_name(names):
    def direct(func):
        return any(
            (isinstance(sub, ast.Name) and sub.id in names)
            or (isinstance(sub, ast.Attribute) and sub.attr in names)
            for sub in ast.walk(func)
        )

    return direct


def reaching_tests(direct):
    """(file, test name, its markers) for every test that does what ``direct`` looks for,
    itself or through the functions and fixtures of tests/ it uses, transitively."""
    modules = parsed_files()
    graph = {
        (path, name): (direct(func), module.uses(func, modules))
        for path, module in modules.items()
        for name, func in module.functions.items()
    }
    reaching = {key for key, (itself, _) in graph.items() if itself}
    while True:
        more = {key for key, (_, used) in graph.items() if used & reaching} - reaching
        if not more:
            break
        reaching |= more
    found = []
    for path, module in modules.items():
        if not path.name.startswith("test_"):
            continue
        marks_of_file = module_markers(module.tree)
        for name, func in module.functions.items():
            if name.startswith("test") and (path, name) in reaching:
                marks = marks_of_file | markers_of(ast.Module(body=func.decorator_list))
                found.append((path.relative_to(TESTS.parent), name, marks))
    return found


def listing(found):
    return "\n  ".join(f"{path}::{name}" for path, name, _ in found)


def test_every_test_that_runs_snakemake_is_marked_workflow():
    unmarked = [t for t in reaching_tests(runs_snakemake) if not t[2] & WORKFLOW_MARKERS]
    assert not unmarked, (
        "these tests run Snakemake but carry neither the workflow nor the slurm marker, so "
        "`make test-fast` would run them; mark them `@pytest.mark.workflow` (or the whole "
        "file: `pytestmark = pytest.mark.workflow`):\n  " + listing(unmarked)
    )


def test_every_test_that_builds_an_environment_is_marked_slow():
    unmarked = [t for t in reaching_tests(builds_an_environment) if "slow" not in t[2]]
    assert not unmarked, (
        "these tests build a wheel or a virtual environment but do not carry the slow "
        "marker, so `make test-fast` would run them; mark them `@pytest.mark.slow`:\n  "
        + listing(unmarked)
    )


def test_the_search_finds_each_way_of_running_snakemake():
    """Were a helper renamed, the search would find nothing and pass: it must still find a
    test through the tiny_run fixture, one through a helper imported from another test file,
    one with its own command line, one with the in-process plan, and the wheel's test. It
    reads top-level test functions: a test class would escape it."""
    found = {(str(path), name) for path, name, _ in reaching_tests(runs_snakemake)}
    for test in [
        ("tests/workflow/test_workflow_bench.py", "test_reads_a_real_run"),
        ("tests/workflow/test_config_grid.py", "test_impossible_grid_is_refused_before_any_job"),
        (
            "tests/workflow/test_module.py",
            "test_module_deployment_from_git_runs_in_the_users_folder",
        ),
        ("tests/workflow/test_plan.py", "test_slurm_plan_groups_as_the_profile_says"),
    ]:
        assert test in found, test
    slow = {(str(path), name) for path, name, _ in reaching_tests(builds_an_environment)}
    wheel = (
        "tests/workflow/test_packaging.py",
        "test_wheel_installs_the_engine_without_the_workflow_stack",
    )
    assert wheel in slow
    classes = [
        f"{path.relative_to(TESTS.parent)}::{node.name}"
        for path, module in parsed_files().items()
        for node in module.tree.body
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test")
    ]
    assert not classes, f"write these as test functions, which the search reads: {classes}"


def test_the_fast_tier_leaves_out_exactly_these_markers_and_make_test_none():
    recipes = {}
    target = None
    for line in (TESTS.parent / "Makefile").read_text().splitlines():
        if line and not line.startswith(("\t", "#", " ")) and ":" in line:
            target = line.split(":")[0]
        elif line.startswith("\t") and "pytest" in line:
            recipes[target] = line
    assert '-m "not workflow and not slurm and not slow"' in recipes["test-fast"]
    assert " -m " not in recipes["test"], "make test runs every test"
