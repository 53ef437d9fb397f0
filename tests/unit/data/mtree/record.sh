#!/usr/bin/env bash
# Records QEMU's flat memory map (HMP `info mtree -f`, through QMP's human-monitor-command) of
# the test guest, of the same guest with a VGA card (whose window at 640 KiB must never be
# read), and of the aarch64 test guest (a virt machine: RAM at 1 GiB), for the unit tests of probe::ram_ranges_from_flat_view. Run as root, once on each stack
# (.ci/install-deps --stack stock|backports):
#
#   tests/unit/data/mtree/record.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
uri=qemu:///system
[[ $(id -u) -eq 0 ]] || { echo "record.sh: run as root" >&2; exit 2; }
qemu=$(virsh -c $uri version | awk '/^Running hypervisor: QEMU/ {print $4}')
trap '"$root/tests/guest/stop-guest.sh" vmp-mtree >/dev/null 2>&1 || true
      virsh -c $uri destroy vmp-mtree-vga >/dev/null 2>&1 || true
      "$root/tests/guest/stop-guest.sh" vmp-mtree-arm >/dev/null 2>&1 || true' EXIT

mtree() {
  virsh -c $uri qemu-monitor-command "$1" \
    '{"execute":"human-monitor-command","arguments":{"command-line":"info mtree -f"}}' |
    jq -r '.return'
}

"$root/tests/guest/start-guest.sh" vmp-mtree 512 64 0 random 1 >/dev/null
mtree vmp-mtree >"$here/qemu-$qemu-pc-no-video.txt"
# The same guest with a VGA card, its console in a log of its own.
virsh -c $uri dumpxml vmp-mtree |
  sed -e 's|<name>vmp-mtree</name>|<name>vmp-mtree-vga</name>|' -e '/<uuid>/d' \
      -e "s|<model type='none'/>|<model type='vga'/>|" \
      -e 's|vmp-mtree.console.log|vmp-mtree-vga.console.log|' >"$here/.vga.xml"
"$root/tests/guest/stop-guest.sh" vmp-mtree >/dev/null
virsh -c $uri create "$here/.vga.xml" >/dev/null
rm -f "$here/.vga.xml"
mtree vmp-mtree-vga >"$here/qemu-$qemu-pc-vga.txt"
virsh -c $uri destroy vmp-mtree-vga >/dev/null
VMP_GUEST_ARCH=aarch64 "$root/tests/guest/start-guest.sh" vmp-mtree-arm 512 64 0 random 1 >/dev/null
mtree vmp-mtree-arm >"$here/qemu-$qemu-virt-aarch64.txt"
"$root/tests/guest/stop-guest.sh" vmp-mtree-arm >/dev/null
ls -l "$here"/qemu-"$qemu"-*.txt >&2
