"""What a run will ask of a cluster, before it is submitted.

``python -m neuralhull.plan --configfile config/paper.yaml --profile profiles/slurm`` builds
the workflow's job graph exactly as ``snakemake --profile ...`` would (the same config, the
same groups, group components, default and per-rule resources, the same cores per group
job), evaluates every job's resource requests through the workflow's own cost model
(:mod:`neuralhull.cost`, which the rules reach through ``workflow/rules/resources.smk``),
and prints, per rule and in total: jobs, sbatch
submissions (one per group job or ungrouped job; rules Snakemake runs locally submit
nothing), requested CPU-hours and GPU-hours (each job's threads or GPUs x runtime) and the
peak memory a job asks for.

Runtimes are requests, not measurements: the resource model pads its CPU-time estimate by a
safety factor for slower nodes, so the hours printed are what an allocation must cover
(what the scheduler may charge at most), typically several times what the run uses.

Without ``--profile`` the plan is for a local run: no groups, one "submission" per job.
The plan covers the jobs that still need to run in ``--directory`` (the current folder by
default): in a fresh folder, the whole run.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class RulePlan:
    """Requests of every job of one rule."""

    jobs: int = 0
    cpu_hours: float = 0.0  # sum over its jobs of threads x runtime
    gpu_hours: float = 0.0
    peak_mem_mb: int = 0
    max_runtime_min: int = 0


@dataclass
class Plan:
    rules: dict[str, RulePlan] = field(default_factory=dict)
    submissions: int = 0  # sbatch calls: group jobs plus ungrouped non-local jobs
    grouped_submissions: dict[str, int] = field(default_factory=dict)
    cpu_hours: float = 0.0  # every job's threads x runtime
    gpu_hours: float = 0.0  # every job's GPUs x runtime
    peak_mem_mb: int = 0  # the largest memory request of one job

    @property
    def jobs(self) -> int:
        return sum(r.jobs for r in self.rules.values())


def _pairs(entries, what) -> dict[str, str]:
    """A profile's ``rule=value`` list (``groups``, ``group-components``) as a dict."""
    out = {}
    for entry in entries or []:
        key, sep, value = str(entry).partition("=")
        if not sep:
            raise ValueError(f"profile: {what}: {entry!r} is not of the form name=value")
        out[key.strip()] = value.strip()
    return out


def read_profile(profile: Path | None) -> dict:
    """The keys of a profile's ``config.yaml`` that shape submissions (empty: local)."""
    if profile is None:
        return {}
    path = Path(profile) / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"profile: {path} does not exist")
    return yaml.safe_load(path.read_text()) or {}


def _resource(resources, name, default=0):
    value = resources.get(name, default)
    value = getattr(value, "value", value)
    return value if isinstance(value, int | float) else default


