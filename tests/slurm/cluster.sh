#!/usr/bin/env bash
# A private one-node Slurm cluster for tests: munged, slurmctld and slurmd of
# Debian's slurm-wlm, with every file (config, key, state, spool, logs, pids,
# sockets) under one directory and ports nobody else uses, so it never touches
# /etc/slurm or a system cluster.  Client commands find it via SLURM_CONF.
#
# Sourced by tests/slurm/run.sh; also usable by hand:
#   tests/slurm/cluster.sh start DIR     (then: export SLURM_CONF=DIR/slurm.conf)
#   tests/slurm/cluster.sh stop DIR
#
# Functions return 0 on success; on failure they print what was run and what
# it said (log tails included) and return 1, so the caller can skip cleanly.

# slurm_install: installs slurm-wlm and munge when missing (apt-get, as root
# or through sudo without a password).
slurm_install() {
    local need=() p
    for p in slurmctld slurmd slurm-client munge; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        echo "cannot install ${need[*]}: no apt-get on this system"
        return 1
    fi
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if ! sudo -n true 2>/dev/null; then
            echo "cannot install ${need[*]}: not root and no password-less sudo"
            return 1
        fi
        sudo=(sudo -n)
    fi
    echo "installing ${need[*]}"
    local log
    log=$(mktemp)
    # Debian's policy-rc.d (or the lack of an init system) keeps the packaged
    # services from starting; we start our own daemons below.
    if ! { "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" ||
           { "${sudo[@]}" apt-get update -qq &&
             "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"; }; } \
           </dev/null >"$log" 2>&1; then
        echo "\$ apt-get install ${need[*]}  failed:"
        tail -n 20 "$log"
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

# _free_port BASE: the first port from BASE on that nothing listens on.
_free_port() {
    local p=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# _slurm_fail DIR WHAT: explains a failed start with the daemons' logs.
_slurm_fail() {
    local dir=$1 f
    echo "$2"
    for f in "$dir"/munge/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
        [ -s "$f" ] || continue
        echo "--- last lines of $f:"
        tail -n 15 "$f"
    done
    return 1
}

# slurm_start DIR: writes DIR/slurm.conf, starts the daemons and waits until
# the node is idle.  Exports SLURM_CONF.  Call slurm_stop DIR afterwards, also
# when this fails half-way.
slurm_start() {
    local dir=$1 host cpus mem_mb cmd=()
    mkdir -p "$dir"/munge "$dir"/state "$dir"/spool "$dir"/log
    # munged insists on a key readable only by its user and a socket directory
    # others may enter.
    chmod 755 "$dir" "$dir"/munge
    head -c 1024 /dev/urandom >"$dir"/munge/munge.key
    chmod 400 "$dir"/munge/munge.key
    cmd=(munged --force --socket="$dir/munge/socket" --key-file="$dir/munge/munge.key"
         --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log"
         --seed-file="$dir/munge/seed")
    if ! "${cmd[@]}" </dev/null >"$dir/log/munged.stderr" 2>&1; then
        _slurm_fail "$dir" "\$ ${cmd[*]}  failed:
$(cat "$dir/log/munged.stderr")"
        return 1
    fi

    host=$(hostname -s)
    cpus=$(nproc)
    # RealMemory a little under the machine's, or slurmd marks the node invalid.
    mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
    local ctld_port slurmd_port
    ctld_port=$(_free_port $((20000 + RANDOM % 20000)))
    slurmd_port=$(_free_port $((ctld_port + 1)))
    cat >"$dir/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh: a one-node test cluster under $dir.
ClusterName=sqtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
# The daemons run as whoever runs the test (root in CI; as another user,
# slurmd can at best run that user's own jobs).
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups in a container: track processes by their parent links.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
JobRequeue=1
ReturnToService=2
InactiveLimit=0
KillWait=5
# Finished jobs stay visible to scontrol for the test's checks.
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$dir/slurm.conf
    # The daemons also write to the stderr they start with: keep it in a file.
    local d
    for d in slurmctld slurmd; do
        cmd=("$d" -f "$SLURM_CONF")
        [ $d = slurmctld ] && cmd+=(-i)
        if ! "${cmd[@]}" </dev/null >"$dir/log/$d.stderr" 2>&1; then
            _slurm_fail "$dir" "\$ ${cmd[*]}  failed:
$(cat "$dir/log/$d.stderr")"
            return 1
        fi
    done

    local state=""
    for _ in $(seq 1 60); do
        state=$(sinfo -h -n "$host" -o %T 2>&1) || true
        [ "$state" = idle ] && break
        sleep 0.5
    done
    if [ "$state" != idle ]; then
        _slurm_fail "$dir" "the node did not become idle in 30 s; \$ sinfo -n $host says: $state"
        return 1
    fi

    # Can it truly run a job here (fork, exec, stepd, output files)?
    local job
    # shellcheck disable=SC2016  # expanded by the job, not here
    if ! job=$(sbatch --parsable -o "$dir/smoke-%j.out" --wrap 'echo smoke ok on "$(hostname -s)"' 2>&1); then
        _slurm_fail "$dir" "\$ sbatch --wrap 'echo smoke ok': $job"
        return 1
    fi
    slurm_wait "$job" 60 || true
    if ! grep -q 'smoke ok' "$dir/smoke-$job.out" 2>/dev/null; then
        _slurm_fail "$dir" "a trivial batch job did not run: $(scontrol show job "$job" 2>&1 | grep -E 'JobState|Reason' | tr -s ' ')
output: $(cat "$dir/smoke-$job.out" 2>&1)"
        return 1
    fi
}

# slurm_wait JOB [SECONDS]: waits until the job has left the queue (finished,
# failed or cancelled); returns 1 on timeout.
slurm_wait() {
    local job=$1 limit=${2:-300} t0=$SECONDS st
    while :; do
        st=$(squeue -h -j "$job" -o %T 2>/dev/null) || st=""
        [ -z "$st" ] && return 0
        [ $((SECONDS - t0)) -ge "$limit" ] && return 1
        sleep 0.5
    done
}

# slurm_job_field JOB KEY: a field of `scontrol show job` (JobState, ExitCode, ...).
slurm_job_field() {
    scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# _cluster_pids DIR: processes started through this cluster (slurmstepd and
# job tasks inherit SLURM_CONF=DIR/slurm.conf), this shell excepted.
_cluster_pids() {
    local e p
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}; p=${p%/environ}
        [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
        tr '\0' '\n' 2>/dev/null <"$e" | grep -qxF "SLURM_CONF=$1/slurm.conf" && echo "$p"
    done
    return 0
}

# slurm_no_steps DIR: true when no slurmstepd of this cluster is running
# (the node may look idle while a finished job's steps are still exiting).
slurm_no_steps() {
    local p
    for p in $(_cluster_pids "$1"); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == slurmstepd* ]] && return 1
    done
    return 0
}

# slurm_stop DIR: stops what slurm_start started (by the pids in DIR), jobs
# included, and waits for the daemons to exit.
slurm_stop() {
    local dir=$1 f pid pids=()
    if [ -f "$dir/slurm.conf" ] && [ -s "$dir/slurmctld.pid" ]; then
        SLURM_CONF=$dir/slurm.conf scancel --user="$(id -un)" 2>/dev/null
        for _ in $(seq 1 40); do
            [ -z "$(SLURM_CONF=$dir/slurm.conf squeue -h 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
    for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null && pids+=("$pid")
    done
    local alive=()
    for _ in $(seq 1 40); do
        alive=()
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        [ ${#alive[@]} = 0 ] && break
        sleep 0.25
    done
    for pid in "${alive[@]}"; do kill -9 "$pid" 2>/dev/null; done
    # Whatever a killed job step left behind.
    for pid in $(_cluster_pids "$dir"); do kill -9 "$pid" 2>/dev/null; done
    return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case ${1:-} in
    start) [ -n "${2:-}" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
           slurm_install && slurm_start "$(realpath -m "$2")" || exit 1
           echo "export SLURM_CONF=$(realpath "$2")/slurm.conf" ;;
    stop)  [ -n "${2:-}" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
           slurm_stop "$(realpath -m "$2")" ;;
    *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
    esac
fi
