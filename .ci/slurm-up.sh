#!/usr/bin/env bash
# Start a real single-node SLURM cluster (Debian's slurm-wlm + munge) without systemd, as root.
# Accounting is off (no slurmdbd): the Snakemake profile queries job status with squeue, and
# MinJobAge keeps finished jobs visible to squeue long enough for it.
set -euo pipefail
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=vlm3ci
SlurmctldHost=${host}
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmUser=root
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MinJobAge=3600
DefMemPerCPU=2000
KillWait=10
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
# The slurm profile's partition names (profiles/slurm/config.yaml), on the same node, so the profile runs
# here with its SITE partition keys unchanged. No GPUs: GPU-less rules send --gpus=<model>:0.
PartitionName=cpu Nodes=${host} MaxTime=INFINITE State=UP OverSubscribe=NO
PartitionName=gpu Nodes=${host} MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
# Already running (re-run of this script): load the configuration written above.
if pgrep -x slurmctld >/dev/null; then scontrol reconfigure; else /usr/sbin/slurmctld; fi
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for i in $(seq 1 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    sinfo; exit 0
  fi
  sleep 1
done
echo "SLURM did not come up; logs:" >&2
tail -n 50 /var/log/slurm/*.log >&2
exit 1
