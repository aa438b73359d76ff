#!/usr/bin/env bash
# Start a real single-node Slurm cluster for the tests, idempotently.
#
#   tests/slurm/cluster-up.sh [STATE_DIR]        (or TASKSPACE_SLURM_DIR=...; default /tmp/taskspace-slurm)
#
# What it does (as root, on Debian 12, without systemd):
#   1. installs the Debian packages `slurmctld slurmd slurm-client munge` (--no-install-recommends) when
#      their programs are missing, running `apt-get update` first; no service is started by apt (a
#      policy-rc.d that refuses starts is put in place for the install when the machine has none);
#   2. writes munge key, slurm.conf and gres.conf under STATE_DIR, creates two fake GPUs (character-device
#      nodes under STATE_DIR/dev, made with mknod: Slurm only stats them), and symlinks
#      /etc/slurm/slurm.conf to STATE_DIR/etc/slurm.conf (the jobstep plugin strips SLURM_CONF before its
#      inner srun, so the config must be at the default path);
#   3. starts munged, slurmctld and slurmd itself, each with a PID file under STATE_DIR/run, unless the
#      daemon of that PID file is already running with the same configuration (then it is left alone);
#   4. waits until the node is idle and prints what it started. cluster-down.sh stops exactly these PIDs.
#
# Job status: no accounting (no slurmdbd, no MariaDB). The Snakemake Slurm plugin then reads job states
# from `squeue` (profiles/slurm sets `slurm-status-command: squeue`), which sees finished jobs for
# MinJobAge seconds (3600 here: far above the 3 x status-interval the plugin needs, and long enough for a
# test to look up every job of a run of several minutes afterwards). That is the simpler
# and more robust choice: two daemons and a database fewer, set-up in about a second when the packages
# are present, and nothing that can leave the plugin waiting on a failing `sacct`. `sacct` itself is
# therefore NOT usable on this cluster; tests look jobs up with `squeue --states=all --name <run id>`.
#
# Environment knobs: TASKSPACE_SLURM_DIR (state folder), TASKSPACE_SLURM_WAIT (seconds to wait for the
# node, default 60). Ports are Slurm's defaults (6817 controller, 6818 node daemon).
set -euo pipefail

t_start=$(date +%s.%N)
STATE=${1:-${TASKSPACE_SLURM_DIR:-/tmp/taskspace-slurm}}
WAIT_S=${TASKSPACE_SLURM_WAIT:-60}
NGPU=2

