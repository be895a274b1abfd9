#!/usr/bin/env bash
# A private Slurm cluster for tests: munged, slurmctld and slurmd of Debian's
# slurm-wlm, with every file (config, key, state, spool, logs, pids, sockets)
# under one directory and ports nobody else uses, so it never touches
# /etc/slurm or a system cluster.  Client commands find it via SLURM_CONF.
#
# One node (the default): slurmd on this host, everything on 127.0.0.1.
# Several nodes (--nodes N, N >= 2): each node is a network namespace of its
# own (ip netns) with its own hostname (a UTS namespace), address and slurmd,
# joined by veth pairs to a bridge that holds slurmctld's address, on a
# private 10.250.X.0/24 that nothing else on the host uses; DIR is the shared
# filesystem, DIR/local a node-local tmpfs (each node sees its own).  Traffic
# stays inside the bridge and the namespaces made here; stop removes them.
#
# Sourced by tests/slurm/run.sh; also usable by hand:
#   tests/slurm/cluster.sh start [--nodes N] DIR   (then: source DIR/env)
#   tests/slurm/cluster.sh stop DIR
#   tests/slurm/cluster.sh shape DIR RATE [DELAY]  (tc on every node's uplink:
#                                                   200mbit, 1gbit; off removes it)
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
    for f in "$dir"/munge/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd*.log "$dir"/log/*.stderr; do
        [ -s "$f" ] || continue
        echo "--- last lines of $f:"
        tail -n 15 "$f"
    done
    return 1
}

# _net_names DIR: reads DIR/net.env (written by _net_up before it creates
# anything, so a half-made network can still be removed): SQC_TAG, SQC_NODES,
# SQC_NET (10.250.X), SQC_BRIDGE.  Returns 1 for a one-node cluster.
_net_names() {
    [ -f "$1/net.env" ] || return 1
    # shellcheck disable=SC1091
    source "$1/net.env"
}
_ns_of() { echo "sqc-$SQC_TAG-$1"; }     # node i's network namespace
_veth_of() { echo "sqc-$SQC_TAG-v$1"; }  # its veth's end on the bridge
_node_of() { echo "sqn$1"; }             # its hostname and NodeName

# _net_run CMD...: runs CMD; on failure says what failed.
_net_run() { "$@" 2>&1 || { echo "\$ $*  failed"; return 1; }; }

# _net_up DIR NODES: the bridge (with slurmctld's address .1) and one network
# namespace per node (address .1+i on its eth0, a veth to the bridge).
_net_up() {
    local dir=$1 nodes=$2 x="" i ns t
    for t in ip unshare nsenter mount; do
        command -v "$t" >/dev/null || { echo "needs $t (iproute2, util-linux)"; return 1; }
    done
    if [ "$(id -u)" != 0 ]; then echo "a cluster of $nodes nodes needs root (network namespaces)"; return 1; fi
    # A 10.250.X.0/24 no address or route of this host uses yet.
    local used
    used=$(ip -4 -o addr show; ip -4 route show table all 2>/dev/null)
    for _ in $(seq 1 64); do
        x=$((RANDOM % 250 + 1))
        [[ $used == *"10.250.$x."* ]] || break
        x=""
    done
    [ -n "$x" ] || { echo "no free 10.250.X.0/24 subnet on this host"; return 1; }
    cat >"$dir/net.env" <<EON
SQC_TAG=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
SQC_NODES=$nodes
SQC_NET=10.250.$x
EON
    _net_names "$dir"
    SQC_BRIDGE=sqc-$SQC_TAG-br
    echo "SQC_BRIDGE=$SQC_BRIDGE" >>"$dir/net.env"

    _net_run ip link add "$SQC_BRIDGE" type bridge || return 1
    _net_run ip addr add "$SQC_NET.1/24" dev "$SQC_BRIDGE" || return 1
    _net_run ip link set "$SQC_BRIDGE" up || return 1
    for ((i = 1; i <= nodes; i++)); do
        ns=$(_ns_of $i)
        _net_run ip netns add "$ns" || return 1
        _net_run ip link add "$(_veth_of $i)" type veth peer name eth0 netns "$ns" || return 1
        _net_run ip link set "$(_veth_of $i)" master "$SQC_BRIDGE" up || return 1
        _net_run ip -n "$ns" addr add "$SQC_NET.$((i + 1))/24" dev eth0 || return 1
        _net_run ip -n "$ns" link set eth0 up || return 1
        _net_run ip -n "$ns" link set lo up || return 1
    done
    # What every node's /etc/hosts says (bind-mounted there, inside its own
    # mount namespace only).
    {
        echo "127.0.0.1 localhost"
        echo "$SQC_NET.1 $(hostname -s)"
        for ((i = 1; i <= nodes; i++)); do echo "$SQC_NET.$((i + 1)) $(_node_of $i)"; done
    } >"$dir/hosts"
    mkdir -p "$dir/local"
}

# _net_down DIR: kills whatever still runs in the namespaces, removes them,
# the veths and the bridge.  Idempotent.
_net_down() {
    local dir=$1 i ns pids
    _net_names "$dir" || return 0
    for ((i = 1; i <= SQC_NODES; i++)); do
        ns=$(_ns_of $i)
        [ -e "/run/netns/$ns" ] || continue
        for _ in $(seq 1 40); do
            pids=$(ip netns pids "$ns" 2>/dev/null)
            [ -z "$pids" ] && break
            # shellcheck disable=SC2086
            kill -9 $pids 2>/dev/null
            sleep 0.1
        done
        ip netns del "$ns" 2>/dev/null
    done
    for ((i = 1; i <= SQC_NODES; i++)); do
        ip link show "$(_veth_of $i)" >/dev/null 2>&1 && ip link del "$(_veth_of $i)" 2>/dev/null
    done
    if [ -n "${SQC_BRIDGE:-}" ] && ip link show "$SQC_BRIDGE" >/dev/null 2>&1; then ip link del "$SQC_BRIDGE"; fi
    return 0
}

# slurm_leftovers DIR: prints what of the cluster in DIR still exists
# (daemons, job processes, namespaces, links); nothing when all is gone.
slurm_leftovers() {
    local dir=$1 f pid i
    for f in "$dir"/slurmd*.pid "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then echo "process $pid of $f: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"; fi
    done
    for pid in $(_cluster_pids "$dir"); do
        echo "process $pid with SLURM_CONF=$dir/slurm.conf: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    done
    _net_names "$dir" || return 0
    for ((i = 1; i <= SQC_NODES; i++)); do
        [ ! -e "/run/netns/$(_ns_of $i)" ] || echo "network namespace $(_ns_of $i)"
        ! ip link show "$(_veth_of $i)" >/dev/null 2>&1 || echo "link $(_veth_of $i)"
    done
    ! ip link show "$SQC_BRIDGE" >/dev/null 2>&1 || echo "link $SQC_BRIDGE"
    return 0
}

# slurm_start DIR [NODES]: writes DIR/slurm.conf, starts the daemons, waits
# until every node is idle and runs a trivial job (on every node).  Exports
# SLURM_CONF; writes DIR/env, the variables a client (and, through sbatch's
# --export=ALL, a job) needs.  Call slurm_stop DIR afterwards, also when this
# fails half-way.
slurm_start() {
    local dir=$1 nodes=${2:-1} host cpus mem_mb cmd=() i
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
    # RealMemory a little under the machine's (its share of it with several
    # nodes), or slurmd marks the node invalid.
    mem_mb=$(awk -v n="$nodes" '/^MemTotal:/ { print int($2 / 1024 * 0.9 / n) }' /proc/meminfo)
    local ctld_port slurmd_port ctld_addr=127.0.0.1 names
    ctld_port=$(_free_port $((20000 + RANDOM % 20000)))
    slurmd_port=$(_free_port $((ctld_port + 1)))
    local node_lines tmpfs=/tmp
    if [ "$nodes" = 1 ]; then
        names=$host
        node_lines="NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN"
    else
        _net_up "$dir" "$nodes" >"$dir/log/net.out" 2>&1 ||
            { _slurm_fail "$dir" "could not make $nodes network namespaces: $(cat "$dir/log/net.out")"; return 1; }
        ctld_addr=$SQC_NET.1
        # Slurm's pmix plugin makes /tmp/spmix_appdir_<uid>_<step> on every
        # node of a step: on one shared /tmp the second node's is refused.
        tmpfs=$dir/local
        names=$(_node_of 1)
        [ "$nodes" -gt 1 ] && names="sqn[1-$nodes]"
        node_lines=""
        for ((i = 1; i <= nodes; i++)); do
            node_lines+="NodeName=$(_node_of $i) NodeAddr=$SQC_NET.$((i + 1)) NodeHostname=$(_node_of $i) CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN"$'\n'
        done
    fi
    cat >"$dir/slurm.conf" <<EOC
# Written by tests/slurm/cluster.sh: a $nodes-node test cluster under $dir.
ClusterName=sqtest
SlurmctldHost=$host($ctld_addr)
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
# %n: each node's slurmd its own files (one node: the same names as before).
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
# Node-local scratch (with several nodes, a tmpfs of each node's own).
TmpFS=$tmpfs
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
${node_lines%$'\n'}
PartitionName=test Nodes=$names Default=YES MaxTime=INFINITE State=UP
EOC
    export SLURM_CONF=$dir/slurm.conf
    {
        echo "export SLURM_CONF=$SLURM_CONF"
        # Open MPI between nodes: TCP on the cluster's subnet only (each node
        # also has lo).  Ranks of one node use shared memory, backed by files
        # in /dev/shm, which the nodes here would share: the node-local tmpfs
        # instead, as /dev/shm is on a real node.
        if [ "$nodes" -gt 1 ]; then
            echo "export OMPI_MCA_btl_tcp_if_include=$SQC_NET.0/24 OMPI_MCA_oob_tcp_if_include=$SQC_NET.0/24"
            echo "export OMPI_MCA_btl_vader_backing_directory=$dir/local"
        fi
    } >"$dir/env"
    # The daemons also write to the stderr they start with: keep it in a file.
    cmd=(slurmctld -f "$SLURM_CONF" -i)
    if ! "${cmd[@]}" </dev/null >"$dir/log/slurmctld.stderr" 2>&1; then
        _slurm_fail "$dir" "\$ ${cmd[*]}  failed:
$(cat "$dir/log/slurmctld.stderr")"
        return 1
    fi
    if [ "$nodes" = 1 ]; then
        mkdir -p "$dir/spool/$host"
        cmd=(slurmd -f "$SLURM_CONF")
        if ! "${cmd[@]}" </dev/null >"$dir/log/slurmd.stderr" 2>&1; then
            _slurm_fail "$dir" "\$ ${cmd[*]}  failed:
$(cat "$dir/log/slurmd.stderr")"
            return 1
        fi
    else
        local node
        for ((i = 1; i <= nodes; i++)); do
            node=$(_node_of $i)
            # A mount namespace of its own (a slave of the host's, so that
            # the hosts file and the node-local tmpfs are mounted there
            # only), a UTS one (the node's hostname), then the node's
            # network namespace.  Not `ip netns exec`: it mounts a new /sys
            # without /sys/fs/cgroup, and slurmd will not start without it.
            # slurmd forks into the background and keeps all three.
            mkdir -p "$dir/spool/$node"
            # shellcheck disable=SC2016  # expanded by the inner shell
            cmd=(unshare --mount --propagation slave --uts -- nsenter --net="/run/netns/$(_ns_of $i)" -- sh -c
                 'hostname "$1" && mount --bind "$2" /etc/hosts &&
                  mount -t tmpfs -o size=256m,mode=755 "sqlocal-$1" "$3" && exec slurmd -N "$1" -f "$4"'
                 sh "$node" "$dir/hosts" "$dir/local" "$SLURM_CONF")
            if ! "${cmd[@]}" </dev/null >"$dir/log/slurmd-$node.stderr" 2>&1; then
                _slurm_fail "$dir" "\$ ${cmd[*]}  failed:
$(cat "$dir/log/slurmd-$node.stderr")"
                return 1
            fi
        done
    fi

    local state="" want
    want=$(printf 'idle%.0s\n' $(seq 1 "$nodes"))
    for _ in $(seq 1 60); do
        state=$(sinfo -h -N -o %T 2>&1) || true
        [ "$state" = "$want" ] && break
        sleep 0.5
    done
    if [ "$state" != "$want" ]; then
        _slurm_fail "$dir" "the nodes did not all become idle in 30 s; \$ sinfo -N says: $(sinfo -N 2>&1)"
        return 1
    fi

    # Can it truly run a job here (fork, exec, stepd, output files; with
    # several nodes, srun reaching every node and their steps reaching srun)?
    local job wrap
    # shellcheck disable=SC2016  # expanded by the job, not here
    wrap='echo smoke ok on "$(hostname -s)"'
    # shellcheck disable=SC2016
    [ "$nodes" = 1 ] || wrap='srun hostname -s | sort | sed "s/^/smoke ok on /"'
    if ! job=$(sbatch --parsable -N "$nodes" -o "$dir/smoke-%j.out" --wrap "$wrap" 2>&1); then
        _slurm_fail "$dir" "\$ sbatch --wrap '$wrap': $job"
        return 1
    fi
    slurm_wait "$job" 60 || true
    local ok=1
    if [ "$nodes" = 1 ]; then
        grep -q 'smoke ok' "$dir/smoke-$job.out" 2>/dev/null || ok=0
    else
        for ((i = 1; i <= nodes; i++)); do
            grep -qx "smoke ok on $(_node_of $i)" "$dir/smoke-$job.out" 2>/dev/null || ok=0
        done
    fi
    if [ $ok = 0 ]; then
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
# job tasks inherit SLURM_CONF=DIR/slurm.conf), except this shell and its
# subshells (which may have it too: the caller's environment).
_cluster_pids() {
    local e p q
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}; p=${p%/environ}
        tr '\0' '\n' 2>/dev/null <"$e" | grep -qxF "SLURM_CONF=$1/slurm.conf" || continue
        q=$p
        for _ in 1 2 3 4 5 6 7 8; do
            [ "$q" = $$ ] && continue 2
            q=$(awk '/^PPid:/ { print $2 }' "/proc/$q/status" 2>/dev/null) || break
            if [ -z "$q" ] || [ "$q" = 0 ]; then break; fi
        done
        echo "$p"
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

# slurm_node_pids DIR I: the processes running in node I's namespace.
slurm_node_pids() {
    _net_names "$1" || return 0
    ip netns pids "$(_ns_of "$2")" 2>/dev/null
    return 0
}

# slurm_link_bytes DIR I: bytes node I's eth0 has received and sent (rx + tx).
slurm_link_bytes() {
    _net_names "$1" || return 1
    local ns f n=0
    ns=$(_ns_of "$2")
    for f in rx_bytes tx_bytes; do
        n=$((n + $(ip netns exec "$ns" cat "/sys/class/net/eth0/statistics/$f"))) || return 1
    done
    echo "$n"
}

# slurm_node_of_pid DIR PID: the node (1..N) whose namespace PID runs in.
slurm_node_of_pid() {
    _net_names "$1" || return 1
    local i want
    want=$(readlink "/proc/$2/ns/net") || return 1
    for ((i = 1; i <= SQC_NODES; i++)); do
        [ "$want" = "net:[$(stat -L -c %i "/run/netns/$(_ns_of $i)")]" ] && { echo "$i"; return 0; }
    done
    return 1
}

# slurm_shape DIR RATE [DELAY]: every node's uplink (its eth0's egress, so
# each direction between two nodes crosses one shaped queue) limited to RATE
# (200mbit, 1gbit) by a token bucket (tbf); with DELAY (2ms) by netem, which
# adds that latency too (kernels without sch_netem have tbf only).  RATE off
# removes the shaping.
slurm_shape() {
    local dir=$1 rate=$2 delay=${3:-} i ns mbit qdisc
    _net_names "$dir" || { echo "$dir: not a cluster of several nodes"; return 1; }
    case $rate in
    off) mbit=0 ;;
    *mbit) mbit=${rate%mbit} ;;
    *gbit) mbit=$((${rate%gbit} * 1000)) ;;
    *) echo "rate '$rate': give Nmbit, Ngbit or off"; return 1 ;;
    esac
    [[ $mbit =~ ^[0-9]+$ ]] || { echo "rate '$rate': give Nmbit, Ngbit or off"; return 1; }
    if [ -n "$delay" ]; then
        # A big queue: netem's default 1000 packets drop MPI's bulk sends.
        qdisc=(netem delay "$delay" rate "${mbit}mbit" limit 100000)
    else
        # tbf needs a bucket of at least a timer tick's bytes (HZ >= 100);
        # a queue of up to 200 ms at the rate before it drops.
        qdisc=(tbf rate "${mbit}mbit" burst "$((mbit * 125000 / 100 > 32768 ? mbit * 125000 / 100 : 32768))" latency 200ms)
    fi
    for ((i = 1; i <= SQC_NODES; i++)); do
        ns=$(_ns_of $i)
        ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null
        [ "$rate" = off ] && continue
        ip netns exec "$ns" tc qdisc add dev eth0 root "${qdisc[@]}" ||
            { echo "\$ tc qdisc add dev eth0 root ${qdisc[*]} failed in $ns"; return 1; }
    done
}

# slurm_stop DIR: stops what slurm_start started (by the pids in DIR), jobs
# included, waits for the daemons to exit, and removes the namespaces, veths
# and bridge of a cluster of several nodes.
slurm_stop() {
    local dir=$1 f pid pids=()
    if [ -f "$dir/slurm.conf" ] && [ -s "$dir/slurmctld.pid" ]; then
        SLURM_CONF=$dir/slurm.conf scancel --user="$(id -un)" 2>/dev/null
        for _ in $(seq 1 40); do
            [ -z "$(SLURM_CONF=$dir/slurm.conf squeue -h 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
    for f in "$dir"/slurmd*.pid "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
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
    _net_down "$dir"
    return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    usage() {
        echo "usage: $0 start [--nodes N] DIR | stop DIR | shape DIR RATE|off [DELAY]" >&2
        exit 2
    }
    case ${1:-} in
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    start)
        shift
        n=1
        if [ "${1:-}" = --nodes ]; then
            [[ ${2:-} =~ ^[1-9][0-9]?$ ]] || { echo "cluster.sh: error: --nodes: '${2:-}' is not a number of nodes" >&2; exit 2; }
            n=$2; shift 2
        fi
        [ $# = 1 ] || usage
        dir=$(realpath -m "$1")
        mkdir -p "$dir"
        slurm_install && slurm_start "$dir" "$n" || exit 1
        cat "$dir/env" ;;
    stop)  [ $# = 2 ] || usage
           slurm_stop "$(realpath -m "$2")"
           left=$(slurm_leftovers "$(realpath -m "$2")")
           [ -z "$left" ] || { echo "cluster.sh: error: still there after stop: $left" >&2; exit 1; } ;;
    shape) [ $# -ge 3 ] || usage
           slurm_shape "$(realpath -m "$2")" "$3" "${4:-}" ;;
    *) usage ;;
    esac
fi
