#!/usr/bin/env bash
# Start the test guest as a transient libvirt domain and wait until the load runs.
#
#   tests/guest/start-guest.sh NAME MEM_MIB WSS_MIB RATE PATTERN SEED [OUTDIR]
#
# OUTDIR (default /var/lib/libvirt/vmp-guest, or $VMP_GUEST_DIR) holds the
# kernel/initramfs (built with build.sh if missing or stale), OUTDIR/NAME.xml
# and the serial console log OUTDIR/logs/NAME.console.log.
# Env: VMP_GUEST_TIMEOUT (seconds to wait for readiness, default 120),
#      VMP_GUEST_EXTRA_CMDLINE (appended to the kernel command line),
#      LIBVIRT_URI (default qemu:///system),
#      VMP_GUEST_PERSISTENT (non-empty: define and start instead of a transient domain),
#      VMP_GUEST_MEMORY_BACKING (XML put after <currentMemory>, e.g.
#      "<memoryBacking><allocation mode='immediate'/></memoryBacking>"; with
#      "<memoryBacking><hugepages/></memoryBacking>" the host gets a hugetlbfs mount and 2 MiB
#      pages for the guest and a migration of it, see below),
#      VMP_GUEST_ARCH (x86_64, the default: a pc machine; aarch64: a virt machine, cortex-a57,
#      its kernel and initramfs in OUTDIR/aarch64),
#      VMP_GUEST_VCPUS (default 1: vCPUs, and as many writer threads sharing RATE, so that each
#      vCPU writes at once).
# Prints the console log path on stdout when the guest is ready.
set -euo pipefail

if [[ $# -lt 6 || $# -gt 7 ]]; then
    echo "usage: $0 NAME MEM_MIB WSS_MIB RATE PATTERN SEED [OUTDIR]" >&2
    exit 2
fi
NAME=$1 MEM_MIB=$2 WSS_MIB=$3 RATE=$4 PATTERN=$5 SEED=$6
OUTDIR=${7:-${VMP_GUEST_DIR:-/var/lib/libvirt/vmp-guest}}
URI=${LIBVIRT_URI:-qemu:///system}
TIMEOUT=${VMP_GUEST_TIMEOUT:-120}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARCH=${VMP_GUEST_ARCH:-x86_64}
VCPUS=${VMP_GUEST_VCPUS:-1}

die() { echo "start-guest.sh: ERROR: $*" >&2; exit 1; }
log() { echo "start-guest.sh: $*" >&2; }

[[ $NAME =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad NAME '$NAME'"
[[ $VCPUS =~ ^[1-9][0-9]?$ ]] || die "VMP_GUEST_VCPUS must be 1-99, got '$VCPUS'"
for v in MEM_MIB WSS_MIB RATE SEED; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
case $ARCH in
    x86_64) MACHINE=pc CONSOLE=ttyS0 IMAGES=. ARCH_XML="  <features><acpi/></features>" ;;
    aarch64) MACHINE=virt CONSOLE=ttyAMA0 IMAGES=aarch64
        ARCH_XML="  <cpu mode='custom' match='exact'><model fallback='forbid'>cortex-a57</model></cpu>" ;;
    *) die "VMP_GUEST_ARCH is x86_64 or aarch64, not '$ARCH'" ;;
esac
case $PATTERN in random|sequential|hotcold|bursty|growing|phased) ;; *) die "bad PATTERN '$PATTERN'";; esac
# MemAvailable in the guest is ~181/428/858 MiB for 256/512/1024 MiB; a WSS
# that does not fit gets the load OOM-killed. Keep a margin.
(( WSS_MIB <= MEM_MIB * 3 / 4 - 64 )) || die "WSS_MIB=$WSS_MIB too large for MEM_MIB=$MEM_MIB (max MEM*3/4-64 = $(( MEM_MIB * 3 / 4 - 64 )))"

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
# ---- qemu must be able to reach the files: every parent dir must be searchable by others
d=$OUTDIR
while [[ $d != / ]]; do
    perms=$(stat -c %A "$d")
    [[ ${perms:9:1} == x || ${perms:9:1} == t ]] ||
        die "$d is not searchable by other users (mode $perms); qemu runs as libvirt-qemu and cannot read the kernel. Use an OUTDIR under /var/lib/libvirt or chmod o+x $d"
    d=$(dirname "$d")
