#!/usr/bin/env bash
# Records the watch's three migrations on the stack installed now, for test_watch_replay.cpp,
# into tests/unit/data/watch/qemu-Q-libvirt-L/ (record.py says what each line holds). Run as root,
# once on each stack (.ci/install-deps --stack stock|backports), and again when one changes:
#
#   tests/unit/data/watch/record-all.sh [SCENARIO...]   (none: all of them)
#
#   sawtooth-qmp.jsonl      512 MiB guest writing 128 MiB at 5000 random pages/s, migrated through
#                           QMP at 32 MiB/s, 300 ms: converges after a sawtooth of iterations
#   stall-libvirt.jsonl     64 MiB at 100000 pages/s, libvirt at 64 MiB/s, 300 ms: stalls, and
#                           is cancelled at 12 s
#   recovery-libvirt.jsonl  the same, the speed raised to 128 MiB/s at 8 s (it stalls again
#                           lower) and the max downtime to 1500 ms at 18 s (it completes)
#   complete-libvirt.jsonl  128 MiB at 5000 random pages/s, libvirt at 64 MiB/s, 300 ms: converges
#                           (--watch end to end through tool_main, test_cli.cpp's CliWatch)
set -euo pipefail
only=" $* "
wanted() { [[ $only == "  " || $only == *" $1 "* ]]; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
[[ $(id -u) -eq 0 ]] || { echo "record-all.sh: run as root" >&2; exit 2; }
stack=$(virsh -c qemu:///system version | awk '
  /^Running hypervisor: QEMU/ {q = $4}
  /^Using library: libvirt/ {l = $4}
  END {print "qemu-" q "-libvirt-" l}')
out=$here/$stack
mkdir -p "$out"
exec 9>/tmp/vmp-vm.lock
flock 9
trap '"$root/tests/guest/stop-guest.sh" vmpw-rec >/dev/null 2>&1 || true' EXIT

guest() { "$root/tests/guest/stop-guest.sh" vmpw-rec >/dev/null 2>&1 || true
          "$root/tests/guest/start-guest.sh" vmpw-rec 512 "$1" "$2" random 1 >/dev/null; }

if wanted sawtooth-qmp; then
  guest 128 5000
  "$here/record.py" "$out/sawtooth-qmp.jsonl" vmpw-rec qmp 32 300 30
fi
if wanted stall-libvirt; then
  guest 64 100000
  "$here/record.py" "$out/stall-libvirt.jsonl" vmpw-rec libvirt 64 300 14 12 abort -
fi
if wanted recovery-libvirt; then
  guest 64 100000
  "$here/record.py" "$out/recovery-libvirt.jsonl" vmpw-rec libvirt 64 300 30 8 setspeed 128 \
    18 setdowntime 1500
fi
if wanted complete-libvirt; then
  guest 128 5000
  "$here/record.py" "$out/complete-libvirt.jsonl" vmpw-rec libvirt 64 300 40
fi
ls -l "$out" >&2