def build_plan(
    configfiles: list[Path],
    profile: Path | None = None,
    snakefile: Path = ROOT / "workflow" / "Snakefile",
    directory: Path = Path("."),
) -> Plan:
    """Build the job graph as Snakemake does for this config and profile and add up every
    job's requests (see the module docstring)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        ExecutionSettings,
        GroupSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    prof = read_profile(profile)
    executor = prof.get("executor", "local")
    groups = _pairs(prof.get("groups"), "groups")
    components = {k: int(v) for k, v in _pairs(prof.get("group-components"), "").items()}
    resource_settings = ResourceSettings(
        cores=prof.get("cores", 1),
        nodes=prof.get("jobs"),
        default_resources=prof.get("default-resources"),
        overwrite_resources=prof.get("set-resources") or {},
        overwrite_threads={k: int(v) for k, v in (prof.get("set-threads") or {}).items()},
    )
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(
            resource_settings=resource_settings,
            config_settings=ConfigSettings(configfiles=[Path(f) for f in configfiles]),
            snakefile=Path(snakefile),
            workdir=Path(directory),
        )
        # The workflow as the executor will see it: groups are read when rules are defined
        # and applied only for non-local executors, so both are set before the Snakefile is
        # read. Nothing is submitted: the DAG is built and inspected, never executed.
        workflow = workflow_api._get_workflow(
            group_settings=GroupSettings(overwrite_groups=groups, group_components=components)
        )
        workflow._executor_plugin = ExecutorPluginRegistry().get_plugin(executor)
        workflow_api._workflow_store = workflow
        workflow.include(workflow_api.snakefile, overwrite_default_target=True)
        workflow.check()
        workflow.dag_settings = DAGSettings()
        workflow.execution_settings = ExecutionSettings()
        workflow._prepare_dag(
            forceall=False, ignore_incomplete=False, lock_warn_only=True, nolock=True
        )
        workflow._build_dag()
        dag = workflow.dag
        dag.update_groups()
        return _add_up(dag, local=workflow.local_exec)


def _add_up(dag, local: bool) -> Plan:
    plan = Plan()
    rules: dict[str, RulePlan] = defaultdict(RulePlan)
    for job in dag.needrun_jobs():
        if job.is_norun or (job.is_local and not local):
            continue  # e.g. rule all: it runs nothing, and Snakemake never submits it
        res = job.resources
        runtime = _resource(res, "runtime")
        rp = rules[job.rule.name]
        rp.jobs += 1
        rp.cpu_hours += job.threads * runtime / 60
        rp.gpu_hours += _resource(res, "gpu") * runtime / 60
        rp.peak_mem_mb = max(rp.peak_mem_mb, int(_resource(res, "mem_mb")))
        rp.max_runtime_min = max(rp.max_runtime_min, int(runtime))
    plan.rules = dict(sorted(rules.items()))
    plan.cpu_hours = sum(rp.cpu_hours for rp in plan.rules.values())
    plan.gpu_hours = sum(rp.gpu_hours for rp in plan.rules.values())
    plan.peak_mem_mb = max((rp.peak_mem_mb for rp in plan.rules.values()), default=0)
    # Submissions: one per group job and per ungrouped job. Their number is fixed by the DAG
    # and the group components; how Snakemake packs each group job's members into layers
    # (and so the cores x runtime it reserves) varies from one call to the next, so the
    # hours above are the jobs' own requests.
    grouped: dict[str, int] = defaultdict(int)
    for unit in dag.get_jobs_or_groups():
        if unit.is_group():
            grouped[unit.groupid] += 1
        elif not dag.needrun(unit) or unit.is_norun or (unit.is_local and not local):
            continue  # group jobs hold only jobs that need to run
        plan.submissions += 1
    plan.grouped_submissions = dict(sorted(grouped.items()))
    return plan


def format_plan(plan: Plan, title: str) -> str:
    rows = [("rule", "jobs", "CPU-h", "GPU-h", "peak mem (MB)", "max runtime (min)")]
    for name, rp in plan.rules.items():
        rows.append(
            (
                name,
                str(rp.jobs),
                f"{rp.cpu_hours:.1f}",
                f"{rp.gpu_hours:.1f}",
                str(rp.peak_mem_mb),
                str(rp.max_runtime_min),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title, ""]
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    groups = ", ".join(f"{g}: {n}" for g, n in plan.grouped_submissions.items()) or "none"
    lines += [
        "",
        f"jobs: {plan.jobs}",
        f"submissions: {plan.submissions} (group jobs among them: {groups})",
        f"CPU-hours requested: {plan.cpu_hours:.1f} (every job's threads x runtime; a group "
        "job also holds its cores while its members run in series)",
        f"GPU-hours requested: {plan.gpu_hours:.1f}",
        f"largest memory request of one job: {math.ceil(plan.peak_mem_mb / 1000)} GB "
        "(a group job asks for what its members need side by side)",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m neuralhull.plan", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--configfile", nargs="+", type=Path, default=[ROOT / "config/config.yaml"])
    parser.add_argument("--profile", type=Path, default=None, help="e.g. profiles/slurm")
    parser.add_argument("--snakefile", type=Path, default=ROOT / "workflow" / "Snakefile")
    parser.add_argument("--directory", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    plan = build_plan(args.configfile, args.profile, args.snakefile, args.directory)
    where = f"profile {args.profile}" if args.profile else "a local run"
    names = " ".join(str(f) for f in args.configfile)
    print(
        format_plan(plan, f"Plan for {names} with {where}, jobs still to run in {args.directory}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
