#!/usr/bin/env bash
# Stop the daemons .ci/slurm-up.sh started (slurmd, slurmctld, munged), by their recorded PIDs.
# A daemon started by someone else, or a PID reused by another program, is left alone.
set -euo pipefail

STATE_DIR=${SLURM_UP_STATE_DIR:-/var/lib/neuralhull-slurm}

log() { echo "slurm-down: $*"; }

stop_ours() { # name
    local file="$STATE_DIR/$1.pid" pid start
    if [[ ! -f $file ]]; then
        log "$1: no PID recorded, nothing to stop"
        return
    fi
    read -r pid start <"$file" || true
    if [[ -n ${pid:-} && -d /proc/$pid ]] &&
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] &&
        [[ $(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null) == "$start" ]]; then
        log "stopping $1 (pid $pid)"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            [[ -d /proc/$pid ]] || break
            sleep 0.5
        done
        if [[ -d /proc/$pid ]]; then
            log "$1 (pid $pid) ignored SIGTERM for 20 s; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
    else
        log "$1: recorded pid ${pid:-?} is not running (or is another program); skipping"
    fi
    rm -f "$file"
}

# Jobs first: a job still queued or running would otherwise leave its slurmstepd behind (and a
# controller that recovered its state would schedule it again on the next start).
if [[ -f $STATE_DIR/slurmctld.pid ]] && command -v scancel >/dev/null; then
    timeout 20 scancel --partition=debug 2>/dev/null || true
fi
# compute node first, controller next, authentication last
stop_ours slurmd
stop_ours slurmctld
stop_ours munged
