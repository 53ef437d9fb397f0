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
chown -R "$user:" "$home"
chmod 0755 "$home" "$home/run" "$home/bench"
uri="qemu+unix:///session?socket=$home/run/libvirt/libvirt-sock"
if ! virsh -c "$uri" version >/dev/null 2>&1; then
    su "$user" -c "XDG_RUNTIME_DIR=$home/run libvirtd -d"
    for _ in $(seq 1 40); do
        virsh -c "$uri" version >/dev/null 2>&1 && break
        sleep 0.25
    done
fi
virsh -c "$uri" version >/dev/null || { echo "setup-destination.sh: $uri does not answer" >&2; exit 1; }
echo "$uri"
