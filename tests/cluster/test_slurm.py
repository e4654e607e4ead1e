"""The workflow on a real SLURM cluster, through profiles/slurm.

Needs a running cluster whose default partition takes jobs (CI starts a single-node one with
`.ci/slurm-up.sh`). Without one the test is skipped, unless the environment variable ``CI`` is
set: then a missing cluster is a failure.

Independent truths: SLURM's own job table (``squeue`` with MinJobAge long enough) must list
every job the executor plugin logged, all COMPLETED; every rule that writes a log in a local
run must have run as a SLURM job; and every result table (``results/**/*.tsv``, the theory
tables too) must be byte-identical to those of a local run of the same config (the
``tiny_run`` fixture).

The cluster run replaces the profile's site placeholders on the command line, so the profile's
own ``default-resources`` are checked separately, without a cluster, by a dry run of the
documented command line.
"""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from neuralhull.plan import build_plan
from tests.conftest import ROOT, copy_workflow_profile, run_snakemake, snakemake_cmd

SLURM_PROFILE = ROOT / "profiles" / "slurm"
RUN_TIMEOUT = 40 * 60  # seconds; about 12 min on 2 cores while the rest of the suite runs
CANCEL_GRACE = 60  # seconds Snakemake gets to cancel its jobs after an interrupt
KILL_GRACE = 30  # seconds to collect the output once the process group is killed
USABLE_NODE_STATES = ("idle", "mixed", "allocated", "completing")


def _ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason):
    """Skip, or fail when CI promised a cluster."""
    if _ci():
        pytest.fail(f"CI is set but the SLURM cluster is not usable: {reason}")
    pytest.skip(f"no usable SLURM cluster: {reason}")


def _slurm_query(*args):
    """Output of a SLURM client command, or None when it fails."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def usable_partition():
    """(the cluster's default partition, None) once a node in it takes jobs, else
    (None, why not)."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return None, "sinfo/sbatch not found (run .ci/slurm-up.sh as root)"
    partitions = _slurm_query("sinfo", "-h", "-o", "%P")
    if partitions is None:
        return None, "sinfo fails: is slurmctld running?"
    default = [p.rstrip("*") for p in partitions.split() if p.endswith("*")]
    if not default:
        return None, f"no default partition in sinfo output {partitions.split()}"
    states = _slurm_query("sinfo", "-h", "-p", default[0], "-o", "%T") or ""
    if not any(s.startswith(USABLE_NODE_STATES) for s in states.split()):
        return None, f"no node of partition {default[0]} takes jobs (states: {states.split()})"
    return default[0], None


@pytest.fixture(scope="session")
def slurm_partition():
    """The cluster's default partition, once a node in it takes jobs.

    Session-scoped and requested first, so that a missing cluster skips (or fails) before
    the local reference run is made.
    """
    partition, why_not = usable_partition()
    if partition is None:
        _unavailable(why_not)
    return partition


def _local_cluster_resources(partition):
    """The profile's default resources with the site placeholders filled for this cluster.

    The test cluster has no accounting, hence no accounts: the account placeholder is
    dropped, and the plugin submits without ``-A``.
    """
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    resources = dict(profile["default-resources"])
    assert "slurm_partition" in resources and "slurm_account" in resources
    resources["slurm_partition"] = partition
    del resources["slurm_account"]
    return [
        f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"
        for key, value in resources.items()
    ]


def _profile_default_resources():
    return yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())["default-resources"]


def _resources_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith("resources:")]


@pytest.mark.workflow
def test_profile_default_resources_reach_every_job_without_a_cluster(tmp_path):
    """The documented command line plans every job with the profile's own partition and
    account (a dry run: nothing is submitted, no cluster is needed)."""
    defaults = _profile_default_resources()
    partition, account = defaults["slurm_partition"], defaults["slurm_account"]
    assert isinstance(partition, str) and partition and isinstance(account, str) and account
    copy_workflow_profile(tmp_path)  # profiles/ is looked up relative to the working directory
    proc = run_snakemake(
        tmp_path, "--profile", "profiles/slurm", "--workflow-profile", "none", "-n", timeout=300
    )
    out = proc.stdout + proc.stderr
    total = re.search(r"^total\s+(\d+)\s*$", proc.stdout, flags=re.M)
    assert total, out[-3000:]
    lines = _resources_lines(proc.stdout)
    assert len(lines) == int(total.group(1)), "not every planned job shows its resources"
    for line in lines:
        assert f"slurm_partition={partition}," in line + ",", line
        assert f"slurm_account={account}," in line + ",", line
        assert re.search(r"\bmem_mb=\d+", line) and re.search(r"\bruntime=\d+", line), line
    assert not (tmp_path / "results").exists()