done
# ---- build (idempotent, cheap when up to date). Guests started together (bench/many_domains.py,
# bench/drain.py) on a machine that has no image yet would each build it and race on its
# temporary files: one builds, under a lock on the directory, the others wait and find it built.
VMP_GUEST_ARCH=$ARCH flock "$OUTDIR" "$HERE/build.sh" "$OUTDIR" >/dev/null

mkdir -p "$OUTDIR/logs"
chmod 0755 "$OUTDIR/logs"

# ---- /dev/kvm as Debian's udev rules leave it (root:kvm 0660). Without udev (containers, some
# CI machines) it can be root:root 0600: libvirt then probes QEMU as root and finds KVM, but
# checks its cache as libvirt-qemu, for whom KVM is not usable, so it throws the cache away and
# probes QEMU again (~20 s, twice) at every domain it starts. The test guests run under TCG
# either way.
if [[ -c /dev/kvm && $(id -u) -eq 0 ]] && getent group kvm >/dev/null &&
    [[ $(stat -c %G:%a /dev/kvm) == root:600 ]]; then
    log "giving /dev/kvm Debian's usual group and mode (root:kvm 0660) so that libvirt keeps its QEMU capabilities cache"
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

# ---- huge pages, when VMP_GUEST_MEMORY_BACKING asks for them (<hugepages/>: the host's default
# size, 2 MiB here). The host as a Debian host with systemd has it: hugetlbfs mounted at
# /dev/hugepages (systemd's dev-hugepages.mount); libvirtd finds hugetlbfs mounts only when it
# starts, so a running one is restarted when this script mounts it (running guests keep running).
# And room in the pool for this guest and for one migration of it to a destination daemon on this
# host (bench/setup-destination.sh): nr_hugepages is raised, never lowered, and left so.
if [[ ${VMP_GUEST_MEMORY_BACKING:-} == *"<hugepages"* ]]; then
    [[ $(id -u) -eq 0 ]] || die "a huge-page guest needs root here (a hugetlbfs mount, nr_hugepages)"
    pool=/sys/kernel/mm/hugepages/hugepages-2048kB
    [[ -d $pool ]] || die "this host offers no 2 MiB huge pages ($pool missing)"
    if ! awk '$3 == "hugetlbfs" && $4 !~ /pagesize=1/ {found = 1} END {exit !found}' /proc/mounts; then
        mkdir -p /dev/hugepages
        mount -t hugetlbfs hugetlbfs /dev/hugepages || die "cannot mount hugetlbfs at /dev/hugepages"
        if pgrep -x libvirtd >/dev/null; then
            log "mounted hugetlbfs at /dev/hugepages; restarting libvirtd so that it sees it"
            pkill -x libvirtd || true
            for _ in $(seq 1 300); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
            pgrep -x libvirtd >/dev/null && die "libvirtd did not stop (to see the hugetlbfs mount)"
        else
            log "mounted hugetlbfs at /dev/hugepages"
        fi
    fi
    need=$MEM_MIB   # 2 MiB pages: MEM_MIB / 2 for the guest, as many for a migration of it
    free=$(( $(cat $pool/free_hugepages) - $(cat $pool/resv_hugepages) ))
    if (( free < need )); then
        nr=$(cat $pool/nr_hugepages)
        echo $(( nr + need - free )) > $pool/nr_hugepages
        got=$(( $(cat $pool/free_hugepages) - $(cat $pool/resv_hugepages) ))
        (( got >= need )) || die "only $got free 2 MiB huge pages after asking for $need (memory too fragmented or too little)"
        log "2 MiB huge pages reserved: nr_hugepages $nr -> $(cat $pool/nr_hugepages) (left so; echo $nr > $pool/nr_hugepages gives them back)"
    fi
fi