say() { printf 'cluster-up: %s\n' "$*"; }
die() { printf 'cluster-up: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts Slurm's daemons)"
case "$STATE" in /*) ;; *) STATE="$(pwd)/$STATE" ;; esac

# ---------------------------------------------------------------------------------------------------
# 1. packages
# ---------------------------------------------------------------------------------------------------
need_install=0
for prog in munged slurmctld slurmd sinfo squeue sbatch scontrol; do
    command -v "$prog" >/dev/null 2>&1 || { [ -x "/usr/sbin/$prog" ] || need_install=1; }
done
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
if [ "$need_install" = 1 ]; then
    command -v apt-get >/dev/null 2>&1 || die "Slurm is not installed and apt-get is not available"
    say "installing slurmctld slurmd slurm-client munge (apt-get)"
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        # keep the packages' init scripts from starting daemons with their default config
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    rc=0
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null; } || rc=$?
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || die "apt-get failed (exit $rc)"
fi
say "slurm $(dpkg-query -W -f="\${Version}" slurmctld 2>/dev/null || echo "?"), munge $(dpkg-query -W -f="\${Version}" munge 2>/dev/null || echo "?")"

# ---------------------------------------------------------------------------------------------------
# 2. configuration
# ---------------------------------------------------------------------------------------------------
# munged refuses a socket folder that others cannot enter: every folder here is 755.
install -d -m 755 "$STATE" "$STATE/etc" "$STATE/munge" "$STATE/run" "$STATE/log" "$STATE/dev" \
    "$STATE/spool" "$STATE/spool/ctld" "$STATE/spool/d"
chmod 755 "$STATE" # an existing folder keeps its mode otherwise

MUNGE_KEY=$STATE/munge/munge.key
MUNGE_SOCK=$STATE/munge/munge.socket
if [ ! -s "$MUNGE_KEY" ]; then
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
fi
chmod 600 "$MUNGE_KEY"

# Fake GPUs: character-device nodes that Slurm's gres/gpu plugin stats (never opens). A gres.conf with
# counts only (no File=) makes the node INVALID.
for ((i = 0; i < NGPU; i++)); do
    dev=$STATE/dev/gpu$i
    if [ ! -c "$dev" ]; then
        rm -f "$dev"
        mknod "$dev" c 4 "$((64 + i))" || die "mknod $dev failed (a container without CAP_MKNOD?)"
    fi
done

NODE=$(hostname -s)
# `slurmd -C` prints the node line (CPUs, sockets, cores, threads, RealMemory) for this machine.
node_hw=$(slurmd -C | head -1)
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node_hw")
boards=$(sed -n 's/.*Boards=\([0-9]*\).*/\1/p' <<<"$node_hw")
sockets=$(sed -n 's/.*SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$node_hw")
cores=$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$node_hw")
threads=$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$node_hw")
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_hw")
[ -n "$cpus" ] && [ -n "$mem" ] || die "could not read the node's hardware from 'slurmd -C': $node_hw"
# a little below what slurmd reports, otherwise a small fluctuation drains the node
mem=$((mem * 95 / 100))

conf_new=$STATE/etc/slurm.conf.new
cat >"$conf_new" <<EOF
# Written by tests/slurm/cluster-up.sh: a single-node test cluster. Do not edit; rerun the script.
ClusterName=taskspace
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${MUNGE_SOCK}
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=${STATE}/spool/ctld
SlurmdSpoolDir=${STATE}/spool/d
SlurmctldPidFile=${STATE}/run/slurmctld.pid
SlurmdPidFile=${STATE}/run/slurmd.pid
SlurmctldLogFile=${STATE}/log/slurmctld.log
SlurmdLogFile=${STATE}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in a container: plain process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default a job that gives no --mem takes the whole node
DefMemPerCPU=500
# no accounting: job states come from squeue, which keeps finished jobs for MinJobAge seconds (an hour,
# so that a test can check every job of a run after it ended)
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
ReturnToService=2
MailProg=/bin/true
KillWait=5
GresTypes=gpu
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${cpus} Boards=${boards:-1} SocketsPerBoard=${sockets:-1} CoresPerSocket=${cores:-$cpus} ThreadsPerCore=${threads:-1} RealMemory=${mem} Gres=gpu:${NGPU} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

gres_new=$STATE/etc/gres.conf.new
{
    echo "# Written by tests/slurm/cluster-up.sh: ${NGPU} fake GPUs (device nodes that are never opened)."
    for ((i = 0; i < NGPU; i++)); do
        echo "NodeName=${NODE} Name=gpu File=${STATE}/dev/gpu$i"
    done
} >"$gres_new"

conf_changed=0
for f in slurm.conf gres.conf; do
    if ! cmp -s "$STATE/etc/$f.new" "$STATE/etc/$f"; then
        mv "$STATE/etc/$f.new" "$STATE/etc/$f"
        conf_changed=1
    else
        rm -f "$STATE/etc/$f.new"
    fi
done

# Slurm's daemons and clients (and the jobstep plugin's inner srun) read /etc/slurm/slurm.conf.
install -d -m 755 /etc/slurm
if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    die "/etc/slurm/slurm.conf is a real file (a real cluster's config?); move it away first"
fi
ln -sfn "$STATE/etc/slurm.conf" /etc/slurm/slurm.conf
# (gres.conf is read from the folder of the slurm.conf that slurmd is given: STATE_DIR/etc.)

# ---------------------------------------------------------------------------------------------------
# 3. daemons
# ---------------------------------------------------------------------------------------------------
# running NAME: true when the PID file's process is alive and is that program (guards against a reused PID)
running() {
    local name=$1 pidfile=$STATE/run/$1.pid pid
    [ -s "$pidfile" ] || return 1
    pid=$(tr -dc 0-9 <"$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]
}
pid_of() { tr -dc 0-9 <"$STATE/run/$1.pid"; }

stop_one() { # stop the daemon of one PID file (used only when the configuration changed)
    local name=$1 pid
    running "$name" || return 0
    pid=$(pid_of "$name")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    say "stopped $name (pid $pid) to apply a changed configuration"
}

wait_pidfile() { # daemons fork: wait for the PID file of the child
    local name=$1
    for _ in $(seq 1 100); do running "$name" && return 0; sleep 0.1; done
    die "$name did not start; see $STATE/log/$name.log"
}

started=()
if running munged; then
    say "munged already running (pid $(pid_of munged))"
else
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    # --force: munged refuses to run as root without it
    munged --force --key-file="$MUNGE_KEY" --socket="$MUNGE_SOCK" \
        --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log" \
        --seed-file="$STATE/munge/munged.seed"
    wait_pidfile munged
    started+=("munged pid $(pid_of munged)")
fi

if [ "$conf_changed" = 1 ]; then
    stop_one slurmd
    stop_one slurmctld
fi
if running slurmctld; then
    say "slurmctld already running (pid $(pid_of slurmctld))"
else
    slurmctld -f "$STATE/etc/slurm.conf"
    wait_pidfile slurmctld
    started+=("slurmctld pid $(pid_of slurmctld)")
fi
if running slurmd; then
    say "slurmd already running (pid $(pid_of slurmd))"
else
    slurmd -f "$STATE/etc/slurm.conf"
    wait_pidfile slurmd
    started+=("slurmd pid $(pid_of slurmd)")
fi

# ---------------------------------------------------------------------------------------------------
# 4. wait for the node
# ---------------------------------------------------------------------------------------------------
deadline=$(($(date +%s) + WAIT_S))
state=""
while :; do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
    case "$state" in
    idle | mixed | allocated | completing) break ;;
    drained | draining | down | "down*" | drained* | fail*)
        scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || die "node $NODE is '$state' after ${WAIT_S}s; see $STATE/log/"
    sleep 0.5
done

for s in "${started[@]}"; do say "started $s"; done
[ "${#started[@]}" -gt 0 ] || say "nothing to start: all daemons were running"
gres=$(sinfo -h -n "$NODE" -o %G | head -1)
say "node $NODE is $state (CPUs=$cpus RealMemory=${mem}MB Gres=$gres), partition debug, state in $STATE"
say "set-up took $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
