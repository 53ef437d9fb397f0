#!/usr/bin/env bash
# A second libvirt daemon on this machine to migrate to: the session daemon of user vmpdest,
# with a host UUID of its own (libvirt refuses a destination with the source's host UUID).
# Prints the destination URI. Idempotent. Run as root.
set -euo pipefail
user=vmpdest
home=/home/$user
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
mkdir -p "$home/.config/libvirt" "$home/run" "$home/bench"
conf=$home/.config/libvirt/libvirtd.conf
grep -q '^host_uuid' "$conf" 2>/dev/null ||
    echo "host_uuid = \"$(cat /proc/sys/kernel/random/uuid)\"" > "$conf"
# Huge-page guests: a session daemon finds no hugetlbfs mount by itself. Where the host has a
# 2 MiB one (tests/guest/start-guest.sh mounts it for a huge-page guest), the daemon gets a
# directory of its own there (qemu.conf hugetlbfs_mount); a daemon running with another setting
# is restarted (it reads qemu.conf when it starts).
qemu_conf=$home/.config/libvirt/qemu.conf
mnt=$(awk '$3 == "hugetlbfs" && $4 !~ /pagesize=1/ {print $2; exit}' /proc/mounts)
want=
if [[ -n $mnt ]]; then
    mkdir -p "$mnt/$user"
    chown "$user:" "$mnt/$user"
    want="hugetlbfs_mount = \"$mnt/$user\""
fi
have=$(grep '^hugetlbfs_mount' "$qemu_conf" 2>/dev/null || true)
restart=no
if [[ $have != "$want" ]]; then
    { grep -v '^hugetlbfs_mount' "$qemu_conf" 2>/dev/null || true; [[ -z $want ]] || echo "$want"; } >"$qemu_conf.new"
    mv "$qemu_conf.new" "$qemu_conf"
    restart=yes
fi
chown -R "$user:" "$home"
chmod 0755 "$home" "$home/run" "$home/bench"
uri="qemu+unix:///session?socket=$home/run/libvirt/libvirt-sock"
pidfile=$home/run/libvirt/libvirtd.pid
if [[ $restart == yes ]] && virsh -c "$uri" version >/dev/null 2>&1 && [[ -s $pidfile ]]; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "setup-destination.sh: $user's libvirtd (pid $pid) did not stop" >&2; exit 1; }
fi
if ! virsh -c "$uri" version >/dev/null 2>&1; then
    # Without this script's caller's descriptors: a lock held through one (`flock
    # /tmp/vmp-vm.lock`) would be held for as long as the daemon runs.
    (
        for fd in /proc/$BASHPID/fd/*; do
            n=${fd##*/}
            (( n > 2 )) && eval "exec $n>&-"
        done
        exec su "$user" -c "XDG_RUNTIME_DIR=$home/run libvirtd -d"
    )
    for _ in $(seq 1 40); do
        virsh -c "$uri" version >/dev/null 2>&1 && break
        sleep 0.25
    done
fi
virsh -c "$uri" version >/dev/null || { echo "setup-destination.sh: $uri does not answer" >&2; exit 1; }
echo "$uri"
