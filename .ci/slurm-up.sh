#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, for `pytest -m slurm` (tests/cluster/test_slurm.py).
#
# Idempotent: re-running it while the cluster is up only checks that it still works; re-running
# it after the machine changed rewrites the config and restarts the daemons it started.
# Needs root and no systemd: munged, slurmctld and slurmd run as plain background daemons whose
# PIDs are recorded in $STATE_DIR, so that .ci/slurm-down.sh stops exactly those.
#
# The node is `localhost` with this machine's CPUs and memory (minus a margin), one partition
# `debug` (the default), no accounting and no cgroups. MinJobAge is long, so finished jobs stay
# visible to `squeue` (the executor plugin's status command when accounting is off).
#
# Environment:
#   SLURM_UP_STATE_DIR   where PIDs and daemon logs go (default /var/lib/neuralhull-slurm)
#   SLURM_UP_TIMEOUT     seconds to wait for the node to become usable (default 60)
#   SLURM_UP_MEMORY_MB   node memory to declare, instead of measuring it
set -euo pipefail

STATE_DIR=${SLURM_UP_STATE_DIR:-/var/lib/neuralhull-slurm}
TIMEOUT=${SLURM_UP_TIMEOUT:-60}
SLURM_CONF=/etc/slurm/slurm.conf # the executor plugin drops $SLURM_CONF: use the default path
MARKER="# written by neuralhull .ci/slurm-up.sh"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# What the cluster looked like when start-up failed: enough to tell a stale job holding the
# node from a daemon that never registered, without logging in to the machine.
diagnose() {
    {
        echo "---- squeue"
        timeout 10 squeue 2>&1 || true
        echo "---- scontrol show node localhost"
        timeout 10 scontrol show node localhost 2>&1 || true
        for f in slurmctld.log slurmd.log slurmctld.out slurmd.out; do
            [[ -f $STATE_DIR/$f ]] || continue
            echo "---- tail $STATE_DIR/$f"
            tail -n 20 "$STATE_DIR/$f"
        done
    } >&2
}
die() {
    echo "slurm-up: ERROR: $*" >&2
    [[ ${DIAGNOSE:-false} == true ]] && diagnose
    exit 1
}
log() { echo "slurm-up: $*"; }

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, writes $SLURM_CONF)"

# ---- packages ---------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
    ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    log "installing slurmctld slurmd munge slurm-client"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurmctld slurmd munge slurm-client >/dev/null
fi

mkdir -p "$STATE_DIR"