# ---- daemons
# A daemon started here must not keep the caller's descriptors: a lock held through one (the
# benchmark's and the test suite's `flock /tmp/vmp-vm.lock`, build.sh's) would be held for as long
# as the daemon runs.
daemon() {
    (
        for fd in /proc/$BASHPID/fd/*; do
            n=${fd##*/}
            (( n > 2 )) && eval "exec $n>&-"
        done
        exec "$@"
    )
}
virsh_ok() { virsh -c "$URI" version >/dev/null 2>&1; }
if ! virsh_ok; then
    [[ $URI == qemu:///system ]] || die "cannot connect to $URI"
    [[ $(id -u) -eq 0 ]] || die "libvirtd is not running and we are not root to start it"
    log "starting virtlogd and libvirtd"
    pgrep -x virtlogd >/dev/null || daemon virtlogd -d
    pgrep -x libvirtd >/dev/null || daemon libvirtd -d
    for _ in $(seq 1 60); do
        virsh_ok && break
        sleep 0.5
    done
    virsh_ok || die "libvirtd did not come up (virsh -c $URI version fails)"
fi

# ---- domain XML
if virsh -c "$URI" domstate "$NAME" >/dev/null 2>&1; then
    die "domain $NAME already exists (stop it with stop-guest.sh $NAME)"
fi
LOG=$OUTDIR/logs/$NAME.console.log
rm -f "$LOG"
# libvirt opens the file itself and passes the fd to qemu; pre-create it
# world-readable so non-root tests can read the console.
install -m 0644 /dev/null "$LOG"
THREADS=
((VCPUS > 1)) && THREADS="vmp.threads=$VCPUS "
CMDLINE="console=$CONSOLE quiet vmp.wss_mib=$WSS_MIB vmp.rate=$RATE vmp.pattern=$PATTERN vmp.seed=$SEED $THREADS${VMP_GUEST_EXTRA_CMDLINE:-}"
CMDLINE=${CMDLINE% }
XML=$OUTDIR/$NAME.xml
sed -e "s|@NAME@|$NAME|g" \
    -e "s|@MEM_MIB@|$MEM_MIB|g" \
    -e "s|@VCPUS@|$VCPUS|g" \
    -e "s|@ARCH@|$ARCH|g" \
    -e "s|@MACHINE@|$MACHINE|g" \
    -e "s|@ARCH_XML@|$ARCH_XML|g" \
    -e "s|@KERNEL@|$OUTDIR/$IMAGES/vmlinuz|g" \
    -e "s|@INITRD@|$OUTDIR/$IMAGES/initramfs.img|g" \
    -e "s|@CMDLINE@|$CMDLINE|g" \
    -e "s|@CONSOLE_LOG@|$LOG|g" \
    -e "s|@MEMORY_BACKING@|${VMP_GUEST_MEMORY_BACKING:-}|g" \
    "$HERE/domain.xml.in" | sed '/^$/d' > "$XML"

t0=$(date +%s.%N)
if [[ -n ${VMP_GUEST_PERSISTENT:-} ]]; then
    # A defined domain outlives a migration away from it, and so do its completed job
    # statistics: the benchmark reads the source side's figures that way.
    virsh -c "$URI" define "$XML" >/dev/null || die "virsh define $XML failed"
    virsh -c "$URI" start "$NAME" >/dev/null || die "virsh start $NAME failed"
else
    virsh -c "$URI" create "$XML" >/dev/null || die "virsh create $XML failed"
fi
chmod 0644 "$LOG" 2>/dev/null || true   # libvirt creates it 0600

# ---- wait for readiness
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
    if [[ -r $LOG ]] && grep -q '^vmp-load: ready' "$LOG"; then
        break
    fi
    if [[ -r $LOG ]] && grep -qE '^vmp-guest: load program exited|Kernel panic|Out of memory' "$LOG"; then
        echo "----- console log ($LOG) -----" >&2
        tail -n 40 "$LOG" >&2 2>/dev/null || true
        die "the load program failed in guest $NAME (domain left running; stop-guest.sh $NAME)"
    fi
    state=$(virsh -c "$URI" domstate "$NAME" 2>/dev/null || true)
    if [[ $state != *running* ]]; then
        echo "----- console log ($LOG) -----" >&2
        tail -n 40 "$LOG" >&2 2>/dev/null || true
        die "domain $NAME is no longer running before 'vmp-load: ready'"
    fi
    if (( $(date +%s) >= deadline )); then
        echo "----- console log ($LOG) -----" >&2
        tail -n 40 "$LOG" >&2 2>/dev/null || true
        die "timeout: no 'vmp-load: ready' line in $LOG after ${TIMEOUT}s (domain left running; stop-guest.sh $NAME)"
    fi
    sleep 0.2
done
log "$NAME ready after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s: $(grep -m1 '^vmp-load: ready' "$LOG" | tr -d '\r')"
echo "$LOG"