def _communicate_killing_group(proc, timeout):
    """proc's output; after ``timeout`` s, SIGKILL its whole process group and collect what
    is left, with a bound of its own (a stray child holding the pipe never hangs the test)."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        return proc.communicate(timeout=KILL_GRACE)[0]
    except subprocess.TimeoutExpired as e:
        proc.stdout.close()
        partial = e.output or ""
        return partial.decode(errors="replace") if isinstance(partial, bytes) else partial


GROUP_KEYS = ("groups", "group-components", "cores")
SUBMITTED = re.compile(r"Job \S+ has been submitted with SLURM jobid (\d+)")


def _ungrouped_profile(folder):
    """profiles/slurm without its job groups: every job its own submission."""
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    assert all(key in profile for key in GROUP_KEYS), "the SLURM profile lost its job groups"
    for key in GROUP_KEYS:
        del profile[key]
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def _node_cpus(partition):
    cpus = _slurm_query("sinfo", "-h", "-p", partition, "-o", "%c")
    return min(int(c.rstrip("+")) for c in cpus.split())


def _run_on_slurm(workdir, partition, *, grouped):
    """Run tiny.yaml through the SLURM profile, with its job groups or (``grouped=False``)
    without; never hang: interrupt, cancel, then fail. Returns the run ID and the SLURM job
    IDs of the submissions the executor plugin logged."""
    if grouped:
        # a group job's parallel members share --cores cores: no more than a node has
        profile = [str(SLURM_PROFILE), "--cores", str(_node_cpus(partition))]
    else:
        profile = [str(_ungrouped_profile(workdir.parent / f"{workdir.name}-profile"))]
    args = [
        "--profile",
        *profile,
        # profiles/default (the laptop profile) would override default-resources key by key
        "--workflow-profile",
        "none",
        "--slurm-keep-successful-logs",  # the logs are the evidence checked below
        "--slurm-init-seconds-before-status-checks",
        "5",
        # last: it takes any number of values (and would swallow targets after it)
        "--default-resources",
        *_local_cluster_resources(partition),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    proc = subprocess.Popen(
        snakemake_cmd(workdir, *args),
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: killable as a whole
    )
    _RUNNING.append(proc)
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.send_signal(signal.SIGINT)  # Snakemake cancels its SLURM jobs on interrupt
        output = _communicate_killing_group(proc, CANCEL_GRACE)
    elapsed = time.monotonic() - start
    run_id = re.search(r"SLURM run ID: (\S+)", output)
    run_id = run_id.group(1) if run_id else None
    if timed_out:
        if run_id:
            subprocess.run(["scancel", "--name", run_id], capture_output=True, timeout=30)
        alive = f" (pid {proc.pid} survived SIGKILL!)" if proc.poll() is None else ""
        pytest.fail(f"SLURM run did not finish within {RUN_TIMEOUT} s{alive}:\n{output[-6000:]}")
    if proc.returncode != 0:
        pytest.fail(f"SLURM run failed ({proc.returncode}):\n{output[-6000:]}")
    assert run_id, "the executor plugin did not report a SLURM run ID: was it used?"
    submitted = SUBMITTED.findall(output)
    mode = "with job groups" if grouped else "without job groups"
    said = f"SLURM run {run_id} {mode}: {len(submitted)} sbatch submissions, {elapsed:.0f} s"
    return run_id, submitted, said


_RUNNING: list = []  # their Snakemake processes
_BACKGROUND: dict = {}  # the two cluster runs, started with the session (start_in_background)


def start_in_background(tmp_path_factory) -> bool:
    """Start the runs of tiny.yaml on the cluster, without and with the profile's job
    groups, in two threads, and return at once (True if started).

    Called by conftest.py when the session starts and selected tests need the cluster: the
    runs wait mostly on the scheduler's status checks, so the rest of the suite runs
    meanwhile, and the tests here (moved to the end of the session) collect them. Without a
    usable cluster nothing starts, and :func:`slurm_partition` skips or fails as usual.
    """
    from concurrent.futures import ThreadPoolExecutor

    partition, _ = usable_partition()
    if partition is None or _BACKGROUND:
        return False
    dirs = {g: tmp_path_factory.mktemp("tiny-slurm-grouped" if g else "tiny-slurm") for g in (0, 1)}
    pool = ThreadPoolExecutor(2, thread_name_prefix="slurm-run")
    for g, workdir in dirs.items():
        _BACKGROUND[g] = (workdir, pool.submit(_run_on_slurm, workdir, partition, grouped=bool(g)))
    pool.shutdown(wait=False)
    return True


def stop_background() -> None:
    """At the end of the session: interrupt runs nobody collected (a session stopped early
    by ``-x`` or a failure), so that it ends now, not when they finish."""
    for proc in _RUNNING:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)  # Snakemake cancels its SLURM jobs
            except ProcessLookupError:
                continue
    for proc in _RUNNING:
        try:
            proc.wait(timeout=CANCEL_GRACE)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def slurm_runs(tmp_path_factory, slurm_partition):
    """Finished runs of tiny.yaml on the cluster without and with the profile's job groups,
    side by side (each waits mostly on the scheduler's status checks): for each, (working
    directory, SLURM run ID, submitted SLURM job IDs). Started with the session when
    possible (:func:`start_in_background`), else now."""
    start_in_background(tmp_path_factory)
    runs = {}
    for g, (workdir, future) in _BACKGROUND.items():
        run_id, submitted, said = future.result()
        print(said)
        runs[g] = (workdir, run_id, submitted)
    return runs


@pytest.fixture(scope="module")
def slurm_run(slurm_runs):
    """The run without job groups: every job its own submission."""
    return slurm_runs[0]


@pytest.fixture(scope="module")
def grouped_slurm_run(slurm_runs):
    """The run through the profile as shipped: short jobs grouped."""
    return slurm_runs[1]


def _tables(root):
    results = Path(root) / "results"
    return {p.relative_to(results): p for p in results.rglob("*.tsv")}


def _squeue_states(run_id):
    table = _slurm_query("squeue", "-h", "--states=all", "--name", run_id, "--format=%i|%T|%P")
    assert table is not None, "squeue failed"
    return {job: (state, part) for job, state, part in (r.split("|") for r in table.splitlines())}


@pytest.mark.slurm
@pytest.mark.slow
def test_every_rule_ran_as_a_completed_slurm_job(slurm_partition, slurm_run, tiny_run):
    workdir, run_id, submitted = slurm_run
    slurm_logs = workdir / ".snakemake" / "slurm_logs"
    logged = {p.stem: p for p in slurm_logs.glob("rule_*/**/*.log")}
    assert logged, f"no SLURM job logs under {slurm_logs}"

    # Every rule that logs in a local run ran as a SLURM job (each rule writes logs/<rule>/),
    # once per local job.
    local_logs = Path(tiny_run) / "logs"
    local_rules = {p.name for p in local_logs.iterdir() if p.is_dir()}
    slurm_rules = {p.relative_to(slurm_logs).parts[0] for p in logged.values()}
    slurm_rules = {name.removeprefix("rule_") for name in slurm_rules}
    assert slurm_rules == local_rules
    assert len(logged) == sum(1 for _ in local_logs.rglob("*.log"))

    # SLURM's own record: the run's jobs (named by the run ID) are exactly those, all
    # COMPLETED, in the partition the profile's default resources named.
    jobs = _squeue_states(run_id)
    assert set(jobs) == set(logged), "squeue and the plugin's logs disagree on the job IDs"
    assert set(jobs) == set(submitted), "squeue and the plugin's submissions disagree"
    assert set(jobs.values()) == {("COMPLETED", slurm_partition)}, jobs


@pytest.mark.slurm
@pytest.mark.slow
def test_all_result_tables_identical_to_local_run(slurm_partition, slurm_run, tiny_run):
    workdir = slurm_run[0]
    local, on_slurm = _tables(tiny_run), _tables(workdir)
    assert len(local) > 30, "the local run wrote too few tables"
    assert any(p.parts[0] == "theory" for p in local), "no theory tables in the local run"
    assert any(p.parts[:2] == ("digits", "summary") for p in local), "no summary tables"
    assert set(on_slurm) == set(local), "the two runs wrote different sets of tables"
    differ = [str(p) for p in sorted(local) if on_slurm[p].read_bytes() != local[p].read_bytes()]
    assert not differ, f"tables differ between SLURM and local runs: {differ}"


@pytest.mark.slurm
@pytest.mark.slow
def test_job_groups_cut_submissions_and_change_no_table(
    slurm_partition, slurm_run, grouped_slurm_run, tiny_run, tmp_path
):
    """The profile's job groups: far fewer sbatch submissions than jobs, every one of them
    COMPLETED in SLURM's own table, every job's log written, and every result table
    byte-identical to the ungrouped and the local runs."""
    plain_dir, _, plain = slurm_run
    workdir, run_id, grouped = grouped_slurm_run
    print(
        f"sbatch submissions for config/tiny.yaml: {len(plain)} ungrouped, {len(grouped)} grouped"
    )
    assert len(grouped) <= len(plain) // 2, (len(grouped), len(plain))
    # the cost plan, made before any submission, foresaw both counts
    planned = build_plan([ROOT / "config/tiny.yaml"], profile=SLURM_PROFILE, directory=tmp_path)
    assert (len(plain), len(grouped)) == (planned.jobs, planned.submissions)
    jobs = _squeue_states(run_id)
    assert set(jobs) == set(grouped), "squeue and the plugin's submissions disagree"
    assert set(jobs.values()) == {("COMPLETED", slurm_partition)}, jobs
    group_logs = list((workdir / ".snakemake" / "slurm_logs").glob("group_*/**/*.log"))
    assert group_logs, "no group job ran"
    # every job ran: the same job logs as the local run
    logs = {p.relative_to(workdir / "logs") for p in (workdir / "logs").rglob("*.log")}
    local_logs = {
        p.relative_to(Path(tiny_run) / "logs") for p in (Path(tiny_run) / "logs").rglob("*.log")
    }
    assert logs == local_logs
    local, plain_tables, on_slurm = _tables(tiny_run), _tables(plain_dir), _tables(workdir)
    assert set(on_slurm) == set(local) == set(plain_tables)
    differ = [
        str(p)
        for p in sorted(local)
        if not on_slurm[p].read_bytes() == plain_tables[p].read_bytes() == local[p].read_bytes()
    ]
    assert not differ, f"tables differ between grouped, ungrouped and local runs: {differ}"
