#!/usr/bin/env bash
# Stop the test cluster that cluster-up.sh started: exactly the daemons named by the PID files under the
# state folder (never by process name), after cancelling the cluster's jobs.
#
#   tests/slurm/cluster-down.sh [STATE_DIR]      (or TASKSPACE_SLURM_DIR=...; default /tmp/taskspace-slurm)
#   TASKSPACE_SLURM_PURGE=1 also deletes the state folder (config, spool, logs) afterwards.
#
# The /etc/slurm/slurm.conf symlink is removed when it points into this state folder.
set -euo pipefail

STATE=${1:-${TASKSPACE_SLURM_DIR:-/tmp/taskspace-slurm}}
case "$STATE" in /*) ;; *) STATE="$(pwd)/$STATE" ;; esac
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
say() { printf 'cluster-down: %s\n' "$*"; }

running() {
    local name=$1 pidfile=$STATE/run/$1.pid pid
    [ -s "$pidfile" ] || return 1
    pid=$(tr -dc 0-9 <"$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]
}

stop_one() {
    local name=$1 pid
    if ! running "$name"; then
        say "$name not running"
        rm -f "$STATE/run/$name.pid"
        return 0
    fi
    pid=$(tr -dc 0-9 <"$STATE/run/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        say "stopped $name (pid $pid, SIGKILL after 10 s)"
    else
        say "stopped $name (pid $pid)"
    fi
    rm -f "$STATE/run/$name.pid"
}

# Jobs still on the cluster would leave slurmstepd processes behind: cancel them while the controller runs.
if running slurmctld && command -v scancel >/dev/null 2>&1; then
    if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
        squeue -h -o %i | xargs -r scancel >/dev/null 2>&1 || true
        for _ in $(seq 1 50); do
            [ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
            sleep 0.2
        done
        say "cancelled the cluster's remaining jobs"
    fi
fi

stop_one slurmd
stop_one slurmctld
stop_one munged

for f in slurm.conf; do
    if [ -L "/etc/slurm/$f" ] && [ "$(readlink "/etc/slurm/$f")" = "$STATE/etc/$f" ]; then
        rm -f "/etc/slurm/$f"
    fi
done

if [ "${TASKSPACE_SLURM_PURGE:-0}" = 1 ]; then
    rm -rf "$STATE"
    say "removed $STATE"
fi
