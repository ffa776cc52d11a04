#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying scripts/slurm/ and for the test that
# submits a grid to a real Slurm (crates/frelu-cli/tests/slurm.rs). As root, with Debian's
# `slurmctld slurmd slurm-client munge` installed:
#     scripts/slurm/local-cluster.sh start    # munged, slurmctld, slurmd; waits for the node
#     scripts/slurm/local-cluster.sh stop
# It writes /etc/slurm/slurm.conf (keeping any earlier one as slurm.conf.frelu-backup) and a
# munge key if there is none. Not for a machine that already is part of a cluster.
set -euo pipefail
# The daemons must not inherit this script's open files (a caller's lock file, a test's pipes):
# they outlive it.
for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
done
host=$(hostname -s)
state=/var/spool/frelu-slurm
case "${1:-}" in
start)
    for tool in munged slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install slurmctld slurmd slurm-client munge" >&2; exit 2; }
    done
    mkdir -p /etc/munge /var/log/munge /run/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge: /etc/munge /var/log/munge /run/munge /var/lib/munge
    chmod 0400 /etc/munge/munge.key
    pgrep -x munged >/dev/null || runuser -u munge -- munged
    mkdir -p /etc/slurm "$state/ctld" "$state/d" /var/log/slurm
    if [ -f /etc/slurm/slurm.conf ] && [ ! -f /etc/slurm/slurm.conf.frelu-backup ]; then
        cp /etc/slurm/slurm.conf /etc/slurm/slurm.conf.frelu-backup
    fi
    mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10))
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=frelu-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MpiDefault=none
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
            echo "one-node Slurm cluster up on $host"
            exit 0
        fi
        sleep 1
    done
    echo "the node did not become idle; see /var/log/slurm/" >&2
    exit 1
    ;;
stop)
    for pid in "$state/slurmd.pid" "$state/slurmctld.pid"; do
        [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    done
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