# A daemon we started is alive when its recorded PID still runs the same program, started at
# the same time (so a recycled PID is never mistaken for it).
proc_starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
is_ours_running() { # name
    local file="$STATE_DIR/$1.pid" pid start
    [[ -f $file ]] || return 1
    read -r pid start <"$file" || return 1
    [[ -n $pid && -d /proc/$pid ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] || return 1
    [[ $(proc_starttime "$pid") == "$start" ]]
}
record_pid() { # name pid
    echo "$2 $(proc_starttime "$2")" >"$STATE_DIR/$1.pid"
}
stop_ours() { # name
    local file="$STATE_DIR/$1.pid" pid start
    if is_ours_running "$1"; then
        read -r pid start <"$file"
        log "stopping $1 (pid $pid)"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            [[ -d /proc/$pid ]] || break
            sleep 0.5
        done
        [[ -d /proc/$pid ]] && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

# ---- munge ------------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_works; then
    is_ours_running munged && stop_ours munged
    log "starting munged"
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    for _ in $(seq 1 20); do
        if [[ -s /run/munge/munged.pid ]]; then
            # recorded at once, so that slurm-down.sh stops it even if a later step fails
            record_pid munged "$(cat /run/munge/munged.pid)"
            munge_works && break
        fi
        sleep 0.5
    done
    [[ -s /run/munge/munged.pid ]] || die "munged did not start (see /var/log/munge/munged.log)"
    munge_works || die "munged runs but 'munge -n | unmunge' fails (see /var/log/munge/munged.log)"
elif ! is_ours_running munged; then
    log "munged already running (not started by this script; slurm-down.sh will leave it)"
fi

# ---- slurm.conf -------------------------------------------------------------------------
cpus=$(nproc --all)
total_mb=$(free -m | awk '/^Mem:/ {print $2}')
margin_mb=$((total_mb / 10 > 1024 ? total_mb / 10 : 1024))
memory_mb=${SLURM_UP_MEMORY_MB:-$((total_mb - margin_mb))}
# The largest memory a rule declares: a job asking for more than the node has is rejected at
# submission. Warn (the tiny config needs far less, but SLURM checks the request, not the use).
largest_mb=$(grep -rhoE 'mem_mb *= *[0-9]+' "$REPO/workflow/rules" 2>/dev/null |
    grep -oE '[0-9]+$' | sort -n | tail -1 || true)
if [[ -n $largest_mb && $memory_mb -lt $largest_mb ]]; then
    log "WARNING: node memory ${memory_mb} MB < ${largest_mb} MB declared by a rule;" \
        "such jobs will be rejected (set SLURM_UP_MEMORY_MB to declare more)"
fi

new_conf=$(mktemp)
trap 'rm -f "$new_conf"' EXIT
cat >"$new_conf" <<EOF
$MARKER
# A single-node test cluster: no accounting, no cgroups, one partition.
ClusterName=neuralhull
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay in squeue for an hour (the plugin needs >= 3 status-check intervals)
MinJobAge=3600
ReturnToService=2
InactiveLimit=0
KillWait=30
Waittime=0
SlurmctldTimeout=120
SlurmdTimeout=300
# declared memory may differ from the hardware's (SLURM_UP_MEMORY_MB): trust the config
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

conf_changed=false
if [[ ! -f $SLURM_CONF ]] || ! cmp -s "$new_conf" "$SLURM_CONF"; then
    conf_changed=true
    if [[ -f $SLURM_CONF ]] && ! grep -qF "$MARKER" "$SLURM_CONF"; then
        backup="$SLURM_CONF.bak.$(date +%Y%m%d%H%M%S)"
        log "keeping the existing $SLURM_CONF as $backup"
        cp -p "$SLURM_CONF" "$backup"
    fi
    mkdir -p "$(dirname "$SLURM_CONF")"
    install -m 0644 "$new_conf" "$SLURM_CONF"
    log "wrote $SLURM_CONF (CPUs=$cpus RealMemory=${memory_mb} MB, partition debug)"
fi
install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd

# ---- slurmctld, slurmd ------------------------------------------------------------------
if $conf_changed; then
    stop_ours slurmd
    stop_ours slurmctld
fi
start_daemon() { # name command...
    local name=$1
    shift
    if is_ours_running "$name"; then
        return
    fi
    if pgrep -x "$name" >/dev/null; then
        die "a $name not started by this script is running (pid $(pgrep -x "$name" | head -1));" \
            "stop it first"
    fi
    log "starting $name"
    # -D: stay in the foreground, so $! is the daemon itself; setsid: outlive this shell
    setsid "$@" -D >>"$STATE_DIR/$name.out" 2>&1 </dev/null &
    local pid=$!
    # recorded before anything can fail (setsid execs in place: same PID and start time), so
    # that slurm-down.sh stops it even if start-up fails later
    record_pid "$name" "$pid"
    sleep 0.5
    if [[ ! -d /proc/$pid ]]; then
        rm -f "$STATE_DIR/$name.pid"
        die "$name exited at once; see $STATE_DIR/$name.out and $name.log"
    fi
}
# -c: a controller this script starts begins with no jobs. Without it, a job left queued or
# running in StateSaveLocation by an earlier, interrupted run is recovered and scheduled again,
# holds the node, and every new job waits "for resources" (seen on a reused CI machine).
start_daemon slurmctld /usr/sbin/slurmctld -c -i
start_daemon slurmd /usr/sbin/slurmd -N localhost

# ---- wait until the node takes jobs -----------------------------------------------------
DIAGNOSE=true
deadline=$((SECONDS + TIMEOUT))
state=""
while ((SECONDS < deadline)); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null | head -1 || true)
    case $state in
    idle* | mixed* | allocated* | completing*) break ;;
    down* | drained* | draining*)
        scontrol update nodename=localhost state=resume 2>/dev/null || true
        ;;
    esac
    sleep 1
done
case $state in
idle* | mixed* | allocated* | completing*) ;;
*)
    die "node localhost not usable after ${TIMEOUT}s (sinfo state: '${state:-none}');" \
        "see $STATE_DIR/slurmctld.log and $STATE_DIR/slurmd.log"
    ;;
esac

remaining=$((deadline - SECONDS > 10 ? deadline - SECONDS : 10))
if ! timeout "$remaining" srun -N1 -n1 -t 1 true; then
    die "'srun -N1 true' failed or timed out (${remaining}s); see $STATE_DIR/slurmd.log"
fi
log "cluster up: $(sinfo -h -o '%P %D %T %c CPUs %m MB' | head -1)"
