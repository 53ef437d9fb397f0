#!/usr/bin/env bash
# Records what `virsh domjobinfo` prints on a migration's source, for the stand-in virsh of
# tests/examples/test_drain_playbook.sh (drain-start.yml waits for "Memory processed" before
# the next migration starts): before any migration (none.txt), during libvirt's steps before
# QEMU's migration (steps.txt: the first poll of the job), once QEMU sends (sending.txt: the
# first poll with "Memory processed"), and once the transient domain has gone (gone.txt, with
# its exit status in gone.status). Run as root on an idle machine, under the VM lock, with the
# libvirt to record installed (.ci/install-deps --stack stock|backports):
#
#   flock /tmp/vmp-vm.lock tests/examples/data/domjobinfo/record.sh
#
# Writes tests/examples/data/domjobinfo/libvirt-MAJOR.MINOR/. Boots one 512 MiB test guest and
# migrates it to bench/setup-destination.sh's daemon, where it is destroyed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../../.." && pwd)
src=qemu:///system
dest=$("$root/bench/setup-destination.sh")
version=$(virsh -c "$src" version | sed -n 's/^Using library: libvirt \([0-9]*\.[0-9]*\).*/\1/p')
out=$here/libvirt-$version
mkdir -p "$out"
dom=vmp-record-jobinfo
virsh -c "$dest" destroy "$dom" >/dev/null 2>&1 || true
virsh -c "$src" destroy "$dom" >/dev/null 2>&1 || true
console=$("$root/tests/guest/start-guest.sh" "$dom" 512 64 2000 random 1)
virsh -c "$src" migrate-setspeed "$dom" 32 >/dev/null
virsh -c "$src" domjobinfo "$dom" >"$out/none.txt"
virsh -c "$src" dumpxml --migratable "$dom" |
    sed "s|$console|/home/vmpdest/bench/$dom.console.log|" >"/tmp/$dom.xml"
virsh -c "$src" migrate --live "$dom" "$dest" --migrateuri tcp://127.0.0.1 --xml "/tmp/$dom.xml" &
migrating=$!
rm -f "$out/steps.txt" "$out/sending.txt"
for _ in $(seq 1 600); do
    virsh -c "$src" domjobinfo "$dom" >"/tmp/$dom.now" 2>/dev/null || break
    if grep -q "Memory processed:" "/tmp/$dom.now"; then
        mv "/tmp/$dom.now" "$out/sending.txt"
        break
    fi
    if [[ ! -e $out/steps.txt ]] && grep -q "Outgoing migration" "/tmp/$dom.now"; then
        cp "/tmp/$dom.now" "$out/steps.txt"
    fi
    sleep 0.05
done
wait "$migrating"
[[ -e $out/steps.txt && -e $out/sending.txt ]] ||
    { echo "record.sh: no steps or no sending output seen" >&2; exit 1; }
status=0
virsh -c "$src" domjobinfo "$dom" >"$out/gone.txt" 2>&1 || status=$?
echo "$status" >"$out/gone.status"
virsh -c "$dest" destroy "$dom" >/dev/null
rm -f "/tmp/$dom.xml" "/tmp/$dom.now"
echo "record.sh: $out" >&2
