"""Where the per-step conda environments install this package from.

Every ``workflow/envs/*.yaml`` lists, in its ``pip:`` section, the line ``${NEURALHULL_SOURCE}``
followed by ``neuralhull==<version>``. Snakemake copies an env file to
``.snakemake/conda/<hash>.yaml`` (or a temporary file, for a workflow read from git) before
``conda env create``, so a path relative to the repository cannot work there. Instead, conda
writes the ``pip:`` lines to a requirements file and runs ``pip install -r`` on it from the
Snakemake process, whose environment it inherits, and pip replaces ``${NAME}`` in a
requirements file by the environment variable ``NAME``. The Snakefile therefore sets
``NEURALHULL_SOURCE`` (:func:`export_package_source`) to the pip requirement that installs the
package the running workflow came with:

- a local checkout (``snakemake -s workflow/Snakefile``, or a module given by path): an
  editable install of the checkout, ``-e <repository root>``, so that jobs run the checkout's
  code as it is now, like the ``.venv`` of ``make run``;
- a module read from git (``github(...)``, ``gitlab(...)``, ``gitfile(...)``): the same
  repository at the same tag, branch or commit, ``neuralhull @ git+<url>@<ref>``.

A value the user exported beforehand wins (another mirror, a wheel, a private fork). The
version pin on the next line puts the version into the env file, whose bytes Snakemake hashes
to name the environment: a release with a new version gets new environments, and pip refuses
a source whose version differs from the pin.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from pathlib import Path

ENV_VAR = "NEURALHULL_SOURCE"
DISTRIBUTION = "neuralhull"


class PackageSourceError(RuntimeError):
    """The workflow cannot tell where its conda environments should install the package from."""


def _local_checkout(workflow_dir: str) -> Path | None:
    """The repository root above a local ``workflow/`` folder, if it holds this package."""
    root = Path(workflow_dir).resolve().parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
    except tomllib.TOMLDecodeError:
        return None
    return root if name == DISTRIBUTION else None


def requirement_for(basedir) -> str | None:
    """The pip requirement line that installs the package shipped with the workflow whose
    Snakefile lies in ``basedir`` (Snakemake's ``workflow.current_basedir``: a local path or a
    source file of a git host); ``None`` where that cannot be told (a Snakefile fetched by
    plain URL, a ``workflow/`` folder copied without its package)."""
    from snakemake.sourcecache import HostingProviderFile, LocalGitFile, LocalSourceFile

    if isinstance(basedir, (str, os.PathLike, LocalSourceFile)):
        root = _local_checkout(os.fspath(basedir))
        return None if root is None else f"-e {shlex.quote(str(root))}"
    if isinstance(basedir, LocalGitFile):
        repo = Path(basedir.repo_path).resolve()
        return f"{DISTRIBUTION} @ git+{repo.as_uri()}@{basedir.ref}"
    if isinstance(basedir, HostingProviderFile):
        return f"{DISTRIBUTION} @ git+https://{basedir.host}/{basedir.repo}@{basedir.ref}"
    return None


def export_package_source(workflow) -> str | None:
    """Set ``NEURALHULL_SOURCE`` for the conda environments of this run (unless the user set
    it) and return it. Stops the run, naming what to do, only where conda environments will
    be built (``--sdm conda``) and the source cannot be told."""
    given = os.environ.get(ENV_VAR)
    if given:
        return given
    requirement = requirement_for(workflow.current_basedir)
    if requirement is not None:
        os.environ[ENV_VAR] = requirement
        return requirement
    from snakemake_interface_executor_plugins.settings import DeploymentMethod

    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        raise PackageSourceError(
            f"--sdm conda: the environments in workflow/envs/ pip-install the {DISTRIBUTION} "
            f"package, but this workflow was loaded from {workflow.current_basedir}, which is "
            "neither a checkout of the repository nor a git source (github(), gitlab(), "
            f"gitfile()). Set {ENV_VAR} to a pip requirement that installs it, e.g. "
            f'export {ENV_VAR}="{DISTRIBUTION} @ git+https://github.com/<owner>/neuralhull@v<version>".'
        )
    return None
